//! Run events for the window: status changes at once, progress with an ETA, and metric points
//! and log lines in batches of at most ~12 per second per run, so a fast study cannot flood
//! the UI with one message per step. A timer ([`TICK`]) flushes what is pending, so a burst
//! followed by silence still reaches the window within [`BATCH_EVERY`] + [`TICK`] = 100 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use benchtop_core::{RunEvent, RunId, RunStatus, Summary};
use serde::Serialize;
use tauri::{AppHandle, Emitter};
use ts_rs::TS;

/// The least time between two metric batches of one run.
pub const BATCH_EVERY: Duration = Duration::from_millis(80);
/// How often the window's timer calls [`LiveEvents::tick`].
pub const TICK: Duration = Duration::from_millis(20);

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

/// Where window events go: the app's window, or a recorder in tests.
pub trait Sink {
    fn status(&self, event: StatusEvent);
    fn progress(&self, event: ProgressEvent);
    fn metrics(&self, event: MetricsEvent);
}

impl Sink for AppHandle {
    fn status(&self, event: StatusEvent) {
        let _ = self.emit("run-status", event);
    }
    fn progress(&self, event: ProgressEvent) {
        let _ = self.emit("run-progress", event);
    }
    fn metrics(&self, event: MetricsEvent) {
        let _ = self.emit("run-metrics", event);
    }
}

/// Turns the runner's events into window events; fed by the runner's writer thread and
/// ticked by a timer.
pub struct LiveEvents<S: Sink = AppHandle> {
    app: S,
    runs: HashMap<RunId, PerRun>,
}

impl<S: Sink> LiveEvents<S> {
    pub fn new(app: S) -> Self {
        LiveEvents { app, runs: HashMap::new() }
    }

    fn flush(&mut self, run: RunId, now: Instant) {
        if let Some(state) = self.runs.get_mut(&run)
            && (!state.pending.points.is_empty() || !state.pending.logs.is_empty())
        {
            let batch = std::mem::replace(&mut state.pending, MetricsEvent::empty(run));
            self.app.metrics(batch);
            state.last_sent = Some(now);
        }
    }

    /// Send every run's pending points whose batch is due: the timer's half of the rule.
    pub fn tick(&mut self, now: Instant) {
        let due: Vec<RunId> =
            self.runs.iter().filter(|(_, s)| s.last_sent.is_none_or(|t| now.duration_since(t) >= BATCH_EVERY)).map(|(r, _)| *r).collect();
        for run in due {
            self.flush(run, now);
        }
    }

    pub fn observe(&mut self, event: &RunEvent) {
        self.observe_at(event, Instant::now());
    }

    fn observe_at(&mut self, event: &RunEvent, now: Instant) {
        let run = event.run();
        let state = self.runs.entry(run).or_insert_with(|| PerRun {
            started: now,
            last_sent: None,
            last_progress: None,
            pending: MetricsEvent::empty(run),
        });
        match event {
            RunEvent::Started { run, .. } => {
                state.started = now;
                self.app.status(StatusEvent { run: *run, status: RunStatus::Running, error: None, summary: Summary::new() });
            }
            RunEvent::Metric { name, step, value, .. } => state.pending.points.push((name.clone(), *step, *value)),
            RunEvent::Log { level, text, .. } => state.pending.logs.push(format!("{level:?}: {text}")),
            RunEvent::Progress { run, done, total } => {
                let due = state.last_progress.is_none_or(|t| now.duration_since(t) >= BATCH_EVERY) || done == total;
                if due {
                    state.last_progress = Some(now);
                    let eta_s = eta_seconds(*done, *total, now.duration_since(state.started));
                    self.app.progress(ProgressEvent { run: *run, done: *done, total: *total, eta_s });
                }
            }
            RunEvent::Artifact { .. } | RunEvent::Checkpoint { .. } => {}
            RunEvent::Finished { run, status, summary, error } => {
                self.flush(*run, now);
                self.runs.remove(run);
                self.app.status(StatusEvent { run: *run, status: *status, error: error.clone(), summary: summary.clone() });
                return;
            }
        }
        let due = self.runs.get(&run).is_some_and(|s| s.last_sent.is_none_or(|t| now.duration_since(t) >= BATCH_EVERY));
        if due {
            self.flush(run, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<MetricsEvent>>);

    impl Sink for &Recorder {
        fn status(&self, _: StatusEvent) {}
        fn progress(&self, _: ProgressEvent) {}
        fn metrics(&self, event: MetricsEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    /// A burst then silence: the first point goes at once, the rest wait for the batch
    /// interval, and the timer (not a later event) sends them, within 100 ms of the burst.
    #[test]
    fn a_burst_reaches_the_window_within_100_ms_by_the_timer() {
        let recorder = Recorder::default();
        let mut live = LiveEvents::new(&recorder);
        let run = RunId::new();
        let t0 = Instant::now();
        for step in 0..50 {
            live.observe_at(&RunEvent::Metric { run, name: "loss".into(), step, value: 1.0 }, t0);
        }
        let sent = |r: &Recorder| r.0.lock().unwrap().iter().map(|m| m.points.len()).sum::<usize>();
        assert_eq!(sent(&recorder), 1, "the first point of a quiet run goes at once");
        live.tick(t0 + TICK);
        assert_eq!(sent(&recorder), 1, "one batch per interval, not one per tick");
        // The timer fires every TICK; the first tick at or after BATCH_EVERY sends the rest.
        let mut at = t0;
        while sent(&recorder) < 50 {
            at += TICK;
            live.tick(at);
            assert!(at - t0 <= Duration::from_millis(100), "still pending after {:?}", at - t0);
        }
        assert!(BATCH_EVERY + TICK <= Duration::from_millis(100), "the worst case is within 100 ms");
    }

    #[test]
    fn the_eta_follows_the_pace_so_far() {
        assert_eq!(eta_seconds(0, 100, Duration::from_secs(5)), None);
        assert_eq!(eta_seconds(25, 100, Duration::from_secs(5)), Some(15.0));
        assert_eq!(eta_seconds(100, 100, Duration::from_secs(5)), Some(0.0));
    }
}
