import { describe, expect, it } from 'vitest';
import { describeAllowed, parseSeeds, parseSweep, parseValue, runCount } from './form';
import { formatDuration, formatMetric, percent } from './format';
import { pageFor, visibleRows } from './virtual';
import type { ChartSpec, ParamInfo } from './api';
import { chartLabel } from './selection';

const nEnvs: ParamInfo = { name: 'n_envs', kind: 'integer', default: 2, doc: '', allowed: [], minimum: 2, maximum: 50 };
const lr: ParamInfo = { name: 'lr', kind: 'number', default: 0.01, doc: '', allowed: [], minimum: 0, maximum: null };
const method: ParamInfo = {
  name: 'method',
  kind: 'enum',
  default: 'erm',
  doc: '',
  allowed: [
    ['erm', ''],
    ['isr_mean', ''],
  ],
  minimum: null,
  maximum: null,
};

describe('the parameter form', () => {
  it('parses typed values and refuses out-of-range ones with the allowed range', () => {
    expect(parseValue(nEnvs, ' 6 ')).toEqual({ ok: true, value: 6 });
    expect(parseValue(nEnvs, '1')).toEqual({ ok: false, message: 'n_envs: 1 is out of range; allowed: an integer from 2 to 50' });
    expect(parseValue(nEnvs, '2.5').ok).toBe(false);
    expect(parseValue(lr, '1e-3')).toEqual({ ok: true, value: 0.001 });
    expect(parseValue(lr, 'fast')).toEqual({ ok: false, message: 'lr: `fast` is not a number of at least 0' });
    expect(parseValue(method, 'isr_mean')).toEqual({ ok: true, value: 'isr_mean' });
    expect(describeAllowed(method)).toBe('one of erm, isr_mean');
  });

  it('takes a file path as typed, trimmed, and names what it wants', () => {
    const poseFile: ParamInfo = { name: 'pose_file', kind: 'path', default: '', doc: '', allowed: [], minimum: null, maximum: null };
    expect(parseValue(poseFile, ' /data/transforms.json ')).toEqual({ ok: true, value: '/data/transforms.json' });
    expect(describeAllowed(poseFile)).toBe('a file path');
  });

  it('expands sweeps from lists and integer ranges, refusing repeats', () => {
    expect(parseSweep(nEnvs, '2..5')).toEqual({ ok: true, value: [2, 3, 4, 5] });
    expect(parseSweep(nEnvs, '2, 4,6')).toEqual({ ok: true, value: [2, 4, 6] });
    expect(parseSweep(nEnvs, '2, 2')).toEqual({ ok: false, message: 'n_envs: 2 is listed twice' });
    expect(parseSweep(nEnvs, '5..2').ok).toBe(false);
    expect(parseSweep(method, 'erm, isr_mean')).toEqual({ ok: true, value: ['erm', 'isr_mean'] });
  });

  it('reads seeds as a count or a list and counts the planned runs', () => {
    expect(parseSeeds('5')).toEqual({ ok: true, value: 5 });
    expect(parseSeeds('0, 7, 9')).toEqual({ ok: true, value: [0, 7, 9] });
    expect(parseSeeds('0').ok).toBe(false);
    const doc = {
      name: 'x',
      study: 'isr',
      description: '',
      seeds: 3,
      backend: 'cpu' as const,
      params: {},
      sweep: { method: ['erm', 'irm'], n_envs: [2, 3, 4] },
    };
    expect(runCount(doc)).toBe(18);
  });
});

describe('formatting', () => {
  it('shows durations, metrics and percentages', () => {
    expect(formatDuration(null)).toBe('–');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
    expect(formatMetric(0.12345)).toBe('0.1235');
    expect(formatMetric(0.00001234)).toBe('1.23e-5');
    expect(formatMetric(0)).toBe('0');
    expect(percent(5, 0)).toBe(0);
    expect(percent(50, 200)).toBe(25);
  });
});

describe('virtualised rows', () => {
  it('draws only the rows in view plus a margin, padded to the full height', () => {
    const w = visibleRows(10_000, 28_000, 560, 28, 5);
    expect(w.first).toBe(995);
    expect(w.last).toBe(1025);
    expect(w.padTop + (w.last - w.first) * 28 + w.padBottom).toBe(10_000 * 28);
    expect(visibleRows(0, 0, 500, 28)).toEqual({ first: 0, last: 0, padTop: 0, padBottom: 0 });
  });

  it('asks the store for whole pages that cover the view', () => {
    expect(pageFor(995, 1025, 200)).toEqual({ offset: 800, limit: 400 });
    expect(pageFor(0, 30, 200)).toEqual({ offset: 0, limit: 200 });
  });
});

describe('chartLabel', () => {
  const spec = (kind: ChartSpec['kind'], extra: Partial<ChartSpec> = {}): ChartSpec =>
    ({ kind, y: 'test_error', x: null, group: null, filters: {}, title: null, better: null, paired: null, ...extra }) as ChartSpec;
  it('names each kind as the reports and the CLI do', () => {
    expect(chartLabel(spec('curves'))).toBe('test_error during training');
    expect(chartLabel(spec('bars'))).toBe('test_error by method');
    expect(chartLabel(spec('metric_vs_param', { x: 'n_envs' }))).toBe('test_error vs n_envs');
    expect(chartLabel(spec('parallel'))).toBe('test_error by parameters');
    expect(chartLabel(spec('importance'))).toBe("What test_error depends on: each parameter's importance");
    expect(chartLabel(spec('bars', { filters: { n_envs: 6 } }))).toBe('test_error by method (n_envs = 6)');
  });
});
