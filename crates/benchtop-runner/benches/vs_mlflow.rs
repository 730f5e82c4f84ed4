//! Benchtop's tracker beside MLflow's on one machine, in one run: batched metric ingest,
//! one `log_metric` call, one 10k-point series read, and a filtered search over 10k runs.
//! `cargo test --workspace --bench vs_mlflow` prints Benchtop's figures;
//! `ingest-vs-mlflow.sh` installs MLflow from PyPI into a virtual environment under the
//! target folder and runs `ingest_mlflow.py` (the same workload through MLflow's Python
//! client against its SQLite backend) in the same run, printing both and the ratios.

#![allow(clippy::unwrap_used)] // a benchmark: a panic is the failure message

#[path = "flood.rs"]
mod flood;
use flood::Flood;

use std::sync::Arc;
use std::time::Instant;

use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance, Query, RunStatus};
use benchtop_runner::{Cancel, Runner};
use benchtop_store::{RunFilter, Store, WriteBatch};
use serde_json::Value;

const POINTS: u64 = 200_000;
const BATCH: u64 = 4096;
const SERIES: u64 = 10_000;
const CALLS: u64 = 1000;

fn runs() -> usize {
    std::env::var("BENCHTOP_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn plan(i: usize, study: &str, params: serde_json::Map<String, Value>) -> RunPlan {
    RunPlan {
        experiment: "bench".into(),
        description: String::new(),
        study: study.into(),
        method: params.get("method").and_then(Value::as_str).map(str::to_owned),
        seed: i as u64,
        backend: Backend::Cpu,
        params,
        sweep_point: Default::default(),
        experiment_file: None,
    }
}

/// Benchtop's figures, by the names the MLflow twin prints.
fn benchtop() -> serde_json::Map<String, Value> {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let mut out = serde_json::Map::new();

    // Batched ingest.
    let id = plan(0, "none", Default::default()).to_record(Provenance::default());
    store.create_runs(std::slice::from_ref(&id)).unwrap();
    let start = Instant::now();
    for first in (0..POINTS).step_by(BATCH as usize) {
        let mut batch = WriteBatch::new();
        for step in first..(first + BATCH).min(POINTS) {
            batch.metric(id.id, "loss", step, step as f64);
        }
        store.write(batch).unwrap();
    }
    store.flush().unwrap();
    out.insert("batched_points_per_s".into(), (POINTS as f64 / start.elapsed().as_secs_f64()).into());

    // One call, as a training loop makes it (it hands the point to the writer thread).
    let registry = benchtop_core::Registry::new().with(Flood);
    let runner = Runner::new(store.clone(), registry, 1);
    let params = serde_json::json!({ "points": CALLS }).as_object().cloned().unwrap_or_default();
    let ids: Vec<_> = runner.enqueue(&[plan(1, "flood", params)]).unwrap().iter().map(|r| r.id).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(runner.execute(ids.clone(), Cancel::new(), |_| {}));
    let flood = store.run(ids[0]).unwrap();
    out.insert("log_metric_p50_us".into(), (flood.summary["p50_ns"] / 1000.0).into());
    out.insert("log_metric_p99_us".into(), (flood.summary["p99_ns"] / 1000.0).into());

    // One series read back whole.
    let read = plan(2, "none", Default::default()).to_record(Provenance::default());
    store.create_runs(std::slice::from_ref(&read)).unwrap();
    let mut batch = WriteBatch::new();
    for step in 0..SERIES {
        batch.metric(read.id, "loss", step, step as f64);
    }
    store.write(batch).unwrap();
    store.flush().unwrap();
    // The median of five reads: the first pays for pages the flood above left unmerged.
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let points = store.series(read.id, "loss").unwrap();
            assert_eq!(points.len() as u64, SERIES);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    out.insert("series_read_ms".into(), times[2].into());

    // A store of `runs` runs and one filtered search, as `benchtop runs --where` makes it.
    let n = runs();
    let records: Vec<_> = (0..n)
        .map(|i| {
            let method = ["erm", "irm"][i % 2];
            let params = serde_json::json!({ "lr": 10f64.powi(-(1 + (i % 4) as i32)), "method": method });
            let mut r = plan(10 + i, "none", params.as_object().cloned().unwrap_or_default()).to_record(Provenance::default());
            r.status = RunStatus::Done;
            r.summary.insert("score".into(), i as f64 / n as f64);
            r
        })
        .collect();
    store.create_runs(&records).unwrap();
    let query = Query::parse("method = erm AND score < 0.5").unwrap();
    let start = Instant::now();
    let found = store
        .runs(&RunFilter { experiment: Some("bench".into()), ..RunFilter::default() })
        .unwrap()
        .into_iter()
        .filter(|r| query.matches(r))
        .count();
    out.insert("search_ms".into(), (start.elapsed().as_secs_f64() * 1e3).into());
    out.insert("search_found".into(), found.into());
    out
}

/// MLflow's figures from `ingest_mlflow.py`, when `BENCHTOP_MLFLOW_PYTHON` names a Python
/// with MLflow.
fn mlflow() -> Option<serde_json::Map<String, Value>> {
    let python = std::env::var("BENCHTOP_MLFLOW_PYTHON").ok()?;
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/ingest_mlflow.py");
    let args = [POINTS, BATCH, SERIES, runs() as u64].map(|n| n.to_string());
    let out = std::process::Command::new(python).arg(script).arg(dir.path()).args(&args).output().unwrap();
    assert!(out.status.success(), "ingest_mlflow.py: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str::<Value>(text.lines().last().unwrap_or_default()).ok()?.as_object().cloned()
}

fn main() {
    let ours = benchtop();
    let theirs = mlflow();
    let version = theirs.as_ref().and_then(|m| m["version"].as_str().map(str::to_owned));
    println!(
        "Benchtop against MLflow {} (SQLite backend), {} runs in the search; ratio: how many times Benchtop's figure is better",
        version.unwrap_or_else(|| "(not installed: run ingest-vs-mlflow.sh)".into()),
        runs()
    );
    let rows = [
        ("batched ingest (points/s)", "batched_points_per_s", true),
        ("log_metric p50 (µs)", "log_metric_p50_us", false),
        ("log_metric p99 (µs)", "log_metric_p99_us", false),
        ("one 10k-point series (ms)", "series_read_ms", false),
        ("search over the runs (ms)", "search_ms", false),
    ];
    for (label, key, higher) in rows {
        let a = ours[key].as_f64().unwrap_or(f64::NAN);
        let b = theirs.as_ref().and_then(|m| m[key].as_f64());
        let ratio = b.map(|b| if higher { a / b } else { b / a });
        println!(
            "  {label:<28} {a:>12.2} {:>12} {:>10}",
            b.map_or("-".into(), |b| format!("{b:.2}")),
            ratio.map_or(String::new(), |r| format!("{r:.1}x"))
        );
    }
    if let Some(m) = &theirs {
        assert_eq!(m["search_found"], ours["search_found"], "both searches find the same runs");
    }
}
