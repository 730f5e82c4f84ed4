use super::*;
use benchtop_core::{Backend, Params, Study};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicUsize;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Behaviour {
    /// Log ten points and finish.
    #[default]
    Finish,
    /// Log a point every few milliseconds until cancelled.
    Spin,
    /// Return an error.
    Fail,
    /// Panic.
    Panic,
    /// Log ten points with a checkpoint after the fifth; fail there unless resumed from it.
    Checkpointed,
}

#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
struct ToyParams {
    method: Behaviour,
}
impl Params for ToyParams {}

/// Counts how many runs are inside `run` at once.
#[derive(Default)]
struct Toy {
    inside: AtomicUsize,
    most: Arc<AtomicUsize>,
}

impl Study for Toy {
    type Params = ToyParams;
    fn name(&self) -> &'static str {
        "toy"
    }
    fn title(&self) -> &'static str {
        "Toy"
    }
    fn description(&self) -> &'static str {
        "For runner tests."
    }
    fn run(&self, ctx: &RunContext, p: &ToyParams) -> Result<Summary, StudyError> {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let result = (|| match p.method {
            Behaviour::Finish => {
                for step in 0..10 {
                    ctx.log_metric("loss", step, 1.0 / (step + 1) as f64);
                    std::thread::sleep(Duration::from_millis(5));
                }
                ctx.info("finished");
                Ok(Summary::from([("score".to_owned(), ctx.seed() as f64)]))
            }
            Behaviour::Spin => {
                for step in 0.. {
                    if ctx.is_cancelled() {
                        return Err(StudyError::Cancelled);
                    }
                    ctx.log_metric("loss", step, 1.0);
                    std::thread::sleep(Duration::from_millis(2));
                }
                unreachable!()
            }
            Behaviour::Checkpointed => {
                let first: u64 = match ctx.resumed() {
                    Some(cp) => cp.value("completed")?,
                    None => 0,
                };
                for step in first..10 {
                    ctx.log_metric("loss", step, step as f64);
                    if step == 4 {
                        ctx.checkpoint(Checkpoint::new("step 5 of 10").with_value("completed", &5u64)?);
                        if ctx.resumed().is_none() {
                            return Err(StudyError::Failed("a simulated crash after the checkpoint".into()));
                        }
                    }
                }
                Ok(Summary::from([("resumed_from".to_owned(), first as f64)]))
            }
            Behaviour::Fail => Err(StudyError::Failed("diverged".into())),
            Behaviour::Panic => panic!("boom"),
        })();
        self.inside.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

fn plan(method: &str, seed: u64) -> RunPlan {
    RunPlan {
        experiment: "toy-exp".into(),
        description: String::new(),
        study: "toy".into(),
        method: Some(method.into()),
        seed,
        backend: Backend::Cpu,
        params: serde_json::Map::from_iter([("method".to_owned(), serde_json::Value::from(method))]),
        sweep_point: Default::default(),
        experiment_file: None,
    }
}

fn runner(dir: &Path, jobs: usize) -> (Runner, Arc<Store>, Arc<AtomicUsize>) {
    let store = Arc::new(Store::open(dir).unwrap());
    let toy = Toy::default();
    let most = toy.most.clone();
    let registry = Registry::new().with(toy).with_compute_probe(|backend| benchtop_core::Compute {
        cpu: "test CPU".into(),
        simd: format!("test paths for {backend}"),
        threads: 3,
        gpu: None,
    });
    // System metrics stay off here except where a test turns them on: their series would
    // change what the other tests count.
    (Runner::new(store.clone(), registry, jobs).with_system_metrics(None), store, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_finish_with_series_summary_and_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, most) = runner(dir.path(), 2);
    let records = runner.enqueue(&[plan("finish", 3), plan("finish", 4), plan("finish", 5)]).unwrap();
    let ids: Vec<RunId> = records.iter().map(|r| r.id).collect();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let outcome = runner
        .execute(ids.clone(), Cancel::new(), move |e| {
            if matches!(e, RunEvent::Finished { .. }) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
    assert_eq!(outcome, Outcome { done: 3, ..Outcome::default() });
    assert_eq!(seen.load(Ordering::SeqCst), 3);
    assert!(most.load(Ordering::SeqCst) <= 2, "never more than `jobs` runs at once");
    for (id, seed) in ids.iter().zip(3..) {
        let r = store.run(*id).unwrap();
        assert_eq!(r.status, RunStatus::Done);
        assert_eq!(r.summary["score"], seed as f64);
        assert_eq!(store.series(*id, "loss").unwrap().len(), 10);
        assert_eq!(store.logs(*id).unwrap()[0].text, "finished");
        assert!(r.provenance.started_at.is_some() && r.provenance.ended_at.is_some());
        assert!(r.provenance.duration_s.unwrap() > 0.0);
        assert_eq!(r.provenance.benchtop_version, benchtop_core::VERSION);
        assert!(!r.provenance.host.is_empty());
        let compute = r.provenance.compute.as_ref().expect("the compute is recorded when a run starts");
        assert_eq!((compute.cpu.as_str(), compute.simd.as_str(), compute.threads), ("test CPU", "test paths for cpu", 3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_running_runs_cancelled_keeps_their_points_and_skips_queued_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 1);
    let records = runner.enqueue(&[plan("spin", 0), plan("spin", 1)]).unwrap();
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger.cancel_all();
    });
    let outcome = runner.execute(records.iter().map(|r| r.id).collect(), cancel, |_| {}).await;
    assert_eq!(outcome.cancelled, 2);
    let first = store.run(records[0].id).unwrap();
    assert_eq!(first.status, RunStatus::Cancelled);
    assert!(!store.series(first.id, "loss").unwrap().is_empty(), "points logged before the cancel are kept");
    let second = store.run(records[1].id).unwrap();
    assert_eq!(second.status, RunStatus::Cancelled);
    assert!(second.provenance.started_at.is_none(), "a queued run never started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_run_can_be_cancelled_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 2);
    let records = runner.enqueue(&[plan("spin", 0), plan("finish", 1)]).unwrap();
    let cancel = Cancel::new();
    let trigger = cancel.clone();
    let spinner = records[0].id;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel(spinner);
    });
    let outcome = runner.execute(records.iter().map(|r| r.id).collect(), cancel, |_| {}).await;
    assert_eq!((outcome.done, outcome.cancelled), (1, 1));
    assert_eq!(store.run(spinner).unwrap().status, RunStatus::Cancelled);
}

/// Cancel a queued run and resume it while its first launch is still busy: the first launch
/// must leave it to the next one (its cancel flag is set there), and the next one runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_in_the_queue_and_resumed_runs_in_its_new_launch() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 1);
    let runner = Arc::new(runner);
    let records = runner.enqueue(&[plan("spin", 0), plan("spin", 1)]).unwrap();
    let (first, second) = (records[0].id, records[1].id);
    let launch = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.execute(vec![first, second], Cancel::new(), |_| {}).await })
    };
    // Wait until the first run trains (the pool has one slot, so the second one waits).
    for _ in 0..400 {
        if store.run(first).unwrap().status == RunStatus::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(store.run(first).unwrap().status, RunStatus::Running);
    assert_eq!(runner.cancel(&[second]).unwrap(), vec![second], "the queued run is dequeued");
    assert_eq!(runner.requeue(&[second]).unwrap(), vec![second]);
    assert!(runner.requeue(&[first]).unwrap().is_empty(), "a running run is not resumed");
    assert!(runner.cancel(&[first]).unwrap().is_empty(), "a running run is stopped by its flag, not dequeued");
    let outcome = launch.await.unwrap();
    assert_eq!((outcome.cancelled, outcome.done), (1, 0), "the first launch ended only its own run");
    let waiting = store.run(second).unwrap();
    assert_eq!(waiting.status, RunStatus::Queued);
    assert!(waiting.provenance.started_at.is_none(), "the first launch did not start it");

    let stopper = runner.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        stopper.cancel(&[second]).unwrap();
    });
    let outcome = runner.execute(vec![second], Cancel::new(), |_| {}).await;
    assert_eq!(outcome.cancelled, 1);
    assert!(!store.series(second, "loss").unwrap().is_empty(), "the new launch trained it");
}

/// A run that stops after a checkpoint goes on from it when resumed: no point is missing or
/// twice, the log says where it went on from, and the checkpoint goes once the run is done. A
/// damaged checkpoint is set aside with a warning, and the run starts from the beginning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_goes_on_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 1);
    let id = runner.enqueue(&[plan("checkpointed", 0)]).unwrap()[0].id;
    let outcome = runner.execute(vec![id], Cancel::new(), |_| {}).await;
    assert_eq!(outcome.failed, 1);
    assert_eq!(store.checkpoint(id).unwrap().unwrap().stage, "step 5 of 10");
    assert_eq!(store.series(id, "loss").unwrap().len(), 5, "every point before the checkpoint was stored first");

    assert_eq!(runner.requeue(&[id]).unwrap(), vec![id]);
    let outcome = runner.execute(vec![id], Cancel::new(), |_| {}).await;
    assert_eq!(outcome.done, 1, "{outcome:?}");
    let run = store.run(id).unwrap();
    assert_eq!(run.summary["resumed_from"], 5.0);
    let steps: Vec<u64> = store.series(id, "loss").unwrap().iter().map(|p| p.0).collect();
    assert_eq!(steps, (0..10).collect::<Vec<_>>());
    assert!(store.logs(id).unwrap().iter().any(|l| l.text == "resuming from the checkpoint at step 5 of 10"));
    assert!(store.checkpoint(id).unwrap().is_none(), "a done run keeps no checkpoint");

    // A damaged checkpoint: said in the log, and the run starts again from step 0.
    let again = runner.enqueue(&[plan("checkpointed", 1)]).unwrap()[0].id;
    runner.execute(vec![again], Cancel::new(), |_| {}).await;
    let path = store.checkpoint_path(again);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    runner.requeue(&[again]).unwrap();
    let outcome = runner.execute(vec![again], Cancel::new(), |_| {}).await;
    assert_eq!(outcome.failed, 1, "started over, it crashed at the same place");
    let warning = store.logs(again).unwrap().into_iter().find(|l| l.level == benchtop_core::LogLevel::Warn).unwrap();
    assert!(warning.text.contains("checksum") && warning.text.ends_with("starting from the beginning"), "{}", warning.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_panics_fail_only_their_own_run() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 2);
    let records = runner.enqueue(&[plan("fail", 0), plan("panic", 0), plan("finish", 0)]).unwrap();
    let outcome = runner.execute(records.iter().map(|r| r.id).collect(), Cancel::new(), |_| {}).await;
    assert_eq!((outcome.done, outcome.failed), (1, 2));
    let failed = store.run(records[0].id).unwrap();
    assert_eq!((failed.status, failed.error.as_deref()), (RunStatus::Failed, Some("diverged")));
    let panicked = store.run(records[1].id).unwrap();
    assert!(panicked.error.unwrap().contains("boom"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cancelled_or_deleted_while_queued_never_start() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 1);
    let records = runner.enqueue(&[plan("finish", 0), plan("finish", 1), plan("finish", 2)]).unwrap();
    let ids: Vec<RunId> = records.iter().map(|r| r.id).collect();
    // What the app does for a queued run: mark it cancelled at once; or delete it.
    store.update_run(ids[1], |r| r.status = RunStatus::Cancelled).unwrap();
    store.delete_run(ids[2]).unwrap();
    let started = Arc::new(Mutex::new(Vec::new()));
    let seen = started.clone();
    let outcome = runner
        .execute(ids.clone(), Cancel::new(), move |e| {
            if let RunEvent::Started { run, .. } = e {
                seen.lock().unwrap().push(*run);
            }
        })
        .await;
    assert_eq!(*started.lock().unwrap(), vec![ids[0]], "only the first run ever started");
    assert_eq!((outcome.done, outcome.cancelled), (1, 1));
    assert!(outcome.store_errors.is_empty(), "{:?}", outcome.store_errors);
    assert_eq!(store.run(ids[1]).unwrap().status, RunStatus::Cancelled);
    assert!(store.series(ids[1], "loss").unwrap().is_empty());
}

#[test]
fn git_commit_is_none_outside_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(git_commit(&dir.path().join("x.toml")), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_metrics_are_sampled_into_running_runs_and_stop_at_their_end() {
    let dir = tempfile::tempdir().unwrap();
    let (runner, store, _) = runner(dir.path(), 2);
    let runner = runner.with_system_metrics(Some(Duration::from_millis(400)));
    let records = runner.enqueue(&[plan("spin", 0), plan("spin", 1)]).unwrap();
    let ids: Vec<RunId> = records.iter().map(|r| r.id).collect();
    let cancel = Cancel::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2300)).await;
        stopper.cancel_all();
    });
    runner.execute(ids.clone(), cancel, |_| {}).await;
    if system::read().is_none() {
        return; // no /proc here: nothing is sampled, by design
    }
    for id in &ids {
        let rss = store.series(*id, "system_rss_mib").unwrap();
        assert!(rss.len() >= 2, "samples about every 0.4 s for 2.3 s, one per elapsed second kept: {rss:?}");
        assert!(rss.iter().all(|(_, v)| *v > 1.0));
        let cpu = store.series(*id, "system_cpu_percent").unwrap();
        assert!(!cpu.is_empty() && cpu.iter().all(|(_, v)| v.is_finite() && *v >= 0.0), "{cpu:?}");
        let runs = store.series(*id, "system_runs").unwrap();
        assert!(runs.iter().all(|(_, v)| *v >= 1.0 && *v <= 2.0), "{runs:?}");
        assert_eq!(store.run(*id).unwrap().status, RunStatus::Cancelled);
    }
}
