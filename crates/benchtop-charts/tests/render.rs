//! Every chart kind renders a valid SVG with the expected series; the same data gives the
//! same bytes.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use benchtop_charts::{Better, ChartKind, ChartSpec, Size, prepare, render_png, render_svg};
use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance, RunRecord, RunStatus};
use benchtop_store::{Store, WriteBatch};
use serde_json::Value;

/// 3 methods x 3 strengths x 4 seeds, with two summary metrics and a training curve.
fn fixture() -> (tempfile::TempDir, Store, Vec<RunRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut records = Vec::new();
    for (m, method) in ["finetune", "l2_init", "wise_ft"].into_iter().enumerate() {
        for strength in [1i64, 2, 3] {
            for seed in 0..4u64 {
                let params = serde_json::Map::from_iter([
                    ("method".to_owned(), Value::from(method)),
                    ("strength".to_owned(), Value::from(strength)),
                ]);
                let plan = RunPlan {
                    experiment: "demo".into(),
                    description: String::new(),
                    study: "forgetting".into(),
                    method: Some(method.into()),
                    seed,
                    backend: Backend::Cpu,
                    sweep_point: params.clone().into_iter().collect(),
                    params,
                    experiment_file: None,
                };
                let mut r = plan.to_record(Provenance::default());
                r.status = RunStatus::Done;
                let jitter = seed as f64 * 0.01;
                r.summary.insert("speciality".into(), 0.9 - 0.05 * strength as f64 + jitter);
                r.summary.insert("generality".into(), 0.3 + 0.1 * strength as f64 + 0.05 * m as f64 - jitter);
                records.push(r);
            }
        }
    }
    // One unfinished run must not count.
    records[0].status = RunStatus::Failed;
    store.create_runs(&records).unwrap();
    let mut batch = WriteBatch::new();
    for r in &records {
        for step in 0..50u64 {
            batch.metric(r.id, "loss", step, 1.0 / (step + 1) as f64 + r.seed as f64 * 0.01);
        }
    }
    store.write(batch).unwrap();
    (dir, store, records)
}

fn specs() -> Vec<ChartSpec> {
    vec![
        ChartSpec::new(ChartKind::Curves, "loss"),
        ChartSpec::new(ChartKind::MetricVsParam, "speciality").with_x("strength"),
        ChartSpec::new(ChartKind::Bars, "generality"),
        ChartSpec { better: Some(Better::Higher), ..ChartSpec::new(ChartKind::Scatter, "generality").with_x("speciality") },
        ChartSpec::new(ChartKind::Parallel, "speciality"),
    ]
}

fn svg_of(spec: &ChartSpec) -> String {
    let (_dir, store, records) = fixture();
    let chart = prepare(spec, &records, Some(&store)).unwrap();
    render_svg(&chart, Size::default()).unwrap()
}

/// Stroke colours of the drawn lines (polylines and paths) in the document.
fn stroke_colours(doc: &roxmltree::Document) -> std::collections::BTreeSet<String> {
    doc.descendants()
        .filter(|n| matches!(n.tag_name().name(), "polyline" | "path"))
        .filter_map(|n| n.attribute("stroke").map(str::to_owned))
        .collect()
}

fn texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants().filter(|n| n.tag_name().name() == "text").filter_map(|n| n.text().map(|t| t.trim().to_owned())).collect()
}

const METHOD_COLOURS: [&str; 3] = ["#0072B2", "#D55E00", "#009E73"];

#[test]
fn every_kind_renders_a_valid_svg_with_a_legend_entry_and_a_colour_per_method() {
    for spec in specs() {
        let svg = svg_of(&spec);
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{:?}: invalid SVG: {e}", spec.kind));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts = texts(&doc);
        for method in ["finetune", "l2_init", "wise_ft"] {
            assert!(texts.iter().any(|t| t == method), "{:?}: legend lacks {method}: {texts:?}", spec.kind);
        }
        assert!(texts.iter().any(|t| t.contains(&spec.y)), "{:?}: the title or axis names the metric", spec.kind);
        let colours = stroke_colours(&doc);
        for c in METHOD_COLOURS {
            assert!(colours.iter().any(|s| s.eq_ignore_ascii_case(c)), "{:?}: no line in {c}: {colours:?}", spec.kind);
        }
    }
}

#[test]
fn curves_draw_one_mean_line_per_group_with_a_band() {
    let svg = svg_of(&ChartSpec::new(ChartKind::Curves, "loss"));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let lines: Vec<_> = doc
        .descendants()
        .filter(|n| {
            n.tag_name().name() == "polyline"
                && METHOD_COLOURS.iter().any(|c| n.attribute("stroke").is_some_and(|s| s.eq_ignore_ascii_case(c)))
        })
        // The legend's swatches are two-point lines in the same colours.
        .filter(|n| n.attribute("points").is_some_and(|p| p.split_whitespace().count() > 2))
        .collect();
    assert_eq!(lines.len(), 3, "one mean line per method");
    for line in lines {
        let points = line.attribute("points").unwrap().split_whitespace().count();
        assert_eq!(points, 50, "every step is kept below the downsampling budget");
    }
    let bands = doc.descendants().filter(|n| n.tag_name().name() == "polygon").count();
    assert!(bands >= 3, "a CI band per method: {bands}");
}

#[test]
fn aggregation_leaves_out_unfinished_runs_and_counts_seeds() {
    let (_dir, store, records) = fixture();
    let chart = prepare(&ChartSpec::new(ChartKind::MetricVsParam, "speciality").with_x("strength"), &records, Some(&store)).unwrap();
    let finetune = chart.series.iter().find(|s| s.label == "finetune").unwrap();
    let ns: Vec<u32> = finetune.points.iter().map(|p| p.n).collect();
    assert_eq!(ns, [3, 4, 4], "the failed run is not counted");
    let wise = chart.series.iter().find(|s| s.label == "wise_ft").unwrap();
    assert!((wise.points[0].y - (0.85 + 0.015)).abs() < 1e-9, "mean over 4 seeds");
}

#[test]
fn the_scatter_marks_the_pareto_front() {
    let (_dir, store, records) = fixture();
    let spec = ChartSpec { better: Some(Better::Higher), ..ChartSpec::new(ChartKind::Scatter, "generality").with_x("speciality") };
    let chart = prepare(&spec, &records, Some(&store)).unwrap();
    // wise_ft dominates the others at every strength (same speciality, more generality),
    // except finetune at strength 1: its failed seed 0 is left out, so its mean speciality
    // is 0.85 + 0.02 = 0.870 > wise_ft's 0.865 and nothing beats it on that axis.
    let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12;
    let mut expected: Vec<(f64, f64)> = (1..=3).map(|k| (0.9 - 0.05 * k as f64 + 0.015, 0.3 + 0.1 * k as f64 + 0.1 - 0.015)).collect();
    expected.push((0.87, 0.38));
    expected.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(chart.pareto.len(), expected.len(), "{:?}", chart.pareto);
    for (got, want) in chart.pareto.iter().zip(&expected) {
        assert!(close(*got, *want), "front {:?}, expected {expected:?}", chart.pareto);
    }
}

#[test]
fn the_same_data_gives_the_same_bytes() {
    for spec in specs() {
        let (_dir, store, records) = fixture();
        let a = render_svg(&prepare(&spec, &records, Some(&store)).unwrap(), Size::default()).unwrap();
        let b = render_svg(&prepare(&spec, &records, Some(&store)).unwrap(), Size::default()).unwrap();
        assert_eq!(a, b, "{:?}", spec.kind);
    }
}

#[test]
fn text_in_a_chart_is_escaped() {
    let (_dir, store, records) = fixture();
    let spec = ChartSpec::new(ChartKind::Bars, "generality").with_title("<script>alert(1)</script> & co");
    let svg = render_svg(&prepare(&spec, &records, Some(&store)).unwrap(), Size::default()).unwrap();
    assert!(!svg.contains("<script"));
    roxmltree::Document::parse(&svg).unwrap();
}

#[test]
fn a_png_is_written_at_the_requested_dpi() {
    let (dir, store, records) = fixture();
    let chart = prepare(&ChartSpec::new(ChartKind::Bars, "generality"), &records, Some(&store)).unwrap();
    let path = dir.path().join("c.png");
    render_png(&chart, Size { width: 400, height: 300 }, 192, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (800, 600));
}

#[test]
fn a_filter_that_matches_nothing_is_a_clear_error() {
    let (_dir, store, records) = fixture();
    let spec = ChartSpec::new(ChartKind::Bars, "generality").with_filter("strength", 42);
    let err = prepare(&spec, &records, Some(&store)).unwrap_err();
    assert!(err.to_string().contains("strength = 42"), "{err}");
}

#[test]
fn a_method_keeps_its_colour_when_a_filter_leaves_others_out() {
    let (_dir, store, records) = fixture();
    let all = prepare(&ChartSpec::new(ChartKind::Bars, "speciality"), &records, Some(&store)).unwrap();
    let only_wise = ChartSpec::new(ChartKind::Bars, "speciality").with_filter("method", "wise_ft");
    let some = prepare(&only_wise, &records, Some(&store)).unwrap();
    let colour_of = |c: &benchtop_charts::Chart, label: &str| c.series.iter().find(|s| s.label == label).map(|s| s.colour);
    assert_eq!(some.series.len(), 1);
    assert_eq!(colour_of(&some, "wise_ft"), colour_of(&all, "wise_ft"));
    assert_eq!(colour_of(&all, "wise_ft"), Some(2), "third of three methods in label order");
}

#[test]
fn a_paired_chart_plots_each_runs_difference_from_its_own_baseline_seed() {
    let (_dir, store, records) = fixture();
    // wise_ft's speciality minus finetune's, same seed and strength: exactly 0 by construction.
    let spec = ChartSpec::new(ChartKind::MetricVsParam, "speciality").with_x("strength").with_filter("method", "wise_ft").paired_against(
        "method",
        "finetune",
        &["strength"],
    );
    let chart = prepare(&spec, &records, Some(&store)).unwrap();
    assert!(chart.zero_line);
    assert_eq!(chart.series.len(), 1);
    for p in &chart.series[0].points {
        assert!(p.y.abs() < 1e-12, "{p:?}");
        // Strength 1 lost finetune's seed-0 run (it failed): three pairs there, four elsewhere.
        assert_eq!(p.n, if p.x == 1.0 { 3 } else { 4 });
    }
    // generality: wise_ft is 0.10 above finetune at every seed, so the interval is a point.
    let spec =
        ChartSpec::new(ChartKind::Bars, "generality").with_filter("method", "wise_ft").paired_against("method", "finetune", &["strength"]);
    let chart = prepare(&spec, &records, Some(&store)).unwrap();
    let p = &chart.series[0].points[0];
    assert!((p.y - 0.10).abs() < 1e-9 && p.y_ci.unwrap_or(0.0) < 1e-9, "{p:?}");
    assert!(chart.note.contains("paired by seed"), "{}", chart.note);
    assert!(render_svg(&chart, Size::default()).unwrap().contains("<svg"));
}

#[test]
fn a_paired_chart_refuses_an_ambiguous_baseline() {
    let (_dir, store, records) = fixture();
    // Not pairing on strength: each wise_ft run would fit finetune runs of three strengths.
    let spec = ChartSpec::new(ChartKind::Bars, "generality").with_filter("method", "wise_ft").paired_against("method", "finetune", &[]);
    let err = prepare(&spec, &records, Some(&store)).unwrap_err().to_string();
    assert!(err.contains("strength"), "{err}");
    // Filtering one strength makes it unambiguous.
    let spec = spec.with_filter("strength", 2);
    assert_eq!(prepare(&spec, &records, Some(&store)).unwrap().series[0].points[0].n, 4);
}
