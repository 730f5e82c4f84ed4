//! The crash loop, shared by the suite's 10-kill test and the 100-kill benchmark
//! (`cargo test --workspace --bench crash_loop`): launch, SIGKILL at a random moment, check
//! the store, resume, again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// What a crash loop did.
#[derive(Debug, Default)]
pub struct Figures {
    pub kills: usize,
    /// Runs that ended `done`, over the whole loop.
    pub finished: usize,
    /// Runs that read `interrupted` after a kill (each then resumed).
    pub interrupted: usize,
    interrupted_ids: BTreeSet<String>,
    /// Finished runs missing or changed after a later kill: must be 0.
    pub lost: usize,
    /// Problems seen (a store that did not open, a run left queued or running...).
    pub problems: Vec<String>,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} kills, {} runs finished, {} interrupted and resumed, {} finished runs lost or changed",
            self.kills, self.finished, self.interrupted, self.lost
        )?;
        for p in &self.problems {
            write!(f, "; problem: {p}")?;
        }
        Ok(())
    }
}

fn benchtop(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_benchtop"));
    cmd.arg("--store").arg(store).env_remove("BENCHTOP_STORE").stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// A small, fast ISR experiment: 12 runs of a fraction of a second each.
fn experiment(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("crash.toml");
    let body = "name = \"crash\"\nstudy = \"isr\"\nseeds = 6\n[params]\nsamples_per_env = 200\nsteps = 2000\neval_every = 100\n[sweep]\nmethod = [\"erm\", \"isr_mean\"]\n";
    std::fs::write(&path, body).expect("write the experiment");
    path
}

/// Every run as the store reads it back, or why it could not be read.
fn read_back(store: &Path) -> Result<Vec<Value>, String> {
    let out = benchtop(store).args(["runs", "--json"]).stderr(Stdio::piped()).stdout(Stdio::piped()).output().map_err(|e| e.to_string())?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() || err.contains("skipped") {
        return Err(format!("`benchtop runs` after a kill: {err}"));
    }
    serde_json::from_slice::<Value>(&out.stdout).map_err(|e| e.to_string())?.as_array().cloned().ok_or_else(|| "not a list".into())
}

/// Kill a launch `kills` times at moments drawn from `seed` (0 to `max_ms` after it starts),
/// checking the store after each; then let the last resume finish.
pub fn crash_loop(kills: usize, seed: u64, max_ms: u64) -> Figures {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = dir.path().join("store");
    let exp = experiment(dir.path());
    let mut figures = Figures::default();
    let mut done: BTreeMap<String, Value> = BTreeMap::new();
    // xorshift64: the kill moments, reproducible from the seed.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next_ms = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % max_ms.max(1)
    };
    let launch = |runs: &[Value]| {
        let resumable = runs.iter().any(|r| r["status"] == "interrupted");
        let mut cmd = benchtop(&store);
        if resumable {
            cmd.args(["resume", "--experiment", "crash", "--jobs", "2"]);
        } else {
            // Everything done (or nothing yet): a new launch of the same experiment.
            cmd.args(["run", exp.to_str().unwrap_or_default(), "--jobs", "2"]);
        }
        cmd
    };
    let mut runs: Vec<Value> = Vec::new();
    for _ in 0..kills {
        let mut child = match launch(&runs).spawn() {
            Ok(c) => c,
            Err(e) => {
                figures.problems.push(format!("cannot start benchtop: {e}"));
                break;
            }
        };
        std::thread::sleep(Duration::from_millis(next_ms()));
        let _ = child.kill(); // SIGKILL; it may have ended already
        let _ = child.wait();
        figures.kills += 1;
        runs = match read_back(&store) {
            Ok(r) => r,
            Err(e) => {
                figures.problems.push(e);
                break;
            }
        };
        check(&runs, &mut done, &mut figures);
    }
    // The last resume runs to its end (within 5 minutes: a hang is a problem, not a wait).
    match launch(&runs).spawn() {
        Ok(mut child) => {
            let deadline = std::time::Instant::now() + Duration::from_secs(300);
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => break,
                    Ok(Some(status)) => {
                        figures.problems.push(format!("the final resume exited with {status}"));
                        break;
                    }
                    Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        figures.problems.push("the final resume did not end within 5 minutes".into());
                        break;
                    }
                    Err(e) => {
                        figures.problems.push(format!("the final resume: {e}"));
                        break;
                    }
                }
            }
        }
        Err(e) => figures.problems.push(format!("the final resume: {e}")),
    }
    match read_back(&store) {
        Ok(runs) => {
            check(&runs, &mut done, &mut figures);
            let unfinished = runs.iter().filter(|r| r["status"] != "done").count();
            if unfinished > 0 {
                figures.problems.push(format!("{unfinished} runs did not finish after the last resume"));
            }
        }
        Err(e) => figures.problems.push(e),
    }
    figures.finished = done.len();
    figures
}

/// After a kill: finished runs are all there, unchanged; nothing is queued or running.
fn check(runs: &[Value], done: &mut BTreeMap<String, Value>, figures: &mut Figures) {
    let by_id: BTreeMap<String, &Value> = runs.iter().map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), r)).collect();
    for (id, summary) in done.iter() {
        match by_id.get(id) {
            Some(r) if r["status"] == "done" && &r["summary"] == summary => {}
            _ => figures.lost += 1,
        }
    }
    for r in runs {
        match r["status"].as_str() {
            Some("done") => {
                done.entry(r["id"].as_str().unwrap_or_default().to_owned()).or_insert_with(|| r["summary"].clone());
            }
            Some("interrupted") => {
                figures.interrupted_ids.insert(r["id"].as_str().unwrap_or_default().to_owned());
                figures.interrupted = figures.interrupted_ids.len();
            }
            other => figures.problems.push(format!("run {} reads {other:?} after a kill", r["id"])),
        }
    }
}
