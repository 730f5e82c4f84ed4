//! `benchtop-app`: the desktop app. A thin Tauri 2 shell: every command calls the Benchtop
//! crates (store, runner, studies, charts, report) and returns plain data; the runner lives
//! in this process, off the UI thread, and streams run events to the window.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod bindings;
mod commands;
mod experiments;
mod live;

use std::sync::Arc;

use benchtop_store::Store;

/// mimalloc instead of glibc's malloc: burn allocates a fresh buffer for every op's output and
/// glibc hands large ones back to the kernel each time, so every training step paid page
/// faults; the throughput benchmark trained about 11% faster with it (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // The app stays open: memory its runs freed goes back to the kernel once unused for 10 s
    // (kept across a sweep's runs, not held after it). First, before any thread starts.
    benchtop_studies::ml::memory::hold_freed_memory(benchtop_studies::ml::memory::FreedMemory::ReturnedAfter(
        std::time::Duration::from_secs(10),
    ));
    if let Err(e) = run() {
        eprintln!("benchtop-app: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> anyhow::Result<()> {
    // Like the CLI: BENCHTOP_STORE, else the platform data dir.
    let store_dir = Store::resolve_dir(None)?;
    let store = Arc::new(Store::open(&store_dir)?);
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        anyhow::bail!(
            "no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset); run it in a desktop session or under xvfb-run"
        );
    }
    let user_experiments = experiments::user_dir();
    let app = commands::App::new(store, user_experiments);
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            serve(app);
            Ok(())
        })
        .manage(app)
        .invoke_handler(tauri::generate_handler![
            commands::info,
            commands::studies,
            commands::experiments,
            commands::open_experiment,
            commands::check_experiment,
            commands::save_experiment,
            commands::launch,
            commands::cancel_runs,
            commands::resume_runs,
            commands::list_runs,
            commands::group_runs,
            commands::update_run_notes,
            commands::delete_runs,
            commands::run_detail,
            commands::run_series,
            commands::artifact_image,
            commands::steer_policy,
            commands::render_chart,
            commands::save_chart_data,
            commands::diff_runs,
            commands::export,
        ])
        .run(tauri::generate_context!())?;
    Ok(())
}

/// Serving the store while the app holds it.
struct Served(#[allow(dead_code)] benchtop_serve::Serving);

/// Serve the store on its socket while the app holds it, so `benchtop` in a terminal reads
/// and launches through the app instead of finding the store locked. Without it (a folder
/// where a socket cannot be made) the app still works; a terminal then gets the lock's error.
fn serve(app: &mut tauri::App) {
    use tauri::Manager;
    let state = app.state::<commands::App>();
    let launcher = Arc::new(state.launcher(app.handle().clone()));
    let holder = benchtop_serve::Holder::new(state.store(), state.registry(), launcher, "the app");
    // The app listens on no TCP port: its launches on Slurm report through their inbox.
    let holder = holder.with_slurm(None);
    if let Some(slurm) = &holder.slurm {
        let _ = state.slurm.set(slurm.clone());
        let (handle, slurm, store) = (app.handle().clone(), slurm.clone(), state.store());
        // Off the main thread: `squeue` may be slow to answer, and the window opens meanwhile.
        tauri::async_runtime::spawn_blocking(move || commands::take_back(&handle, &slurm, &store));
    }
    let holder = Arc::new(holder);
    // Inside the app's runtime: serving spawns its accept loop there.
    match tauri::async_runtime::block_on(async move { benchtop_serve::serve_unix(holder) }) {
        Ok(serving) => {
            app.manage(Served(serving));
        }
        Err(e) => eprintln!("benchtop-app: {e}; other Benchtop processes cannot reach this store while the app holds it"),
    }
}
