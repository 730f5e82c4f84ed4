// Which runs a Compare or Report screen works on: the runs picked on the Runs screen, or
// else every run of one experiment.
import { api, type RunRecord, type Study, type ChartSpec } from './api';

export async function allRuns(): Promise<RunRecord[]> {
  return (await api.listRuns({ offset: 0, limit: 0, sort: 'created' })).rows;
}

export function experimentsOf(runs: RunRecord[]): string[] {
  return [...new Set(runs.map((r) => r.experiment))].sort();
}

/** Swept parameters, summary metrics and series-bearing studies of some runs. */
export function vocabulary(runs: RunRecord[]): { params: string[]; metrics: string[]; studies: string[] } {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const studies = new Set<string>();
  for (const r of runs) {
    Object.keys(r.sweep_point).forEach((k) => params.add(k));
    Object.keys(r.summary).forEach((k) => metrics.add(k));
    studies.add(r.study);
  }
  return { params: [...params].sort(), metrics: [...metrics].sort(), studies: [...studies] };
}

export function defaultCharts(studies: Study[], names: string[]): ChartSpec[] {
  return studies.filter((s) => names.includes(s.name)).flatMap((s) => s.charts);
}

/** A chart's title, in the words of the Rust side's `ChartSpec::display_title` (reports and
 * the CLI use those), with its filters after it. */
export function chartLabel(c: ChartSpec): string {
  if (c.title) return c.title;
  const what =
    c.kind === 'curves'
      ? `${c.y} during training`
      : c.kind === 'bars'
        ? `${c.y} by ${c.group ?? 'method'}`
        : c.kind === 'parallel'
          ? `${c.y} by parameters`
          : c.kind === 'importance'
            ? `What ${c.y} depends on: each parameter's importance`
            : c.x && c.paired
              ? `${c.y} difference vs ${c.x}`
              : c.x
                ? `${c.y} vs ${c.x}`
                : c.y;
  const filters = Object.entries(c.filters ?? {}).map(([k, v]) => `${k} = ${v}`);
  return filters.length ? `${what} (${filters.join(', ')})` : what;
}
