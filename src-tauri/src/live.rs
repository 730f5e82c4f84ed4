//! Run events for the window: status changes at once, progress with an ETA, and metric points
//! and log lines in batches of at most ~10 per second per run, so a fast study cannot flood
//! the UI with one message per step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use benchtop_core::{RunEvent, RunId, RunStatus, Summary};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

const BATCH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, Serialize, TS)]
pub struct StatusEvent {
    pub run: RunId,
    pub status: RunStatus,
    pub error: Option<String>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ProgressEvent {
    pub run: RunId,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number")]
    pub total: u64,
    /// Seconds left at the pace so far; absent before the first step.
    pub eta_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct MetricsEvent {
    pub run: RunId,
    /// `(name, step, value)`.
    #[ts(type = "Array<[string, number, number]>")]
    pub points: Vec<(String, u64, f64)>,
    pub logs: Vec<String>,
}

impl MetricsEvent {
    fn empty(run: RunId) -> Self {
        MetricsEvent { run, points: Vec::new(), logs: Vec::new() }
    }
}

/// Seconds left for `done` of `total` after `elapsed`, at the pace so far.
pub fn eta_seconds(done: u64, total: u64, elapsed: Duration) -> Option<f64> {
    (done > 0 && total >= done).then(|| elapsed.as_secs_f64() * (total - done) as f64 / done as f64)
}

struct PerRun {
    started: Instant,
    last_sent: Option<Instant>,
    last_progress: Option<Instant>,
    pending: MetricsEvent,
}

/// Turns the runner's events into window events; lives in the runner's writer thread.
pub struct LiveEvents {
    app: AppHandle,
    runs: HashMap<RunId, PerRun>,
}

impl LiveEvents {
    pub fn new(app: AppHandle) -> Self {
        LiveEvents { app, runs: HashMap::new() }
    }

    fn flush(&mut self, run: RunId) {
        if let Some(state) = self.runs.get_mut(&run) {
            if !state.pending.points.is_empty() || !state.pending.logs.is_empty() {
                let batch = std::mem::replace(&mut state.pending, MetricsEvent::empty(run));
                let _ = self.app.emit("run-metrics", batch);
            }
            state.last_sent = Some(Instant::now());
        }
    }

    pub fn observe(&mut self, event: &RunEvent) {
        let run = event.run();
        let state = self.runs.entry(run).or_insert_with(|| PerRun {
            started: Instant::now(),
            last_sent: None,
            last_progress: None,
            pending: MetricsEvent::empty(run),
        });
        match event {
            RunEvent::Started { run, .. } => {
                state.started = Instant::now();
                let status = StatusEvent { run: *run, status: RunStatus::Running, error: None, summary: Summary::new() };
                let _ = self.app.emit("run-status", status);
            }
            RunEvent::Metric { name, step, value, .. } => state.pending.points.push((name.clone(), *step, *value)),
            RunEvent::Log { level, text, .. } => state.pending.logs.push(format!("{level:?}: {text}")),
            RunEvent::Progress { run, done, total } => {
                let due = state.last_progress.is_none_or(|t| t.elapsed() >= BATCH_EVERY) || done == total;
                if due {
                    state.last_progress = Some(Instant::now());
                    let eta_s = eta_seconds(*done, *total, state.started.elapsed());
                    let _ = self.app.emit("run-progress", ProgressEvent { run: *run, done: *done, total: *total, eta_s });
                }
            }
            RunEvent::Artifact { .. } => {}
            RunEvent::Finished { run, status, summary, error } => {
                self.flush(*run);
                self.runs.remove(run);
                let status = StatusEvent { run: *run, status: *status, error: error.clone(), summary: summary.clone() };
                let _ = self.app.emit("run-status", status);
                return;
            }
        }
        let due = self.runs.get(&run).is_some_and(|s| s.last_sent.is_none_or(|t| t.elapsed() >= BATCH_EVERY));
        if due {
            self.flush(run);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        assert_eq!(eta_seconds(0, 100, Duration::from_secs(5)), None);
        assert_eq!(eta_seconds(25, 100, Duration::from_secs(5)), Some(15.0));
        assert_eq!(eta_seconds(100, 100, Duration::from_secs(5)), Some(0.0));
    }
}
