//! [`RunContext`]: the only door between a training loop and the rest of Benchtop.
//!
//! Every call is a non-blocking send on an unbounded channel, so logging never stalls a
//! training step; the runner drains the channel on its own thread and writes in batches.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::cache::{ArtifactCache, CacheKey, CacheOutcome};
use crate::checkpoint::Checkpoint;
use crate::error::StudyError;
use crate::run::{Backend, Compute, RunId, RunStatus, Summary};

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// What a run tells the world while it trains, and how it ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum RunEvent {
    /// The run began, on this compute (what its numbers depend on besides params and seed).
    Started {
        run: RunId,
        compute: Option<Compute>,
    },
    Metric {
        run: RunId,
        name: String,
        step: u64,
        value: f64,
    },
    Log {
        run: RunId,
        level: LogLevel,
        text: String,
    },
    Progress {
        run: RunId,
        done: u64,
        total: u64,
    },
    Artifact {
        run: RunId,
        name: String,
        path: PathBuf,
    },
    /// The run's state at a boundary of its training: the writer stores it after everything
    /// logged before it, replacing the run's previous one. Its bytes never leave the process
    /// in serialised events (only the stage does).
    Checkpoint {
        run: RunId,
        #[serde(serialize_with = "stage_only")]
        checkpoint: Box<Checkpoint>,
    },
    /// The last event of every run: the writer stores everything before it first.
    Finished {
        run: RunId,
        status: RunStatus,
        summary: Summary,
        error: Option<String>,
    },
}

impl RunEvent {
    /// The run this event belongs to.
    pub fn run(&self) -> RunId {
        match self {
            RunEvent::Started { run, .. }
            | RunEvent::Metric { run, .. }
            | RunEvent::Log { run, .. }
            | RunEvent::Progress { run, .. }
            | RunEvent::Artifact { run, .. }
            | RunEvent::Checkpoint { run, .. }
            | RunEvent::Finished { run, .. } => *run,
        }
    }
}

fn stage_only<S: serde::Serializer>(checkpoint: &Checkpoint, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&checkpoint.stage)
}

/// A study's handle on its run: seed, device family, artifact folder, logging, progress,
/// cancellation and checkpoints.
pub struct RunContext {
    run: RunId,
    seed: u64,
    backend: Backend,
    artifacts_dir: PathBuf,
    events: Sender<RunEvent>,
    cancelled: Arc<AtomicBool>,
    cache: Option<ArtifactCache>,
    resumed: Option<Checkpoint>,
}

impl RunContext {
    /// A context whose events go to `events`; `cancelled` is shared with whoever may cancel.
    pub fn new(
        run: RunId,
        seed: u64,
        backend: Backend,
        artifacts_dir: PathBuf,
        events: Sender<RunEvent>,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        RunContext { run, seed, backend, artifacts_dir, events, cancelled, cache: None, resumed: None }
    }

    /// Share expensive stages with other runs through `cache` (the runner sets it beside the
    /// store; without one, [`RunContext::cached`] always computes).
    pub fn with_cache(mut self, cache: ArtifactCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Resume the run from `checkpoint`, the last one an earlier attempt of it saved (the
    /// runner sets it; builder style).
    pub fn with_checkpoint(mut self, checkpoint: Option<Checkpoint>) -> Self {
        self.resumed = checkpoint;
        self
    }

    /// The checkpoint this run goes on from, when an earlier attempt saved one: the study
    /// restores its state from it and skips the work it covers.
    pub fn resumed(&self) -> Option<&Checkpoint> {
        self.resumed.as_ref()
    }

    /// Save the run's state at a boundary of its training. It is written after everything
    /// logged before this call, so a run resumed from it misses no point before it.
    pub fn checkpoint(&self, checkpoint: Checkpoint) {
        self.send(RunEvent::Checkpoint { run: self.run, checkpoint: Box::new(checkpoint) });
    }

    /// The bytes of a stage another run may already have computed (see [`ArtifactCache`]):
    /// `compute` runs only when there is no valid entry for `key`. Logs which it was.
    pub fn cached(&self, key: &CacheKey, compute: impl FnOnce() -> Result<Vec<u8>, StudyError>) -> Result<Vec<u8>, StudyError> {
        let Some(cache) = &self.cache else { return compute() };
        let (bytes, outcome, store_error) = cache.get_or_compute(key, compute)?;
        match outcome {
            CacheOutcome::Hit => self.info(format!("reused the cached {}", key.canonical())),
            CacheOutcome::Miss => self.info(format!("computed and cached {}", key.canonical())),
            CacheOutcome::Rebuilt => self.log_text(LogLevel::Warn, format!("rebuilt the corrupt cache entry {}", key.canonical())),
        }
        if let Some(e) = store_error {
            self.log_text(LogLevel::Warn, e);
        }
        Ok(bytes)
    }

    /// The run's id.
    pub fn run_id(&self) -> RunId {
        self.run
    }

    /// The seed every random number generator of the run derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The device family the run must train on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A folder of the run's own, for files it wants to keep (created on demand by the study).
    pub fn artifacts_dir(&self) -> &Path {
        &self.artifacts_dir
    }

    /// Record one point of a metric series.
    pub fn log_metric(&self, name: &str, step: u64, value: f64) {
        self.send(RunEvent::Metric { run: self.run, name: name.to_owned(), step, value });
    }

    /// Record a line of text in the run's log.
    pub fn log_text(&self, level: LogLevel, text: impl Into<String>) {
        self.send(RunEvent::Log { run: self.run, level, text: text.into() });
    }

    /// Record an informational line in the run's log.
    pub fn info(&self, text: impl Into<String>) {
        self.log_text(LogLevel::Info, text);
    }

    /// Report how far the run has come, in the study's own units of work.
    pub fn progress(&self, done: u64, total: u64) {
        self.send(RunEvent::Progress { run: self.run, done, total });
    }

    /// Index a file the study wrote under [`Self::artifacts_dir`].
    pub fn record_artifact(&self, name: &str, path: PathBuf) {
        self.send(RunEvent::Artifact { run: self.run, name: name.to_owned(), path });
    }

    /// Whether the user asked this run to stop; studies check it between steps.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the user has asked the run to stop: a training loop calls this
    /// between steps and returns with `?`, keeping what it logged.
    pub fn check_cancelled(&self) -> Result<(), StudyError> {
        if self.is_cancelled() { Err(StudyError::Cancelled) } else { Ok(()) }
    }

    fn send(&self, event: RunEvent) {
        // The receiver only goes away when the runner itself is gone; there is nobody
        // left to tell, and the training step must not fail because of it.
        let _ = self.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn events_arrive_in_the_order_they_were_logged() {
        let (tx, rx) = channel();
        let run = RunId::new();
        let ctx = RunContext::new(run, 7, Backend::Cpu, PathBuf::from("/tmp"), tx, Arc::default());
        ctx.log_metric("loss", 0, 1.0);
        ctx.info("hello");
        ctx.progress(1, 2);
        drop(ctx);
        let got: Vec<RunEvent> = rx.iter().collect();
        assert_eq!(
            got,
            vec![
                RunEvent::Metric { run, name: "loss".into(), step: 0, value: 1.0 },
                RunEvent::Log { run, level: LogLevel::Info, text: "hello".into() },
                RunEvent::Progress { run, done: 1, total: 2 },
            ]
        );
    }

    #[test]
    fn cancellation_is_seen_through_the_shared_flag() {
        let (tx, _rx) = channel();
        let flag = Arc::new(AtomicBool::new(false));
        let ctx = RunContext::new(RunId::new(), 0, Backend::Cpu, PathBuf::new(), tx, flag.clone());
        assert!(!ctx.is_cancelled());
        assert!(ctx.check_cancelled().is_ok());
        flag.store(true, Ordering::Relaxed);
        assert!(ctx.is_cancelled());
        assert!(matches!(ctx.check_cancelled(), Err(StudyError::Cancelled)));
    }
}
