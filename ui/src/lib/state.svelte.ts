// App-wide state shared by the screens (Svelte 5 runes), and the live run events.
import { events, type ProgressEvent, type RunStatus } from './api';

export type Screen = 'library' | 'runs' | 'run' | 'compare' | 'report';

export const ui = $state({
  screen: 'library' as Screen,
  /** The run the Run screen shows. */
  runId: null as string | null,
  /** Runs picked on the Runs screen for Compare, Report and Delete. */
  selected: [] as string[],
  /** A status line at the bottom of the window. */
  notice: '' as string,
  noticeIsError: false,
  theme: (localStorage.getItem('theme') ?? 'light') as 'light' | 'dark',
});

/** Live state of runs while they train, from the Rust side's events. */
export const live = $state({
  status: {} as Record<string, RunStatus>,
  progress: {} as Record<string, ProgressEvent>,
  /** Bumped on every status change, so lists know to refresh. */
  changes: 0,
  /** Bumped on every metrics batch of the run on screen. */
  ticks: {} as Record<string, number>,
  logs: {} as Record<string, string[]>,
});

export function notify(text: string, isError = false) {
  ui.notice = text;
  ui.noticeIsError = isError;
}

export function go(screen: Screen, runId?: string) {
  if (runId !== undefined) ui.runId = runId;
  ui.screen = screen;
}

let started = false;
export function startLiveEvents() {
  if (started) return;
  started = true;
  void events.onStatus((e) => {
    live.status[e.run] = e.status;
    if (e.status === 'queued') {
      // A launch or resume starts the run afresh: forget its last progress and log.
      delete live.progress[e.run];
      delete live.logs[e.run];
    }
    live.changes += 1;
  });
  void events.onStoreError((text) => notify(text, true));
  void events.onProgress((e) => {
    live.progress[e.run] = e;
  });
  void events.onMetrics((e) => {
    live.ticks[e.run] = (live.ticks[e.run] ?? 0) + 1;
    if (e.logs.length > 0) live.logs[e.run] = [...(live.logs[e.run] ?? []), ...e.logs].slice(-500);
  });
}
