//! Runs trained in another process (a Slurm task's `benchtop worker`): the holder expects
//! each such run, lets one worker claim it, and records what that worker sends through the
//! same writer as the pool's runs (`benchtop_runner::write_events`), so the rules of
//! invariant 3 (a run's end after everything it logged) hold for them too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::mpsc::Sender;

use benchtop_core::{Compute, LogLevel, RunEvent, RunId, RunRecord, RunStatus, Summary};
use benchtop_runner::Write;
use serde::{Deserialize, Serialize};

/// What a worker sends about its run, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerEvent {
    Started {
        compute: Option<Compute>,
    },
    /// The value as its f64 bits: exact, NaN and infinities included.
    Metric {
        name: String,
        step: u64,
        bits: u64,
    },
    Log {
        level: LogLevel,
        text: String,
    },
    /// The summary's values as f64 bits, like points: a diverged run's NaN is kept.
    Finished {
        status: RunStatus,
        summary: BTreeMap<String, u64>,
        error: Option<String>,
    },
}

/// A worker's events since its last batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkerBatch {
    pub run: RunId,
    pub events: Vec<WorkerEvent>,
}

/// A worker taking its run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    pub run: RunId,
    /// The node it trains on (recorded as the run's host).
    pub host: String,
}

/// What a worker needs to train its run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claimed {
    pub record: RunRecord,
    /// Whether to fetch the run's checkpoint and go on from it.
    pub checkpoint: bool,
}

impl WorkerEvent {
    /// The event as the writer takes it.
    pub fn into_run_event(self, run: RunId) -> RunEvent {
        match self {
            WorkerEvent::Started { compute } => RunEvent::Started { run, compute },
            WorkerEvent::Metric { name, step, bits } => RunEvent::Metric { run, name, step, value: f64::from_bits(bits) },
            WorkerEvent::Log { level, text } => RunEvent::Log { run, level, text },
            WorkerEvent::Finished { status, summary, error } => {
                RunEvent::Finished { run, status, summary: summary.into_iter().map(|(k, v)| (k, f64::from_bits(v))).collect(), error }
            }
        }
    }
}

/// One expected run: where its events go, and how far it got.
struct Slot {
    events: Sender<Write>,
    claimed: bool,
    finished: bool,
    cancelling: bool,
}

/// The runs this holder expects workers for.
#[derive(Default)]
pub struct Workers {
    slots: Mutex<HashMap<RunId, Slot>>,
}

/// Why a worker's request was refused.
#[derive(Debug)]
pub enum WorkerRefusal {
    /// The holder expects no worker for this run (never launched here, cancelled, or done).
    NotExpected(RunId),
    /// The holder's writer for it has stopped.
    Closed(RunId),
    /// The store did not take the events (the launch's store errors).
    NotStored(RunId, String),
    /// The store did not confirm them in time (a slow disk): the worker sends them again.
    Slow(RunId),
}

impl std::fmt::Display for WorkerRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerRefusal::NotExpected(run) => {
                write!(f, "this holder expects no worker for run {run} (not launched here, or already ended)")
            }
            WorkerRefusal::Closed(run) => write!(f, "the holder stopped recording run {run}"),
            WorkerRefusal::NotStored(run, why) => write!(f, "the holder could not store run {run}'s events: {why}"),
            // Worded as a lost holder: the worker tries again.
            WorkerRefusal::Slow(run) => {
                write!(f, "the holder stopped answering: its store did not confirm run {run}'s events within 2 minutes")
            }
        }
    }
}

impl Workers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Expect a worker for `run`; its events go to `events`.
    pub fn expect(&self, run: RunId, events: Sender<Write>) {
        self.lock().insert(run, Slot { events, claimed: false, finished: false, cancelling: false });
    }

    /// A worker takes `run` (again, if Slurm restarted its task).
    pub fn claim(&self, run: RunId) -> Result<Sender<Write>, WorkerRefusal> {
        let mut slots = self.lock();
        match slots.get_mut(&run) {
            Some(slot) if !slot.finished && !slot.cancelling => {
                slot.claimed = true;
                Ok(slot.events.clone())
            }
            _ => Err(WorkerRefusal::NotExpected(run)),
        }
    }

    /// Record a worker's events, in order, and return once they are durable in the store:
    /// what a worker was answered for survives the holder being killed.
    pub fn send(&self, run: RunId, events: Vec<RunEvent>) -> Result<(), WorkerRefusal> {
        let (answer, stored) = std::sync::mpsc::channel();
        {
            let mut slots = self.lock();
            let slot = Self::forward(&mut slots, run, events)?;
            slot.events.send(Write::Sync(answer)).map_err(|_| WorkerRefusal::Closed(run))?;
        }
        match stored.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(WorkerRefusal::NotStored(run, why)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(WorkerRefusal::Slow(run)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(WorkerRefusal::Closed(run)),
        }
    }

    /// Pass events to the run's writer. A worker stopped by SIGTERM reports its run
    /// cancelled; unless someone cancelled it here, Slurm stopped it (a time limit,
    /// preemption, a node's shutdown): the run was interrupted, and can be resumed.
    fn forward(slots: &mut HashMap<RunId, Slot>, run: RunId, events: Vec<RunEvent>) -> Result<&mut Slot, WorkerRefusal> {
        let slot = slots.get_mut(&run).filter(|s| !s.finished).ok_or(WorkerRefusal::NotExpected(run))?;
        for mut event in events {
            if let RunEvent::Finished { status, error, .. } = &mut event
                && *status == RunStatus::Cancelled
                && !slot.cancelling
            {
                *status = RunStatus::Interrupted;
                *error = Some(
                    "its worker was stopped (SIGTERM: a time limit, preemption or its node's shutdown) before the run ended; what it sent is kept and `benchtop resume` goes on"
                        .into(),
                );
            }
            let last = matches!(event, RunEvent::Finished { .. });
            slot.events.send(event.into()).map_err(|_| WorkerRefusal::Closed(run))?;
            if last {
                slot.finished = true;
                break;
            }
        }
        Ok(slot)
    }

    /// Whether `run` is expected here and still going.
    pub fn is_open(&self, run: RunId) -> bool {
        self.lock().get(&run).is_some_and(|s| !s.finished)
    }

    /// Whether `run` still belongs to a launch here (going, or ended and not yet forgotten):
    /// such a run cannot be launched again until its launch lets go of it.
    pub fn knows(&self, run: RunId) -> bool {
        self.lock().contains_key(&run)
    }

    /// Whether `run` is being cancelled.
    pub fn is_cancelling(&self, run: RunId) -> bool {
        self.lock().get(&run).is_some_and(|s| s.cancelling)
    }

    /// Mark `run` as being cancelled; whether it was expected here.
    pub fn cancelling(&self, run: RunId) -> bool {
        self.lock().get_mut(&run).is_some_and(|s| {
            s.cancelling = true;
            !s.finished
        })
    }

    /// End `run` for its worker: the event is recorded only if the worker's own end was not.
    /// Returns whether this ended it.
    pub fn end(&self, run: RunId, status: RunStatus, error: String) -> bool {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(&run).filter(|s| !s.finished) else { return false };
        let status = if slot.cancelling { RunStatus::Cancelled } else { status };
        let error = (status != RunStatus::Cancelled).then_some(error);
        let _ = slot.events.send(RunEvent::Finished { run, status, summary: Summary::new(), error }.into());
        slot.finished = true;
        true
    }

    /// Forget `run` (its launch has ended), dropping its sender.
    pub fn forget(&self, run: RunId) {
        self.lock().remove(&run);
    }
}
