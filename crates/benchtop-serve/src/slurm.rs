//! Launching on Slurm: one job array per launch, task i running `benchtop worker` for run i,
//! which trains it and sends everything back to this holder over TCP with the token.
//!
//! A launch outlives its holder: while it goes on, the store's folder keeps its job, runs,
//! address and token (`slurm/<first run>/launch.json`, owner-only). A holder killed (or its
//! machine restarted) leaves the workers retrying; `benchtop serve` on the store finds the
//! launches whose tasks still wait or run ([`orphans`]), listens again where their workers
//! report, and follows them as their first holder did ([`SlurmLauncher::adopt`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchtop_core::{LogLevel, Report, RunEvent, RunId, RunStatus, SlurmOptions};
use benchtop_runner::{Cancel, Outcome, Write, write_events};
use benchtop_slurm::{ArrayJob, TaskState};
use benchtop_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::TOKEN_ENV;
use crate::inbox::{self, Parcel};
use crate::server::{record_artifact, record_checkpoint};
use crate::workers::{Claimed, Workers};

/// How often the holder asks `squeue` how the tasks are.
const POLL: Duration = Duration::from_millis(1000);
/// How long after its task ended a run's own end may still be on its way: over TCP, and as
/// a parcel in the inbox (a shared file system may show a file to another host late).
const GRACE: Duration = Duration::from_secs(3);
const INBOX_GRACE: Duration = Duration::from_secs(30);

/// Where a launch's workers reach their holder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// The address the holder's TCP listener is bound to (bound again by a holder that takes
    /// the launch back).
    pub bind: SocketAddr,
    /// host:port as the workers were told it.
    pub address: String,
    pub token: String,
}

/// A launch on Slurm as the store's folder keeps it while it goes on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaunchRecord {
    pub job: u64,
    /// Task i trains run i.
    pub runs: Vec<RunId>,
    /// Where its workers report over TCP; `None`: through the launch's inbox.
    pub reach: Option<Reach>,
}

/// A launch whose holder went away while some of its tasks still wait or run.
#[derive(Clone, Debug)]
pub struct Orphan {
    pub launch: LaunchRecord,
    /// Its runs still going, with their task's index and Slurm's word for its state.
    pub live: Vec<(usize, RunId, String)>,
}

/// What a Slurm launch needs besides its runs.
pub struct SlurmLauncher {
    store: Arc<Store>,
    workers: Arc<Workers>,
    /// Where this holder's new launches report over TCP; `None`: not on TCP (the inbox only).
    reach: Option<Reach>,
    /// The `benchtop` the tasks run (on a cluster, a path the nodes share); `None` when it
    /// cannot be found, which a launch then says.
    benchtop: Option<PathBuf>,
    /// Each run's job and task, while its launch goes on.
    tasks: std::sync::Mutex<BTreeMap<RunId, (u64, usize)>>,
    /// The last inbox parcel recorded of each run.
    read_up_to: std::sync::Mutex<std::collections::HashMap<RunId, String>>,
}

impl SlurmLauncher {
    pub fn new(store: Arc<Store>, workers: Arc<Workers>, reach: Option<Reach>) -> Self {
        let benchtop = worker_binary();
        SlurmLauncher { store, workers, reach, benchtop, tasks: Default::default(), read_up_to: Default::default() }
    }

    /// Submit `runs` (queued in the store) as one job array and follow it to its end;
    /// `observe` sees every event once stored. The receiver gets the launch's outcome.
    pub fn start(
        self: &Arc<Self>,
        name: &str,
        runs: Vec<RunId>,
        options: SlurmOptions,
        observe: Box<dyn Fn(&RunEvent) + Send>,
    ) -> oneshot::Receiver<Outcome> {
        let (done, outcome) = oneshot::channel();
        let (tx, writer, stop) = self.writer(observe);
        for run in &runs {
            self.workers.expect(*run, tx.clone());
        }
        let me = self.clone();
        let name = format!("benchtop-{name}");
        tokio::spawn(async move {
            let submitted = {
                let (me, runs, name, tx) = (me.clone(), runs.clone(), name.clone(), tx.clone());
                tokio::task::spawn_blocking(move || me.submit(&name, &runs, &options, &tx))
                    .await
                    .unwrap_or_else(|e| Err(format!("submitting: {e}")))
            };
            match submitted {
                Ok((job, inbox)) => {
                    let tasks: Vec<(usize, RunId)> = runs.iter().copied().enumerate().collect();
                    me.follow(job, &tasks, &stop, inbox.as_deref()).await;
                    let _ = std::fs::remove_file(me.record_path(&runs));
                }
                Err(e) => {
                    for run in &runs {
                        me.workers.end(*run, RunStatus::Failed, e.clone());
                    }
                }
            }
            let _ = done.send(me.finish(&runs, tx, writer).await);
        });
        outcome
    }

    /// Take back a launch whose holder went away: its live runs are expected here again (a
    /// worker that could not reach the old holder sends again what was not acknowledged) and
    /// followed to their end. Its workers must reach this holder at the launch's `reach`.
    /// The receiver gets the outcome of the runs taken back.
    pub fn adopt(self: &Arc<Self>, orphan: Orphan, holder: &str, observe: Box<dyn Fn(&RunEvent) + Send>) -> oneshot::Receiver<Outcome> {
        let (done, outcome) = oneshot::channel();
        let (tx, writer, stop) = self.writer(observe);
        let job = orphan.launch.job;
        let mut runs = Vec::new();
        for (index, run, state) in &orphan.live {
            // The store marked it interrupted when the holder that took it over opened it.
            let status = if state == "PENDING" { RunStatus::Queued } else { RunStatus::Running };
            if self.store.update_run(*run, |r| (r.status, r.error) = (status, None)).is_err() {
                continue; // deleted meanwhile
            }
            let text = if state == ENDED {
                format!("its holder went away; Slurm task {job}_{index} ended meanwhile, and {holder} read what it left in the inbox")
            } else {
                format!("its holder went away while Slurm task {job}_{index} was {}; {holder} took the run back", state.to_lowercase())
            };
            let _ = tx.send(Write::Event(RunEvent::Log { run: *run, level: LogLevel::Warn, text }));
            self.workers.expect(*run, tx.clone());
            self.tasks().insert(*run, (job, *index));
            runs.push((*index, *run));
        }
        let me = self.clone();
        let inbox = orphan.launch.reach.is_none().then(|| self.launch_dir(&orphan.launch.runs).join("inbox"));
        tokio::spawn(async move {
            me.follow(job, &runs, &stop, inbox.as_deref()).await;
            let all: Vec<RunId> = runs.iter().map(|(_, r)| *r).collect();
            let _ = std::fs::remove_file(me.record_path(&orphan.launch.runs));
            let _ = done.send(me.finish(&all, tx, writer).await);
        });
        outcome
    }

    /// A launch's writer thread: its sender, its handle, and the stop a store error sets.
    fn writer(&self, observe: Box<dyn Fn(&RunEvent) + Send>) -> (std::sync::mpsc::Sender<Write>, std::thread::JoinHandle<Outcome>, Cancel) {
        let (tx, rx) = std::sync::mpsc::channel::<Write>();
        let stop = Cancel::new();
        let writer = {
            let (store, stop) = (self.store.clone(), stop.clone());
            std::thread::spawn(move || write_events(&store, rx, observe, stop))
        };
        (tx, writer, stop)
    }

    /// Let go of a launch's runs and wait for its writer to have stored everything.
    async fn finish(&self, runs: &[RunId], tx: std::sync::mpsc::Sender<Write>, writer: std::thread::JoinHandle<Outcome>) -> Outcome {
        for run in runs {
            self.workers.forget(*run);
            self.tasks().remove(run);
            self.read_up_to().remove(run);
        }
        drop(tx);
        tokio::task::spawn_blocking(move || writer.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| Outcome { store_errors: vec!["the store writer thread panicked".into()], ..Outcome::default() })
    }

    /// Where a launch's files go: a folder named by its first run.
    fn launch_dir(&self, runs: &[RunId]) -> PathBuf {
        launch_dir(&self.store, runs)
    }

    fn record_path(&self, runs: &[RunId]) -> PathBuf {
        self.launch_dir(runs).join(LAUNCH_RECORD)
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, BTreeMap<RunId, (u64, usize)>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write the batch script and submit it; the array's job id, and its inbox when its
    /// workers report through one.
    fn submit(
        &self,
        name: &str,
        runs: &[RunId],
        options: &SlurmOptions,
        tx: &std::sync::mpsc::Sender<Write>,
    ) -> Result<(u64, Option<PathBuf>), String> {
        let quote = |path: &std::path::Path| {
            let text = path.display().to_string();
            if text.contains('\'') {
                Err(format!("the path {text} has a quote in it, which a batch script cannot carry"))
            } else {
                Ok(format!("'{text}'"))
            }
        };
        let dir = self.launch_dir(runs);
        std::fs::create_dir_all(&dir).map_err(|e| format!("making {}: {e}", dir.display()))?;
        self.can_report(options.report)?;
        let reach = match options.report {
            Some(Report::Inbox) => None,
            _ => self.reach.clone(),
        };
        let inbox = reach.is_none().then(|| dir.join("inbox"));
        if let Some(inbox) = &inbox {
            for run in runs {
                let record = self.store.run(*run).map_err(|e| e.to_string())?;
                let checkpoint = benchtop_runner::resume_point(&self.store, *run, tx).map(|_| self.store.checkpoint_path(*run));
                let claimed = Claimed { record, checkpoint: checkpoint.is_some() };
                inbox::prepare(inbox, &claimed, checkpoint.as_deref()).map_err(|e| format!("preparing {}: {e}", inbox.display()))?;
            }
        }
        let ids: Vec<String> = runs.iter().map(RunId::to_string).collect();
        // Only typed values reach the script: run ids, this binary's path, the cache's and the
        // inbox's, and the holder's address. The token travels in sbatch's environment.
        let report = match (&reach, &inbox) {
            (Some(reach), _) => format!("--holder {}", reach.address),
            (None, Some(inbox)) => format!("--inbox {}", quote(inbox)?),
            (None, None) => return Err("a launch without TCP reports through its inbox".into()),
        };
        let script = format!(
            "#!/bin/bash\n# A Benchtop launch on Slurm: array task i trains run i of this list.\nruns=({})\nexec {} worker {report} --cache {} \"${{runs[$SLURM_ARRAY_TASK_ID]}}\"\n",
            ids.join(" "),
            quote(self.benchtop.as_deref().ok_or(
                "Slurm's tasks run the `benchtop` command, and none was found beside this program or on PATH (`cargo build --workspace` builds it)"
            )?)?,
            quote(&self.store.path().join("cache"))?,
        );
        std::fs::write(dir.join("job.sh"), &script).map_err(|e| format!("writing {}: {e}", dir.join("job.sh").display()))?;
        let token = reach.as_ref().map(|r| [(TOKEN_ENV, r.token.as_str())]);
        let env: &[(&str, &str)] = token.as_ref().map_or(&[], |t| t);
        let job = ArrayJob { name, tasks: runs.len(), options, script: &script, output_dir: &dir, env };
        let id = benchtop_slurm::submit(&job).map_err(|e| e.to_string())?;
        // Recorded as soon as Slurm has the job: a launch no holder could take back is cancelled.
        let record = LaunchRecord { job: id, runs: runs.to_vec(), reach };
        if let Err(e) = write_private(&dir.join(LAUNCH_RECORD), &record) {
            let _ = benchtop_slurm::cancel(id, None);
            return Err(format!("recording the launch in {}: {e}", dir.display()));
        }
        {
            let mut tasks = self.tasks();
            for (index, run) in runs.iter().enumerate() {
                tasks.insert(*run, (id, index));
            }
        }
        // Cancelled while sbatch ran: those tasks must not start.
        let cancelled: Vec<usize> = runs.iter().enumerate().filter(|(_, r)| self.workers.is_cancelling(**r)).map(|(i, _)| i).collect();
        if !cancelled.is_empty() {
            let _ = benchtop_slurm::cancel(id, Some(&cancelled));
        }
        Ok((id, inbox))
    }

    /// Record the parcels the open runs' workers left in the inbox, in order, each deleted
    /// once stored (and remembered, so one whose deletion failed is not recorded twice). A
    /// parcel that cannot be read now is tried again on the next round; one that is not a
    /// worker's parcel fails its run, is kept for a person to look at, and its task is
    /// cancelled.
    fn ingest(&self, inbox: &Path, runs: &[RunId]) {
        for run in runs {
            let Ok(names) = inbox::waiting(inbox, *run) else { continue };
            for name in names {
                if self.read_up_to().get(run).is_some_and(|last| name <= *last) {
                    let _ = std::fs::remove_file(inbox::parcel_path(inbox, *run, &name));
                    continue;
                }
                let parcel = match inbox::read(inbox, *run, &name) {
                    Ok(parcel) => parcel,
                    Err(Ok(_)) => break, // not readable yet: next round
                    Err(Err(why)) => {
                        self.give_up(*run, format!("its worker's parcel in {}: {why}", inbox.display()));
                        break;
                    }
                };
                let recorded = match parcel {
                    Parcel::Claim(claim) => self.workers.claim(*run).map_err(|e| e.to_string()).and_then(|_| {
                        let host = claim.host.chars().filter(|c| !c.is_control()).take(255).collect::<String>();
                        self.store.update_run(*run, |r| r.provenance.host = host).map(|_| ()).map_err(|e| e.to_string())
                    }),
                    Parcel::Events(events) => {
                        let events = events.into_iter().map(|e| e.into_run_event(*run)).collect();
                        self.workers.send(*run, events).map_err(|e| e.to_string())
                    }
                    Parcel::Checkpoint(bytes) => record_checkpoint(&self.workers, *run, &bytes).map_err(|r| r.1),
                    Parcel::Artifact { name, bytes } => record_artifact(&self.store, &self.workers, *run, &name, &bytes).map_err(|r| r.1),
                };
                match recorded {
                    Ok(()) => {
                        let _ = std::fs::remove_file(inbox::parcel_path(inbox, *run, &name));
                        self.read_up_to().insert(*run, name);
                    }
                    Err(e) => {
                        self.give_up(*run, format!("its worker's parcel {name}: {e}"));
                        break;
                    }
                }
            }
        }
    }

    /// End a run `failed` and cancel its task: what it would still send cannot be recorded.
    fn give_up(&self, run: RunId, why: String) {
        if self.workers.end(run, RunStatus::Failed, why)
            && let Some((job, index)) = self.tasks().get(&run).copied()
        {
            let _ = benchtop_slurm::cancel(job, Some(&[index]));
        }
    }

    fn read_up_to(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<RunId, String>> {
        self.read_up_to.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a file's `report` can be honoured here: over TCP needs a holder on TCP.
    pub fn can_report(&self, report: Option<Report>) -> Result<(), String> {
        match (report, &self.reach) {
            (Some(Report::Tcp), None) => Err(
                "`report = \"tcp\"` needs a holder listening on TCP (`benchtop serve --listen HOST:PORT`); leave it out, or use \"inbox\""
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// Whether `run` belongs to a launch this holder follows.
    pub fn follows(&self, run: RunId) -> bool {
        self.tasks().contains_key(&run)
    }

    /// Watch the array until every run has ended: a task that ended without its run's own
    /// end (killed, its node lost, out of time) ends the run `interrupted`, with what its
    /// worker sent kept, so it can be resumed.
    async fn follow(self: &Arc<Self>, job: u64, runs: &[(usize, RunId)], stop: &Cancel, inbox: Option<&Path>) {
        let started = Instant::now();
        let grace = if inbox.is_some() { INBOX_GRACE } else { GRACE };
        let mut ended_at: BTreeMap<usize, (Instant, String)> = BTreeMap::new();
        let mut seen: std::collections::BTreeSet<usize> = Default::default();
        loop {
            if let Some(inbox) = inbox {
                let open: Vec<RunId> = runs.iter().map(|(_, r)| *r).filter(|r| self.workers.is_open(*r)).collect();
                let (me, inbox) = (self.clone(), inbox.to_path_buf());
                let _ = tokio::task::spawn_blocking(move || me.ingest(&inbox, &open)).await;
            }
            let open: Vec<(usize, RunId)> = runs.iter().filter(|(_, r)| self.workers.is_open(*r)).copied().collect();
            if open.is_empty() {
                return;
            }
            if stop.is_all_cancelled() {
                // A store error stopped the launch: its tasks must not train on unrecorded.
                let _ = tokio::task::spawn_blocking(move || benchtop_slurm::cancel(job, None)).await;
            }
            let states = tokio::task::spawn_blocking(move || benchtop_slurm::task_states(job)).await.ok().and_then(Result::ok);
            if let Some(states) = states {
                for (index, run) in open {
                    let state = states.get(&index);
                    if state.is_some() {
                        seen.insert(index);
                    }
                    if matches!(state, Some(TaskState::Live(_))) {
                        // Requeued, or held and released: alive again.
                        ended_at.remove(&index);
                    }
                    let gone = match state {
                        Some(TaskState::Ended(s)) => Some(s.clone()),
                        // Forgotten by Slurm (past MinJobAge), or never listed long after submission.
                        None if seen.contains(&index) || started.elapsed() > Duration::from_secs(60) => Some("and was forgotten".into()),
                        _ => None,
                    };
                    if let Some(how) = gone {
                        let (since, how) = ended_at.entry(index).or_insert_with(|| (Instant::now(), how));
                        if since.elapsed() >= grace
                            && let Some(inbox) = inbox
                        {
                            // A last look: what the worker left before its task ended.
                            let (me, inbox) = (self.clone(), inbox.to_path_buf());
                            let _ = tokio::task::spawn_blocking(move || me.ingest(&inbox, &[run])).await;
                        }
                        if since.elapsed() >= grace {
                            self.workers.end(
                                run,
                                RunStatus::Interrupted,
                                format!(
                                    "its Slurm task {job}_{index} ended ({how}) before the run did; what it sent is kept and `benchtop resume` goes on"
                                ),
                            );
                        }
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Cancel runs of Slurm launches: `scancel` their tasks (a running worker gets SIGTERM and
    /// stops at its run's next check; a pending task never starts; a launch still being
    /// submitted cancels them once `sbatch` has answered). Returns the runs that were this
    /// launcher's.
    pub fn cancel(&self, runs: &[RunId]) -> Vec<RunId> {
        let mut by_job: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut mine = Vec::new();
        {
            let tasks = self.tasks();
            for run in runs {
                if self.workers.cancelling(*run) {
                    mine.push(*run);
                    if let Some((job, index)) = tasks.get(run) {
                        by_job.entry(*job).or_default().push(*index);
                    }
                }
            }
        }
        for (job, indices) in by_job {
            let _ = benchtop_slurm::cancel(job, Some(&indices));
        }
        mine
    }

    /// Cancel every run of this launcher's launches and wait (a minute at most) until each
    /// launch has stored how its runs ended: a holder that stops leaves no task training for
    /// nobody.
    pub async fn stop(&self) {
        let runs: Vec<RunId> = self.tasks().keys().copied().collect();
        self.cancel(&runs);
        let since = Instant::now();
        while !self.tasks().is_empty() && since.elapsed() < Duration::from_secs(60) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The `benchtop` command the tasks run: this process when it is that command, else the one
/// beside this program (the app's build puts both in one folder), else the one on PATH.
fn worker_binary() -> Option<PathBuf> {
    let me = std::env::current_exe().ok();
    if let Some(me) = &me
        && me.file_name().is_some_and(|n| n == "benchtop")
    {
        return Some(me.clone());
    }
    let beside = me.as_deref().and_then(Path::parent).map(|dir| dir.join("benchtop"));
    let on_path =
        std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).map(|d| d.join("benchtop"));
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

/// Why some of `runs` cannot be trained again here: their Slurm task still waits or runs
/// (or left parcels) for a holder that went away. `None` when none is.
pub fn still_on_slurm(store: &Store, runs: &[RunId]) -> Option<String> {
    let (orphans, _) = orphans(store);
    let mut live = orphans.iter().flat_map(|o| o.live.iter().map(move |(i, run, state)| (o.launch.job, *i, *run, state)));
    let (job, index, run, state) = live.find(|(_, _, run, _)| runs.contains(run))?;
    let what =
        if state == ENDED { "ended and left what it logged in the inbox".to_owned() } else { format!("is still {}", state.to_lowercase()) };
    Some(format!(
        "run {run}'s Slurm task {job}_{index} {what}: `benchtop serve` takes it back (or `scancel {job}_{index}` and delete the launch's folder in slurm/ first)"
    ))
}

/// What [`orphans`] calls a task that ended while nobody followed it, leaving parcels.
const ENDED: &str = "ENDED";

/// The file a launch's folder keeps while the launch goes on.
const LAUNCH_RECORD: &str = "launch.json";

fn launch_dir(store: &Store, runs: &[RunId]) -> PathBuf {
    store.path().join("slurm").join(runs.first().map(RunId::to_string).unwrap_or_default())
}

/// Write `value` as JSON readable by its owner only (it holds a token), whole or not at all.
fn write_private(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let staged = path.with_extension("partial");
    let _ = std::fs::remove_file(&staged);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged)?;
    file.write_all(&serde_json::to_vec(value).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)
}

/// The Slurm launches of `store` whose holder went away while some of their tasks still
/// wait or run (`squeue` says which), and a line for each launch that could not be looked
/// at. A launch with no task left is forgotten: its runs stay as the store left them
/// (interrupted: `benchtop resume` goes on from their last checkpoint).
pub fn orphans(store: &Store) -> (Vec<Orphan>, Vec<String>) {
    let (mut found, mut notes) = (Vec::new(), Vec::new());
    let Ok(dirs) = std::fs::read_dir(store.path().join("slurm")) else { return (found, notes) };
    for dir in dirs.filter_map(Result::ok) {
        let path = dir.path().join(LAUNCH_RECORD);
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let launch: LaunchRecord = match serde_json::from_slice(&bytes) {
            Ok(launch) => launch,
            Err(e) => {
                notes.push(format!("{}: not a launch record ({e}); its runs stay as they are", path.display()));
                continue;
            }
        };
        let states = match benchtop_slurm::task_states(launch.job) {
            Ok(states) => states,
            Err(e) => {
                notes.push(format!(
                    "could not ask Slurm about job {} ({e}); its runs stay as they are until a holder that reaches Slurm starts",
                    launch.job
                ));
                continue;
            }
        };
        // Through the inbox, a worker needs no holder: a task may have ended meanwhile and
        // left everything it logged, still to be read.
        let inbox = launch.reach.is_none().then(|| dir.path().join("inbox"));
        let left_parcels = |run: RunId| inbox.as_ref().is_some_and(|i| inbox::waiting(i, run).is_ok_and(|n| !n.is_empty()));
        let live: Vec<(usize, RunId, String)> = launch
            .runs
            .iter()
            .enumerate()
            .filter_map(|(index, run)| {
                let state = match states.get(&index) {
                    Some(TaskState::Live(state)) => state.clone(),
                    _ if left_parcels(*run) => ENDED.to_owned(),
                    _ => return None,
                };
                let record = store.run(*run).ok()?;
                (!record.status.is_final() || record.status == RunStatus::Interrupted).then_some((index, *run, state))
            })
            .collect();
        if live.is_empty() {
            let _ = std::fs::remove_file(&path);
        } else {
            found.push(Orphan { launch, live });
        }
    }
    (found, notes)
}
