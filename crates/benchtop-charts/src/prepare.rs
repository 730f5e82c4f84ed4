//! From a [`ChartSpec`] and runs to drawable data, aggregated over seeds with polars.

use std::collections::BTreeMap;

use benchtop_core::params::show;
use benchtop_core::{Better, ChartKind, ChartSpec, Paired, RunRecord, RunStatus};
use benchtop_store::RunSource;
use polars::prelude::*;
use serde_json::Value;

use crate::downsample::lttb_indices;
use crate::frame::aggregate;
use crate::{ChartError, Result};

/// At most this many points per line reach the drawing (LTTB keeps the shape).
pub const MAX_POINTS_PER_LINE: usize = 1000;

/// One aggregated point: the mean over runs, with its 95% CI half-widths.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    pub y_ci: Option<f64>,
    pub x_ci: Option<f64>,
    pub n: u32,
}

/// One colour of the chart: a group's points (or, for parallel coordinates, its runs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<Point>,
    /// Parallel coordinates: one line per run, each value scaled to [0, 1] on its axis.
    pub polylines: Vec<Vec<f64>>,
    /// Palette index: fixed by the label's place among every group of the runs given to
    /// `prepare`, so a method keeps its colour in every chart of a report or screen.
    pub colour: usize,
    /// The runs it draws (the app opens the run of a line that is one run).
    pub runs: Vec<benchtop_core::RunId>,
}

/// Everything needed to draw a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub kind: ChartKind,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Bars: the group labels in x order. Parallel: the axis names.
    pub categories: Vec<String>,
    /// Parallel: each axis's (min, max) before scaling.
    pub axis_ranges: Vec<(f64, f64)>,
    /// Scatter: the Pareto-optimal points, by x.
    pub pareto: Vec<(f64, f64)>,
    /// What the error bars mean, for the caption.
    pub note: String,
    /// Draw y = 0 (a paired difference: above it, the runs beat their baseline).
    pub zero_line: bool,
    /// What the legend's labels are values of, when that is not the method.
    pub legend_title: Option<String>,
}

/// Gather and aggregate what `spec` shows from `records` (finished runs that match its
/// filters). Curves read their series from `store`.
pub fn prepare(spec: &ChartSpec, records: &[RunRecord], store: Option<&dyn RunSource>) -> Result<Chart> {
    prepare_in(spec, records, store, None)
}

/// [`prepare`], with curves read only over the steps in `window` (inclusive) before they are
/// downsampled: a chart zoomed in shows the points logged there, not the full run's
/// downsampled few.
pub fn prepare_in(spec: &ChartSpec, records: &[RunRecord], store: Option<&dyn RunSource>, window: Option<(f64, f64)>) -> Result<Chart> {
    let title = spec.display_title();
    let runs: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.status == RunStatus::Done || (spec.unfinished && r.status != RunStatus::Queued))
        .filter(|r| spec.filters.iter().all(|(k, v)| param(r, k).is_some_and(|p| same(&p, v))))
        .collect();
    if runs.is_empty() {
        return Err(ChartError::NoData { title, what: describe_filters(spec) });
    }
    let paired_runs;
    let runs = match &spec.paired {
        Some(paired) if matches!(spec.kind, ChartKind::MetricVsParam | ChartKind::Bars) => {
            paired_runs = paired_differences(spec, paired, &runs, records)?;
            if paired_runs.is_empty() {
                return Err(ChartError::NoData { title, what: format!("runs with a baseline ({})", describe_paired(paired)) });
            }
            paired_runs.iter().collect()
        }
        _ => runs,
    };
    let group_key = spec.group_key();
    let mut chart = Chart {
        kind: spec.kind,
        title: title.clone(),
        x_label: String::new(),
        y_label: spec.y.clone(),
        series: Vec::new(),
        categories: Vec::new(),
        axis_ranges: Vec::new(),
        pareto: Vec::new(),
        note: String::new(),
        zero_line: false,
        legend_title: None,
    };
    match spec.kind {
        ChartKind::Curves => {
            let store = store.ok_or_else(|| spec_error(&title, "curves need the run store"))?;
            curves(&mut chart, spec, &runs, store, group_key, window)?;
        }
        ChartKind::MetricVsParam => {
            let x = spec.x.as_deref().ok_or_else(|| spec_error(&title, "needs `x`: a parameter"))?;
            metric_vs_param(&mut chart, spec, &runs, group_key, x)?;
        }
        ChartKind::Bars => bars(&mut chart, spec, &runs, group_key)?,
        ChartKind::Scatter => {
            let x = spec.x.as_deref().ok_or_else(|| spec_error(&title, "needs `x`: a summary metric"))?;
            scatter(&mut chart, spec, &runs, group_key, x)?;
        }
        ChartKind::Parallel => parallel(&mut chart, spec, &runs, group_key)?,
        ChartKind::Importance => importance(&mut chart, spec, &runs)?,
    }
    if group_key != "method" && !matches!(spec.kind, ChartKind::Parallel | ChartKind::Importance) {
        chart.legend_title = Some(group_key.to_owned());
    }
    if let (Some(paired), ChartKind::MetricVsParam | ChartKind::Bars) = (&spec.paired, spec.kind) {
        chart.y_label = format!("{} − baseline", spec.y);
        chart.zero_line = true;
        chart.note = format!("{}; paired by seed with the baseline {}", chart.note, describe_paired(paired))
            .replace("mean ± 95% CI over runs", "mean difference ± 95% CI");
    }
    if chart.series.iter().all(|s| s.points.is_empty() && s.polylines.is_empty()) {
        return Err(ChartError::NoData { title, what: format!("`{}`", spec.y) });
    }
    let mut every_group: Vec<String> = records.iter().map(|r| group_label(r, group_key)).collect();
    every_group.sort();
    every_group.dedup();
    for series in &mut chart.series {
        series.colour = every_group.binary_search(&series.label).unwrap_or(0);
        if !matches!(spec.kind, ChartKind::Importance) {
            series.runs = runs.iter().filter(|r| group_label(r, group_key) == series.label).map(|r| r.id).collect();
        }
    }
    Ok(chart)
}

fn describe_paired(paired: &Paired) -> String {
    let mut parts: Vec<String> = paired.baseline.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect();
    if !paired.on.is_empty() {
        parts.push(format!("same {}", paired.on.join(", ")));
    }
    parts.join(", ")
}

/// Each run with its metric replaced by its difference from its baseline run: the finished
/// run among `all` matching the baseline's parameters and the chart's other filters, with the
/// same seed and `on` values. Runs without a baseline (and the baseline runs themselves) are
/// left out; two different baselines for one run are an error naming the parameter to add.
fn paired_differences(spec: &ChartSpec, paired: &Paired, runs: &[&RunRecord], all: &[RunRecord]) -> Result<Vec<RunRecord>> {
    let key = |r: &RunRecord| -> Option<String> {
        let mut parts = vec![r.seed.to_string()];
        for k in &paired.on {
            parts.push(show(&param(r, k)?));
        }
        Some(parts.join("|"))
    };
    let is_baseline = |r: &RunRecord| paired.baseline.iter().all(|(k, v)| param(r, k).is_some_and(|p| same(&p, v)));
    let other_filters = |r: &RunRecord| {
        spec.filters.iter().filter(|(k, _)| !paired.baseline.contains_key(*k)).all(|(k, v)| param(r, k).is_some_and(|p| same(&p, v)))
    };
    let mut baselines: BTreeMap<String, (f64, &RunRecord)> = BTreeMap::new();
    for r in all.iter().filter(|r| r.status == RunStatus::Done && is_baseline(r) && other_filters(r)) {
        let (Some(k), Some(v)) = (key(r), summary_value(r, &spec.y)) else { continue };
        if let Some((_, first)) = baselines.get(&k) {
            if first.params != r.params {
                let differs: Vec<&String> =
                    r.params.iter().filter(|(name, value)| first.params.get(*name) != Some(*value)).map(|(name, _)| name).collect();
                return Err(spec_error(
                    &spec.display_title(),
                    &format!(
                        "two baseline runs fit one run (they differ in {}): add it to `on` or filter it",
                        differs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            continue;
        }
        baselines.insert(k, (v, r));
    }
    Ok(runs
        .iter()
        .filter(|r| !is_baseline(r))
        .filter_map(|r| {
            let (base, _) = baselines.get(&key(r)?)?;
            let value = summary_value(r, &spec.y)?;
            let mut diff = (*r).clone();
            diff.summary.insert(spec.y.clone(), value - base);
            Some(diff)
        })
        .collect())
}

fn spec_error(title: &str, message: &str) -> ChartError {
    ChartError::Spec { title: title.to_owned(), message: message.to_owned() }
}

fn describe_filters(spec: &ChartSpec) -> String {
    if spec.filters.is_empty() {
        "any data".into()
    } else {
        let parts: Vec<String> = spec.filters.iter().map(|(k, v)| format!("{k} = {}", show(v))).collect();
        parts.join(", ")
    }
}

/// Bars of each varying parameter's importance for `spec.y` (see [`crate::importance`]), the
/// most important first, the method and the forest's fit named in the note.
fn importance(chart: &mut Chart, spec: &ChartSpec, runs: &[&RunRecord]) -> Result<()> {
    let Some(imp) = crate::importance::importances(runs, &spec.y) else {
        return Err(ChartError::NoData {
            title: chart.title.clone(),
            what: format!("at least 4 finished runs with `{}` and a parameter that varies among them", spec.y),
        });
    };
    chart.x_label = "parameter".into();
    chart.y_label = format!("importance for {} (share of its variance)", spec.y);
    chart.categories = imp.params.iter().map(|p| p.param.clone()).collect();
    chart.series = vec![Series {
        label: "importance".into(),
        points: imp
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| Point { x: i as f64, y: p.mean, y_ci: Some(p.ci95), x_ci: None, n: imp.runs as u32 })
            .collect(),
        polylines: Vec::new(),
        ..Series::default()
    }];
    chart.zero_line = true;
    chart.note = format!(
        "{}; {} runs, out-of-bag R² {:.2}; error bars: 95% CI of the mean over the trees",
        crate::importance::METHOD,
        imp.runs,
        imp.r2
    );
    Ok(())
}

/// A run's parameter value (`method` falls back to the record's method).
fn param(r: &RunRecord, key: &str) -> Option<Value> {
    r.params.get(key).cloned().or_else(|| (key == "method").then(|| r.method.clone().map(Value::from)).flatten())
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn group_label(r: &RunRecord, key: &str) -> String {
    param(r, key).map(|v| show(&v)).unwrap_or_else(|| "(none)".into())
}

fn caption(points: impl Iterator<Item = u32>) -> String {
    let ns: Vec<u32> = points.collect();
    let (lo, hi) = (ns.iter().min().copied().unwrap_or(0), ns.iter().max().copied().unwrap_or(0));
    if hi <= 1 {
        return "one run per point: no interval".into();
    }
    let n = if lo == hi { format!("n = {lo}") } else { format!("n = {lo}–{hi}") };
    format!("mean ± 95% CI over runs ({n} per point)")
}

fn f64s(frame: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(frame.column(name)?.cast(&DataType::Float64)?.f64()?.iter().collect())
}

fn strs(frame: &DataFrame, name: &str) -> Result<Vec<String>> {
    Ok(frame.column(name)?.str()?.iter().map(|s| s.unwrap_or_default().to_owned()).collect())
}

/// Rows of an aggregated frame (`group`, optional `x`, n, mean, ci95) as series by group.
fn series_from(agg: &DataFrame, x: Option<&str>) -> Result<Vec<Series>> {
    let groups = strs(agg, "group")?;
    series_from_groups(agg, x, groups)
}

fn series_from_groups(agg: &DataFrame, x: Option<&str>, groups: Vec<String>) -> Result<Vec<Series>> {
    let xs = match x {
        Some(x) => f64s(agg, x)?,
        None => vec![Some(0.0); agg.height()],
    };
    let ns: Vec<u32> = agg.column("n")?.u32()?.iter().map(|n| n.unwrap_or(0)).collect();
    let means = f64s(agg, "mean")?;
    let cis = f64s(agg, "ci95")?;
    let mut out: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for i in 0..agg.height() {
        let (Some(x), Some(y)) = (xs[i], means[i]) else { continue };
        out.entry(groups[i].clone()).or_default().push(Point { x, y, y_ci: cis[i], x_ci: None, n: ns[i] });
    }
    Ok(out.into_iter().map(|(label, points)| Series { label, points, ..Series::default() }).collect())
}

fn summary_value(r: &RunRecord, metric: &str) -> Option<f64> {
    r.summary.get(metric).copied().filter(|v| v.is_finite())
}

fn curves(
    chart: &mut Chart,
    spec: &ChartSpec,
    runs: &[&RunRecord],
    store: &dyn RunSource,
    group_key: &str,
    window: Option<(f64, f64)>,
) -> Result<()> {
    let (from, to) = window.unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
    let mut labels: Vec<String> = runs.iter().map(|r| group_label(r, group_key)).collect();
    labels.sort();
    labels.dedup();
    let mut read: Vec<(u32, Vec<(u64, f64)>)> = Vec::with_capacity(runs.len());
    for r in runs {
        let label = group_label(r, group_key);
        let index = labels.binary_search(&label).unwrap_or(0) as u32;
        let mut points = store.points(r.id, &spec.y)?;
        points.retain(|(step, value)| value.is_finite() && (from..=to).contains(&(*step as f64)));
        read.push((index, points));
    }
    // Long runs are averaged over buckets of steps first, on one grid for every run, so
    // aggregating over runs handles a thousand rows a run rather than every logged point
    // (100 runs of 100k steps: 10M rows, seconds of group-by). Zooming in reads fewer steps,
    // and so finer buckets, down to every step.
    let (lo, hi) = read
        .iter()
        .flat_map(|(_, p)| p.first().into_iter().chain(p.last()))
        .fold((u64::MAX, 0), |(lo, hi), (s, _)| (lo.min(*s), hi.max(*s)));
    let longest = read.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
    let width = if longest > 2 * MAX_POINTS_PER_LINE && hi > lo { (hi - lo) / MAX_POINTS_PER_LINE as u64 + 1 } else { 1 };
    let (mut groups, mut steps, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (index, points) in &read {
        if width == 1 {
            for (step, value) in points {
                groups.push(*index);
                steps.push(*step as f64);
                values.push(*value);
            }
            continue;
        }
        let mut bucket: Option<(u64, f64, u32)> = None;
        let mut close = |b: Option<(u64, f64, u32)>| {
            if let Some((k, sum, n)) = b {
                groups.push(*index);
                // The bucket's middle step (the last bucket's, within the steps logged).
                steps.push(lo.saturating_add(k.saturating_mul(width)).saturating_add((width - 1) / 2).min(hi) as f64);
                values.push(sum / f64::from(n));
            }
        };
        for (step, value) in points {
            let k = (step - lo) / width;
            match &mut bucket {
                Some((at, sum, n)) if *at == k => {
                    *sum += value;
                    *n += 1;
                }
                _ => {
                    close(bucket.take());
                    bucket = Some((k, *value, 1));
                }
            }
        }
        close(bucket);
    }
    let frame = df!("group" => groups, "step" => steps, "value" => values)?;
    chart.series = curve_lines(&frame, &labels)?;
    chart.x_label = "step".into();
    chart.note = caption(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.n)));
    if width > 1 {
        chart.note = format!("{}; each run first averaged over every {width} steps", chart.note);
    }
    Ok(())
}

/// Mean curves with 95% CI per group from a long frame (`group`: u32 index into `labels`,
/// `step`, `value`; one row per run and step), each downsampled to [`MAX_POINTS_PER_LINE`].
/// Groups are indices, not strings, because this frame has a row per logged point (10M for
/// 100 runs of 100k steps): a string per row made building it the slowest part.
pub fn curve_lines(frame: &DataFrame, labels: &[String]) -> Result<Vec<Series>> {
    let agg = aggregate(frame, &["group", "step"], "value")?;
    let groups: Vec<String> = agg
        .column("group")?
        .u32()?
        .iter()
        .map(|g| g.and_then(|g| labels.get(g as usize).cloned()).unwrap_or_else(|| "(none)".into()))
        .collect();
    Ok(series_from_groups(&agg, Some("step"), groups)?
        .into_iter()
        .map(|mut s| {
            let xs: Vec<f64> = s.points.iter().map(|p| p.x).collect();
            let ys: Vec<f64> = s.points.iter().map(|p| p.y).collect();
            let keep = lttb_indices(&xs, &ys, MAX_POINTS_PER_LINE);
            s.points = keep.into_iter().map(|i| s.points[i].clone()).collect();
            s
        })
        .collect())
}

fn metric_vs_param(chart: &mut Chart, spec: &ChartSpec, runs: &[&RunRecord], group_key: &str, x: &str) -> Result<()> {
    let (mut groups, mut xs, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for r in runs {
        let Some(xv) = param(r, x) else { continue };
        let Some(xv) = xv.as_f64() else {
            return Err(spec_error(&chart.title, &format!("`{x}` is not numeric; draw it as bars grouped by `{x}`")));
        };
        if let Some(v) = summary_value(r, &spec.y) {
            groups.push(group_label(r, group_key));
            xs.push(xv);
            values.push(v);
        }
    }
    let frame = df!("group" => groups, "x" => xs, "value" => values)?;
    let agg = aggregate(&frame, &["group", "x"], "value")?;
    chart.series = series_from(&agg, Some("x"))?;
    chart.x_label = x.to_owned();
    chart.note = caption(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.n)));
    Ok(())
}

fn bars(chart: &mut Chart, spec: &ChartSpec, runs: &[&RunRecord], group_key: &str) -> Result<()> {
    let (mut groups, mut values) = (Vec::new(), Vec::new());
    for r in runs {
        if let Some(v) = summary_value(r, &spec.y) {
            groups.push(group_label(r, group_key));
            values.push(v);
        }
    }
    let frame = df!("group" => groups, "value" => values)?;
    let agg = aggregate(&frame, &["group"], "value")?;
    let mut series = series_from(&agg, None)?;
    for (i, s) in series.iter_mut().enumerate() {
        for p in &mut s.points {
            p.x = i as f64;
        }
    }
    chart.categories = series.iter().map(|s| s.label.clone()).collect();
    chart.series = series;
    chart.x_label = group_key.to_owned();
    chart.note = caption(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.n)));
    Ok(())
}

/// The sweep point without the grouping key, as one text key.
fn point_key(r: &RunRecord, group_key: &str) -> String {
    let parts: Vec<String> =
        r.sweep_point.iter().filter(|(k, _)| k.as_str() != group_key).map(|(k, v)| format!("{k}={}", show(v))).collect();
    parts.join(",")
}

fn scatter(chart: &mut Chart, spec: &ChartSpec, runs: &[&RunRecord], group_key: &str, x: &str) -> Result<()> {
    let (mut groups, mut points, mut xs, mut ys) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in runs {
        if let (Some(xv), Some(yv)) = (summary_value(r, x), summary_value(r, &spec.y)) {
            groups.push(group_label(r, group_key));
            points.push(point_key(r, group_key));
            xs.push(xv);
            ys.push(yv);
        }
    }
    let frame = df!("group" => groups, "point" => points, "x" => xs, "y" => ys)?;
    let ax = aggregate(&frame, &["group", "point"], "x")?;
    let ay = aggregate(&frame, &["group", "point"], "y")?;
    // Same rows, same sort: the two aggregates line up.
    let (gx, gy) = (strs(&ax, "group")?, strs(&ay, "group")?);
    let (px, py) = (strs(&ax, "point")?, strs(&ay, "point")?);
    if gx != gy || px != py {
        return Err(spec_error(&chart.title, "x and y cover different runs"));
    }
    let (mx, cx, my, cy) = (f64s(&ax, "mean")?, f64s(&ax, "ci95")?, f64s(&ay, "mean")?, f64s(&ay, "ci95")?);
    let ns: Vec<u32> = ax.column("n")?.u32()?.iter().map(|n| n.unwrap_or(0)).collect();
    let mut by_group: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for i in 0..ax.height() {
        if let (Some(x), Some(y)) = (mx[i], my[i]) {
            by_group.entry(gx[i].clone()).or_default().push(Point { x, y, x_ci: cx[i], y_ci: cy[i], n: ns[i] });
        }
    }
    chart.series = by_group.into_iter().map(|(label, points)| Series { label, points, ..Series::default() }).collect();
    let all: Vec<(f64, f64)> = chart.series.iter().flat_map(|s| s.points.iter().map(|p| (p.x, p.y))).collect();
    // A front only when the spec says which way is better: guessing would circle the worst
    // corner for error-like metrics.
    chart.pareto = spec.better.map(|b| pareto_front(&all, b)).unwrap_or_default();
    chart.x_label = x.to_owned();
    chart.note = caption(chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.n)));
    Ok(())
}

/// The points no other point beats on both axes, sorted by x.
pub fn pareto_front(points: &[(f64, f64)], better: Better) -> Vec<(f64, f64)> {
    let sign = if better == Better::Higher { 1.0 } else { -1.0 };
    let beats = |a: &(f64, f64), b: &(f64, f64)| sign * a.0 >= sign * b.0 && sign * a.1 >= sign * b.1 && (a.0 != b.0 || a.1 != b.1);
    let mut front: Vec<(f64, f64)> = points.iter().filter(|p| !points.iter().any(|q| beats(q, p))).copied().collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    front.dedup();
    front
}

fn parallel(chart: &mut Chart, spec: &ChartSpec, runs: &[&RunRecord], group_key: &str) -> Result<()> {
    let dims: Vec<String> = if spec.dims.is_empty() {
        let mut keys: Vec<String> = runs.iter().flat_map(|r| r.sweep_point.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        keys.retain(|k| k != group_key);
        keys
    } else {
        spec.dims.clone()
    };
    // Text parameters become category indices on their axis.
    let mut categories: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for d in &dims {
        let mut texts: Vec<String> = runs.iter().filter_map(|r| param(r, d)).filter(|v| v.as_f64().is_none()).map(|v| show(&v)).collect();
        texts.sort();
        texts.dedup();
        categories.insert(d.as_str(), texts);
    }
    let value_of = |r: &RunRecord, d: &str| -> Option<f64> {
        let v = param(r, d)?;
        v.as_f64().or_else(|| categories.get(d)?.iter().position(|c| *c == show(&v)).map(|i| i as f64))
    };
    let mut raw: Vec<(String, Vec<f64>)> = Vec::new();
    for r in runs {
        let mut row: Vec<f64> = Vec::with_capacity(dims.len() + 1);
        for d in &dims {
            match value_of(r, d) {
                Some(v) => row.push(v),
                None => break,
            }
        }
        if row.len() == dims.len()
            && let Some(y) = summary_value(r, &spec.y)
        {
            row.push(y);
            raw.push((group_label(r, group_key), row));
        }
    }
    let axes = dims.len() + 1;
    let ranges: Vec<(f64, f64)> = (0..axes)
        .map(|a| {
            let vals = raw.iter().map(|(_, row)| row[a]);
            let lo = vals.clone().fold(f64::INFINITY, f64::min);
            let hi = vals.fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        })
        .collect();
    let mut by_group: BTreeMap<String, Vec<Vec<f64>>> = BTreeMap::new();
    for (label, row) in raw {
        let scaled = row.iter().zip(&ranges).map(|(v, (lo, hi))| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }).collect();
        by_group.entry(label).or_default().push(scaled);
    }
    chart.series = by_group.into_iter().map(|(label, polylines)| Series { label, polylines, ..Series::default() }).collect();
    chart.categories = dims.iter().cloned().chain(std::iter::once(spec.y.clone())).collect();
    chart.axis_ranges = ranges;
    chart.x_label = String::new();
    chart.note = "one line per run; each axis scaled to its own range".into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pareto_front_keeps_only_undominated_points() {
        let pts = [(0.9, 0.1), (0.5, 0.5), (0.4, 0.4), (0.1, 0.9), (0.5, 0.5)];
        assert_eq!(pareto_front(&pts, Better::Higher), vec![(0.1, 0.9), (0.5, 0.5), (0.9, 0.1)]);
        assert_eq!(pareto_front(&pts, Better::Lower), vec![(0.1, 0.9), (0.4, 0.4), (0.9, 0.1)]);
    }
}
