//! The holder's API under load: metric points sent by workers over TCP (as Slurm tasks send
//! them) against the same points handed to the store's writer in-process, with one worker
//! and with eight; then the time to submit and finish a 1,000-task Slurm array on a real
//! single-node cluster (skipped with one line where none can start).
//!
//! `cargo test --workspace --bench api`

#![allow(clippy::unwrap_used)] // a benchmark: a panic is the failure message

use std::sync::Arc;
use std::time::{Duration, Instant};

use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, RunEvent, RunId, RunStatus};
use benchtop_runner::{Cancel, Runner, write_events};
use benchtop_serve::workers::{Claim, WorkerBatch, WorkerEvent};
use benchtop_serve::{Holder, Remote, bind_tcp, new_token, serve_tcp};
use benchtop_store::Store;

/// Points per run, and per batch (the worker's batch size).
const POINTS: u64 = 200_000;
const BATCH: u64 = 4096;
/// How long the Slurm part watches its array.
const WINDOW: Duration = Duration::from_secs(60);

fn plans(n: usize) -> Vec<RunPlan> {
    (0..n)
        .map(|i| RunPlan {
            experiment: "bench".into(),
            description: String::new(),
            study: "none".into(),
            method: None,
            seed: i as u64,
            backend: Backend::Cpu,
            params: Default::default(),
            sweep_point: Default::default(),
            experiment_file: None,
        })
        .collect()
}

fn metric(step: u64) -> WorkerEvent {
    WorkerEvent::Metric { name: "loss".into(), step, bits: (step as f64).to_bits() }
}

/// Points/s with `runs` runs' points handed straight to the writer thread.
fn in_process(runs: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let runner = Runner::new(store.clone(), benchtop_core::Registry::new(), 1);
    let ids: Vec<RunId> = runner.enqueue(&plans(runs)).unwrap().iter().map(|r| r.id).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || write_events(&store, rx, |_| {}, Cancel::new()))
    };
    for id in &ids {
        for step in 0..POINTS {
            tx.send(RunEvent::Metric { run: *id, name: "loss".into(), step, value: step as f64 }).unwrap();
        }
        tx.send(RunEvent::Finished { run: *id, status: RunStatus::Done, summary: Default::default(), error: None }).unwrap();
    }
    drop(tx);
    assert_eq!(writer.join().unwrap().done, runs);
    (runs as u64 * POINTS) as f64 / start.elapsed().as_secs_f64()
}

/// Points/s with `workers` workers each sending one run's points over TCP, until the holder
/// has stored them all.
fn through_api(workers: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let holder = Arc::new(Holder::pool(store.clone(), benchtop_core::Registry::new(), 1));
    let ids: Vec<RunId> = holder.launcher.runner().enqueue(&plans(workers)).unwrap().iter().map(|r| r.id).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || write_events(&store, rx, |_| {}, Cancel::new()))
    };
    for id in &ids {
        holder.workers.expect(*id, tx.clone());
    }
    drop(tx);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let token = new_token().unwrap();
    let serving = runtime
        .block_on(async {
            let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
            serve_tcp(holder.clone(), listener, vec![token.clone()])
        })
        .unwrap();
    let start = Instant::now();
    let senders: Vec<_> = ids
        .iter()
        .map(|id| {
            let (id, at, token) = (*id, serving.at.clone(), token.clone());
            std::thread::spawn(move || {
                let remote = Remote::tcp(&at, &token).unwrap();
                remote.claim(&Claim { run: id, host: "bench".into() }).unwrap();
                for first in (0..POINTS).step_by(BATCH as usize) {
                    let events = (first..(first + BATCH).min(POINTS)).map(metric).collect();
                    remote.send_events(&WorkerBatch { run: id, events }).unwrap();
                }
                let end = WorkerEvent::Finished { status: RunStatus::Done, summary: Default::default(), error: None };
                remote.send_events(&WorkerBatch { run: id, events: vec![end] }).unwrap();
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    for id in &ids {
        holder.workers.forget(*id);
    }
    assert_eq!(writer.join().unwrap().done, workers);
    let rate = (workers as u64 * POINTS) as f64 / start.elapsed().as_secs_f64();
    drop(serving);
    rate
}

fn slurm_array(tasks: usize) {
    let dir = tempfile::tempdir().unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-cluster.sh");
    let out = std::process::Command::new("bash").arg(&script).arg("start").arg(dir.path()).output().unwrap();
    if !out.status.success() {
        println!("slurm: {tasks}-task array skipped: {}", String::from_utf8_lossy(&out.stderr).trim());
        return;
    }
    let conf = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches("export SLURM_CONF=").to_owned();
    let options = benchtop_core::SlurmOptions { cpus: Some(1), mem: Some("10M".into()), ..Default::default() };
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let job = benchtop_slurm::ArrayJob {
        name: "benchtop-bench",
        tasks,
        options: &options,
        script: "#!/bin/bash\ntrue\n",
        output_dir: &out_dir,
        env: &[("SLURM_CONF", conf.as_str())],
    };
    let start = Instant::now();
    let id = benchtop_slurm::submit(&job).unwrap();
    let submitted = start.elapsed();
    // squeue as `task_states` runs it, told this cluster's configuration.
    let states = || {
        let out = std::process::Command::new("squeue")
            .args(["--noheader", "--array", "--states=all", "--format=%K %T", "--jobs", &id.to_string()])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        benchtop_slurm::parse_states(&String::from_utf8_lossy(&out.stdout))
    };
    // A window of a minute: on two cores the node runs two tasks at a time, so the whole
    // array would measure slurmd's per-task cost rather than submission.
    let mut first: Option<Duration> = None;
    let mut ended = 0;
    while start.elapsed() < WINDOW {
        let now = states();
        ended = now.values().filter(|s| matches!(s, benchtop_slurm::TaskState::Ended(_))).count();
        if first.is_none() && (ended > 0 || now.values().any(|s| *s == benchtop_slurm::TaskState::Live("RUNNING".into()))) {
            first = Some(start.elapsed());
        }
        if ended == tasks {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let window = start.elapsed();
    let _ = std::process::Command::new("scancel").arg(id.to_string()).env("SLURM_CONF", &conf).output();
    println!(
        "slurm: a {tasks}-task array (each `true`, 1 CPU) on this machine's single-node cluster (2 CPUs): sbatch returned in {:.2} s, the first task ran after {:.2} s, {ended} tasks ended within {:.0} s ({:.1} tasks/s, two at a time)",
        submitted.as_secs_f64(),
        first.map_or(f64::NAN, |f| f.as_secs_f64()),
        window.as_secs_f64(),
        ended as f64 / window.as_secs_f64(),
    );
    let _ = std::process::Command::new("bash").arg(&script).arg("stop").arg(dir.path()).output();
}

fn main() {
    println!("points/s into the store (200,000 points a run, batches of 4,096):");
    let base = in_process(1);
    println!("  in process, 1 run:      {:>10.0}", base);
    let one = through_api(1);
    println!("  over the API, 1 worker: {:>10.0}  ({:.2}x in process)", one, one / base);
    let base8 = in_process(8);
    println!("  in process, 8 runs:     {:>10.0}", base8);
    let eight = through_api(8);
    println!("  over the API, 8 workers:{:>10.0}  ({:.2}x in process)", eight, eight / base8);
    slurm_array(1000);
}
