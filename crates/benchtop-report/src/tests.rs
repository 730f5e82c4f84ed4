use super::*;
use benchtop_core::experiment::RunPlan;
use benchtop_core::{Backend, Provenance, RunStatus};
use benchtop_store::Store;
use benchtop_store::WriteBatch;
use polars::prelude::*;
use serde_json::Value;

const NASTY: &str = "<script>alert(1)</script> & co $_^%#{}";

/// A store with a small finished ISR-like experiment: 2 methods x 3 n_envs x 3 seeds.
fn fixture() -> (tempfile::TempDir, Store, Vec<RunRecord>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut records = Vec::new();
    for method in ["erm", "isr_mean"] {
        for n_envs in [2i64, 4, 6] {
            for seed in 0..3u64 {
                let point = std::collections::BTreeMap::from([
                    ("method".to_owned(), Value::from(method)),
                    ("n_envs".to_owned(), Value::from(n_envs)),
                ]);
                let plan = RunPlan {
                    experiment: NASTY.into(),
                    description: String::new(),
                    study: "isr".into(),
                    method: Some(method.into()),
                    seed,
                    backend: Backend::Cpu,
                    params: serde_json::Map::from_iter([
                        ("method".to_owned(), Value::from(method)),
                        ("n_envs".to_owned(), Value::from(n_envs)),
                        ("note".to_owned(), Value::from("a | b *c*")),
                    ]),
                    sweep_point: point,
                    experiment_file: None,
                };
                let mut r = plan.to_record(Provenance { host: "lab<1>".into(), ..Provenance::default() });
                r.status = RunStatus::Done;
                r.provenance.duration_s = Some(1.0);
                let err = if method == "erm" { 0.4 } else { 0.4 / n_envs as f64 } + seed as f64 * 0.01;
                r.summary.insert("test_error".into(), err);
                r.summary.insert("train_accuracy".into(), 1.0 - err);
                records.push(r);
            }
        }
    }
    store.create_runs(&records).unwrap();
    let mut batch = WriteBatch::new();
    for r in &records {
        for step in 0..20u64 {
            batch.metric(r.id, "test_error", step * 10, 0.5 / (step + 1) as f64);
        }
    }
    store.write(batch).unwrap();
    (dir, store, records)
}

fn charts() -> Vec<ChartSpec> {
    vec![
        ChartSpec::new(ChartKind::MetricVsParam, "test_error").with_x("n_envs"),
        ChartSpec::new(ChartKind::Curves, "test_error").with_filter("n_envs", 6),
        ChartSpec::new(ChartKind::Bars, "test_error").with_filter("n_envs", 99),
    ]
}

fn input(records: &[RunRecord]) -> ReportInput<'_> {
    ReportInput { title: NASTY.into(), description: format!("about {NASTY}"), records, charts: charts() }
}

#[test]
fn the_html_report_is_self_contained_escaped_and_complete() {
    let (dir, store, records) = fixture();
    let out = dir.path().join("r.html");
    write_report(&store, &input(&records), &out).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(!html.contains("<script"), "no script, user text escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "no external resources");
    assert_eq!(html.matches("<svg").count(), 2, "two charts have data; the third is skipped");
    assert!(html.contains("Charts left out") && html.contains("n_envs = 99"));
    assert_eq!(html.matches("<td class=\"best\">").count(), 2, "one best cell per metric");
    assert!(html.contains("0.110 ± 0.025"), "mean ± CI of isr_mean at E = 4");
    assert!(html.contains("lab&lt;1&gt;"), "reproducibility rows are escaped");
}

#[test]
fn the_markdown_report_writes_its_figures_beside_it_and_escapes_text() {
    let (dir, store, records) = fixture();
    let out = dir.path().join("r.md");
    let written = write_report(&store, &input(&records), &out).unwrap();
    assert_eq!(written.len(), 3, "the document and two figures");
    let md = std::fs::read_to_string(&out).unwrap();
    assert!(md.contains("![test\\_error vs n\\_envs](<r-fig1.svg>)"), "{md}");
    assert_eq!(md.matches('<').count(), 2, "no raw HTML, only the two figures' link destinations: {md}");
    assert!(md.contains("a \\| b \\*c\\*"), "table cells escaped");
    assert!(std::fs::read_to_string(dir.path().join("r-fig2.svg")).unwrap().contains("<svg"));
}

#[test]
fn the_latex_table_escapes_text_marks_the_best_and_compiles_when_tex_is_installed() {
    let (dir, store, records) = fixture();
    let out = dir.path().join("r.tex");
    write_report(&store, &input(&records), &out).unwrap();
    let tex = std::fs::read_to_string(&out).unwrap();
    assert!(tex.contains("\\toprule") && tex.contains("\\bottomrule"));
    assert!(tex.contains("\\textless{}script\\textgreater{}alert(1)"));
    assert!(tex.contains("\\$\\_\\textasciicircum{}\\%\\#\\{\\}"));
    assert_eq!(tex.matches("\\mathbf{").count(), 2);
    assert!(tex.contains("\\midrule\n{}erm & 2 & "), "rows start with {{}} so a leading [ is not an argument");
    // The two charts with data as pgfplots figures, the third named as left out.
    assert_eq!(tex.matches("\\begin{tikzpicture}").count(), 2);
    assert_eq!(tex.matches("\\begin{figure}").count(), 2);
    assert!(tex.contains("% chart left out:"), "the chart without data is named");
    let Some(engine) = crate::pgfplots::tests::tex_engine() else {
        return;
    };
    let status = std::process::Command::new(engine)
        .args(["-interaction=nonstopmode", "-halt-on-error", "r.tex"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stdout));
}

#[test]
fn a_parquet_export_reads_back_equal_to_the_csv_export() {
    let (dir, _store, records) = fixture();
    let csv_path = dir.path().join("runs.csv");
    export::write_csv(&records, std::fs::File::create(&csv_path).unwrap()).unwrap();
    let pq_path = dir.path().join("runs.parquet");
    export::write_parquet(&records, &pq_path).unwrap();
    let from_csv =
        CsvReadOptions::default().with_has_header(true).try_into_reader_with_file_path(Some(csv_path)).unwrap().finish().unwrap();
    let from_parquet = ParquetReader::new(std::fs::File::open(&pq_path).unwrap()).finish().unwrap();
    assert_eq!(from_parquet.shape(), (18, from_csv.width()));
    assert!(from_parquet.equals_missing(&from_csv), "csv:\n{from_csv}\nparquet:\n{from_parquet}");
    assert_eq!(from_parquet.column("param.n_envs").unwrap().dtype(), &DataType::Int64);
}

#[test]
fn when_no_requested_chart_applies_the_report_falls_back_to_the_sweep() {
    let (_dir, store, records) = fixture();
    let (figures, skipped) = figures(&store, &records, &[ChartSpec::new(ChartKind::Curves, "missing_series")]);
    assert_eq!(skipped.len(), 1);
    assert!(figures.iter().any(|f| f.spec.x.as_deref() == Some("n_envs")), "test_error vs n_envs drawn");
}

#[test]
fn a_cell_averaged_over_fewer_runs_than_finished_says_so() {
    let (dir, store, mut records) = fixture();
    // erm, n_envs = 2, seed 0 diverged: its test error is not a number.
    records[0].summary.insert("test_error".into(), f64::NAN);
    let out = dir.path().join("r.md");
    write_report(&store, &input(&records), &out).unwrap();
    let md = std::fs::read_to_string(&out).unwrap();
    let row = md.lines().find(|l| l.starts_with("| erm | 2 |")).unwrap();
    assert!(row.contains("(n = 2)"), "the test error cell names its own n: {row}");
    assert_eq!(row.matches("(n = ").count(), 1, "only that cell: {row}");
}

#[test]
fn a_zoomed_curve_is_read_over_its_window_and_each_series_knows_its_runs() {
    let (_dir, store, records) = fixture();
    let spec = ChartSpec::new(ChartKind::Curves, "test_error");
    let chart = benchtop_charts::prepare_in(&spec, &records, Some(&store), Some((50.0, 100.0))).unwrap();
    assert_eq!(chart.series.len(), 2);
    for series in &chart.series {
        let steps: Vec<f64> = series.points.iter().map(|p| p.x).collect();
        assert_eq!(steps, [50.0, 60.0, 70.0, 80.0, 90.0, 100.0], "only the window's steps, every one of them");
        let mut expected: Vec<_> = records.iter().filter(|r| r.method.as_deref() == Some(series.label.as_str())).map(|r| r.id).collect();
        let mut runs = series.runs.clone();
        expected.sort();
        runs.sort();
        assert_eq!(runs, expected, "{}: the runs it averages", series.label);
    }
    let whole = benchtop_charts::prepare(&spec, &records, Some(&store)).unwrap();
    assert_eq!(whole.series[0].points.len(), 20);
}

#[test]
fn a_long_curve_is_averaged_over_buckets_of_steps_and_read_exactly_when_zoomed_in() {
    let (_dir, store, records) = fixture();
    // Two erm runs log a long linear curve: each bucket's mean is its middle step.
    let long: Vec<RunRecord> = records.iter().filter(|r| r.method.as_deref() == Some("erm")).take(2).cloned().collect();
    let mut batch = WriteBatch::new();
    for r in &long {
        for step in 0..5000u64 {
            batch.metric(r.id, "line", step, step as f64);
        }
    }
    store.write(batch).unwrap();
    let spec = ChartSpec::new(ChartKind::Curves, "line");
    let chart = benchtop_charts::prepare(&spec, &long, Some(&store)).unwrap();
    let points = &chart.series[0].points;
    assert_eq!(points.len(), 1000, "5,000 steps in buckets of 5");
    assert!(points.iter().all(|p| p.y == p.x && p.n == 2), "each point: the bucket's mean at its middle step, over both runs");
    assert!(chart.note.contains("every 5 steps"), "{}", chart.note);
    let zoomed = benchtop_charts::prepare_in(&spec, &long, Some(&store), Some((100.0, 300.0))).unwrap();
    assert_eq!(zoomed.series[0].points.len(), 201, "zoomed in: every step");
    assert!(!zoomed.note.contains("every"), "{}", zoomed.note);
}
