//! Launching on Slurm: one job array per launch, task i running `benchtop worker` for run i,
//! which trains it and sends everything back to this holder over TCP with the token.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benchtop_core::{RunEvent, RunId, RunStatus, SlurmOptions};
use benchtop_runner::{Cancel, Outcome, write_events};
use benchtop_slurm::{ArrayJob, TaskState};
use benchtop_store::Store;
use tokio::sync::oneshot;

use crate::TOKEN_ENV;
use crate::workers::Workers;

/// How often the holder asks `squeue` how the tasks are.
const POLL: Duration = Duration::from_millis(1000);
/// How long after its task ended a run's own end may still be on its way.
const GRACE: Duration = Duration::from_secs(3);

/// What a Slurm launch needs besides its runs.
pub struct SlurmLauncher {
    store: Arc<Store>,
    workers: Arc<Workers>,
    /// host:port the workers reach this holder at.
    address: String,
    token: String,
    /// The `benchtop` the tasks run (this one: on a cluster, a path the nodes share).
    benchtop: PathBuf,
    /// Each run's job and task, while its launch goes on.
    tasks: std::sync::Mutex<BTreeMap<RunId, (u64, usize)>>,
}

impl SlurmLauncher {
    pub fn new(store: Arc<Store>, workers: Arc<Workers>, address: String, token: String) -> std::io::Result<Self> {
        let benchtop = std::env::current_exe()?;
        Ok(SlurmLauncher { store, workers, address, token, benchtop, tasks: Default::default() })
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
        let (tx, rx) = std::sync::mpsc::channel::<RunEvent>();
        let stop = Cancel::new();
        let writer = {
            let (store, stop) = (self.store.clone(), stop.clone());
            std::thread::spawn(move || write_events(&store, rx, observe, stop))
        };
        for run in &runs {
            self.workers.expect(*run, tx.clone());
        }
        let me = self.clone();
        let name = format!("benchtop-{name}");
        tokio::spawn(async move {
            let submitted = {
                let (me, runs, name) = (me.clone(), runs.clone(), name.clone());
                tokio::task::spawn_blocking(move || me.submit(&name, &runs, &options))
                    .await
                    .unwrap_or_else(|e| Err(format!("submitting: {e}")))
            };
            match submitted {
                Ok(job) => me.follow(job, &runs, &stop).await,
                Err(e) => {
                    for run in &runs {
                        me.workers.end(*run, RunStatus::Failed, e.clone());
                    }
                }
            }
            for run in &runs {
                me.workers.forget(*run);
                me.tasks().remove(run);
            }
            drop(tx);
            let outcome = tokio::task::spawn_blocking(move || writer.join())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| Outcome { store_errors: vec!["the store writer thread panicked".into()], ..Outcome::default() });
            let _ = done.send(outcome);
        });
        outcome
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, BTreeMap<RunId, (u64, usize)>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write the batch script and submit it; the array's job id.
    fn submit(&self, name: &str, runs: &[RunId], options: &SlurmOptions) -> Result<u64, String> {
        let quote = |path: &std::path::Path| {
            let text = path.display().to_string();
            if text.contains('\'') {
                Err(format!("the path {text} has a quote in it, which a batch script cannot carry"))
            } else {
                Ok(format!("'{text}'"))
            }
        };
        let dir = self.store.path().join("slurm").join(runs.first().map(RunId::to_string).unwrap_or_default());
        std::fs::create_dir_all(&dir).map_err(|e| format!("making {}: {e}", dir.display()))?;
        let ids: Vec<String> = runs.iter().map(RunId::to_string).collect();
        // Only typed values reach the script: run ids, this binary's path and the cache's,
        // and the holder's address. The token travels in sbatch's environment.
        let script = format!(
            "#!/bin/bash\n# A Benchtop launch on Slurm: array task i trains run i of this list.\nruns=({})\nexec {} worker --holder {} --cache {} \"${{runs[$SLURM_ARRAY_TASK_ID]}}\"\n",
            ids.join(" "),
            quote(&self.benchtop)?,
            self.address,
            quote(&self.store.path().join("cache"))?,
        );
        std::fs::write(dir.join("job.sh"), &script).map_err(|e| format!("writing {}: {e}", dir.join("job.sh").display()))?;
        let job = ArrayJob { name, tasks: runs.len(), options, script: &script, output_dir: &dir, env: &[(TOKEN_ENV, &self.token)] };
        let id = benchtop_slurm::submit(&job).map_err(|e| e.to_string())?;
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
        Ok(id)
    }

    /// Watch the array until every run has ended: a task that ended without its run's own
    /// end (killed, its node lost, out of time) ends the run `interrupted`, with what its
    /// worker sent kept, so it can be resumed.
    async fn follow(&self, job: u64, runs: &[RunId], stop: &Cancel) {
        let started = Instant::now();
        let mut ended_at: BTreeMap<usize, (Instant, String)> = BTreeMap::new();
        let mut seen: std::collections::BTreeSet<usize> = Default::default();
        loop {
            let open: Vec<(usize, RunId)> =
                runs.iter().enumerate().filter(|(_, r)| self.workers.is_open(**r)).map(|(i, r)| (i, *r)).collect();
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
                        if since.elapsed() >= GRACE {
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
