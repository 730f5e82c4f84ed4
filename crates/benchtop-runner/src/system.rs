//! System metrics: the runner's process CPU use and memory, sampled every few seconds into
//! each training run as ordinary series, so the run view plots them beside the curves.
//!
//! Runs of a launch share one process (a thread pool), so the numbers are the process's,
//! not one run's: `system_runs` says how many runs shared it at each sample. Linux only
//! (read from `/proc/self`); elsewhere nothing is sampled. GPU memory is not sampled:
//! burn-wgpu does not report it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use benchtop_core::{RunEvent, RunId};

/// The sampling interval unless set otherwise.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// Setting this to `0` (or `off`) turns system metrics off for the app and the CLI.
pub const SYSTEM_METRICS_ENV: &str = "BENCHTOP_SYSTEM_METRICS";

/// The interval the environment asks for: [`SAMPLE_EVERY`], or none when turned off.
pub fn from_env() -> Option<Duration> {
    setting(std::env::var(SYSTEM_METRICS_ENV).ok().as_deref())
}

fn setting(value: Option<&str>) -> Option<Duration> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("0" | "off" | "false" | "no") => None,
        _ => Some(SAMPLE_EVERY),
    }
}

/// The runs training now and when each started.
#[derive(Clone, Default)]
pub struct Active(Arc<Mutex<HashMap<RunId, Instant>>>);

impl Active {
    fn lock(&self) -> MutexGuard<'_, HashMap<RunId, Instant>> {
        // A poisoned map still holds valid start times.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn start(&self, run: RunId) {
        self.lock().insert(run, Instant::now());
    }

    /// Forget a run before its `Finished` event is sent: the sampler sends while holding the
    /// lock, so no sample of this run can follow its end in the channel.
    pub fn end(&self, run: RunId) {
        self.lock().remove(&run);
    }
}

/// One reading of the process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// CPU time used so far by every thread, user and system, in seconds.
    pub cpu_s: f64,
    /// Resident memory in MiB.
    pub rss_mib: f64,
}

/// Read the process's CPU time and resident memory (`None` where `/proc` is missing).
pub fn read() -> Option<Reading> {
    // Fields 14 and 15 of /proc/self/stat, after the parenthesised command name (which may
    // hold spaces), in USER_HZ ticks: 100 per second on every Linux architecture.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Reading { cpu_s: ticks / 100.0, rss_mib: rss_kib / 1024.0 })
}

/// Sample every `every` until `stop`, sending `system_cpu_percent` (of one core),
/// `system_rss_mib` and `system_runs` to every active run, at the step of its elapsed seconds.
pub fn sample(active: Active, tx: Sender<RunEvent>, every: Duration, stop: Arc<AtomicBool>) {
    // A first reading, so the first sample already has a CPU figure.
    let mut last: Option<(Instant, f64)> = read().map(|r| (Instant::now(), r.cpu_s));
    let mut next = Instant::now() + every;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
            continue;
        }
        // After a stall, the next sample is an interval away, not a burst of missed ones.
        next = now + every;
        // A failed read (a moment without file handles) skips one sample, not the rest.
        let Some(reading) = read() else { continue };
        // CPU ticks are 10 ms: over less than half an interval the rate would be noise.
        let cpu = last
            .filter(|(t, _)| now.duration_since(*t) >= every / 2)
            .map(|(t, c)| 100.0 * (reading.cpu_s - c) / now.duration_since(t).as_secs_f64());
        last = Some((now, reading.cpu_s));
        let runs = active.lock();
        for (run, started) in runs.iter() {
            let step = now.duration_since(*started).as_secs();
            let send = |name: &str, value: f64| {
                let _ = tx.send(RunEvent::Metric { run: *run, name: name.to_owned(), step, value });
            };
            if let Some(cpu) = cpu {
                send("system_cpu_percent", cpu);
            }
            send("system_rss_mib", reading.rss_mib);
            send("system_runs", runs.len() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_back_its_own_cpu_time_and_memory() {
        let first = read();
        if cfg!(target_os = "linux") {
            assert!(first.is_some(), "/proc must be readable on Linux");
        }
        let Some(a) = first else { return };
        // Burn some CPU and hold some memory; both readings must follow.
        let mut v: Vec<u64> = (0..4_000_000).collect();
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(300) {
            v.iter_mut().for_each(|x| *x = x.wrapping_mul(3));
        }
        let b = read().unwrap();
        assert!(b.cpu_s - a.cpu_s >= 0.1, "{a:?} -> {b:?}");
        assert!(b.rss_mib >= 30.0, "32 MB of vector is resident: {b:?}");
        assert!(v[1] != 1);
    }

    #[test]
    fn the_setting_turns_sampling_off_and_is_on_by_default() {
        for off in ["0", "off", " FALSE ", "no"] {
            assert_eq!(setting(Some(off)), None, "{off}");
        }
        for on in [None, Some("1"), Some("on"), Some("")] {
            assert_eq!(setting(on), Some(SAMPLE_EVERY), "{on:?}");
        }
    }
}
