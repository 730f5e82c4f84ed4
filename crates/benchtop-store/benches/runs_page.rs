//! The Runs screen's query on 10k runs: one page sorted by a summary metric, with and without
//! a text filter, against a plain listing of the same runs measured in the same process (the
//! reference: what reading every run costs). Run with
//! `cargo test --workspace --bench runs_page`.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::time::{Duration, Instant};

use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance, RunRecord};
use benchtop_store::{RunFilter, RunQuery, Store};
use serde_json::Value;

fn median(mut f: impl FnMut() -> usize, times: usize) -> (Duration, usize) {
    let mut spans = Vec::with_capacity(times);
    let mut n = 0;
    for _ in 0..times {
        let t = Instant::now();
        n = f();
        spans.push(t.elapsed());
    }
    spans.sort();
    (spans[times / 2], n)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let methods = ["erm", "irm", "isr_mean", "isr_cov", "oracle"];
    let records: Vec<RunRecord> = (0..10_000u64)
        .map(|i| {
            let method = methods[(i % 5) as usize];
            let params = serde_json::Map::from_iter([
                ("method".to_owned(), Value::from(method)),
                ("n_envs".to_owned(), Value::from(2 + (i / 5) % 9)),
            ]);
            let plan = RunPlan {
                experiment: format!("exp-{}", i / 1000),
                description: String::new(),
                study: "isr".into(),
                method: Some(method.into()),
                seed: i % 10,
                backend: Backend::Cpu,
                sweep_point: params.clone().into_iter().collect(),
                params,
                experiment_file: None,
            };
            let mut r = plan.to_record(Provenance::default());
            r.summary.insert("test_error".into(), ((i * 7919) % 1000) as f64 / 1000.0);
            r
        })
        .collect();
    store.create_runs(&records).expect("create");

    let (list, n) = median(|| store.runs(&RunFilter::default()).expect("runs").len(), 9);
    let page = RunQuery { sort: "metric.test_error".into(), limit: 200, ..RunQuery::default() };
    let (sorted, _) = median(|| store.run_page(&page).expect("page").rows.len(), 9);
    let text = RunQuery { text: "isr_mean".into(), ..page.clone() };
    let (filtered, total) = median(|| store.run_page(&text).expect("page").total, 9);
    println!("runs page over {n} runs (median of 9):");
    println!("  list every run (reference)      {:>7.1} ms", list.as_secs_f64() * 1e3);
    println!(
        "  page of 200 sorted by a metric  {:>7.1} ms  ({:.2}x the listing)",
        sorted.as_secs_f64() * 1e3,
        sorted.as_secs_f64() / list.as_secs_f64()
    );
    println!("  same with a text filter         {:>7.1} ms  ({total} match)", filtered.as_secs_f64() * 1e3);
}
