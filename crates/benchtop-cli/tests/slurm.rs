//! Launches on a real single-node Slurm cluster (`scripts/slurm-cluster.sh`: Debian's munge,
//! slurmctld and slurmd, started for this test and stopped after). One test, one cluster:
//! the same results as a local launch (workers reporting over TCP, and through the inbox),
//! Ctrl-C (scancel), a worker killed with SIGKILL, and the holder killed mid-launch and taken
//! over by `benchtop serve`.
//! Where the cluster cannot start, the test says why in one line and returns; `scripts/test.sh`
//! prints that line before the suite, so a machine without Slurm never passes silently.

#![allow(clippy::unwrap_used)] // helpers of a test file: a panic is the failure message

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;
use common::{repo_file, spawn_until, text};

/// A running cluster; stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    conf: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(repo_file("scripts/slurm-cluster.sh")).arg("stop").arg(self.dir.path()).output();
    }
}

fn cluster() -> Option<Cluster> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash").arg(repo_file("scripts/slurm-cluster.sh")).arg("start").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.code() == Some(3) {
        eprintln!("skipped: {}", stderr.trim());
        return None;
    }
    assert!(out.status.success(), "the cluster did not start: {stderr}");
    let conf = String::from_utf8_lossy(&out.stdout).trim().strip_prefix("export SLURM_CONF=").unwrap().to_owned();
    Some(Cluster { dir, conf })
}

impl Cluster {
    fn benchtop(&self, store: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_benchtop"));
        // Local runs sample system metrics every 2 s and workers do not: compare the studies' numbers.
        cmd.arg("--store").arg(store).env("SLURM_CONF", &self.conf).env("BENCHTOP_SYSTEM_METRICS", "0");
        for var in ["BENCHTOP_STORE", "BENCHTOP_HOLDER", "BENCHTOP_TOKEN"] {
            cmd.env_remove(var);
        }
        cmd
    }

    fn run(&self, store: &Path, args: &[&str]) -> Output {
        self.benchtop(store).args(args).output().unwrap()
    }

    fn runs(&self, store: &Path) -> Vec<Value> {
        let out = self.run(store, &["runs", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Whether any task of the cluster is still pending or running.
    fn busy(&self) -> bool {
        let out = Command::new("squeue").args(["--noheader", "--format=%i"]).env("SLURM_CONF", &self.conf).output().unwrap();
        !String::from_utf8_lossy(&out.stdout).trim().is_empty()
    }
}

/// An ISR experiment on Slurm: `seeds` x 2 methods, `steps` steps each.
fn experiment(dir: &Path, name: &str, seeds: u32, steps: u32, throttle: u32) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        "name = \"{name}\"\nstudy = \"isr\"\nseeds = {seeds}\nexecutor = \"slurm\"\n[slurm]\ncpus = 1\nmem = \"1G\"\ntime = \"10\"\nthrottle = {throttle}\n[params]\nsamples_per_env = 200\nsteps = {steps}\neval_every = 25\n[sweep]\nmethod = [\"erm\", \"isr_mean\"]\n"
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// Start `benchtop run` and wait until its stderr has a line containing `wanted`.
fn start_until(cluster: &Cluster, store: &Path, exp: &Path, wanted: &'static str) -> std::process::Child {
    spawn_until(cluster.benchtop(store).args(["run", exp.to_str().unwrap()]), wanted, 1, Duration::from_secs(180))
}

#[test]
fn a_launch_on_slurm_matches_a_local_one_and_survives_cancel_kill_and_a_lost_holder() {
    let Some(cluster) = cluster() else { return };
    let dir = tempfile::tempdir().unwrap();

    // 1. The same file through sbatch and locally: the same numbers, bit for bit.
    let exp = experiment(dir.path(), "on-slurm", 2, 100, 4);
    let (on_slurm, here) = (dir.path().join("slurm-store"), dir.path().join("local-store"));
    let out = cluster.run(&on_slurm, &["run", exp.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("submitting 4 runs as one Slurm job array"), "{}", text(&out.stderr));
    let out = cluster.run(&here, &["run", exp.to_str().unwrap(), "--executor", "local"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let by_point = |store: &Path| -> BTreeMap<(String, u64), (Value, Value)> {
        cluster
            .runs(store)
            .into_iter()
            .map(|r| {
                let shown = cluster.run(store, &["show", r["id"].as_str().unwrap(), "--json"]);
                let detail: Value = serde_json::from_slice(&shown.stdout).unwrap();
                assert_eq!(r["status"], "done", "{r}");
                ((r["method"].as_str().unwrap().to_owned(), r["seed"].as_u64().unwrap()), (r["summary"].clone(), detail["series"].clone()))
            })
            .collect()
    };
    let (a, b) = (by_point(&on_slurm), by_point(&here));
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "summaries and every series point agree with the local launch");

    // The same file with its workers reporting through the launch's inbox on the shared file
    // system (a cluster with no route back): the same numbers, and every parcel read.
    let inboxed = dir.path().join("inboxed.toml");
    std::fs::write(&inboxed, std::fs::read_to_string(&exp).unwrap().replace("[slurm]\n", "[slurm]\nreport = \"inbox\"\n")).unwrap();
    let via_inbox = dir.path().join("inbox-store");
    let out = cluster.run(&via_inbox, &["run", inboxed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(by_point(&via_inbox), b, "through the inbox: summaries and every series point agree with the local launch");
    let launches: Vec<PathBuf> = std::fs::read_dir(via_inbox.join("slurm")).unwrap().map(|d| d.unwrap().path()).collect();
    assert_eq!(launches.len(), 1);
    let script = std::fs::read_to_string(launches[0].join("job.sh")).unwrap();
    assert!(script.contains("--inbox") && !script.contains("--holder"), "{script}");
    let left: Vec<_> = std::fs::read_dir(launches[0].join("inbox"))
        .unwrap()
        .flat_map(|run| std::fs::read_dir(run.unwrap().path().join("out")).unwrap())
        .collect();
    assert!(left.is_empty(), "parcels left unread: {left:?}");

    // 2. Ctrl-C mid-launch: scancel stops the running task and the pending ones never start.
    let long = experiment(dir.path(), "cancelled", 3, 4000, 1);
    let store = dir.path().join("cancel-store");
    let mut child = start_until(&cluster, &store, &long, " done (1/6)");
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let runs = cluster.runs(&store);
    let count = |runs: &[Value], s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(count(&runs, "done") >= 1);
    assert!(count(&runs, "cancelled") >= 4, "{runs:?}");
    assert_eq!(count(&runs, "done") + count(&runs, "cancelled"), 6);
    let since = std::time::Instant::now();
    while cluster.busy() && since.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!cluster.busy(), "scancel left tasks behind");

    // 3. A worker killed outright after it sent a checkpoint: its run ends interrupted with
    // what it sent kept, and resumes from that checkpoint to the numbers of a run never killed.
    let killed_exp = dir.path().join("killed.toml");
    std::fs::write(
        &killed_exp,
        "name = \"killed\"\nstudy = \"online_rlhf\"\nseeds = 1\nexecutor = \"slurm\"\n[params]\nmethod = \"iterative_dpo\"\niterations = 3\nsteps_per_iteration = 10\nsft_epochs = 8\neval_samples = 2\n",
    )
    .unwrap();
    let (straight, store) = (dir.path().join("straight-store"), dir.path().join("kill-store"));
    let out = cluster.run(&straight, &["run", killed_exp.to_str().unwrap(), "--executor", "local"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The killed launch shares the first store's cache: the SFT policy is trained once.
    std::fs::create_dir_all(&store).unwrap();
    std::os::unix::fs::symlink(straight.join("cache"), store.join("cache")).unwrap();
    let mut child =
        cluster.benchtop(&store).args(["run", killed_exp.to_str().unwrap()]).stderr(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    let checkpoint = || -> Option<PathBuf> {
        let runs = std::fs::read_dir(store.join("artifacts")).ok()?;
        runs.filter_map(Result::ok).map(|e| e.path().join("checkpoint.bin")).find(|p| p.exists())
    };
    let since = std::time::Instant::now();
    while checkpoint().is_none() {
        assert!(child.try_wait().unwrap().is_none(), "the launch ended before its run's first checkpoint");
        assert!(since.elapsed() < Duration::from_secs(300), "no checkpoint within 5 minutes");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new("pkill").args(["-KILL", "-f", "benchtop worker"]).output().unwrap();
    assert!(out.status.success(), "the worker was running");
    assert_eq!(child.wait().unwrap().code(), Some(1), "a launch with an interrupted run exits 1");
    let runs = cluster.runs(&store);
    assert_eq!(runs[0]["status"], "interrupted", "{runs:?}");
    assert!(runs[0]["error"].as_str().unwrap().contains("Slurm task"), "{}", runs[0]["error"]);
    let out = cluster.run(&store, &["resume", "--experiment", "killed"]);
    let err = text(&out.stderr);
    assert!(out.status.success() && err.contains("1 from a checkpoint"), "{err}");
    let summary = |store: &Path| cluster.runs(store)[0]["summary"].clone();
    assert_eq!(cluster.runs(&store)[0]["status"], "done");
    assert_eq!(summary(&store), summary(&straight), "resumed from the worker's checkpoint to the same numbers");

    // 4. The holder killed outright mid-launch (its terminal closed, its machine restarted):
    // the workers wait for it; `benchtop serve` finds the launch's tasks still alive, listens
    // where they report, and every run ends with every point, as a launch left alone.
    let exp = experiment(dir.path(), "restarted", 2, 3000, 2);
    let (here, store) = (dir.path().join("restart-local"), dir.path().join("restart-store"));
    let out = cluster.run(&here, &["run", exp.to_str().unwrap(), "--executor", "local"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut child = start_until(&cluster, &store, &exp, " done (1/4)");
    assert!(Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    assert!(cluster.busy(), "the launch's other tasks outlive their holder");
    let out = cluster.run(&store, &["resume", "--experiment", "restarted"]);
    assert!(!out.status.success() && text(&out.stderr).contains("`benchtop serve` takes it back"), "{}", text(&out.stderr));
    let mut serve = spawn_until(cluster.benchtop(&store).arg("serve"), "taking back", 1, Duration::from_secs(60));
    let since = std::time::Instant::now();
    while cluster.runs(&store).iter().any(|r| !matches!(r["status"].as_str(), Some("done" | "failed" | "cancelled"))) {
        assert!(since.elapsed() < Duration::from_secs(300), "{:?}", cluster.runs(&store));
        std::thread::sleep(Duration::from_millis(250));
    }
    let (a, b) = (by_point(&store), by_point(&here));
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "summaries and every series point agree with the local launch");
    let taken_back = cluster
        .runs(&store)
        .iter()
        .filter(|r| {
            let shown = cluster.run(&store, &["show", r["id"].as_str().unwrap(), "--json"]);
            text(&shown.stdout).contains("benchtop serve took the run back")
        })
        .count();
    assert!(taken_back >= 2, "the runs still waiting or training were taken back, and their logs say so ({taken_back})");
    assert!(Command::new("kill").args(["-INT", &serve.id().to_string()]).status().unwrap().success());
    assert!(serve.wait().unwrap().success());
    assert!(
        !std::fs::read_dir(store.join("slurm")).unwrap().any(|d| d.unwrap().path().join("launch.json").exists()),
        "ended launches are forgotten"
    );
}
