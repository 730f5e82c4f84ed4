// The one typed door to the Rust side: every command and event of src-tauri/src/commands.rs.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

// The types below are generated from the Rust types by ts-rs (see src-tauri/src/bindings.rs):
// never edit ui/src/lib/bindings/ by hand. This file keeps what is not a type.
import type { Artifact } from './bindings/Artifact';
import type { Backend } from './bindings/Backend';
import type { Better } from './bindings/Better';
import type { ChartKind } from './bindings/ChartKind';
import type { ChartSpec } from './bindings/ChartSpec';
import type { Check } from './bindings/Check';
import type { Compute } from './bindings/Compute';
import type { ChartView } from './bindings/ChartView';
import type { DiffRow } from './bindings/DiffRow';
import type { DrawnChart } from './bindings/DrawnChart';
import type { ErrorView } from './bindings/ErrorView';
import type { ExperimentDoc } from './bindings/ExperimentDoc';
import type { ExperimentEntry } from './bindings/ExperimentEntry';
import type { GroupPage } from './bindings/GroupPage';
import type { Info } from './bindings/Info';
import type { LogLevel } from './bindings/LogLevel';
import type { LogLine } from './bindings/LogLine';
import type { MetricsEvent } from './bindings/MetricsEvent';
import type { ParamInfo } from './bindings/ParamInfo';
import type { ProgressEvent } from './bindings/ProgressEvent';
import type { Provenance } from './bindings/Provenance';
import type { RunDetail } from './bindings/RunDetail';
import type { RunPage } from './bindings/RunPage';
import type { RunQuery } from './bindings/RunQuery';
import type { RunRecord } from './bindings/RunRecord';
import type { RunStatus } from './bindings/RunStatus';
import type { StatusEvent } from './bindings/StatusEvent';
import type { Steered } from './bindings/Steered';
import type { StudyView } from './bindings/StudyView';
import type { Unreadable } from './bindings/Unreadable';
import type { JsonValue } from './bindings/serde_json/JsonValue';
import { ALL_STATUSES, CAN_CANCEL, CAN_DELETE, CAN_RESUME } from './bindings/lifecycle';

export type {
  Artifact,
  Backend,
  Better,
  ChartKind,
  ChartSpec,
  Check,
  Compute,
  DiffRow,
  ErrorView,
  ExperimentDoc,
  ExperimentEntry,
  GroupPage,
  Info,
  LogLevel,
  LogLine,
  MetricsEvent,
  ParamInfo,
  ProgressEvent,
  Provenance,
  RunDetail,
  RunPage,
  RunQuery,
  RunRecord,
  RunStatus,
  StatusEvent,
  Steered,
  Unreadable,
};
export type Json = JsonValue;
/** A study as the Library shows it: its registry entry and its parameters' JSON Schema. */
export type Study = StudyView;
/** A chart spec as the UI writes one: the Rust side gives absent fields their defaults. */
export type ChartSpecInput = Pick<ChartSpec, 'kind' | 'y'> & Partial<ChartSpec>;

export { ALL_STATUSES };
/** The store's lifecycle rules (generated from benchtop-core): what a run of this status allows. */
export const canCancel = (s: RunStatus | null | undefined): boolean => !!s && CAN_CANCEL.includes(s);
export const canResume = (s: RunStatus | null | undefined): boolean => !!s && CAN_RESUME.includes(s);
export const canDelete = (s: RunStatus | null | undefined): boolean => !!s && CAN_DELETE.includes(s);

/** Errors from commands arrive as strings; make them one readable line. */
export function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e instanceof Error) return e.message;
  return JSON.stringify(e);
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
  listRuns: (query: Partial<RunQuery>) => invoke<RunPage>('list_runs', { query }),
  groupRuns: (query: Partial<RunQuery>, by: string[]) => invoke<GroupPage>('group_runs', { query, by }),
  updateRunNotes: (id: string, tags: string[], notes: string) => invoke<RunRecord>('update_run_notes', { id, tags, notes }),
  deleteRuns: (ids: string[]) => invoke<number>('delete_runs', { ids }),
  runDetail: (id: string) => invoke<RunDetail>('run_detail', { id }),
  diffRuns: (ids: string[]) => invoke<DiffRow[]>('diff_runs', { ids }),
  artifactImage: (id: string, name: string) => invoke<string>('artifact_image', { id, name }),
  runSeries: (id: string, name: string, maxPoints?: number) => invoke<[number, number][]>('run_series', { id, name, maxPoints }),
  steerPolicy: (id: string, question: string, angleDeg: number, n?: number, seed?: number) =>
    invoke<Steered[]>('steer_policy', { id, question, angleDeg, n, seed }),
  saveChartData: (spec: ChartSpecInput, ids: string[], path: string) => invoke<string>('save_chart_data', { spec, ids, path }),
  renderChart: (spec: ChartSpecInput, ids: string[], width?: number, height?: number, view?: ChartView) =>
    invoke<DrawnChart>('render_chart', { spec, ids, width, height, view }),
  export: (ids: string[], path: string, title: string, charts?: ChartSpecInput[]) =>
    invoke<string[]>('export', { ids, path, title, charts }),
};

export const events = {
  onStatus: (f: (e: StatusEvent) => void): Promise<UnlistenFn> => listen<StatusEvent>('run-status', (e) => f(e.payload)),
  onProgress: (f: (e: ProgressEvent) => void): Promise<UnlistenFn> => listen<ProgressEvent>('run-progress', (e) => f(e.payload)),
  onMetrics: (f: (e: MetricsEvent) => void): Promise<UnlistenFn> => listen<MetricsEvent>('run-metrics', (e) => f(e.payload)),
  /** A launch stopped because the store could not record it (e.g. a full disk). */
  onStoreError: (f: (text: string) => void): Promise<UnlistenFn> => listen<string>('store-error', (e) => f(e.payload)),
};
