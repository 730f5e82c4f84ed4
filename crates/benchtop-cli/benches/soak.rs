//! A soak: eight runs at a time for ten minutes (every quick preset that needs no download,
//! launched again and again), while a reader pages the runs table, reads series and groups
//! runs as the app does, all in one process over one store. Prints runs finished, reads and
//! their latency, and resident memory (peak, and after the first and the last launch); fails
//! on a failed run, a stall of two minutes (a deadlock) or memory that keeps growing.
//!
//! `cargo test --workspace --bench soak [-- SECONDS]` (default 600). Not in CI: it is long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benchtop_core::Experiment;
use benchtop_runner::{Cancel, Runner};
use benchtop_store::{RunFilter, RunQuery, Store};

// The allocator the `benchtop` binary and the app run with: memory is measured as users get
// it (under glibc's malloc the same soak kept 1.35 GiB resident in its per-thread arenas).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PRESETS: [&str; 7] = [
    "isr-quick.toml",
    "goat-quick.toml",
    "cfa-quick.toml",
    "forgetting-quick.toml",
    "merging-quick.toml",
    "lightfield-quick.toml",
    "dpa-quick.toml",
];
const JOBS: usize = 8;
const STALL: Duration = Duration::from_secs(120);

/// A field of `/proc/self/status` in MiB (VmRSS, VmHWM).
fn memory_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() { f64::NAN } else { sorted[((sorted.len() - 1) as f64 * q).round() as usize] }
}

fn main() {
    let seconds: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(600);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = Arc::new(Store::open(dir.path()).expect("a fresh store"));
    let registry = benchtop_studies::registry();
    let plans: Vec<_> = PRESETS
        .iter()
        .flat_map(|file| {
            let preset = benchtop_studies::presets().iter().find(|p| p.file == *file).expect("a shipped preset");
            Experiment::parse(preset.source, file).and_then(|e| e.plan(&registry)).expect("a valid preset")
        })
        .collect();
    let runner = Runner::new(store.clone(), registry, JOBS);
    let events = Arc::new(AtomicU64::new(0));
    let last_event = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    // The reader: what the app's Runs and Compare screens ask while runs train.
    let reader = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let page = store.run_page(&RunQuery { limit: 200, ..RunQuery::default() });
                let ok = match page {
                    Ok(page) => {
                        if let Some(run) = page.rows.first() {
                            for name in store.series_names(run.id).unwrap_or_default() {
                                errors += usize::from(store.series(run.id, &name).is_err());
                            }
                        }
                        let all = store.runs(&RunFilter::default()).unwrap_or_default();
                        let groups = benchtop_core::table::group_runs(&all, &["method".to_owned()]);
                        !groups.is_empty() || all.is_empty()
                    }
                    Err(_) => false,
                };
                errors += usize::from(!ok);
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                std::thread::sleep(Duration::from_millis(100));
            }
            (latencies, errors)
        })
    };
    // The watchdog: no event for two minutes while runs train is a deadlock.
    {
        let (last_event, stop) = (last_event.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(5));
                let idle = start.elapsed().saturating_sub(Duration::from_millis(last_event.load(Ordering::Relaxed)));
                if idle > STALL && !stop.load(Ordering::Relaxed) {
                    println!("soak: no event for {} s: a deadlock?", idle.as_secs());
                    std::process::exit(1);
                }
            }
        });
    }
    let rss_peak_sampled = Arc::new(AtomicU64::new(0));
    {
        let (peak, stop) = (rss_peak_sampled.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(memory_mib("VmRSS:") as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
    }

    let tokio = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let (mut launches, mut done, mut failed, mut rss_after) = (0usize, 0usize, 0usize, Vec::new());
    while start.elapsed() < Duration::from_secs(seconds) {
        let records = runner.enqueue(&plans).expect("queued runs");
        let ids = records.iter().map(|r| r.id).collect();
        let (events, last_event) = (events.clone(), last_event.clone());
        let outcome = tokio.block_on(runner.execute(ids, Cancel::new(), move |_| {
            events.fetch_add(1, Ordering::Relaxed);
            last_event.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
        }));
        launches += 1;
        done += outcome.done;
        failed += outcome.failed + outcome.cancelled + outcome.unrecorded + outcome.store_errors.len();
        rss_after.push(memory_mib("VmRSS:"));
        println!(
            "soak: launch {launches} ended at {:.0} s: {} done, {} not; RSS {:.0} MiB",
            start.elapsed().as_secs_f64(),
            outcome.done,
            records.len() - outcome.done,
            rss_after.last().copied().unwrap_or(f64::NAN)
        );
    }
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, read_errors) = reader.join().expect("the reader");
    latencies.sort_by(f64::total_cmp);
    let first = rss_after.first().copied().unwrap_or(f64::NAN);
    let last = rss_after.last().copied().unwrap_or(f64::NAN);
    let middle = rss_after.get(launches / 2).copied().unwrap_or(first);
    println!(
        "soak: {:.0} s, {JOBS} runs at a time, {launches} launches: {done} runs done, {failed} not; {} events; {} reads (page of 200, series, group-by), median {:.1} ms, p99 {:.1} ms, {read_errors} errors; RSS peak {:.0} MiB (sampled {} MiB), {first:.0} MiB after the first launch, {middle:.0} after the middle one, {last:.0} MiB after the last",
        start.elapsed().as_secs_f64(),
        events.load(Ordering::Relaxed),
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        memory_mib("VmHWM:"),
        rss_peak_sampled.load(Ordering::Relaxed),
    );
    // Memory is bounded when it levels off: the last launch ends within a quarter (plus
    // 64 MiB) of where the middle one ended. A leak of a fixed amount per launch does not.
    let grew = launches > 2 && last > middle * 1.25 + 64.0;
    if failed > 0 || read_errors > 0 || grew {
        println!("soak: FAILED ({failed} runs not done, {read_errors} read errors, memory grew: {grew})");
        std::process::exit(1);
    }
}
