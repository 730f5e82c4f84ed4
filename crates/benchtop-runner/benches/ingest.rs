//! Store ingest benchmark: how fast metric points reach the store, and what one
//! `log_metric` call costs the training loop.
//!
//! Prints (1) points/s written straight into the store in batches, (2) points/s end to end
//! through the runner (a study logging as fast as it can, the writer thread batching),
//! (3) the median and 99th-percentile latency of one `log_metric` call. The same figures
//! can be put beside another tracker's (e.g. MLflow's `log_metric`) on the same machine.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

#[path = "flood.rs"]
mod flood;
use flood::Flood;

use std::sync::Arc;
use std::time::Instant;

use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, RunId};
use benchtop_runner::{Cancel, Runner};
use benchtop_store::{Store, WriteBatch};

const POINTS: u64 = 200_000;
const BATCH: u64 = 4096;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. Straight into the store.
    let store = Store::open(&dir.path().join("direct")).expect("open store");
    let run = RunId::new();
    let start = Instant::now();
    let mut step = 0;
    while step < POINTS {
        let mut batch = WriteBatch::new();
        for s in step..(step + BATCH).min(POINTS) {
            batch.metric(run, "loss", s, s as f64);
        }
        store.write(batch).expect("write");
        step += BATCH;
    }
    store.flush().expect("flush");
    let direct = POINTS as f64 / start.elapsed().as_secs_f64();
    assert_eq!(store.series(run, "loss").expect("read").len() as u64, POINTS);
    drop(store);

    // 2 and 3. Through a run: the study logs, the writer thread batches.
    let store = Arc::new(Store::open(&dir.path().join("runner")).expect("open store"));
    let runner = Runner::new(store.clone(), benchtop_core::Registry::new().with(Flood), 1);
    let plan = RunPlan {
        experiment: "bench".into(),
        description: String::new(),
        study: "flood".into(),
        method: None,
        seed: 0,
        backend: Backend::Cpu,
        params: serde_json::Map::from_iter([("points".to_owned(), serde_json::Value::from(POINTS))]),
        sweep_point: Default::default(),
        experiment_file: None,
    };
    let records = runner.enqueue(&[plan]).expect("enqueue");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let start = Instant::now();
    rt.block_on(runner.execute(vec![records[0].id], Cancel::new(), |_| {}));
    let end_to_end = POINTS as f64 / start.elapsed().as_secs_f64();
    let done = store.run(records[0].id).expect("run");
    assert_eq!(store.series(done.id, "loss").expect("read").len() as u64, POINTS);

    println!("metric points written to the store in batches of {BATCH}: {direct:>12.0} points/s");
    println!("metric points through a run (log_metric -> writer -> store): {end_to_end:>12.0} points/s");
    println!("one log_metric call: median {:.0} ns, p99 {:.0} ns", done.summary["p50_ns"], done.summary["p99_ns"]);
}
