//! The commands the window calls. Each one is a thin call into the Benchtop crates; errors
//! come back as one readable line.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use benchtop_charts::{Size, prepare, prepare_in, render_svg_view};
use benchtop_core::{ChartLayout, ChartSpec, ChartView, ExperimentDoc, Registry, RunEvent, RunId, RunRecord, RunStatus, StudyInfo};
use benchtop_report::{ReportInput, export_any};
use benchtop_runner::{Cancel, Outcome, Runner};
use benchtop_store::{Artifact, LogLine, RunPage, RunQuery, Store};
use serde::Serialize;
use serde_json::Value;
use tauri::{AppHandle, State};
use ts_rs::TS;

use crate::experiments::{self, Check, ExperimentEntry};
use crate::live::{LiveEvents, StatusEvent};

/// Tell the window these runs are queued (a launch, a resume): it drops their old state.
fn announce(handle: &AppHandle, ids: &[RunId], status: RunStatus) {
    use tauri::Emitter;
    for id in ids {
        let _ = handle.emit("run-status", StatusEvent { run: *id, status, error: None, summary: Default::default() });
    }
}

/// The app's state: one store, one runner (which knows the runs in flight).
pub struct App {
    store: Arc<Store>,
    registry: Registry,
    runner: Arc<Runner>,
    user_dir: PathBuf,
    /// Launches run one after another (their runs wait as `queued`), each on the full pool.
    launches: Arc<tokio::sync::Mutex<()>>,
    /// Launches on Slurm (set once the store is served): the app listens on no TCP port, so
    /// their workers report through the launch's inbox on the shared file system.
    pub slurm: std::sync::OnceLock<Arc<benchtop_serve::slurm::SlurmLauncher>>,
}

impl App {
    pub fn new(store: Arc<Store>, user_dir: PathBuf) -> Self {
        let registry = benchtop_studies::registry();
        let runner = Arc::new(Runner::new(store.clone(), registry.clone(), jobs()));
        App { store, registry, runner, user_dir, launches: Arc::new(tokio::sync::Mutex::new(())), slurm: Default::default() }
    }

    /// Run `ids` in the background, streaming their events to the window.
    fn execute(&self, app: AppHandle, ids: Vec<RunId>) {
        execute(app, self.runner.clone(), self.launches.clone(), ids, None);
    }

    /// What the store's API launches with: the app's own launches, so the window follows
    /// runs a terminal launched as it follows its own.
    pub fn launcher(&self, handle: AppHandle) -> AppLauncher {
        AppLauncher { handle, runner: self.runner.clone(), launches: self.launches.clone() }
    }

    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }
}

/// The store's API launches through the app: see [`App::launcher`].
pub struct AppLauncher {
    handle: AppHandle,
    runner: Arc<Runner>,
    launches: Arc<tokio::sync::Mutex<()>>,
}

impl benchtop_serve::Launcher for AppLauncher {
    fn runner(&self) -> &Runner {
        &self.runner
    }
    fn jobs(&self) -> usize {
        jobs()
    }
    fn start(&self, runs: Vec<RunId>, observe: Box<dyn Fn(&RunEvent) + Send>) -> tokio::sync::oneshot::Receiver<Outcome> {
        announce(&self.handle, &runs, RunStatus::Queued);
        execute(self.handle.clone(), self.runner.clone(), self.launches.clone(), runs, Some(observe))
    }
    fn cancel(&self, runs: &[RunId]) -> Result<Vec<RunId>, benchtop_store::StoreError> {
        let dequeued = self.runner.cancel(runs)?;
        announce(&self.handle, &dequeued, RunStatus::Cancelled);
        Ok(dequeued)
    }
}

/// Sees a launch's events besides the window (the store's API streams them to its client).
type AlsoObserve = Option<Box<dyn Fn(&RunEvent) + Send>>;

/// Run `ids` in the background after the launches before them, streaming their events to
/// the window and to `also` (the store's API); the receiver gets the launch's outcome.
fn execute(
    app: AppHandle,
    runner: Arc<Runner>,
    launches: Arc<tokio::sync::Mutex<()>>,
    ids: Vec<RunId>,
    also: AlsoObserve,
) -> tokio::sync::oneshot::Receiver<Outcome> {
    let (done, outcome_rx) = tokio::sync::oneshot::channel();
    {
        let cancel = Cancel::new();
        tauri::async_runtime::spawn(async move {
            let _turn = launches.lock().await;
            let (observer, ticker) = live(&app);
            let outcome = runner
                .execute(ids, cancel, move |e| {
                    observer.lock().unwrap_or_else(|p| p.into_inner()).observe(e);
                    if let Some(also) = &also {
                        also(e);
                    }
                })
                .await;
            ticker.abort();
            store_errors(&app, &outcome);
            let _ = done.send(outcome);
        });
    }
    outcome_rx
}

/// Runs at a time: `BENCHTOP_JOBS`, else one per core (as the CLI's `--jobs`).
pub fn jobs() -> usize {
    std::env::var("BENCHTOP_JOBS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0).unwrap_or_else(Runner::default_jobs)
}

type Reply<T> = Result<T, String>;

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn parse_ids(ids: &[String]) -> Reply<Vec<RunId>> {
    ids.iter().map(|s| s.parse::<RunId>().map_err(|e| format!("run id `{s}`: {e}"))).collect()
}

#[derive(Serialize, TS)]
pub struct Info {
    pub version: &'static str,
    pub store: String,
    pub experiments_dir: String,
    pub jobs: usize,
}

#[tauri::command]
pub fn info(app: State<'_, App>) -> Info {
    Info {
        version: benchtop_core::VERSION,
        store: app.store.path().display().to_string(),
        experiments_dir: app.user_dir.display().to_string(),
        jobs: jobs(),
    }
}

#[derive(Serialize, TS)]
pub struct StudyView {
    #[serde(flatten)]
    pub info: StudyInfo,
    /// The parameters' JSON Schema (schemars): the form is generated from it.
    pub schema: Value,
}

#[tauri::command]
pub fn studies(app: State<'_, App>) -> Vec<StudyView> {
    app.registry.all().iter().map(|s| StudyView { info: s.info(), schema: s.schema() }).collect()
}

#[tauri::command]
pub fn experiments(app: State<'_, App>) -> Vec<ExperimentEntry> {
    experiments::list(&app.user_dir, &app.registry)
}

#[tauri::command]
pub fn open_experiment(app: State<'_, App>, id: String) -> Reply<ExperimentEntry> {
    experiments::list(&app.user_dir, &app.registry).into_iter().find(|e| e.id == id).ok_or_else(|| format!("no experiment `{id}`"))
}

#[tauri::command]
pub fn check_experiment(app: State<'_, App>, doc: ExperimentDoc) -> Check {
    experiments::check(&doc, &app.registry).0
}

/// Save into the user's dir; `current` is the file being edited (it may be overwritten,
/// no other file may).
#[tauri::command]
pub fn save_experiment(app: State<'_, App>, doc: ExperimentDoc, current: Option<String>) -> Reply<String> {
    experiments::save(&doc, &app.user_dir, &app.registry, current.as_deref().map(std::path::Path::new)).map(|p| p.display().to_string())
}

/// Plan, store as `queued`, and start; returns the new run ids.
#[tauri::command]
pub fn launch(handle: AppHandle, app: State<'_, App>, doc: ExperimentDoc, file: Option<String>) -> Reply<Vec<RunId>> {
    let (checked, exp) = experiments::check(&doc, &app.registry);
    let exp = exp.ok_or_else(|| checked.error.map(|e| e.text).unwrap_or_default())?;
    // A backend this build lacks is one message here, not a failed run each.
    benchtop_studies::ml::device::check_built(exp.backend).map_err(text)?;
    let slurm = match exp.executor {
        benchtop_core::Executor::Local => None,
        benchtop_core::Executor::Slurm => {
            let slurm = app.slurm.get().cloned().ok_or_else(|| {
                "this window could not serve its store, so it cannot follow runs on Slurm: launch the file with `benchtop run FILE` instead".to_owned()
            })?;
            // Said before anything is queued.
            slurm.can_report(exp.slurm.report).map_err(|e| format!("{e} (this window listens on no TCP port)"))?;
            Some(slurm)
        }
    };
    let mut plans = exp.plan(&app.registry).map_err(text)?;
    for plan in &mut plans {
        plan.experiment_file = file.clone();
    }
    let records = app.runner.enqueue(&plans).map_err(text)?;
    let ids: Vec<RunId> = records.iter().map(|r| r.id).collect();
    announce(&handle, &ids, RunStatus::Queued);
    match slurm {
        Some(slurm) => execute_on_slurm(handle, slurm, exp.name.clone(), exp.slurm.clone(), ids.clone()),
        None => app.execute(handle, ids.clone()),
    }
    Ok(ids)
}

/// Submit `ids` as one Slurm job array and stream what its workers send to the window, as
/// for a local launch.
fn execute_on_slurm(
    app: AppHandle,
    slurm: Arc<benchtop_serve::slurm::SlurmLauncher>,
    name: String,
    options: benchtop_core::SlurmOptions,
    ids: Vec<RunId>,
) {
    tauri::async_runtime::spawn(async move {
        let (events, ticker) = live(&app);
        let outcome = slurm.start(&name, ids, options, Box::new(move |e| events.lock().unwrap_or_else(|p| p.into_inner()).observe(e)));
        let outcome = outcome.await.unwrap_or_default();
        ticker.abort();
        store_errors(&app, &outcome);
    });
}

/// Take back the launches on Slurm whose holder went away (this app closed, or a terminal's
/// `benchtop run` killed) and whose workers report through the inbox: their runs go on
/// showing live here. Launches reporting over TCP need a listener: `benchtop serve` takes
/// those back. Call inside the app's runtime.
pub fn take_back(app: &AppHandle, slurm: &Arc<benchtop_serve::slurm::SlurmLauncher>, store: &Store) {
    let (orphans, notes) = benchtop_serve::slurm::orphans(store);
    for note in notes {
        eprintln!("benchtop-app: {note}");
    }
    for orphan in orphans {
        if orphan.launch.reach.is_some() {
            eprintln!(
                "benchtop-app: Slurm job {}'s workers report over TCP; `benchtop serve` (with this window closed) takes it back",
                orphan.launch.job
            );
            continue;
        }
        let (events, ticker) = live(app);
        let outcome = slurm.adopt(orphan, "the app", Box::new(move |e| events.lock().unwrap_or_else(|p| p.into_inner()).observe(e)));
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let outcome = outcome.await.unwrap_or_default();
            ticker.abort();
            store_errors(&app, &outcome);
        });
    }
}

/// The window's live events, and the timer's half of their batching rule: a burst followed
/// by silence still reaches the window within 100 ms.
fn live(app: &AppHandle) -> (Arc<Mutex<LiveEvents>>, tauri::async_runtime::JoinHandle<()>) {
    let events = Arc::new(Mutex::new(LiveEvents::new(app.clone())));
    let ticker = {
        let events = events.clone();
        tauri::async_runtime::spawn(async move {
            loop {
                tokio::time::sleep(crate::live::TICK).await;
                events.lock().unwrap_or_else(|p| p.into_inner()).tick(std::time::Instant::now());
            }
        })
    };
    (events, ticker)
}

/// The store could not record something (a full disk): the launch stopped; say so.
fn store_errors(app: &AppHandle, outcome: &Outcome) {
    use tauri::Emitter;
    if let Some(first) = outcome.store_errors.first() {
        let text = format!(
            "The store could not record this launch, so it stopped ({first}). What was recorded is kept; {} run(s) ended unrecorded and read interrupted: free space, then resume them.",
            outcome.unrecorded
        );
        let _ = app.emit("store-error", text);
    }
}

/// Stop runs: a training run stops at its next check; a run still waiting in the queue is
/// marked cancelled at once (the runner skips it), so it can be deleted or resumed now.
#[tauri::command]
pub fn cancel_runs(handle: AppHandle, app: State<'_, App>, ids: Vec<String>) -> Reply<()> {
    let ids = parse_ids(&ids)?;
    // Runs on Slurm: scancel their tasks (they end `cancelled` once their workers stop).
    if let Some(slurm) = app.slurm.get() {
        slurm.cancel(&ids);
    }
    let dequeued = app.runner.cancel(&ids).map_err(text)?;
    announce(&handle, &dequeued, RunStatus::Cancelled);
    Ok(())
}

/// Start cancelled, interrupted or failed runs again with the same parameters and seed, each
/// from its last checkpoint where its study saved one.
#[tauri::command]
pub fn resume_runs(handle: AppHandle, app: State<'_, App>, ids: Vec<String>) -> Reply<Vec<RunId>> {
    let ids = parse_ids(&ids)?;
    // Never train a run twice: its Slurm launch may still go on, here or for a holder gone.
    if let Some(run) = ids.iter().find(|id| app.slurm.get().is_some_and(|s| s.follows(**id))) {
        return Err(format!("run {run} is still training on Slurm for this window"));
    }
    if let Some(why) = benchtop_serve::slurm::still_on_slurm(&app.store, &ids) {
        return Err(why);
    }
    let again = app.runner.requeue(&ids).map_err(text)?;
    if again.is_empty() {
        return Err("none of these runs can be resumed: only cancelled, interrupted or failed runs can".into());
    }
    announce(&handle, &again, RunStatus::Queued);
    app.execute(handle, again.clone());
    Ok(again)
}

// async: runs off the main thread, so a large store or report never freezes the window.
#[tauri::command(async)]
pub fn list_runs(app: State<'_, App>, query: RunQuery) -> Reply<RunPage> {
    app.store.run_page(&query).map_err(text)
}

/// The runs a query matches, grouped: by `by`, or by every swept parameter but the seed.
#[derive(Serialize, TS)]
pub struct GroupPage {
    /// The fields grouped by (the defaults when none were asked for).
    pub by: Vec<String>,
    pub groups: Vec<benchtop_core::table::RunGroup>,
}

// async: runs off the main thread, so a large store never freezes the window.
#[tauri::command(async)]
pub fn group_runs(app: State<'_, App>, query: RunQuery, by: Option<Vec<String>>) -> Reply<GroupPage> {
    let all = RunQuery { offset: 0, limit: 0, ..query };
    let records = app.store.run_page(&all).map_err(text)?.rows;
    let by: Vec<String> = by.unwrap_or_default().into_iter().map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
    let by = if by.is_empty() { benchtop_core::table::default_group_keys(&records) } else { by };
    Ok(GroupPage { groups: benchtop_core::table::group_runs(&records, &by), by })
}

#[tauri::command]
pub fn update_run_notes(app: State<'_, App>, id: String, tags: Vec<String>, notes: String) -> Reply<RunRecord> {
    let id = parse_ids(&[id])?[0];
    let tags: Vec<String> = tags.into_iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    app.store
        .update_run(id, |r| {
            r.tags = tags;
            r.notes = notes;
        })
        .map_err(text)
}

/// Delete runs and all their data; a run still training is left alone and named.
#[tauri::command]
pub fn delete_runs(app: State<'_, App>, ids: Vec<String>) -> Reply<usize> {
    let out = app.store.delete_runs(&parse_ids(&ids)?).map_err(text)?;
    if out.busy.is_empty() {
        Ok(out.deleted.len())
    } else {
        let busy: Vec<String> = out.busy.iter().map(RunId::to_string).collect();
        Err(format!("deleted {}; cancel these first, they are running or queued: {}", out.deleted.len(), busy.join(", ")))
    }
}

#[derive(Serialize, TS)]
pub struct RunDetail {
    pub record: RunRecord,
    pub series: Vec<String>,
    pub logs: Vec<LogLine>,
    pub artifacts: Vec<Artifact>,
}

// async: runs off the main thread, so a large store or report never freezes the window.
#[tauri::command(async)]
pub fn run_detail(app: State<'_, App>, id: String) -> Reply<RunDetail> {
    let id = parse_ids(&[id])?[0];
    let store = &app.store;
    Ok(RunDetail {
        record: store.run(id).map_err(text)?,
        series: store.series_names(id).map_err(text)?,
        logs: store.logs(id).map_err(text)?,
        artifacts: store.artifacts(id).map_err(text)?,
    })
}

/// The artifact a run recorded under `name`, if any.
fn artifact_named(app: &App, id: RunId, name: &str) -> Reply<Option<Artifact>> {
    Ok(app.store.artifacts(id).map_err(text)?.into_iter().find(|a| a.name == name))
}

/// The largest image artifact the run view shows inline.
const MAX_IMAGE_BYTES: u64 = 16 << 20;

/// One of a run's image artifacts (PNG, JPEG or SVG) as a `data:` URL, so the run view shows a
/// study's figures under the window's content security policy (images from `data:` only).
/// Only a file the run recorded under `name` is read, never a path from the window.
// async: reading and encoding a large figure never freezes the window.
#[tauri::command(async)]
pub fn artifact_image(app: State<'_, App>, id: String, name: String) -> Reply<String> {
    use base64::Engine as _;
    let id = parse_ids(&[id])?[0];
    let artifact = artifact_named(&app, id, &name)?.ok_or_else(|| format!("run {id} has no artifact named {name}"))?;
    let ext = artifact.path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let mime = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        _ => return Err(format!("{name} is not an image (png, jpg or svg)")),
    };
    let size = std::fs::metadata(&artifact.path).map_err(|e| format!("{}: {e}", artifact.path.display()))?.len();
    if size > MAX_IMAGE_BYTES {
        return Err(format!("{name} is {size} bytes, over the {MAX_IMAGE_BYTES} the run view shows; open {}", artifact.path.display()));
    }
    let bytes = std::fs::read(&artifact.path).map_err(|e| format!("{}: {e}", artifact.path.display()))?;
    Ok(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// Ask a finished DPA run's trained policy for `angle_deg` on `question`: `n` sampled
/// responses with their length (and gold helpfulness when the question is the testbed's).
// async: sampling takes a moment; the window stays responsive.
#[tauri::command(async)]
pub fn steer_policy(
    app: State<'_, App>,
    id: String,
    question: String,
    angle_deg: f64,
    n: Option<usize>,
    seed: Option<u64>,
) -> Reply<Vec<benchtop_studies::alignment::dpa::Steered>> {
    let id = parse_ids(&[id])?[0];
    let file = benchtop_studies::alignment::dpa::POLICY_FILE;
    let weights = artifact_named(&app, id, file)?
        .ok_or_else(|| format!("run {id} has no trained policy ({file}); only finished dpa runs can be steered"))?;
    benchtop_studies::alignment::dpa::steer(&weights.path, &question, angle_deg, n.unwrap_or(4), 1.0, seed.unwrap_or(0)).map_err(text)
}

/// One metric series of a run, in step order, downsampled (LTTB, extremes kept) to at most
/// `max_points` (default 2,000) so a 100k-step series stays cheap to send.
// async: runs off the main thread, so a large store or report never freezes the window.
#[tauri::command(async)]
pub fn run_series(app: State<'_, App>, id: String, name: String, max_points: Option<usize>) -> Reply<Vec<(u64, f64)>> {
    let id = parse_ids(&[id])?[0];
    let points = app.store.series(id, &name).map_err(text)?;
    let xs: Vec<f64> = points.iter().map(|p| p.0 as f64).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let keep = benchtop_charts::downsample::lttb_indices(&xs, &ys, max_points.unwrap_or(2000).max(3));
    Ok(keep.into_iter().map(|i| points[i]).collect())
}

fn records(app: &App, ids: &[String]) -> Reply<Vec<RunRecord>> {
    parse_ids(ids)?.into_iter().map(|id| app.store.run(id).map_err(text)).collect()
}

/// The given runs side by side, field by field, each field marked whether they differ.
#[tauri::command(async)]
pub fn diff_runs(app: State<'_, App>, ids: Vec<String>) -> Reply<Vec<benchtop_core::table::DiffRow>> {
    Ok(benchtop_core::table::diff_runs(&records(&app, &ids)?))
}

/// Draw a chart spec over the given runs as SVG (the app shows it as an image).
// async: runs off the main thread, so a large store or report never freezes the window.
#[tauri::command(async)]
pub fn render_chart(
    app: State<'_, App>,
    spec: ChartSpec,
    ids: Vec<String>,
    width: Option<u32>,
    height: Option<u32>,
    view: Option<ChartView>,
) -> Reply<DrawnChart> {
    let records = records(&app, &ids)?;
    let view = view.unwrap_or_default();
    // Curves zoomed in are read again over the steps shown, so they keep their detail.
    let window = if spec.kind == benchtop_core::ChartKind::Curves { view.x } else { None };
    let chart = prepare_in(&spec, &records, Some(app.store.as_ref()), window).map_err(text)?;
    let mut size = Size::default();
    if let (Some(w), Some(h)) = (width, height) {
        size = Size { width: w.clamp(320, 2400), height: h.clamp(240, 1800) };
    }
    let (svg, layout) = render_svg_view(&chart, size, &view).map_err(text)?;
    let series = chart
        .series
        .iter()
        .map(|s| {
            let (r, g, b) = benchtop_charts::series_rgb(s.colour);
            DrawnSeries {
                label: s.label.clone(),
                colour: format!("#{r:02x}{g:02x}{b:02x}"),
                runs: s.runs.iter().map(RunId::to_string).collect(),
                hidden: view.hidden.contains(&s.label),
                points: s.points.iter().map(|p| DrawnPoint { x: p.x, y: p.y, ci: p.y_ci, n: p.n }).collect(),
            }
        })
        .collect();
    Ok(DrawnChart { svg, layout, series, categories: chart.categories, x_label: chart.x_label, y_label: chart.y_label })
}

/// A chart as the window shows it: the picture, where its plot and legend are, and what it
/// drew (so hovering reads the nearest point, a click opens a run, a box zooms).
#[derive(Serialize, TS)]
pub struct DrawnChart {
    pub svg: String,
    pub layout: ChartLayout,
    pub series: Vec<DrawnSeries>,
    /// Bars: the label of each x position.
    pub categories: Vec<String>,
    pub x_label: String,
    pub y_label: String,
}

/// One series as drawn.
#[derive(Serialize, TS)]
pub struct DrawnSeries {
    pub label: String,
    /// Its colour in the picture (#rrggbb).
    pub colour: String,
    /// The runs it draws: one for a single run's line.
    pub runs: Vec<String>,
    /// Left out by the view (listed, greyed, in the legend).
    pub hidden: bool,
    pub points: Vec<DrawnPoint>,
}

/// A drawn point: the mean over `n` runs, with its 95% CI half-width.
#[derive(Serialize, TS)]
pub struct DrawnPoint {
    pub x: f64,
    pub y: f64,
    pub ci: Option<f64>,
    pub n: u32,
}

/// Write the numbers a chart draws over the given runs to `path` (the user's choice in a save
/// dialog), as CSV or as a pgfplots picture by its extension; returns the path written.
// async: runs off the main thread, so a large store never freezes the window.
#[tauri::command(async)]
pub fn save_chart_data(app: State<'_, App>, spec: ChartSpec, ids: Vec<String>, path: String) -> Reply<String> {
    let records = records(&app, &ids)?;
    let chart = prepare(&spec, &records, Some(app.store.as_ref())).map_err(text)?;
    benchtop_report::pgfplots::write_chart_data(&chart, std::path::Path::new(&path))?;
    Ok(path)
}

/// Write a report (.html, .md, .tex) or a table (.csv, .json, .parquet) of the given runs,
/// with the given charts (the studies' defaults when none).
// async: runs off the main thread, so a large store or report never freezes the window.
#[tauri::command(async)]
pub fn export(app: State<'_, App>, ids: Vec<String>, path: String, title: String, charts: Option<Vec<ChartSpec>>) -> Reply<Vec<String>> {
    let records = records(&app, &ids)?;
    let charts = charts.unwrap_or_else(|| app.registry.default_charts(records.iter().map(|r| r.study.as_str())));
    let description = records.first().map(|r| r.description.clone()).unwrap_or_default();
    let input = ReportInput { title, description, records: &records, charts };
    let written = export_any(app.store.as_ref(), &input, std::path::Path::new(&path)).map_err(text)?;
    Ok(written.into_iter().map(|p| p.display().to_string()).collect())
}
