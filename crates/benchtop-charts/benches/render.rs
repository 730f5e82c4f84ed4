//! Chart benchmark: an overlay of 100 runs x 100k points (aggregate per step, downsample,
//! draw) from memory and from the store as the app draws it, aggregating 10k runs, and the
//! SVG's size.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::time::Instant;

use benchtop_charts::frame::aggregate;
use benchtop_charts::{Chart, ChartKind, ChartSpec, Size, curve_lines, prepare, render_svg};
use polars::prelude::*;

fn main() {
    // 1. 100 runs x 100k points in 4 groups, as the store's series become a long frame.
    let (runs, points) = (100usize, 100_000usize);
    let start = Instant::now();
    let mut group = Vec::with_capacity(runs * points);
    let mut step = Vec::with_capacity(runs * points);
    let mut value = Vec::with_capacity(runs * points);
    let labels: Vec<String> = (0..4).map(|m| format!("method_{m}")).collect();
    for r in 0..runs {
        for s in 0..points {
            group.push((r % 4) as u32);
            step.push(s as f64);
            value.push((s as f64 / 5000.0).sin() / (1.0 + s as f64 / 20_000.0) + r as f64 * 1e-3);
        }
    }
    let frame = df!("group" => group, "step" => step, "value" => value).expect("frame");
    let built = start.elapsed();
    let start = Instant::now();
    let series = curve_lines(&frame, &labels).expect("curves");
    let aggregated = start.elapsed();
    let chart = Chart {
        kind: ChartKind::Curves,
        title: "100 runs x 100k points".into(),
        x_label: "step".into(),
        y_label: "value".into(),
        series,
        categories: vec![],
        axis_ranges: vec![],
        pareto: vec![],
        note: "bench".into(),
        zero_line: false,
        legend_title: None,
    };
    let start = Instant::now();
    let svg = render_svg(&chart, Size::default()).expect("svg");
    let drawn = start.elapsed();

    // 2. Aggregating 10k runs' summaries over seeds (2,000 sweep points x 5 seeds).
    let n = 10_000usize;
    let summaries = df!(
        "method" => (0..n).map(|i| format!("m{}", i % 5)).collect::<Vec<_>>(),
        "x" => (0..n).map(|i| ((i / 5) % 400) as f64).collect::<Vec<_>>(),
        "value" => (0..n).map(|i| (i as f64).sin()).collect::<Vec<_>>(),
    )
    .expect("frame");
    let start = Instant::now();
    let agg = aggregate(&summaries, &["method", "x"], "value").expect("aggregate");
    let agg_time = start.elapsed();

    println!("overlay of {runs} runs x {points} points ({} rows):", runs * points);
    println!("  build the long frame          {:>8.1} ms", built.as_secs_f64() * 1e3);
    println!("  aggregate per step + LTTB     {:>8.1} ms", aggregated.as_secs_f64() * 1e3);
    println!("  draw the SVG                  {:>8.1} ms", drawn.as_secs_f64() * 1e3);
    println!("  SVG size                      {:>8.1} KiB", svg.len() as f64 / 1024.0);
    println!("aggregate {n} runs into {} sweep points: {:.1} ms", agg.height(), agg_time.as_secs_f64() * 1e3);

    // 3. The same overlay as the app draws it: 100 stored runs of 100k points each, read
    // from the store, averaged and drawn (`prepare` buckets runs this long first).
    let dir = tempfile::tempdir().unwrap();
    let store = benchtop_store::Store::open(dir.path()).unwrap();
    let records: Vec<benchtop_core::RunRecord> = (0..runs)
        .map(|r| {
            let method = format!("method_{}", r % 4);
            let params = serde_json::Map::from_iter([("method".to_owned(), serde_json::Value::from(method.clone()))]);
            let plan = benchtop_core::experiment::RunPlan {
                experiment: "overlay".into(),
                description: String::new(),
                study: "bench".into(),
                method: Some(method.clone()),
                seed: r as u64,
                backend: benchtop_core::Backend::Cpu,
                params: params.clone(),
                sweep_point: std::collections::BTreeMap::from([("method".to_owned(), serde_json::Value::from(method))]),
                experiment_file: None,
            };
            let mut record = plan.to_record(benchtop_core::Provenance::default());
            record.status = benchtop_core::RunStatus::Done;
            record
        })
        .collect();
    store.create_runs(&records).unwrap();
    let start = Instant::now();
    for (r, record) in records.iter().enumerate() {
        let mut batch = benchtop_store::WriteBatch::new();
        for s in 0..points {
            batch.metric(record.id, "value", s as u64, (s as f64 / 5000.0).sin() / (1.0 + s as f64 / 20_000.0) + r as f64 * 1e-3);
        }
        store.write(batch).unwrap();
    }
    store.flush().unwrap();
    let written = start.elapsed();
    let start = Instant::now();
    let read: usize = records.iter().map(|r| store.series(r.id, "value").unwrap().len()).sum();
    let reading = start.elapsed();
    assert_eq!(read, runs * points);
    let spec = ChartSpec::new(ChartKind::Curves, "value");
    let start = Instant::now();
    let chart = prepare(&spec, &records, Some(&store)).unwrap();
    let prepared = start.elapsed();
    let start = Instant::now();
    let svg = render_svg(&chart, Size::default()).unwrap();
    let drawn = start.elapsed();
    println!(
        "the same overlay from the store ({} points written at {:.2}M points/s):",
        runs * points,
        (runs * points) as f64 / written.as_secs_f64() / 1e6
    );
    println!("  read the 100 series alone     {:>8.1} ms", reading.as_secs_f64() * 1e3);
    println!("  read, average and downsample  {:>8.1} ms", prepared.as_secs_f64() * 1e3);
    println!("  draw the SVG                  {:>8.1} ms  ({:.1} KiB)", drawn.as_secs_f64() * 1e3, svg.len() as f64 / 1024.0);
    println!("  total                         {:>8.1} ms  ({})", (prepared + drawn).as_secs_f64() * 1e3, chart.note);
}
