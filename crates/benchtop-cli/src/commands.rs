//! The subcommands. Each opens what it needs, calls the libraries and prints.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use benchtop_charts::Size;
use benchtop_core::ChartSpec;
use benchtop_core::experiment::load_and_plan;
use benchtop_core::table::summarise_points;
use benchtop_core::{RunEvent, RunId, RunRecord, RunStatus};
use benchtop_report::{ReportFormat, ReportInput, export, write_report};
use benchtop_runner::{Cancel, Runner};
use benchtop_store::{RunFilter, Store};
use indicatif::{ProgressBar, ProgressStyle};

use crate::print;

fn open_store(dir: Option<&Path>) -> Result<Store> {
    let dir = Store::resolve_dir(dir)?;
    Ok(Store::open(&dir)?)
}

/// `benchtop run`: plan every file first (so a bad file stores nothing), then run them all.
pub fn run(store_dir: Option<&Path>, files: &[PathBuf], jobs: Option<usize>, sets: &[String]) -> Result<ExitCode> {
    let registry = benchtop_studies::registry();
    let mut plans = Vec::new();
    let mut experiments = Vec::new();
    for file in files {
        let (exp, mut p) = load_and_plan(file, sets, &registry)?;
        experiments.push((exp, p.len()));
        plans.append(&mut p);
    }
    let store = Arc::new(open_store(store_dir)?);
    let jobs = jobs.unwrap_or_else(Runner::default_jobs);
    let runner = Runner::new(store.clone(), registry, jobs);
    let records = runner.enqueue(&plans)?;
    let ids: Vec<_> = records.iter().map(|r| r.id).collect();
    for (exp, count) in &experiments {
        let repeats = exp.run_count() - count;
        let note = if repeats > 0 {
            format!("; {repeats} sweep points repeat a planned run in every parameter their method reads")
        } else {
            String::new()
        };
        eprintln!("{}: {count} runs ({jobs} jobs at a time{note}), store {}", exp.name, store.path().display());
    }
    execute(&store, &runner, ids)
}

/// `benchtop resume RUN... | --experiment NAME`: queue again the runs that ended without a
/// result (interrupted, failed, cancelled) and run them with their stored parameters and
/// seeds (checked again as a file's would be), each from its last checkpoint where it has one.
pub fn resume(store_dir: Option<&Path>, runs: &[String], experiment: Option<&str>, jobs: Option<usize>) -> Result<ExitCode> {
    let store = Arc::new(open_store(store_dir)?);
    let candidates: Vec<RunRecord> = match experiment {
        Some(exp) => {
            let records = store.runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(&store);
            if records.is_empty() {
                bail!("no runs of experiment `{exp}` in the store at {}", store.path().display());
            }
            records
        }
        None if runs.is_empty() => bail!("name some runs or --experiment"),
        None => runs.iter().map(|r| store.find_run(r)).collect::<Result<_, _>>()?,
    };
    let jobs = jobs.unwrap_or_else(Runner::default_jobs);
    let runner = Runner::new(store.clone(), benchtop_studies::registry(), jobs);
    let wanted: Vec<RunId> = candidates.iter().filter(|r| r.status.can_resume()).map(|r| r.id).collect();
    let ids = runner.requeue(&wanted)?;
    let done = candidates.iter().filter(|r| r.status == RunStatus::Done).count();
    // Only checkpoints the runner will go on from: readable, and of this version.
    let from_checkpoint =
        ids.iter().filter(|id| matches!(store.checkpoint(**id), Ok(Some(cp)) if cp.version == benchtop_core::VERSION)).count();
    eprintln!(
        "resuming {} run(s), {from_checkpoint} from a checkpoint and the rest from the beginning ({jobs} jobs at a time); {done} already done, {} left as they are; store {}",
        ids.len(),
        candidates.len() - ids.len() - done,
        store.path().display()
    );
    if ids.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    execute(&store, &runner, ids)
}

/// Run queued runs with a progress bar (a line per run without a terminal), Ctrl-C cancelling,
/// then print their summary per sweep point.
fn execute(store: &Arc<Store>, runner: &Runner, ids: Vec<RunId>) -> Result<ExitCode> {
    let bar = progress_bar(ids.len() as u64);
    // Without a terminal (CI, logs, a parent process) the bar is hidden: print a line per run.
    let plain = !std::io::stderr().is_terminal();
    let total = ids.len();
    let observer = {
        let bar = bar.clone();
        move |event: &RunEvent| {
            if let RunEvent::Finished { run, status, error, .. } = event {
                bar.inc(1);
                let detail = error.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
                if plain {
                    // Not eprintln!: a closed stderr must not panic the store writer thread.
                    let _ = writeln!(std::io::stderr(), "run {run} {status} ({}/{total}){detail}", bar.position());
                } else if error.is_some() {
                    bar.println(format!("run {run} {status}{detail}"));
                }
            }
        }
    };
    let cancel = Cancel::new();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let on_ctrl_c = {
            let (cancel, bar) = (cancel.clone(), bar.clone());
            async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    bar.println("cancelling: running runs stop at their next step; what they logged is kept");
                    cancel.cancel_all();
                }
            }
        };
        let watcher = tokio::spawn(on_ctrl_c);
        let outcome = runner.execute(ids.clone(), cancel.clone(), observer).await;
        watcher.abort();
        outcome
    });
    bar.finish_and_clear();

    let finished: Vec<RunRecord> = ids.iter().filter_map(|id| store.run(*id).ok()).collect();
    print::point_table(&summarise_points(&finished));
    if let Some(first) = outcome.store_errors.first() {
        let more = outcome.store_errors.len() - 1;
        eprintln!("store error: {first}{}", if more > 0 { format!(" (and {more} more)") } else { String::new() });
        eprintln!(
            "the launch stopped at the first error (a full disk?); what was recorded is kept. {} run(s) ended unrecorded and read `interrupted`: free space, then `benchtop resume`",
            outcome.unrecorded
        );
    }
    eprintln!(
        "{} done, {} failed, {} cancelled; see `benchtop runs` or `benchtop export` (store {})",
        outcome.done,
        outcome.failed,
        outcome.cancelled,
        store.path().display()
    );
    Ok(if !outcome.store_errors.is_empty() {
        ExitCode::from(1)
    } else if outcome.cancelled > 0 {
        ExitCode::from(130)
    } else if outcome.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} runs, ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `benchtop studies [NAME]`.
pub fn studies(name: Option<&str>, json: bool) -> Result<ExitCode> {
    let registry = benchtop_studies::registry();
    let infos: Vec<_> = match name {
        Some(n) => vec![registry.get(n).map_err(anyhow::Error::msg)?.info()],
        None => registry.all().iter().map(|s| s.info()).collect(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
    } else if name.is_some() {
        print::study_detail(&infos[0]);
    } else {
        print::study_list(&infos);
    }
    Ok(ExitCode::SUCCESS)
}

/// Say on stderr which stored records the last listing skipped because they do not decode
/// (the listing itself goes on without them).
fn warn_unreadable(store: &Store) {
    let skipped = store.unreadable();
    if skipped.is_empty() {
        return;
    }
    eprintln!("warning: skipped {} stored run record(s) that do not decode:", skipped.len());
    for u in &skipped {
        eprintln!("  {}: {}", u.id, u.error);
    }
    eprintln!("  (`benchtop delete ID` removes one; nothing else in the store is affected)");
}

/// Keep the runs matching `--where` (all without one). The query is checked before anything
/// is read; a field none of `records` has is an error at its column, not an empty answer.
fn filter_where(records: Vec<RunRecord>, query: Option<&str>) -> Result<Vec<RunRecord>> {
    let Some(text) = query else { return Ok(records) };
    let parsed = benchtop_core::Query::parse(text).map_err(|e| anyhow::anyhow!("--where: {e}"))?;
    if let Some(e) = parsed.unknown_field(&records) {
        bail!("--where: {e}");
    }
    Ok(records.into_iter().filter(|r| parsed.matches(r)).collect())
}

/// `benchtop runs`.
pub fn runs(
    store_dir: Option<&Path>,
    experiment: Option<String>,
    status: Option<&str>,
    query: Option<&str>,
    group_by: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let status = status.map(str::parse::<RunStatus>).transpose().map_err(anyhow::Error::msg)?;
    if let Some(q) = query {
        benchtop_core::Query::parse(q).map_err(|e| anyhow::anyhow!("--where: {e}"))?;
    }
    let store = open_store(store_dir)?;
    let records = filter_where(store.runs(&RunFilter { experiment, status, ..RunFilter::default() })?, query)?;
    warn_unreadable(&store);
    if let Some(fields) = group_by {
        let keys: Vec<String> = fields.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_owned).collect();
        let keys = if keys.is_empty() { benchtop_core::table::default_group_keys(&records) } else { keys };
        let groups = benchtop_core::table::group_runs(&records, &keys);
        if json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "by": keys, "groups": groups }))?);
        } else {
            print::run_groups(&keys, &groups);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        print::run_list(&records);
    }
    Ok(ExitCode::SUCCESS)
}

/// `benchtop show RUN`.
pub fn show(store_dir: Option<&Path>, run: &str, json: bool) -> Result<ExitCode> {
    let store = open_store(store_dir)?;
    let record = store.find_run(run)?;
    let series: Vec<(String, Vec<(u64, f64)>)> = store
        .series_names(record.id)?
        .into_iter()
        .map(|name| store.series(record.id, &name).map(|points| (name, points)))
        .collect::<Result<_, _>>()?;
    let logs = store.logs(record.id)?;
    let artifacts = store.artifacts(record.id)?;
    if json {
        let value = serde_json::json!({
            "run": record,
            "series": series.iter().map(|(n, p)| (n.clone(), p.clone())).collect::<std::collections::BTreeMap<_, _>>(),
            "logs": logs,
            "artifacts": artifacts,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print::run_detail(&record, &series, &logs, &artifacts);
    }
    Ok(ExitCode::SUCCESS)
}

/// `benchtop diff RUN RUN...`.
pub fn diff(store_dir: Option<&Path>, runs: &[String], all: bool) -> Result<ExitCode> {
    let store = open_store(store_dir)?;
    let records: Vec<RunRecord> = runs.iter().map(|r| store.find_run(r)).collect::<Result<_, _>>()?;
    print::run_diff(&records, &benchtop_core::table::diff_runs(&records), all);
    Ok(ExitCode::SUCCESS)
}

/// `benchtop delete RUN | --experiment NAME`.
pub fn delete(store_dir: Option<&Path>, run: Option<&str>, experiment: Option<&str>) -> Result<ExitCode> {
    let store = open_store(store_dir)?;
    let ids: Vec<RunId> = match (run, experiment) {
        // A full id names a record even when it does not decode, so a damaged one can go.
        (Some(run), _) => match run.parse::<RunId>() {
            Ok(id) => vec![id],
            Err(_) => vec![store.find_run(run)?.id],
        },
        (None, Some(exp)) => {
            let runs = store.runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(&store);
            if runs.is_empty() {
                bail!("no runs of experiment `{exp}` in the store at {}", store.path().display());
            }
            runs.iter().map(|r| r.id).collect()
        }
        (None, None) => bail!("name a run or --experiment"),
    };
    let out = store.delete_runs(&ids)?;
    eprintln!("deleted {} run(s)", out.deleted.len());
    if !out.busy.is_empty() {
        // The store's rule, the app's too. Rare here: one process opens a store at a time,
        // and opening it marks what a crashed process left queued or running interrupted.
        let busy: Vec<String> = out.busy.iter().map(RunId::to_string).collect();
        bail!("left {} run(s) that are queued or running; cancel them first: {}", busy.len(), busy.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The table formats of `benchtop export`.
pub enum Table {
    Csv,
    Json,
    Parquet,
}

/// `benchtop export`.
pub fn export(
    store_dir: Option<&Path>,
    experiment: Option<String>,
    query: Option<&str>,
    format: Table,
    out: Option<&Path>,
) -> Result<ExitCode> {
    let store = open_store(store_dir)?;
    let all = store.runs(&RunFilter { experiment: experiment.clone(), ..RunFilter::default() })?;
    warn_unreadable(&store);
    if all.is_empty() {
        match experiment {
            Some(e) => bail!("no runs of experiment `{e}` in the store at {}", store.path().display()),
            None => bail!("the store at {} has no runs", store.path().display()),
        }
    }
    let records = filter_where(all, query)?;
    if records.is_empty() {
        bail!("no runs match --where `{}`", query.unwrap_or_default());
    }
    match (format, out) {
        (Table::Parquet, None) => bail!("Parquet is binary: give --out FILE.parquet"),
        (Table::Parquet, Some(path)) => export::write_parquet(&records, path)?,
        (table, out) => {
            let mut buffer = Vec::new();
            match table {
                Table::Json => export::write_json(&records, &mut buffer)?,
                _ => export::write_csv(&records, &mut buffer)?,
            }
            match out {
                Some(path) => std::fs::write(path, &buffer).with_context(|| format!("writing {}", path.display()))?,
                None => std::io::stdout().write_all(&buffer)?,
            }
        }
    }
    if let Some(path) = out {
        eprintln!("wrote {} runs to {}", records.len(), path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The runs of an experiment, or the named runs, or (with only a query) every run, kept by
/// `--where` when given: never empty.
fn select_runs(store: &Store, experiment: Option<&str>, runs: &[String], query: Option<&str>) -> Result<Vec<RunRecord>> {
    let records = match (experiment, runs.is_empty(), query) {
        (Some(exp), _, _) => {
            let records = store.runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(store);
            records
        }
        (None, false, _) => runs.iter().map(|r| store.find_run(r)).collect::<Result<_, _>>()?,
        (None, true, Some(_)) => {
            let records = store.runs(&RunFilter::default())?;
            warn_unreadable(store);
            records
        }
        (None, true, None) => bail!("name an --experiment, some runs or a --where query"),
    };
    if records.is_empty() {
        match experiment {
            Some(exp) => bail!("no runs of experiment `{exp}` in the store at {}", store.path().display()),
            None => bail!("the store at {} has no runs", store.path().display()),
        }
    }
    let records = filter_where(records, query)?;
    if records.is_empty() {
        bail!("no runs match --where `{}`", query.unwrap_or_default());
    }
    Ok(records)
}

/// `benchtop report`: the study's default charts, the summary table, parameters, provenance.
pub fn report(store_dir: Option<&Path>, experiment: Option<&str>, runs: &[String], query: Option<&str>, out: &Path) -> Result<ExitCode> {
    ReportFormat::from_path(out)?;
    let store = open_store(store_dir)?;
    let records = select_runs(&store, experiment, runs, query)?;
    let charts = benchtop_studies::registry().default_charts(records.iter().map(|r| r.study.as_str()));
    let title = match experiment {
        Some(e) => e.to_owned(),
        None => format!("{} selected runs", records.len()),
    };
    let description = records[0].description.clone();
    let input = ReportInput { title, description, records: &records, charts };
    let written = write_report(&store, &input, out)?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `benchtop compare`: one chart of an experiment's runs.
pub fn compare(
    store_dir: Option<&Path>,
    experiment: &str,
    mut spec: ChartSpec,
    filters: &[String],
    query: Option<&str>,
    out: &Path,
    dpi: u32,
) -> Result<ExitCode> {
    for f in filters {
        let (k, v) = f.split_once('=').with_context(|| format!("--filter `{f}`: expected key=value"))?;
        let value = v
            .parse::<i64>()
            .map(serde_json::Value::from)
            .or_else(|_| v.parse::<f64>().map(serde_json::Value::from))
            .unwrap_or_else(|_| serde_json::Value::from(v));
        spec.filters.insert(k.to_owned(), value);
    }
    let store = open_store(store_dir)?;
    let records = select_runs(&store, Some(experiment), &[], query)?;
    let chart = benchtop_charts::prepare(&spec, &records, Some(&store))?;
    match out.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let svg = benchtop_charts::render_svg(&chart, Size::default())?;
            std::fs::write(out, svg).with_context(|| format!("writing {}", out.display()))?;
        }
        Some("png") => benchtop_charts::render_png(&chart, Size::default(), dpi, out)?,
        // The numbers the chart draws, for a paper's own plotting: a table or a pgfplots picture.
        Some("csv" | "tex") => benchtop_report::pgfplots::write_chart_data(&chart, out).map_err(anyhow::Error::msg)?,
        _ => bail!("--out must end in .svg, .png, or .csv / .tex (the chart's data as a table / a pgfplots picture)"),
    }
    eprintln!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}
