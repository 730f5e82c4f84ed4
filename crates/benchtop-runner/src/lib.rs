//! The runner: turns planned runs into stored results.
//!
//! A bounded pool (tokio semaphore) runs each run on a blocking thread behind a
//! [`RunContext`]. Everything a run logs goes through one unbounded channel to a single
//! writer thread that batches it into the store, so a training step never waits on disk.
//! A run's `Finished` event travels the same channel, so its final status is written only
//! after everything it logged before.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benchtop_core::experiment::RunPlan;
use benchtop_core::{Checkpoint, LogLevel, Provenance, Registry, RunContext, RunEvent, RunId, RunRecord, RunStatus, StudyError, Summary};
use benchtop_store::{Artifact, Store, StoreError, WriteBatch};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub mod system;

/// How many writes the writer gathers before it applies them, at most.
const BATCH_POINTS: usize = 4096;
/// How long a write may wait in the writer before it is applied, at most.
const BATCH_AGE: Duration = Duration::from_millis(200);

/// Cancellation for a whole launch and for single runs.
#[derive(Clone, Default)]
pub struct Cancel {
    all: Arc<AtomicBool>,
    runs: Arc<Mutex<HashMap<RunId, Arc<AtomicBool>>>>,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop everything: running runs end `cancelled`, queued ones never start.
    pub fn cancel_all(&self) {
        self.all.store(true, Ordering::Relaxed);
        for flag in self.lock().values() {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Stop one run.
    pub fn cancel(&self, run: RunId) {
        self.flag(run).store(true, Ordering::Relaxed);
    }

    /// Whether everything was cancelled.
    pub fn is_all_cancelled(&self) -> bool {
        self.all.load(Ordering::Relaxed)
    }

    fn flag(&self, run: RunId) -> Arc<AtomicBool> {
        let all = self.is_all_cancelled();
        self.lock().entry(run).or_insert_with(|| Arc::new(AtomicBool::new(all))).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Arc<AtomicBool>>> {
        // A poisoned map still holds valid flags.
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a launch ended: how many runs reached each final status.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Problems writing to the store (the runs themselves may have succeeded). The first
    /// one stops the launch: training on without a place to record it would be lost work.
    pub store_errors: Vec<String>,
    /// Runs that ended but whose end the store could not record (they read `interrupted`
    /// when the store is next opened, and can be resumed). Not counted in the three above.
    pub unrecorded: usize,
}

/// Runs planned experiments against a store.
pub struct Runner {
    store: Arc<Store>,
    registry: Registry,
    jobs: usize,
    /// Every run some launch will still start or is training, with that launch and the
    /// run's cancel flag. A resumed run moves to its new launch (with a fresh flag), so the
    /// launch that held it before skips it; entries leave when their run ends.
    owners: Arc<Mutex<HashMap<RunId, Owner>>>,
    launches: std::sync::atomic::AtomicU64,
    /// How often to sample the process's CPU and memory into each running run; `None`: off.
    system: Option<Duration>,
}

struct Owner {
    launch: u64,
    flag: Arc<AtomicBool>,
}

impl Runner {
    /// A runner with at most `jobs` runs at a time (at least one), sampling system metrics
    /// unless `BENCHTOP_SYSTEM_METRICS=0` (see [`system`]).
    pub fn new(store: Arc<Store>, registry: Registry, jobs: usize) -> Self {
        Runner { store, registry, jobs: jobs.max(1), owners: Arc::default(), launches: Default::default(), system: system::from_env() }
    }

    /// Sample the process's CPU use and memory into each running run every `every`, or not
    /// at all with `None` (builder style).
    pub fn with_system_metrics(mut self, every: Option<Duration>) -> Self {
        self.system = every;
        self
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Owner>> {
        // A poisoned map still holds valid entries.
        self.owners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Cancel runs: one training stops at its next check, one still waiting in a queue is
    /// marked `cancelled` at once (so it can be deleted or resumed now). Returns the runs
    /// dequeued that way; runs that already ended are left as they are.
    pub fn cancel(&self, ids: &[RunId]) -> Result<Vec<RunId>, StoreError> {
        {
            let owners = self.owners();
            for id in ids {
                if let Some(owner) = owners.get(id) {
                    owner.flag.store(true, Ordering::Relaxed);
                }
            }
        }
        self.store.cancel_queued(ids)
    }

    /// Queue again the runs among `ids` that may be resumed (cancelled, interrupted or
    /// failed), with the same parameters and seed; each goes on from its last checkpoint
    /// where its study saved one, else from the beginning. Returns them, for
    /// [`Runner::execute`].
    pub fn requeue(&self, ids: &[RunId]) -> Result<Vec<RunId>, StoreError> {
        let again = self.store.requeue(ids)?;
        // A run cancelled while queued may still sit in its old launch's queue, with its
        // cancel flag set: that launch must not start it (it would end cancelled at once).
        let mut owners = self.owners();
        for id in &again {
            owners.remove(id);
        }
        Ok(again)
    }

    /// Runs at a time.
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// The default pool size: the machine's cores.
    pub fn default_jobs() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Store the planned runs as `queued`, with what is needed to reproduce them (the git
    /// commit of each experiment file asked of git here).
    pub fn enqueue(&self, plans: &[RunPlan]) -> Result<Vec<RunRecord>, StoreError> {
        self.enqueue_as(plans, |file| git_commit(Path::new(file)))
    }

    /// [`Runner::enqueue`], with each experiment file's commit from `commit_of` (a holder
    /// takes the commit its client found: it never reads a path a request names).
    pub fn enqueue_as(&self, plans: &[RunPlan], commit_of: impl Fn(&str) -> Option<String>) -> Result<Vec<RunRecord>, StoreError> {
        let mut commits: HashMap<Option<String>, Option<String>> = HashMap::new();
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        let records: Vec<RunRecord> = plans
            .iter()
            .map(|plan| {
                let commit = commits
                    .entry(plan.experiment_file.clone())
                    .or_insert_with(|| plan.experiment_file.as_deref().and_then(&commit_of))
                    .clone();
                let provenance = Provenance {
                    benchtop_version: benchtop_core::VERSION.to_owned(),
                    git_commit: commit,
                    host: host.clone(),
                    ..Provenance::default()
                };
                plan.to_record(provenance)
            })
            .collect();
        self.store.create_runs(&records)?;
        Ok(records)
    }

    /// Run the given runs, at most `jobs` at a time; `observe` sees every event as it is
    /// stored (progress included). Returns when every run has ended.
    pub async fn execute(&self, runs: Vec<RunId>, cancel: Cancel, observe: impl Fn(&RunEvent) + Send + 'static) -> Outcome {
        let (tx, rx) = std::sync::mpsc::channel::<RunEvent>();
        let store = self.store.clone();
        let stop = cancel.clone();
        let writer = std::thread::spawn(move || write_events(&store, rx, observe, stop));

        let launch = self.launches.fetch_add(1, Ordering::Relaxed);
        {
            let mut owners = self.owners();
            for id in &runs {
                owners.insert(*id, Owner { launch, flag: cancel.flag(*id) });
            }
        }
        let active = system::Active::default();
        let sampling = Arc::new(AtomicBool::new(false));
        // Stops the sampler however this future ends, dropped half way included (its sender
        // would keep the writer thread waiting).
        let _stop_sampler = StopOnDrop(sampling.clone());
        let sampler = self.system.map(|every| {
            let (active, tx, stop) = (active.clone(), tx.clone(), sampling.clone());
            std::thread::spawn(move || system::sample(active, tx, every, stop))
        });
        let permits = Arc::new(Semaphore::new(self.jobs));
        let mut running = JoinSet::new();
        for id in runs {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            // Resumed while it waited here: a later launch runs it.
            if !owned(&self.owners, id, launch) {
                continue;
            }
            if cancel.is_all_cancelled() {
                release(&self.owners, id, launch);
                let _ = tx.send(finished(id, Err(StudyError::Cancelled)));
                continue;
            }
            let (store, registry, tx, flag) = (self.store.clone(), self.registry.clone(), tx.clone(), cancel.flag(id));
            let (owners, active) = (self.owners.clone(), active.clone());
            running.spawn_blocking(move || {
                let _permit = permit;
                if owned(&owners, id, launch) {
                    run_one(&store, &registry, id, tx, flag, &active);
                    release(&owners, id, launch);
                }
            });
        }
        while running.join_next().await.is_some() {}
        // The sampler holds a sender too: stop it before the writer can see the end.
        sampling.store(true, Ordering::Relaxed);
        if let Some(sampler) = sampler {
            let _ = sampler.join();
        }
        drop(tx);
        writer.join().unwrap_or_else(|_| Outcome { store_errors: vec!["the store writer thread panicked".into()], ..Outcome::default() })
    }
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Whether `launch` still holds the run.
fn owned(owners: &Mutex<HashMap<RunId, Owner>>, id: RunId, launch: u64) -> bool {
    owners.lock().unwrap_or_else(|p| p.into_inner()).get(&id).is_some_and(|o| o.launch == launch)
}

/// Forget a run's owner once its launch is done with it (unless a later launch took it).
fn release(owners: &Mutex<HashMap<RunId, Owner>>, id: RunId, launch: u64) {
    let mut owners = owners.lock().unwrap_or_else(|p| p.into_inner());
    if owners.get(&id).is_some_and(|o| o.launch == launch) {
        owners.remove(&id);
    }
}

fn run_one(store: &Store, registry: &Registry, id: RunId, tx: Sender<RunEvent>, cancelled: Arc<AtomicBool>, active: &system::Active) {
    let record = match store.run(id) {
        Ok(r) => r,
        // Deleted while it waited in the queue: nothing left to run or to record.
        Err(StoreError::NoSuchRun(_)) => return,
        Err(e) => {
            let _ = tx.send(finished(id, Err(StudyError::Failed(e.to_string()))));
            return;
        }
    };
    // Cancelled while it waited in the queue: it never starts.
    if record.status == RunStatus::Cancelled {
        let _ = tx.send(finished(id, Err(StudyError::Cancelled)));
        return;
    }
    let place = Place { artifacts: store.artifacts_dir(id), cache: store.path().join("cache") };
    let checkpoint = resume_point(store, id, &tx);
    let result = train(registry, &record, &tx, cancelled, place, checkpoint, || active.start(id));
    // No system sample of this run may follow its end in the channel.
    active.end(id);
    let _ = tx.send(finished(id, result));
}

/// Where a run keeps its files: its artifacts folder, and the cache of shared stages.
pub struct Place {
    pub artifacts: PathBuf,
    pub cache: PathBuf,
}

/// Train one stored run: its `Started` event, then its study with a context sending to `tx`
/// (not its `Finished` event: the caller sends that, see [`finished`]). The runner's pool and
/// a Slurm worker (`benchtop worker`) both train through this, so a run is the same wherever
/// it trains. `started` is called once the study is about to run.
pub fn train(
    registry: &Registry,
    record: &RunRecord,
    tx: &Sender<RunEvent>,
    cancelled: Arc<AtomicBool>,
    place: Place,
    checkpoint: Option<Checkpoint>,
    started: impl FnOnce(),
) -> Result<Summary, StudyError> {
    let id = record.id;
    registry.get(&record.study).map_err(StudyError::Failed).and_then(|study| {
        let _ = tx.send(RunEvent::Started { run: id, compute: registry.compute(record.backend) });
        let ctx = RunContext::new(id, record.seed, record.backend, place.artifacts, tx.clone(), cancelled)
            .with_cache(benchtop_core::ArtifactCache::new(place.cache))
            .with_checkpoint(checkpoint);
        started();
        // A panicking study fails its own run, not the whole launch.
        std::panic::catch_unwind(AssertUnwindSafe(|| study.run_json(&ctx, &record.params)))
            .unwrap_or_else(|panic| Err(StudyError::Failed(format!("the study panicked: {}", panic_text(&panic)))))
    })
}

/// The checkpoint an earlier attempt of the run left, if one can be trusted; the log says
/// which it was, and why one was set aside (the run then starts from the beginning).
pub fn resume_point<W: From<RunEvent>>(store: &Store, id: RunId, tx: &Sender<W>) -> Option<Checkpoint> {
    let say = |level, text: String| {
        let _ = tx.send(RunEvent::Log { run: id, level, text }.into());
    };
    match store.checkpoint(id) {
        Ok(None) => None,
        Ok(Some(cp)) if cp.version != benchtop_core::VERSION => {
            say(
                LogLevel::Warn,
                format!(
                    "the checkpoint at {} was written by Benchtop {}, this is {}: starting from the beginning",
                    cp.stage,
                    cp.version,
                    benchtop_core::VERSION
                ),
            );
            None
        }
        Ok(Some(cp)) => {
            say(LogLevel::Info, format!("resuming from the checkpoint at {}", cp.stage));
            Some(cp)
        }
        Err(e) => {
            say(LogLevel::Warn, format!("{e}: starting from the beginning"));
            None
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// A run's last event, from how its study ended.
pub fn finished(run: RunId, result: Result<Summary, StudyError>) -> RunEvent {
    match result {
        Ok(summary) => RunEvent::Finished { run, status: RunStatus::Done, summary, error: None },
        Err(StudyError::Cancelled) => RunEvent::Finished { run, status: RunStatus::Cancelled, summary: Summary::new(), error: None },
        Err(e) => RunEvent::Finished { run, status: RunStatus::Failed, summary: Summary::new(), error: Some(e.to_string()) },
    }
}

/// What the writer thread takes: an event, or a request to say once everything sent before
/// it is durable in the store.
pub enum Write {
    Event(RunEvent),
    /// Write and flush what came before, then answer `Ok`, or the launch's store errors.
    /// A holder answers a worker's batch only after this: a batch it acknowledged survives
    /// the holder being killed, and the worker sends again only what was not acknowledged.
    Sync(std::sync::mpsc::Sender<Result<(), String>>),
}

impl From<RunEvent> for Write {
    fn from(event: RunEvent) -> Self {
        Write::Event(event)
    }
}

/// The writer thread: batch events into the store, apply run starts and ends in order.
/// A store error (a full disk, a failing drive) cancels the whole launch through `stop`.
/// Public for runs trained elsewhere (a Slurm worker's events, received by the holder), so
/// they are recorded by the same rules as the pool's.
pub fn write_events<W: Into<Write>>(store: &Store, rx: Receiver<W>, observe: impl Fn(&RunEvent), stop: Cancel) -> Outcome {
    let mut outcome = Outcome::default();
    let mut batch = WriteBatch::new();
    let mut oldest: Option<Instant> = None;
    let mut started: HashMap<RunId, Instant> = HashMap::new();
    // A run deleted while it waited has nothing left to record: not a store failure. Any
    // other error is, and stops the launch. Returns whether it was one.
    let failed = |outcome: &mut Outcome, e: StoreError| {
        if matches!(e, StoreError::NoSuchRun(_)) {
            return false;
        }
        outcome.store_errors.push(e.to_string());
        stop.cancel_all();
        true
    };
    let apply = |batch: &mut WriteBatch, outcome: &mut Outcome| {
        if let Err(e) = store.write(std::mem::take(batch)) {
            failed(outcome, e);
        }
    };
    loop {
        let event = match rx.recv_timeout(BATCH_AGE).map(Into::into) {
            Ok(Write::Event(event)) => Some(event),
            Ok(Write::Sync(answer)) => {
                apply(&mut batch, &mut outcome);
                oldest = None;
                if outcome.store_errors.is_empty()
                    && let Err(e) = store.flush()
                {
                    failed(&mut outcome, e);
                }
                let _ = answer.send(if outcome.store_errors.is_empty() { Ok(()) } else { Err(outcome.store_errors.join("; ")) });
                None
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(event) = &event {
            let mut unrecorded: Option<RunEvent> = None;
            match event {
                RunEvent::Metric { run, name, step, value } => batch.metric(*run, name, *step, *value),
                RunEvent::Log { run, level, text } => batch.log(*run, *level, text.clone()),
                RunEvent::Artifact { run, name, path } => {
                    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
                    batch.artifact(*run, Artifact { name: name.clone(), path: path.clone(), bytes });
                }
                RunEvent::Progress { .. } => {}
                RunEvent::Checkpoint { run, checkpoint } => {
                    // Everything logged before it is made durable first: a run resumed from
                    // it then misses no point before its boundary. After any failed write of
                    // this launch no checkpoint is kept: points before it may be missing.
                    apply(&mut batch, &mut outcome);
                    oldest = None;
                    if outcome.store_errors.is_empty()
                        && let Err(e) = store.flush().and_then(|()| store.save_checkpoint(*run, checkpoint))
                    {
                        failed(&mut outcome, e);
                    }
                }
                RunEvent::Started { run, compute } => {
                    started.insert(*run, Instant::now());
                    let result = store.update_run(*run, |r| {
                        r.status = RunStatus::Running;
                        r.provenance.started_at = Some(Utc::now());
                        r.provenance.compute = compute.clone();
                    });
                    if let Err(e) = result {
                        failed(&mut outcome, e);
                    }
                }
                RunEvent::Finished { run, status, summary, error } => {
                    apply(&mut batch, &mut outcome);
                    oldest = None;
                    let duration = started.remove(run).map(|t| t.elapsed().as_secs_f64());
                    let result = store.update_run(*run, |r| {
                        r.status = *status;
                        r.summary = summary.clone();
                        r.error = error.clone();
                        r.provenance.ended_at = Some(Utc::now());
                        r.provenance.duration_s = duration.or(r.provenance.duration_s);
                    });
                    match result.and_then(|_| store.flush()) {
                        Err(e) => {
                            if failed(&mut outcome, e) {
                                outcome.unrecorded += 1;
                                // Shown as it will read when the store is next opened.
                                unrecorded = Some(RunEvent::Finished {
                                    run: *run,
                                    status: RunStatus::Interrupted,
                                    summary: Summary::new(),
                                    error: Some("its end could not be recorded in the store".into()),
                                });
                            }
                        }
                        Ok(()) => match status {
                            RunStatus::Done => {
                                outcome.done += 1;
                                // Nothing resumes a finished run; a file left by a failed
                                // removal goes with the run's folder when it is deleted.
                                let _ = store.remove_checkpoint(*run);
                            }
                            RunStatus::Cancelled => outcome.cancelled += 1,
                            _ => outcome.failed += 1,
                        },
                    }
                }
            }
            observe(unrecorded.as_ref().unwrap_or(event));
            if !batch.is_empty() && oldest.is_none() {
                oldest = Some(Instant::now());
            }
        }
        if batch.len() >= BATCH_POINTS || oldest.is_some_and(|t| t.elapsed() >= BATCH_AGE) {
            apply(&mut batch, &mut outcome);
            oldest = None;
        }
    }
    apply(&mut batch, &mut outcome);
    if let Err(e) = store.flush() {
        failed(&mut outcome, e);
    }
    outcome
}

/// The commit of the git work tree holding `file`, `-dirty` when it has changes; `None`
/// outside git or without a git binary.
pub fn git_commit(file: &Path) -> Option<String> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{commit}-dirty") } else { commit })
}

#[cfg(test)]
mod tests;
