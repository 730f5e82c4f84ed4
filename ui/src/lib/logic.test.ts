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

import { boxView, describe as describePoint, legendAt, nearest, toData, toPixel, toggle } from './pointer';
import type { DrawnChart } from './pointer';

describe('reading the pointer on a chart', () => {
  const frame = { left: 100, right: 500, top: 50, bottom: 250, x: [0, 100] as [number, number], y: [0, 1] as [number, number] };
  const chart: DrawnChart = {
    svg: '',
    layout: { plot: frame, legend: [{ label: 'erm', left: 520, top: 10, right: 600, bottom: 30 }] },
    series: [
      { label: 'erm', colour: '#0072b2', runs: ['r1'], hidden: false, points: [{ x: 50, y: 0.5, ci: 0.1, n: 1 }] },
      { label: 'isr', colour: '#d55e00', runs: ['r2', 'r3'], hidden: true, points: [{ x: 51, y: 0.5, ci: null, n: 2 }] },
    ],
    categories: [],
    x_label: 'step',
    y_label: 'test_error',
  };

  it('maps pixels to data and back, y growing upwards', () => {
    expect(toData(frame, 300, 150)).toEqual({ x: 50, y: 0.5 });
    expect(toData(frame, 100, 50)).toEqual({ x: 0, y: 1 });
    expect(toData(frame, 99, 150)).toBeNull();
    expect(toPixel(frame, 50, 0.5)).toEqual({ px: 300, py: 150 });
  });

  it('finds the nearest shown point within reach, never a hidden one', () => {
    const near = nearest(chart, 305, 152);
    expect(near?.series.label).toBe('erm');
    expect(nearest(chart, 400, 60)).toBeNull();
    expect(describePoint(chart, near!)).toEqual(['erm', 'step 50', 'test_error 0.5 ± 0.1', 'one run: click to open it']);
  });

  it('turns a dragged box into a view, and a click into none', () => {
    expect(boxView(frame, { px: 100, py: 50 }, { px: 300, py: 150 }, false, [])).toEqual({ x: [0, 50], y: [0.5, 1], hidden: [] });
    expect(boxView(frame, { px: 300, py: 150 }, { px: 302, py: 151 }, false, [])).toBeNull();
    expect(boxView(frame, { px: 300, py: 150 }, { px: 100, py: 50 }, true, ['isr'])).toEqual({ x: null, y: [0.5, 1], hidden: ['isr'] });
  });

  it('knows the legend entry under the pointer and toggles it', () => {
    expect(legendAt(chart.layout, 530, 20)).toBe('erm');
    expect(legendAt(chart.layout, 530, 40)).toBeNull();
    expect(toggle(['isr'], 'erm')).toEqual(['isr', 'erm']);
    expect(toggle(['isr', 'erm'], 'isr')).toEqual(['erm']);
  });
});
