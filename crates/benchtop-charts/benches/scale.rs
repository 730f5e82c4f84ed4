//! The tracker at scale: a store of 20,000 runs and 100M points (5,000 a run), then each
//! thing a researcher does with it, timed: open the store, a page of the runs table, a
//! filtered page, grouping every run, one series, and an overlay of 100 runs. Run with
//! `cargo test --workspace --bench scale [-- RUNS POINTS_PER_RUN]` (the full size writes
//! about 2 GB to a temporary folder; `-- 2000 5000` is a tenth).

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::time::{Duration, Instant};

use benchtop_charts::{ChartKind, ChartSpec, Size, prepare, render_svg};
use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance, RunRecord, RunStatus};
use benchtop_store::{RunFilter, RunQuery, Store, WriteBatch};
use serde_json::Value;

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed())
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let runs = args.first().copied().unwrap_or(20_000);
    let per_run = args.get(1).copied().unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let methods = ["erm", "irm", "isr_mean", "isr_cov", "oracle"];
    let records: Vec<RunRecord> = (0..runs as u64)
        .map(|i| {
            let method = methods[(i % 5) as usize];
            let params = serde_json::Map::from_iter([
                ("method".to_owned(), Value::from(method)),
                ("n_envs".to_owned(), Value::from(2 + (i / 5) % 9)),
                ("lr".to_owned(), Value::from([0.001, 0.01, 0.1][((i / 45) % 3) as usize])),
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
            r.status = RunStatus::Done;
            r.summary.insert("test_error".into(), ((i * 7919) % 1000) as f64 / 1000.0);
            r
        })
        .collect();

    // Writing it: the records, then every run's series through the store's batches.
    let ((), written) = timed(|| {
        let store = Store::open(dir.path()).unwrap();
        for chunk in records.chunks(1000) {
            store.create_runs(chunk).unwrap();
        }
        for (i, r) in records.iter().enumerate() {
            let mut batch = WriteBatch::new();
            for step in 0..per_run as u64 {
                batch.metric(r.id, "loss", step, (1.0 + step as f64).recip() + (i % 7) as f64 * 1e-3);
            }
            store.write(batch).unwrap();
        }
        store.flush().unwrap();
    });
    let points = runs * per_run;
    let size: u64 = walk(dir.path());

    let (store, open) = timed(|| Store::open(dir.path()).unwrap());
    let page = RunQuery { sort: "metric.test_error".into(), limit: 200, ..RunQuery::default() };
    let (rows, paged) = timed(|| store.run_page(&page).unwrap().rows.len());
    let filter = RunQuery { text: "method IN (erm, isr_mean) AND n_envs >= 6 AND test_error < 0.5".into(), ..page.clone() };
    let (matched, filtered) = timed(|| store.run_page(&filter).unwrap().total);
    let ((groups, by), grouped) = timed(|| {
        let all = store.runs(&RunFilter::default()).unwrap();
        let by = benchtop_core::table::default_group_keys(&all);
        (benchtop_core::table::group_runs(&all, &by).len(), by)
    });
    let (series, one) = timed(|| store.series(records[runs / 2].id, "loss").unwrap().len());
    let overlay_runs: Vec<RunRecord> = records.iter().take(100).cloned().collect();
    let (drawn, overlay) = timed(|| {
        let chart = prepare(&ChartSpec::new(ChartKind::Curves, "loss"), &overlay_runs, Some(&store)).unwrap();
        render_svg(&chart, Size::default()).unwrap().len()
    });
    assert_eq!((rows, series), (200.min(runs), per_run));

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "a store of {runs} runs and {points} points ({:.2} GB on disk), written in {:.1} s ({:.2}M points/s):",
        size as f64 / 1e9,
        written.as_secs_f64(),
        points as f64 / written.as_secs_f64() / 1e6
    );
    println!("  open the store                          {:>9.1} ms", ms(open));
    println!("  a page of 200 sorted by a metric        {:>9.1} ms", ms(paged));
    println!("  the same page filtered by a query       {:>9.1} ms  ({matched} match)", ms(filtered));
    println!("  group every run ({} keys)                {:>9.1} ms  ({groups} groups by {})", by.len(), ms(grouped), by.join(", "));
    println!("  one series ({per_run} points)                {:>9.1} ms", ms(one));
    println!("  an overlay of 100 runs, drawn           {:>9.1} ms  ({:.0} KiB SVG)", ms(overlay), drawn as f64 / 1024.0);
}

fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
                .sum()
        })
        .unwrap_or(0)
}
