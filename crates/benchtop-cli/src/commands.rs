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
use benchtop_core::{Executor, RunEvent, RunId, RunRecord, RunStatus};
use benchtop_report::{ReportFormat, ReportInput, export, write_report};
use benchtop_runner::{Cancel, Outcome, Runner};
use benchtop_serve::{ExperimentSource, LaunchLine, LaunchRequest, Remote};
use benchtop_store::{RunFilter, RunSource, Store, StoreError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::print;

/// Where the store is: its folder (`--store`), or a holder listening on TCP (`--holder`).
pub struct At {
    pub dir: Option<PathBuf>,
    /// host:port of a holder serving on TCP (its token in `BENCHTOP_TOKEN`).
    pub holder: Option<String>,
}

/// A store, open in this process or held by another and reached through its API. Every
/// command answers the same either way.
enum Access {
    Here(Arc<Store>),
    Holder(Box<Remote>),
}

impl Access {
    fn source(&self) -> &dyn RunSource {
        match self {
            Access::Here(store) => store.as_ref(),
            Access::Holder(remote) => remote.as_ref(),
        }
    }
}

/// Open the store, or, when another process holds it (the app, `benchtop serve`), talk to
/// that process. A holder that answers on the store's socket is asked first, so a second
/// process does not wait for the lock.
fn access(at: &At) -> Result<Access> {
    if let Some(addr) = &at.holder {
        let token = std::env::var(benchtop_serve::TOKEN_ENV)
            .map_err(|_| anyhow::anyhow!("--holder {addr}: set {} to the holder's token", benchtop_serve::TOKEN_ENV))?;
        return Ok(Access::Holder(Box::new(Remote::tcp(addr, &token)?)));
    }
    let dir = Store::resolve_dir(at.dir.as_deref())?;
    if let Some(remote) = Remote::find(&dir)? {
        return Ok(Access::Holder(Box::new(remote)));
    }
    match Store::open(&dir) {
        Ok(store) => Ok(Access::Here(Arc::new(store))),
        // A holder may have started serving while we waited for the lock.
        Err(StoreError::Locked(path)) => match Remote::find(&dir)? {
            Some(remote) => Ok(Access::Holder(Box::new(remote))),
            None => Err(StoreError::Locked(path).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// `benchtop run`: plan every file first (so a bad file stores nothing), then run them all.
/// Through a holder, the files travel as their text (with the commit found here) and the
/// holder plans them again with its own studies and trains them in its pool.
pub fn run(
    at: &At,
    files: &[PathBuf],
    jobs: Option<usize>,
    sets: &[String],
    executor: Option<Executor>,
    listen: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    let registry = benchtop_studies::registry();
    let mut plans = Vec::new();
    let mut experiments = Vec::new();
    for file in files {
        let (mut exp, mut p) = load_and_plan(file, sets, &registry)?;
        benchtop_studies::ml::device::check_built(exp.backend).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
        if let Some(e) = &executor {
            exp.executor = e.clone();
        }
        experiments.push((exp, p.len()));
        plans.append(&mut p);
    }
    let on_slurm = experiments.iter().filter(|(e, _)| e.executor == Executor::Slurm).count();
    if on_slurm > 0 && on_slurm < experiments.len() {
        bail!("these files ask for both executors; launch the Slurm ones and the local ones separately");
    }
    if on_slurm > 0
        && let Some((exp, _)) = experiments.iter().find(|(e, _)| e.slurm != experiments[0].0.slurm)
    {
        bail!("{}: its [slurm] options differ from the other files'; one launch is one job array: launch it separately", exp.name);
    }
    let slurm = (on_slurm > 0).then(|| (experiments[0].0.name.clone(), experiments[0].0.slurm.clone()));
    let access = access(at)?;
    let jobs = match &access {
        Access::Here(_) => jobs.unwrap_or_else(Runner::default_jobs),
        Access::Holder(remote) => holders_jobs(remote, jobs),
    };
    for (exp, count) in &experiments {
        let repeats = exp.run_count() - count;
        let note = if repeats > 0 {
            format!("; {repeats} sweep points repeat a planned run in every parameter their method reads")
        } else {
            String::new()
        };
        let pace = match (&exp.executor, exp.slurm.throttle) {
            (Executor::Slurm, Some(t)) => format!("on Slurm, {t} tasks at a time"),
            (Executor::Slurm, None) => "on Slurm".to_owned(),
            (Executor::Local, _) => format!("{jobs} jobs at a time"),
        };
        eprintln!("{}: {count} runs ({pace}{note}), store {}", exp.name, access.source().location().display());
    }
    match access {
        Access::Here(store) if slurm.is_some() => {
            let (name, options) = slurm.unwrap_or_default();
            let runner = Runner::new(store.clone(), registry.clone(), jobs);
            let records = runner.enqueue(&plans)?;
            let ids: Vec<_> = records.iter().map(|r| r.id).collect();
            execute_on_slurm(&store, registry, jobs, &name, options, ids, listen)
        }
        Access::Here(store) => {
            let runner = Runner::new(store.clone(), registry.clone(), jobs);
            let records = runner.enqueue(&plans)?;
            let ids: Vec<_> = records.iter().map(|r| r.id).collect();
            execute(&store, &runner, &registry, ids)
        }
        Access::Holder(remote) => {
            let sources = files
                .iter()
                .map(|file| {
                    let source = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                    let git_commit = benchtop_runner::git_commit(file);
                    Ok(ExperimentSource {
                        file: file.display().to_string(),
                        source,
                        sets: sets.to_vec(),
                        git_commit,
                        executor: executor.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            execute_remote(&remote, &LaunchRequest::Experiments(sources), plans.len(), |_| {})
        }
    }
}

/// A launch on Slurm from a process that holds the store itself: it serves the store on TCP
/// for the launch's workers while the launch runs (a fresh token, given to the job in
/// sbatch's environment), then stops. Progress, Ctrl-C (`scancel`) and the summary as local.
fn execute_on_slurm(
    store: &Arc<Store>,
    registry: benchtop_core::Registry,
    jobs: usize,
    name: &str,
    options: benchtop_core::SlurmOptions,
    ids: Vec<RunId>,
    listen: Option<std::net::SocketAddr>,
) -> Result<ExitCode> {
    use benchtop_serve::{Holder, Pool};
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let bar = progress_bar(ids.len() as u64);
    let plain = !std::io::stderr().is_terminal();
    let total = ids.len();
    let observer = {
        let bar = bar.clone();
        move |event: &RunEvent| {
            if let RunEvent::Finished { run, status, error, .. } = event {
                finished_line(&bar, plain, total, *run, *status, error.as_deref());
            }
        }
    };
    let outcome = runtime.block_on(async {
        let token = benchtop_serve::new_token()?;
        let listener = benchtop_serve::bind_tcp(listen.unwrap_or_else(|| ([0, 0, 0, 0], 0).into())).await?;
        let reach = benchtop_serve::reach(&listener, token.clone())?;
        let address = reach.address.clone();
        let pool = Arc::new(Pool::new(store.clone(), registry.clone(), jobs));
        let holder = Arc::new(Holder::new(store.clone(), registry, pool, "benchtop run").with_slurm(Some(reach)));
        let serving = benchtop_serve::serve_tcp(holder.clone(), listener, vec![token])?;
        let slurm = holder.slurm.clone().context("the Slurm launcher")?;
        // Before the bar starts drawing: a plain line, with or without a terminal.
        eprintln!("submitting {} runs as one Slurm job array; its workers report to {address}", ids.len());
        let mut outcome = slurm.start(name, ids.clone(), options, Box::new(observer));
        let outcome = tokio::select! {
            outcome = &mut outcome => outcome,
            _ = tokio::signal::ctrl_c() => {
                let say = "cancelling: scancel stops running tasks at their next step; what they sent is kept";
                if plain { eprintln!("{say}") } else { bar.println(say) }
                let (slurm, store, ids) = (slurm.clone(), store.clone(), ids.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    slurm.cancel(&ids);
                    let _ = store.cancel_queued(&ids);
                })
                .await;
                outcome.await
            }
        };
        drop(serving);
        anyhow::Ok(outcome.unwrap_or_else(|_| Outcome {
            store_errors: vec!["the launch ended without saying how (see the runs' status)".into()],
            ..Outcome::default()
        }))
    })?;
    bar.finish_and_clear();
    let finished: Vec<RunRecord> = ids.iter().filter_map(|id| store.run(*id).ok()).collect();
    Ok(report_outcome(&finished, &outcome, store.path()))
}

/// The holder's pool decides how many runs train at once; say so when `--jobs` asked otherwise.
fn holders_jobs(remote: &Remote, asked: Option<usize>) -> usize {
    let hello = remote.hello();
    if asked.is_some_and(|j| j != hello.jobs) {
        eprintln!(
            "note: the store is held by {} (pid {}), which trains {} runs at a time; --jobs applies only to a store this process opens",
            hello.holder, hello.pid, hello.jobs
        );
    }
    hello.jobs
}

/// `benchtop resume RUN... | --experiment NAME`: queue again the runs that ended without a
/// result (interrupted, failed, cancelled) and run them with their stored parameters and
/// seeds (checked again as a file's would be), each from its last checkpoint where it has one.
pub fn resume(at: &At, runs: &[String], experiment: Option<&str>, jobs: Option<usize>) -> Result<ExitCode> {
    let access = access(at)?;
    let source = access.source();
    let candidates: Vec<RunRecord> = match experiment {
        Some(exp) => {
            let records = source.list_runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(source);
            if records.is_empty() {
                bail!("no runs of experiment `{exp}` in the store at {}", source.location().display());
            }
            records
        }
        None if runs.is_empty() => bail!("name some runs or --experiment"),
        None => runs.iter().map(|r| source.find(r)).collect::<Result<_, _>>()?,
    };
    let wanted: Vec<RunId> = candidates.iter().filter(|r| r.status.can_resume()).map(|r| r.id).collect();
    let done = candidates.iter().filter(|r| r.status == RunStatus::Done).count();
    let location = source.location().display().to_string();
    let say = |ids: usize, from_checkpoint: usize, jobs: usize| {
        eprintln!(
            "resuming {ids} run(s), {from_checkpoint} from a checkpoint and the rest from the beginning ({jobs} jobs at a time); {done} already done, {} left as they are; store {location}",
            candidates.len() - ids - done,
        );
    };
    match &access {
        Access::Here(store) => {
            let jobs = jobs.unwrap_or_else(Runner::default_jobs);
            let registry = benchtop_studies::registry();
            // A run whose Slurm task still trains for a holder that went away is taken back by
            // `benchtop serve`, not trained a second time.
            if let Some(why) = benchtop_serve::slurm::still_on_slurm(store, &wanted) {
                bail!("{why}");
            }
            let runner = Runner::new(store.clone(), registry.clone(), jobs);
            let ids = runner.requeue(&wanted)?;
            // Only checkpoints the runner will go on from: readable, and of this version.
            let from_checkpoint =
                ids.iter().filter(|id| matches!(store.checkpoint(**id), Ok(Some(cp)) if cp.version == benchtop_core::VERSION)).count();
            say(ids.len(), from_checkpoint, jobs);
            if ids.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            execute(store, &runner, &registry, ids)
        }
        Access::Holder(remote) => {
            holders_jobs(remote, jobs);
            // The holder says how many it queued, and from where, in its first line.
            execute_remote(remote, &LaunchRequest::Resume(wanted), 0, |line| {
                if let LaunchLine::Queued { runs, from_checkpoint, jobs } = line {
                    say(runs.len(), *from_checkpoint, *jobs);
                }
            })
        }
    }
}

/// Run queued runs with a progress bar (a line per run without a terminal), Ctrl-C cancelling,
/// then print their summary per sweep point.
/// While it runs, the launch serves the store on its socket, so `benchtop runs`, `show` and
/// the rest work from another terminal (and a launch from there trains beside this one).
fn execute(store: &Arc<Store>, runner: &Runner, registry: &benchtop_core::Registry, ids: Vec<RunId>) -> Result<ExitCode> {
    let bar = progress_bar(ids.len() as u64);
    // Without a terminal (CI, logs, a parent process) the bar is hidden: print a line per run.
    let plain = !std::io::stderr().is_terminal();
    let total = ids.len();
    let observer = {
        let bar = bar.clone();
        move |event: &RunEvent| {
            if let RunEvent::Finished { run, status, error, .. } = event {
                finished_line(&bar, plain, total, *run, *status, error.as_deref());
            }
        }
    };
    let cancel = Cancel::new();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let pool = Arc::new(benchtop_serve::Pool::new(store.clone(), registry.clone(), runner.jobs()));
        let name = format!("`benchtop run` (pid {})", std::process::id());
        let holder = benchtop_serve::Holder::new(store.clone(), registry.clone(), pool.clone(), &name);
        // Without a socket (a path too long for one) the launch goes on; others find it locked.
        let serving = benchtop_serve::serve_unix(Arc::new(holder)).ok();
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
        // Launches sent here from another terminal end before this process does.
        drop(serving);
        if pool.active() > 0 {
            bar.println("waiting for the launches other processes sent to this one");
            pool.wait().await;
        }
        outcome
    });
    bar.finish_and_clear();
    let finished: Vec<RunRecord> = ids.iter().filter_map(|id| store.run(*id).ok()).collect();
    Ok(report_outcome(&finished, &outcome, store.path()))
}

/// [`execute`] through the store's holder: the same progress, Ctrl-C and summary, with the
/// holder training. `on_line` sees each line of the holder's answer too.
fn execute_remote(remote: &Remote, request: &LaunchRequest, planned: usize, mut on_line: impl FnMut(&LaunchLine)) -> Result<ExitCode> {
    let bar = progress_bar(planned as u64);
    let plain = !std::io::stderr().is_terminal();
    let mut ids: Vec<RunId> = Vec::new();
    let mut total = planned;
    let interrupt = {
        let bar = bar.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                bar.println("cancelling: running runs stop at their next step; what they logged is kept");
            } else {
                std::future::pending::<()>().await;
            }
        }
    };
    let outcome = remote.launch(
        request,
        |line| {
            on_line(line);
            match line {
                LaunchLine::Queued { runs, .. } => {
                    ids.clone_from(runs);
                    total = runs.len();
                    bar.set_length(total as u64);
                }
                LaunchLine::Finished { run, status, error } => finished_line(&bar, plain, total, *run, *status, error.as_deref()),
                LaunchLine::Outcome(_) => {}
            }
        },
        interrupt,
    );
    bar.finish_and_clear();
    let outcome = outcome?;
    if ids.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let finished: Vec<RunRecord> = ids.iter().filter_map(|id| remote.find(&id.to_string()).ok()).collect();
    Ok(report_outcome(&finished, &outcome, remote.location()))
}

/// Print a launch's summary per sweep point and its counts; the exit code it deserves.
fn report_outcome(finished: &[RunRecord], outcome: &Outcome, store: &Path) -> ExitCode {
    print::point_table(&summarise_points(finished));
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
        store.display()
    );
    if !outcome.store_errors.is_empty() {
        ExitCode::from(1)
    } else if outcome.cancelled > 0 {
        ExitCode::from(130)
    } else if outcome.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A run of a launch ended: advance the bar, and say so (every run without a terminal, only
/// failures with one).
fn finished_line(bar: &ProgressBar, plain: bool, total: usize, run: RunId, status: RunStatus, error: Option<&str>) {
    bar.inc(1);
    let detail = error.map(|e| format!(": {e}")).unwrap_or_default();
    if plain {
        // Not eprintln!: a closed stderr must not panic the store writer thread.
        let _ = writeln!(std::io::stderr(), "run {run} {status} ({}/{total}){detail}", bar.position());
    } else if error.is_some() {
        bar.println(format!("run {run} {status}{detail}"));
    }
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
fn warn_unreadable(store: &dyn RunSource) {
    let skipped = store.skipped();
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
    at: &At,
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
    let access = access(at)?;
    let store = access.source();
    let records = filter_where(store.list_runs(&RunFilter { experiment, status, ..RunFilter::default() })?, query)?;
    warn_unreadable(store);
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
pub fn show(at: &At, run: &str, json: bool) -> Result<ExitCode> {
    let access = access(at)?;
    let store = access.source();
    let record = store.find(run)?;
    let series: Vec<(String, Vec<(u64, f64)>)> = store
        .series_of(record.id)?
        .into_iter()
        .map(|name| store.points(record.id, &name).map(|points| (name, points)))
        .collect::<Result<_, _>>()?;
    let logs = store.log_lines(record.id)?;
    let artifacts = store.artifact_list(record.id)?;
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
pub fn diff(at: &At, runs: &[String], all: bool) -> Result<ExitCode> {
    let access = access(at)?;
    let store = access.source();
    let records: Vec<RunRecord> = runs.iter().map(|r| store.find(r)).collect::<Result<_, _>>()?;
    print::run_diff(&records, &benchtop_core::table::diff_runs(&records), all);
    Ok(ExitCode::SUCCESS)
}

/// `benchtop delete RUN | --experiment NAME`.
pub fn delete(at: &At, run: Option<&str>, experiment: Option<&str>) -> Result<ExitCode> {
    let access = access(at)?;
    let store = access.source();
    let ids: Vec<RunId> = match (run, experiment) {
        // A full id names a record even when it does not decode, so a damaged one can go.
        (Some(run), _) => match run.parse::<RunId>() {
            Ok(id) => vec![id],
            Err(_) => vec![store.find(run)?.id],
        },
        (None, Some(exp)) => {
            let runs = store.list_runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(store);
            if runs.is_empty() {
                bail!("no runs of experiment `{exp}` in the store at {}", store.location().display());
            }
            runs.iter().map(|r| r.id).collect()
        }
        (None, None) => bail!("name a run or --experiment"),
    };
    let out = match &access {
        Access::Here(store) => store.delete_runs(&ids)?,
        Access::Holder(remote) => remote.delete(&ids)?,
    };
    eprintln!("deleted {} run(s)", out.deleted.len());
    if !out.busy.is_empty() {
        // The store's rule, the app's too: a run the holder is training, or will, stays.
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
pub fn export(at: &At, experiment: Option<String>, query: Option<&str>, format: Table, out: Option<&Path>) -> Result<ExitCode> {
    let access = access(at)?;
    let store = access.source();
    let all = store.list_runs(&RunFilter { experiment: experiment.clone(), ..RunFilter::default() })?;
    warn_unreadable(store);
    if all.is_empty() {
        match experiment {
            Some(e) => bail!("no runs of experiment `{e}` in the store at {}", store.location().display()),
            None => bail!("the store at {} has no runs", store.location().display()),
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
fn select_runs(store: &dyn RunSource, experiment: Option<&str>, runs: &[String], query: Option<&str>) -> Result<Vec<RunRecord>> {
    let records = match (experiment, runs.is_empty(), query) {
        (Some(exp), _, _) => {
            let records = store.list_runs(&RunFilter { experiment: Some(exp.to_owned()), ..RunFilter::default() })?;
            warn_unreadable(store);
            records
        }
        (None, false, _) => runs.iter().map(|r| store.find(r)).collect::<Result<_, _>>()?,
        (None, true, Some(_)) => {
            let records = store.list_runs(&RunFilter::default())?;
            warn_unreadable(store);
            records
        }
        (None, true, None) => bail!("name an --experiment, some runs or a --where query"),
    };
    if records.is_empty() {
        match experiment {
            Some(exp) => bail!("no runs of experiment `{exp}` in the store at {}", store.location().display()),
            None => bail!("the store at {} has no runs", store.location().display()),
        }
    }
    let records = filter_where(records, query)?;
    if records.is_empty() {
        bail!("no runs match --where `{}`", query.unwrap_or_default());
    }
    Ok(records)
}

/// `benchtop report`: the study's default charts, the summary table, parameters, provenance.
pub fn report(at: &At, experiment: Option<&str>, runs: &[String], query: Option<&str>, out: &Path) -> Result<ExitCode> {
    ReportFormat::from_path(out)?;
    let access = access(at)?;
    let store = access.source();
    let records = select_runs(store, experiment, runs, query)?;
    let charts = benchtop_studies::registry().default_charts(records.iter().map(|r| r.study.as_str()));
    let title = match experiment {
        Some(e) => e.to_owned(),
        None => format!("{} selected runs", records.len()),
    };
    let description = records[0].description.clone();
    let input = ReportInput { title, description, records: &records, charts };
    let written = write_report(store, &input, out)?;
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `benchtop compare`: one chart of an experiment's runs.
pub fn compare(
    at: &At,
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
    let access = access(at)?;
    let store = access.source();
    let records = select_runs(store, Some(experiment), &[], query)?;
    let chart = benchtop_charts::prepare(&spec, &records, Some(store))?;
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

/// `benchtop serve`: hold the store and answer its API (its Unix socket; TCP with `--listen`)
/// until Ctrl-C or SIGTERM, training what clients launch in one pool. Launches on Slurm whose
/// holder went away while their tasks still wait or run are taken back: it listens again
/// where their workers report, and follows them to their end.
pub fn serve(at: &At, listen: Option<std::net::SocketAddr>, jobs: Option<usize>) -> Result<ExitCode> {
    use benchtop_serve::{Holder, Pool};
    if at.holder.is_some() {
        bail!("--holder names another process's store; `serve` holds a store folder itself (--store DIR)");
    }
    let dir = Store::resolve_dir(at.dir.as_deref())?;
    if let Some(remote) = Remote::find(&dir)? {
        let hello = remote.hello();
        bail!("the store at {} is already held and served by {} (pid {})", dir.display(), hello.holder, hello.pid);
    }
    let store = Arc::new(Store::open(&dir)?);
    let (orphans, notes) = benchtop_serve::slurm::orphans(&store);
    for note in notes {
        eprintln!("note: {note}");
    }
    let registry = benchtop_studies::registry();
    let jobs = jobs.unwrap_or_else(Runner::default_jobs);
    let pool = Arc::new(Pool::new(store.clone(), registry.clone(), jobs));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut holder = Holder::new(store.clone(), registry, pool.clone(), "benchtop serve");
        // TCP listeners and the tokens each takes: --listen's, and where taken-back workers report.
        let mut listeners: Vec<(tokio::net::TcpListener, Vec<String>, String)> = Vec::new();
        let mut own = None;
        if let Some(addr) = listen {
            let listener = benchtop_serve::bind_tcp(addr).await?;
            let (token, whence) = serve_token(&dir)?;
            own = Some(benchtop_serve::reach(&listener, token.clone())?);
            listeners.push((listener, vec![token], format!("for clients with the token ({whence}); Slurm launches report here")));
        }
        let mut adopted = Vec::new();
        for orphan in orphans {
            let Some(reach) = &orphan.launch.reach else {
                adopted.push(orphan); // reports through its inbox: no listener needed
                continue;
            };
            if let Some((_, tokens, _)) = listeners.iter_mut().find(|(l, _, _)| l.local_addr().ok() == Some(reach.bind)) {
                tokens.push(reach.token.clone());
            } else {
                match benchtop_serve::bind_tcp(reach.bind).await {
                    Ok(listener) => listeners.push((listener, vec![reach.token.clone()], "where the runs taken back report".into())),
                    Err(e) => {
                        eprintln!(
                            "note: Slurm job {}'s workers report to {}, where this holder cannot listen ({e}); its runs stay interrupted",
                            orphan.launch.job, reach.address
                        );
                        continue;
                    }
                }
            }
            adopted.push(orphan);
        }
        // Launches on Slurm report to this holder over TCP when it listens there (`--listen`),
        // else through their inbox: a taken-back launch's address serves only its workers.
        holder = holder.with_slurm(own);
        let holder = Arc::new(holder);
        if let Some(slurm) = &holder.slurm {
            for orphan in adopted {
                let to = orphan.launch.reach.as_ref().map_or_else(|| "their inbox".to_owned(), |r| r.address.clone());
                eprintln!(
                    "taking back {} runs of Slurm job {} (their holder went away); their workers report to {to}",
                    orphan.live.len(),
                    orphan.launch.job,
                );
                // Followed to their end in the background; the runs' status says how they ended.
                drop(slurm.adopt(orphan, "benchtop serve", Box::new(|_| {})));
            }
        }
        let unix = benchtop_serve::serve_unix(holder.clone())?;
        eprintln!("serving the store at {} on {} ({jobs} runs at a time); Ctrl-C stops", dir.display(), unix.at);
        let mut tcp = Vec::new();
        for (listener, tokens, what) in listeners {
            let serving = benchtop_serve::serve_tcp(holder.clone(), listener, tokens)?;
            eprintln!("and on TCP {}, {what}", serving.at);
            tcp.push(serving);
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: runs in flight are cancelled at their next step; what they logged is kept (`benchtop resume` goes on)");
        drop(tcp);
        drop(unix);
        pool.stop().await;
        if let Some(slurm) = &holder.slurm {
            slurm.stop().await;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A TCP holder's token and where it came from: `BENCHTOP_TOKEN`, else a fresh one written
/// to `serve-token` in the store's folder (owner-only) for clients to read.
fn serve_token(dir: &Path) -> Result<(String, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(token) = std::env::var(benchtop_serve::TOKEN_ENV) {
        return Ok((token, format!("from {}", benchtop_serve::TOKEN_ENV)));
    }
    let token = benchtop_serve::new_token()?;
    let path = dir.join("serve-token");
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(token.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok((token, format!("written to {}; give it to clients as {}", path.display(), benchtop_serve::TOKEN_ENV)))
}
