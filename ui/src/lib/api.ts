// The one typed door to the Rust side: every command and event of src-tauri/src/commands.rs.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface ParamInfo {
  name: string;
  kind: string; // integer | number | boolean | string | enum
  default: Json;
  doc: string;
  allowed: [Json, string][];
  minimum: number | null;
  maximum: number | null;
}

export type ChartKind = 'curves' | 'metric_vs_param' | 'bars' | 'scatter' | 'parallel';
export interface ChartSpec {
  kind: ChartKind;
  title?: string | null;
  x?: string | null;
  y: string;
  group?: string | null;
  filters?: Record<string, Json>;
  dims?: string[];
  better?: 'higher' | 'lower' | null;
  unfinished?: boolean;
  /** Plot each run's difference from its baseline run (same seed and `on` parameters). */
  paired?: { baseline: Record<string, Json>; on?: string[] } | null;
}

export interface Study {
  name: string;
  title: string;
  description: string;
  methods: { name: string; doc: string }[];
  params: ParamInfo[];
  charts: ChartSpec[];
  schema: Json;
}

export interface ExperimentDoc {
  name: string;
  study: string;
  description: string;
  seeds: number | number[];
  backend: 'cpu' | 'gpu';
  params: Record<string, Json>;
  sweep: Record<string, Json[]>;
}

export interface ErrorView {
  file: string;
  line: number;
  column: number;
  key: string | null;
  message: string;
  text: string;
}

export interface ExperimentEntry {
  id: string;
  file: string;
  origin: 'shipped' | 'user';
  path: string | null;
  name: string;
  study: string;
  description: string;
  doc: ExperimentDoc | null;
  run_count: number;
  error: ErrorView | null;
}

export interface Check {
  run_count: number;
  error: ErrorView | null;
  toml: string;
}

export interface Provenance {
  benchtop_version: string;
  git_commit: string | null;
  host: string;
  started_at: string | null;
  ended_at: string | null;
  duration_s: number | null;
  compute?: Compute | null;
  [k: string]: Json | Compute | null | undefined;
}

/** What a run's numbers depend on besides params and seed: another CPU rounds differently. */
export interface Compute {
  cpu: string;
  simd: string;
  threads: number;
  gpu?: string | null;
}

export interface RunRecord {
  id: string;
  experiment: string;
  description: string;
  study: string;
  method: string | null;
  seed: number;
  backend: string;
  status: RunStatus;
  params: Record<string, Json>;
  sweep_point: Record<string, Json>;
  summary: Record<string, number>;
  error: string | null;
  experiment_file: string | null;
  provenance: Provenance;
  created_at: string;
  tags: string[];
  notes: string;
}

export interface RunQuery {
  experiment?: string | null;
  study?: string | null;
  status?: RunStatus | null;
  text?: string;
  columns?: [string, string][];
  sort?: string;
  descending?: boolean;
  offset?: number;
  limit?: number;
}

export interface RunPage {
  total: number;
  /** Runs per status among those matching every filter but the status one. */
  by_status: Partial<Record<RunStatus, number>>;
  offset: number;
  rows: RunRecord[];
}

export interface RunDetail {
  record: RunRecord;
  series: string[];
  logs: { at: string; level: string; text: string }[];
  artifacts: { name: string; path: string; bytes: number }[];
}

export interface Info {
  version: string;
  store: string;
  experiments_dir: string;
  jobs: number;
}

export interface StatusEvent {
  run: string;
  status: RunStatus;
  error: string | null;
  summary: Record<string, number>;
}
export interface ProgressEvent {
  run: string;
  done: number;
  total: number;
  eta_s: number | null;
}
export interface MetricsEvent {
  run: string;
  points: [string, number, number][];
  logs: string[];
}

/** Errors from commands arrive as strings; make them one readable line. */
export function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e instanceof Error) return e.message;
  return JSON.stringify(e);
}

/** One response of a steered DPA policy (`steer_policy`). */
export interface Steered {
  text: string;
  words: number;
  /** Gold helpfulness (0 or 1) when the question is one of the testbed's. */
  helpfulness: number | null;
}

export const api = {
  info: () => invoke<Info>('info'),
  studies: () => invoke<Study[]>('studies'),
  experiments: () => invoke<ExperimentEntry[]>('experiments'),
  openExperiment: (id: string) => invoke<ExperimentEntry>('open_experiment', { id }),
  checkExperiment: (doc: ExperimentDoc) => invoke<Check>('check_experiment', { doc }),
  saveExperiment: (doc: ExperimentDoc, current: string | null) => invoke<string>('save_experiment', { doc, current }),
  launch: (doc: ExperimentDoc, file: string | null) => invoke<string[]>('launch', { doc, file }),
  cancelRuns: (ids: string[]) => invoke<void>('cancel_runs', { ids }),
  resumeRuns: (ids: string[]) => invoke<string[]>('resume_runs', { ids }),
  listRuns: (query: RunQuery) => invoke<RunPage>('list_runs', { query }),
  updateRunNotes: (id: string, tags: string[], notes: string) => invoke<RunRecord>('update_run_notes', { id, tags, notes }),
  deleteRuns: (ids: string[]) => invoke<number>('delete_runs', { ids }),
  runDetail: (id: string) => invoke<RunDetail>('run_detail', { id }),
  runSeries: (id: string, name: string, maxPoints?: number) =>
    invoke<[number, number][]>('run_series', { id, name, maxPoints }),
  steerPolicy: (id: string, question: string, angleDeg: number, n?: number, seed?: number) =>
    invoke<Steered[]>('steer_policy', { id, question, angleDeg, n, seed }),
  renderChart: (spec: ChartSpec, ids: string[], width?: number, height?: number) =>
    invoke<string>('render_chart', { spec, ids, width, height }),
  export: (ids: string[], path: string, title: string, charts?: ChartSpec[]) =>
    invoke<string[]>('export', { ids, path, title, charts }),
};

export const events = {
  onStatus: (f: (e: StatusEvent) => void): Promise<UnlistenFn> => listen<StatusEvent>('run-status', (e) => f(e.payload)),
  onProgress: (f: (e: ProgressEvent) => void): Promise<UnlistenFn> => listen<ProgressEvent>('run-progress', (e) => f(e.payload)),
  onMetrics: (f: (e: MetricsEvent) => void): Promise<UnlistenFn> => listen<MetricsEvent>('run-metrics', (e) => f(e.payload)),
};
