//! `benchtop worker`: what a Slurm array task runs. It takes one run from the store's holder,
//! trains it here through the runner's own `train` (so it is the run a local launch would
//! train), and sends everything back in order: batched points and log lines, each checkpoint
//! after what was logged before it, each artifact's bytes, and the run's end. It sends over
//! TCP to the holder, or, on a cluster with no route back, as parcels in the launch's inbox
//! (see `benchtop_serve::inbox`).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use benchtop_core::{Checkpoint, RunEvent, RunId, RunStatus};
use benchtop_runner::{Place, finished, system, train};
use benchtop_serve::Remote;
use benchtop_serve::inbox::{Outbox, Parcel};
use benchtop_serve::workers::{Claim, Claimed, WorkerBatch, WorkerEvent};

/// Points gathered before a batch goes, at most; and how long one may wait.
const BATCH_EVENTS: usize = 4096;
const BATCH_AGE: Duration = Duration::from_millis(200);
/// How long a worker waits for its holder to answer again before it gives up on it: long
/// enough for a person to start `benchtop serve` after the holder's machine went away.
const PATIENCE: Duration = Duration::from_secs(600);
/// The longest pause between two tries.
const MOST_PAUSE: Duration = Duration::from_secs(5);

/// Where a worker sends: its holder over TCP, or the launch's inbox.
enum Sink {
    Holder(Remote),
    Inbox(Outbox),
}

impl Sink {
    fn claim(&self, claim: Claim) -> Result<Claimed> {
        match self {
            Sink::Holder(remote) => {
                let mut claimed = None;
                retry(|| {
                    claimed = Some(remote.claim(&claim)?);
                    Ok(())
                })?;
                claimed.context("claiming the run")
            }
            Sink::Inbox(outbox) => {
                let claimed = outbox.claimed()?;
                outbox.send(&Parcel::Claim(claim))?;
                Ok(claimed)
            }
        }
    }

    fn checkpoint(&self, run: RunId) -> Result<Vec<u8>> {
        Ok(match self {
            Sink::Holder(remote) => remote.worker_checkpoint(run)?,
            Sink::Inbox(outbox) => outbox.checkpoint().with_context(|| format!("run {run}'s checkpoint in its inbox"))?,
        })
    }

    fn events(&self, run: RunId, events: Vec<WorkerEvent>) -> Result<()> {
        match self {
            Sink::Holder(remote) => retry(|| remote.send_events(&WorkerBatch { run, events: events.clone() })),
            Sink::Inbox(outbox) => Ok(outbox.send(&Parcel::Events(events))?),
        }
    }

    fn checkpoint_out(&self, run: RunId, bytes: Vec<u8>) -> Result<()> {
        match self {
            Sink::Holder(remote) => retry(|| remote.send_checkpoint(run, bytes.clone())),
            Sink::Inbox(outbox) => Ok(outbox.send(&Parcel::Checkpoint(bytes))?),
        }
    }

    fn artifact(&self, run: RunId, name: &str, bytes: Vec<u8>) -> Result<()> {
        match self {
            Sink::Holder(remote) => retry(|| remote.send_artifact(run, name, bytes.clone())),
            Sink::Inbox(outbox) => Ok(outbox.send(&Parcel::Artifact { name: name.to_owned(), bytes })?),
        }
    }
}

pub fn worker(holder: Option<&str>, inbox: Option<&Path>, run: &str, cache: &Path) -> Result<ExitCode> {
    let id: RunId = run.parse().map_err(|e| anyhow::anyhow!("run id `{run}`: {e}"))?;
    let sink = match (holder, inbox) {
        (Some(_), Some(_)) => bail!("a worker reports either to --holder or to --inbox, not both"),
        (None, None) => bail!("a worker reports to its store's holder: give --holder HOST:PORT or --inbox DIR"),
        (None, Some(inbox)) => Sink::Inbox(Outbox::new(inbox, id)),
        (Some(addr), None) => {
            let token = std::env::var(benchtop_serve::TOKEN_ENV)
                .map_err(|_| anyhow::anyhow!("--holder {addr}: set {} to the holder's token", benchtop_serve::TOKEN_ENV))?;
            // The holder may be restarting, or the network slow to come up on a fresh node.
            let mut connected = None;
            retry(|| {
                connected = Some(Remote::tcp(addr, &token)?);
                Ok(())
            })?;
            Sink::Holder(connected.context("connecting to the holder")?)
        }
    };
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let claimed = sink.claim(Claim { run: id, host })?;
    let checkpoint = if claimed.checkpoint {
        let bytes = sink.checkpoint(id)?;
        Some(Checkpoint::decode(&bytes).map_err(|e| anyhow::anyhow!("run {id}'s checkpoint from the holder: {e}"))?)
    } else {
        None
    };
    // The run's files are written here first, then sent; a node's own temporary folder.
    let scratch = std::env::temp_dir().join(format!("benchtop-worker-{id}"));
    let place = Place { artifacts: scratch.join("artifacts"), cache: cache.to_path_buf() };

    // Slurm's scancel (and a node's shutdown) sends SIGTERM: the run stops at its next check
    // and ends `cancelled`, with what it logged sent.
    let cancelled = Arc::new(AtomicBool::new(false));
    watch_signals(cancelled.clone());

    let (tx, rx) = std::sync::mpsc::channel::<RunEvent>();
    let record = claimed.record;
    // System metrics as a local run has them (the task's own process: one run in it).
    let active = system::Active::default();
    let sampling = Arc::new(AtomicBool::new(false));
    let sampler = system::from_env().map(|every| {
        let (active, tx, stop) = (active.clone(), tx.clone(), sampling.clone());
        std::thread::spawn(move || system::sample(active, tx, every, stop))
    });
    let trainer = std::thread::spawn(move || {
        let registry = benchtop_studies::registry();
        let result = train(&registry, &record, &tx, cancelled, place, checkpoint, || active.start(record.id));
        // No system sample of this run may follow its end.
        active.end(record.id);
        sampling.store(true, Ordering::Relaxed);
        if let Some(sampler) = sampler {
            let _ = sampler.join();
        }
        let _ = tx.send(finished(record.id, result));
    });

    let mut batch: Vec<WorkerEvent> = Vec::new();
    let mut oldest: Option<Instant> = None;
    let mut status = RunStatus::Interrupted;
    let send = |batch: &mut Vec<WorkerEvent>| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        sink.events(id, std::mem::take(batch))
    };
    loop {
        let event = match rx.recv_timeout(BATCH_AGE) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match event {
            // At once: the holder times the run from its start.
            Some(RunEvent::Started { compute, .. }) => {
                batch.push(WorkerEvent::Started { compute });
                send(&mut batch)?;
            }
            Some(RunEvent::Metric { name, step, value, .. }) => batch.push(WorkerEvent::Metric { name, step, bits: value.to_bits() }),
            Some(RunEvent::Log { level, text, .. }) => batch.push(WorkerEvent::Log { level, text }),
            Some(RunEvent::Progress { .. }) | None => {}
            Some(RunEvent::Checkpoint { checkpoint, .. }) => {
                send(&mut batch)?;
                sink.checkpoint_out(id, checkpoint.encode())?;
            }
            Some(RunEvent::Artifact { name, path, .. }) => {
                send(&mut batch)?;
                let bytes = std::fs::read(&path).with_context(|| format!("reading the artifact {}", path.display()))?;
                sink.artifact(id, &name, bytes)?;
            }
            Some(RunEvent::Finished { status: end, summary, error, .. }) => {
                status = end;
                let summary = summary.into_iter().map(|(k, v)| (k, v.to_bits())).collect();
                batch.push(WorkerEvent::Finished { status: end, summary, error });
                send(&mut batch)?;
                break;
            }
        }
        if !batch.is_empty() && oldest.is_none() {
            oldest = Some(Instant::now());
        }
        if batch.len() >= BATCH_EVENTS || oldest.is_some_and(|t| t.elapsed() >= BATCH_AGE) {
            send(&mut batch)?;
            oldest = None;
        }
    }
    let _ = trainer.join();
    let _ = std::fs::remove_dir_all(&scratch);
    // Slurm's own record of the task says how the run ended.
    Ok(match status {
        RunStatus::Done => ExitCode::SUCCESS,
        RunStatus::Cancelled => ExitCode::from(130),
        _ => ExitCode::from(1),
    })
}

/// Try a request again with growing pauses while the holder cannot be reached or stopped
/// answering (for up to ten minutes): a network hiccup costs a pause rather than the run,
/// and a holder killed mid-launch is taken over by `benchtop serve`, which listens at the
/// same address. The holder answers a batch only once it is durable, so a batch sent again
/// is one that may not have been stored: its points land on the same steps, and at most its
/// log lines show twice. A refusal (the holder does not expect the run: cancelled, already
/// ended, or a holder that did not take the launch back) is final.
fn retry(mut send: impl FnMut() -> Result<(), benchtop_store::StoreError>) -> Result<()> {
    let since = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        match send() {
            Ok(()) => return Ok(()),
            Err(e) => {
                let text = e.to_string();
                let lost = text.contains("cannot reach") || text.contains("stopped answering");
                if !lost || since.elapsed() >= PATIENCE {
                    return Err(e.into());
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(MOST_PAUSE);
            }
        }
    }
}

/// Set `flag` on SIGTERM or SIGINT.
fn watch_signals(flag: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        runtime.block_on(async move {
            let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            flag.store(true, Ordering::Relaxed);
        });
    });
}
