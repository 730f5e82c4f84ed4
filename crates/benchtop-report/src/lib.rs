//! Reports and exports of runs: a self-contained HTML page, Markdown with SVG figures beside
//! it, a LaTeX table that compiles as is; CSV, JSON and Parquet tables.
//!
//! Every piece of user text (experiment names, descriptions, parameter values) is escaped
//! for the format it lands in ([`escape`]).

pub mod escape;
pub mod export;
mod html;
mod latex;
mod markdown;
pub mod pgfplots;
mod summary;

use std::path::{Path, PathBuf};

use benchtop_charts::{Chart, ChartError, ChartSpec, Size, prepare, render_svg};
use benchtop_core::{ChartKind, RunRecord};
use benchtop_store::RunSource;

pub use summary::{SummaryTable, metric_better};

/// What can go wrong writing a report or an export.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("nothing to report: {0}")]
    Empty(String),
    #[error("unknown report format `{0}`; use .html, .md or .tex (or .csv, .json, .parquet for a table)")]
    Format(String),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Chart(#[from] ChartError),
    #[error("table: {0}")]
    Frame(#[from] polars::error::PolarsError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, ReportError>;

/// The report's file format, chosen by the output's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Html,
    Markdown,
    Latex,
}

impl ReportFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("html" | "htm") => Ok(ReportFormat::Html),
            Some("md" | "markdown") => Ok(ReportFormat::Markdown),
            Some("tex") => Ok(ReportFormat::Latex),
            other => Err(ReportError::Format(other.unwrap_or("").to_owned())),
        }
    }
}

/// Write `input` in the format `out`'s extension names: a report (`.html`, `.md`, `.tex`)
/// or a table of runs (`.csv`, `.json`, `.parquet`). Returns every file written. The app's
/// export dialog calls this, so a researcher gets one behaviour whatever they pick.
pub fn export_any(store: &dyn RunSource, input: &ReportInput<'_>, out: &Path) -> Result<Vec<PathBuf>> {
    let ext = out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let table = match ext.as_deref() {
        Some(ext @ ("csv" | "json" | "parquet")) => ext.to_owned(),
        _ => return write_report(store, input, out),
    };
    if input.records.is_empty() {
        return Err(ReportError::Empty(format!("no runs for `{}`", input.title)));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    }
    let write_err = |source| ReportError::Write { path: out.to_path_buf(), source };
    let file = || std::fs::File::create(out).map_err(write_err);
    // Flushed explicitly: a full disk must be an error, not a silently short file.
    let flush = |mut w: std::io::BufWriter<std::fs::File>| {
        use std::io::Write;
        w.flush().map_err(write_err)?;
        w.into_inner().map_err(|e| write_err(e.into_error()))?.sync_all().map_err(write_err)
    };
    match table.as_str() {
        "csv" => {
            let mut w = std::io::BufWriter::new(file()?);
            export::write_csv(input.records, &mut w)?;
            flush(w)?;
        }
        "json" => {
            let mut w = std::io::BufWriter::new(file()?);
            export::write_json(input.records, &mut w)?;
            flush(w)?;
        }
        _ => export::write_parquet(input.records, out)?,
    }
    Ok(vec![out.to_path_buf()])
}

/// What a report is about.
pub struct ReportInput<'a> {
    /// The heading (usually the experiment's name).
    pub title: String,
    pub description: String,
    pub records: &'a [RunRecord],
    /// The charts to try, in order (the study's defaults, usually).
    pub charts: Vec<ChartSpec>,
}

/// A chart drawn for a report, or why it was left out.
pub struct Figure {
    pub spec: ChartSpec,
    pub chart: Chart,
    /// Empty for the LaTeX report, which typesets `chart` with pgfplots instead.
    pub svg: String,
}

/// Draw every chart that has data; say why the others were skipped. When none of the
/// requested charts applies, draw the first metric against each numeric swept parameter.
pub fn figures(store: &dyn RunSource, records: &[RunRecord], charts: &[ChartSpec]) -> (Vec<Figure>, Vec<String>) {
    select_figures(store, records, charts, true)
}

/// [`figures`], with the SVG drawn only when `svg` (the LaTeX report typesets the prepared
/// numbers with pgfplots and never reads it).
fn select_figures(store: &dyn RunSource, records: &[RunRecord], charts: &[ChartSpec], svg: bool) -> (Vec<Figure>, Vec<String>) {
    let mut figures = Vec::new();
    let mut skipped = Vec::new();
    let draw = |spec: &ChartSpec, figures: &mut Vec<Figure>, skipped: &mut Vec<String>| match prepare(spec, records, Some(store)).and_then(
        |chart| {
            let svg = if svg { render_svg(&chart, Size::default())? } else { String::new() };
            Ok((chart, svg))
        },
    ) {
        Ok((chart, svg)) if !single_x(&chart) => figures.push(Figure { spec: spec.clone(), chart, svg }),
        Ok(_) => skipped.push(format!("{}: its x parameter does not vary in these runs", spec.display_title())),
        Err(e) => skipped.push(e.to_string()),
    };
    for spec in charts {
        draw(spec, &mut figures, &mut skipped);
    }
    if figures.is_empty() {
        for spec in fallback_charts(records, charts) {
            draw(&spec, &mut figures, &mut skipped);
        }
    }
    (figures, skipped)
}

fn single_x(chart: &Chart) -> bool {
    chart.kind == ChartKind::MetricVsParam && {
        let mut xs: Vec<f64> = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.x)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs.len() < 2
    }
}

/// The first requested (or first summary) metric against each numeric swept parameter.
fn fallback_charts(records: &[RunRecord], charts: &[ChartSpec]) -> Vec<ChartSpec> {
    let metric = charts
        .iter()
        .find(|c| c.kind != ChartKind::Curves)
        .map(|c| c.y.clone())
        .or_else(|| records.iter().flat_map(|r| r.summary.keys()).next().cloned());
    let Some(metric) = metric else { return Vec::new() };
    let mut keys: Vec<&String> = records.iter().flat_map(|r| r.sweep_point.iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k)).collect();
    keys.sort();
    keys.dedup();
    let mut out: Vec<ChartSpec> = keys.into_iter().map(|k| ChartSpec::new(ChartKind::MetricVsParam, &metric).with_x(k)).collect();
    out.push(ChartSpec::new(ChartKind::Bars, &metric));
    out
}

/// Write a report of `input` to `out` in the format its extension names. Markdown writes its
/// figures as SVG files beside it (`<stem>-fig<N>.svg`). Returns every file written.
pub fn write_report(store: &dyn RunSource, input: &ReportInput<'_>, out: &Path) -> Result<Vec<PathBuf>> {
    let format = ReportFormat::from_path(out)?;
    if input.records.is_empty() {
        return Err(ReportError::Empty(format!("no runs for `{}`", input.title)));
    }
    // `--out reports/r.html` makes `reports/` as a researcher expects.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Write { path: dir.to_path_buf(), source })?;
    }
    let table = SummaryTable::from_records(input.records);
    let write =
        |path: &Path, text: &str| std::fs::write(path, text).map_err(|source| ReportError::Write { path: path.to_path_buf(), source });
    let mut written = Vec::new();
    match format {
        ReportFormat::Latex => {
            let (figures, skipped) = select_figures(store, input.records, &input.charts, false);
            write(out, &latex::document(input, &table, &figures, &skipped))?;
        }
        ReportFormat::Html => {
            let (figures, skipped) = figures(store, input.records, &input.charts);
            write(out, &html::page(input, &table, &figures, &skipped))?;
        }
        ReportFormat::Markdown => {
            let (figures, skipped) = figures(store, input.records, &input.charts);
            let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("report").to_owned();
            let dir = out.parent().unwrap_or(Path::new("."));
            let mut names = Vec::new();
            for (i, fig) in figures.iter().enumerate() {
                let name = format!("{stem}-fig{}.svg", i + 1);
                let path = dir.join(&name);
                write(&path, &fig.svg)?;
                written.push(path);
                names.push(name);
            }
            write(out, &markdown::document(input, &table, &figures, &names, &skipped))?;
        }
    }
    written.insert(0, out.to_path_buf());
    Ok(written)
}

/// What every report says about where its runs came from.
pub(crate) struct ProvenanceSummary {
    pub studies: String,
    /// Parameters with one value across all runs.
    pub fixed_params: Vec<(String, String)>,
    /// Parameters that vary (the sweep, usually).
    pub varying_params: Vec<String>,
    rows: Vec<(String, String)>,
}

impl ProvenanceSummary {
    pub fn rows(&self) -> impl Iterator<Item = (&str, String)> {
        self.rows.iter().map(|(k, v)| (k.as_str(), v.clone()))
    }
}

fn distinct<I: IntoIterator<Item = String>>(values: I) -> String {
    let mut v: Vec<String> = values.into_iter().collect();
    v.sort();
    v.dedup();
    if v.is_empty() { "-".into() } else { v.join(", ") }
}

pub(crate) fn provenance(records: &[RunRecord]) -> ProvenanceSummary {
    use benchtop_core::params::show;
    let mut keys: Vec<&String> = records.iter().flat_map(|r| r.params.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut fixed_params = Vec::new();
    let mut varying_params = Vec::new();
    for k in keys {
        let values: Vec<String> = records.iter().map(|r| r.params.get(k).map(show).unwrap_or_default()).collect();
        if values.iter().all(|v| *v == values[0]) {
            fixed_params.push((k.clone(), values[0].clone()));
        } else {
            varying_params.push(k.clone());
        }
    }
    let mut seeds: Vec<u64> = records.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let durations: Vec<f64> = records.iter().filter_map(|r| r.provenance.duration_s).collect();
    let total: f64 = durations.iter().sum();
    let start = records.iter().filter_map(|r| r.provenance.started_at).min();
    let end = records.iter().filter_map(|r| r.provenance.ended_at).max();
    let statuses = distinct_counts(records.iter().map(|r| r.status.to_string()));
    let rows = vec![
        ("Benchtop version".into(), distinct(records.iter().map(|r| r.provenance.benchtop_version.clone()))),
        ("git commit".into(), distinct(records.iter().filter_map(|r| r.provenance.git_commit.clone()))),
        ("experiment file".into(), distinct(records.iter().filter_map(|r| r.experiment_file.clone()))),
        ("host".into(), distinct(records.iter().map(|r| r.provenance.host.clone()))),
        // Runs are bit-identical only on the same compute: name every one the runs used.
        ("compute".into(), distinct(records.iter().filter_map(|r| r.provenance.compute.as_ref().map(|c| c.describe())))),
        ("backend".into(), distinct(records.iter().map(|r| r.backend.to_string()))),
        ("seeds".into(), seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
        ("runs".into(), statuses),
        (
            "run time".into(),
            if durations.is_empty() {
                "-".into()
            } else {
                format!("{total:.1} s in all, {:.2} s per run on average", total / durations.len() as f64)
            },
        ),
        (
            "ran".into(),
            match (start, end) {
                (Some(s), Some(e)) => format!("{} to {}", s.format("%Y-%m-%d %H:%M:%S UTC"), e.format("%Y-%m-%d %H:%M:%S UTC")),
                _ => "-".into(),
            },
        ),
    ];
    ProvenanceSummary { studies: distinct(records.iter().map(|r| r.study.clone())), fixed_params, varying_params, rows }
}

fn distinct_counts(values: impl Iterator<Item = String>) -> String {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
