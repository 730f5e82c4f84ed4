// The experiment form's logic, kept apart from the components so Vitest can check it:
// typed parsing of a field's text, range checks from the study's schema, and sweeps.
import type { ExperimentDoc, Json, ParamInfo } from './api';

export type Parsed = { ok: true; value: Json } | { ok: false; message: string };

/** What a parameter accepts, said the way the Rust side says it. */
export function describeAllowed(p: ParamInfo): string {
  if (p.allowed.length > 0) return `one of ${p.allowed.map(([v]) => String(v)).join(', ')}`;
  const nouns: Record<string, string> = { integer: 'an integer', number: 'a number', boolean: 'true or false', path: 'a file path' };
  const noun = nouns[p.kind] ?? 'text';
  if (p.minimum !== null && p.maximum !== null) return `${noun} from ${p.minimum} to ${p.maximum}`;
  if (p.minimum !== null) return `${noun} of at least ${p.minimum}`;
  if (p.maximum !== null) return `${noun} of at most ${p.maximum}`;
  return noun;
}

/** One value typed into a field, parsed and checked against the parameter's schema. */
export function parseValue(p: ParamInfo, text: string): Parsed {
  const t = text.trim();
  const bad = (): Parsed => ({ ok: false, message: `${p.name}: \`${t}\` is not ${describeAllowed(p)}` });
  if (p.allowed.length > 0) {
    const hit = p.allowed.find(([v]) => String(v) === t);
    return hit ? { ok: true, value: hit[0] } : bad();
  }
  switch (p.kind) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(t)) return bad();
      return inRange(p, Number(t), t);
    }
    case 'number': {
      if (t === '' || !Number.isFinite(Number(t))) return bad();
      return inRange(p, Number(t), t);
    }
    case 'boolean':
      if (t === 'true' || t === 'false') return { ok: true, value: t === 'true' };
      return bad();
    default:
      return { ok: true, value: t };
  }
}

function inRange(p: ParamInfo, n: number, t: string): Parsed {
  if ((p.minimum !== null && n < p.minimum) || (p.maximum !== null && n > p.maximum)) {
    return { ok: false, message: `${p.name}: ${t} is out of range; allowed: ${describeAllowed(p)}` };
  }
  return { ok: true, value: n };
}

/** A sweep typed as `2, 3, 4` (or `2..6` for integers): each value parsed, none repeated. */
export function parseSweep(p: ParamInfo, text: string): Parsed {
  const t = text.trim();
  const range = /^([+-]?\d+)\s*\.\.\s*([+-]?\d+)$/.exec(t);
  let parts: string[];
  if (range && p.kind === 'integer') {
    const [a, b] = [Number(range[1]), Number(range[2])];
    if (b < a) return { ok: false, message: `${p.name}: the range ${t} is empty` };
    if (b - a > 1000) return { ok: false, message: `${p.name}: the range ${t} has over 1000 values` };
    parts = Array.from({ length: b - a + 1 }, (_, i) => String(a + i));
  } else {
    parts = t
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  if (parts.length === 0) return { ok: false, message: `${p.name}: a sweep needs at least one value` };
  const values: Json[] = [];
  for (const part of parts) {
    const v = parseValue(p, part);
    if (!v.ok) return v;
    if (values.some((x) => x === v.value)) return { ok: false, message: `${p.name}: ${part} is listed twice` };
    values.push(v.value);
  }
  return { ok: true, value: values };
}

/** Seeds typed as a count (`5`) or a list (`0, 7, 9`). */
export function parseSeeds(text: string): { ok: true; value: number | number[] } | { ok: false; message: string } {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    return n >= 1 ? { ok: true, value: n } : { ok: false, message: 'seeds: at least one seed' };
  }
  const parts = t
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (parts.length > 0 && parts.every((s) => /^\d+$/.test(s))) return { ok: true, value: parts.map(Number) };
  return { ok: false, message: 'seeds: a count like 5 or a list like 0, 7, 9' };
}

export function showValue(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map((x) => showValue(x)).join(', ');
  return String(v);
}

/** How many runs a document plans: seeds times the product of the sweep's lengths. */
export function runCount(doc: ExperimentDoc): number {
  const seeds = Array.isArray(doc.seeds) ? doc.seeds.length : doc.seeds;
  return Object.values(doc.sweep).reduce<number>((n, list) => n * (Array.isArray(list) ? list.length : 1), seeds);
}
