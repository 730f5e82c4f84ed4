//! Chart benchmark: an overlay of 100 runs x 100k points (aggregate per step, downsample,
//! draw), aggregating 10k runs, the SVG's size, and reading series back from the store.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::time::Instant;

use benchtop_charts::frame::aggregate;
use benchtop_charts::{Chart, ChartKind, Size, curve_lines, render_svg};
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
}
