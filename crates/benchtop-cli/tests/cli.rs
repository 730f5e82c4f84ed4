//! End-to-end tests of the `benchtop` binary over temporary stores.

#![allow(clippy::unwrap_used)] // helpers of a test file: a panic is the failure message

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;
use common::*;

/// A temporary folder with a store in which `write_experiment(name, seeds, steps)` has run;
/// returns the folder (kept alive by the caller), the store and the experiment file.
fn stored(name: &str, seeds: u32, steps: u32) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), name, seeds, steps);
    let out = run(&store, &["run", exp.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (dir, store, exp)
}

fn runs_json(store: &Path) -> Vec<Value> {
    let out = benchtop(store).args(["runs", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

#[test]
fn the_quick_preset_runs_and_lists_summarises_shows_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let preset = repo_file("experiments/isr-quick.toml");
    let out = run(&store, &["run", preset.to_str().unwrap(), "--jobs", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("isr-quick") && stdout.contains("test_error (mean ± 95% CI)"), "{stdout}");

    let runs = runs_json(&store);
    assert_eq!(runs.len(), 3 * 2 * 3);
    for r in &runs {
        for key in ["id", "experiment", "study", "method", "seed", "status"] {
            assert!(r.get(key).is_some(), "missing {key}");
        }
        assert_eq!(r["status"], "done");
        assert!(r["provenance"]["duration_s"].as_f64().unwrap() > 0.0);
    }

    let id = runs[0]["id"].as_str().unwrap();
    let shown = run(&store, &["show", id]);
    assert!(shown.status.success());
    assert!(text(&shown.stdout).contains("train_loss"), "the curves are listed");

    let csv_out = run(&store, &["export", "--experiment", "isr-quick", "--format", "csv"]);
    assert!(csv_out.status.success());
    let csv = text(&csv_out.stdout);
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("run_id,experiment,study,method,seed,status,duration_s,param."), "{header}");
    assert!(header.contains("param.n_envs") && header.contains("metric.test_error"), "{header}");
    assert_eq!(csv.lines().count(), 19);

    let json_path = dir.path().join("runs.json");
    let out = run(&store, &["export", "--format", "json", "--out", json_path.to_str().unwrap()]);
    assert!(out.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(rows.len(), 18);
    assert!(rows[0]["metric.test_error"].is_number());

    let parquet = dir.path().join("runs.parquet");
    let out = run(&store, &["export", "--format", "parquet", "--out", parquet.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(&std::fs::read(&parquet).unwrap()[..4], b"PAR1");
    assert_eq!(run(&store, &["export", "--format", "parquet"]).status.code(), Some(2), "Parquet needs a file");

    let html = dir.path().join("report.html");
    let out = run(&store, &["report", "--experiment", "isr-quick", "--out", html.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("Test error vs number of training environments"));
    assert!(page.contains("Reproducibility") && page.contains("isr_mean"));

    let chart = dir.path().join("chart.svg");
    let args = ["compare", "--experiment", "isr-quick", "--x", "n_envs", "--y", "test_error", "--out", chart.to_str().unwrap()];
    let out = run(&store, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&chart).unwrap().contains("isr_mean"));
}

#[test]
fn bad_input_is_one_clear_line_a_nonzero_exit_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let good = write_experiment(dir.path(), "keep-me", 1, 20);
    assert!(run(&store, &["run", good.to_str().unwrap()]).status.success());

    let mut cases: Vec<(&str, &str)> = vec![
        ("malformed", "name = \"x\"\nstudy = \"isr\"\n[params\n"),
        ("unknown-study", "name = \"x\"\nstudy = \"nope\"\n"),
        ("unknown-method", "name = \"x\"\nstudy = \"isr\"\n[sweep]\nmethod = [\"erm\", \"magic\"]\n"),
        ("bad-param", "name = \"x\"\nstudy = \"isr\"\n[params]\nn_envs = 1\n"),
    ];
    // A backend this build lacks (LibTorch is opt-in) is refused before anything is stored.
    if !benchtop_studies::ml::device::LIBTORCH_BUILT {
        cases.push(("unbuilt-backend", "name = \"x\"\nstudy = \"isr\"\nbackend = \"libtorch\"\n"));
    }
    for (name, body) in cases {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, body).unwrap();
        let out = run(&store, &["run", path.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert!(err.contains(&format!("{name}.toml:")), "{name}: names the file: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    let unknown_method = text(&run(&store, &["run", dir.path().join("unknown-method.toml").to_str().unwrap()]).stderr);
    assert!(unknown_method.contains(":4:") && unknown_method.contains("erm, irm, isr_mean, isr_cov, oracle"), "{unknown_method}");

    let out = run(&store, &["show", "0190aaaa-0000-7000-8000-000000000000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no run with id"));
    let out = run(&store, &["runs", "--status", "sleeping"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("allowed: queued, running, done"));

    let runs = runs_json(&store);
    assert_eq!(runs.len(), 2, "the earlier runs are all still there, nothing new was stored");
    assert!(runs.iter().all(|r| r["status"] == "done"));
}

#[test]
fn a_store_in_use_or_unusable_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let holder = benchtop_store::Store::open(&store).unwrap();
    let out = run(&store, &["runs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("in use by another Benchtop process"), "{}", text(&out.stderr));
    drop(holder);

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = run(&file.join("store"), &["runs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("a-file"), "{}", text(&out.stderr));
}

#[test]
fn delete_removes_a_run_or_a_whole_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let a = write_experiment(dir.path(), "exp-a", 2, 20);
    let b = write_experiment(dir.path(), "exp-b", 1, 20);
    assert!(run(&store, &["run", a.to_str().unwrap(), b.to_str().unwrap()]).status.success());
    let runs = runs_json(&store);
    assert_eq!(runs.len(), 6);
    let one = runs.iter().find(|r| r["experiment"] == "exp-b").unwrap()["id"].as_str().unwrap().to_owned();
    assert!(run(&store, &["delete", &one]).status.success());
    assert!(run(&store, &["delete", "--experiment", "exp-a"]).status.success());
    let left = runs_json(&store);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["experiment"], "exp-b");
}

/// One damaged record must not take the store's listings with it: `runs`, `export` and
/// `report` go on without it and say which it is; `delete ID` removes it.
#[test]
fn a_record_that_does_not_decode_is_skipped_named_and_deletable() {
    let (dir, store, _exp) = stored("exp-a", 1, 20);
    let bad = benchtop_core::RunId::new();
    benchtop_store::Store::open(&store).unwrap().put_raw_record(bad, b"not json").unwrap();
    let report = dir.path().join("report.md");
    for args in
        [vec!["runs"], vec!["export", "--format", "csv"], vec!["report", "--experiment", "exp-a", "--out", report.to_str().unwrap()]]
    {
        let out = run(&store, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("skipped 1 stored run record") && err.contains(&bad.to_string()), "{args:?}: {err}");
    }
    assert_eq!(runs_json(&store).len(), 2, "both readable runs still list");
    assert!(run(&store, &["delete", &bad.to_string()]).status.success());
    let out = run(&store, &["runs"]);
    assert!(!text(&out.stderr).contains("skipped"), "{}", text(&out.stderr));
}

/// Start `benchtop run` and wait until it reports `done` runs finished.
fn start_and_wait(store: &Path, exp: &Path, done: usize) -> std::process::Child {
    spawn_until(benchtop(store).args(["run", exp.to_str().unwrap(), "--jobs", "1"]), " done (", done, Duration::from_secs(120))
}

#[test]
fn sigkill_mid_run_leaves_a_store_that_reads_back_with_the_killed_run_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), "crash", 4, 3000);
    let mut child = start_and_wait(&store, &exp, 2);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();

    let runs = runs_json(&store);
    assert_eq!(runs.len(), 8);
    let count = |s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(count("done") >= 2, "finished runs are intact");
    assert!(count("interrupted") >= 1, "the killed run reads back as interrupted");
    assert_eq!(count("done") + count("interrupted"), 8, "nothing is left queued or running");
    for r in runs.iter().filter(|r| r["status"] == "done") {
        assert!(r["summary"]["test_error"].is_number());
        let shown = run(&store, &["show", r["id"].as_str().unwrap(), "--json"]);
        let detail: Value = serde_json::from_slice(&shown.stdout).unwrap();
        assert_eq!(detail["series"]["train_loss"].as_array().unwrap().len(), 3000 / 25 + 1);
    }
}

#[test]
fn ctrl_c_cancels_cleanly_and_keeps_what_was_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), "cancel", 4, 3000);
    let mut child = start_and_wait(&store, &exp, 1);
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(130));

    let runs = runs_json(&store);
    let count = |s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(count("done") >= 1);
    assert!(count("cancelled") >= 1);
    assert_eq!(count("done") + count("cancelled"), 8);
}

#[test]
fn studies_lists_methods_and_parameters_with_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["studies", "isr", "--json"]);
    assert!(out.status.success());
    let infos: Value = serde_json::from_slice(&out.stdout).unwrap();
    let isr = &infos[0];
    let methods: Vec<&str> = isr["methods"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(methods, ["erm", "irm", "isr_mean", "isr_cov", "oracle"]);
    let params: Vec<&str> = isr["params"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["n_envs", "d_inv", "d_spu", "samples_per_env", "scrambled"] {
        assert!(params.contains(&name), "{name}");
    }
    let text_out = text(&run(dir.path(), &["studies", "isr"]).stdout);
    assert!(text_out.contains("Number of training environments E"), "{text_out}");
}

mod crash_loop;

/// Ten SIGKILLs at random moments of launches and resumes: after each the store opens, no
/// finished run is lost or changed, nothing reads queued or running, and every interrupted
/// run resumes to the end. The 100-kill version is `cargo test --workspace --bench crash_loop`.
#[test]
fn a_crash_loop_loses_no_finished_run_and_every_interrupted_one_resumes() {
    let figures = crash_loop::crash_loop(10, 7, 1500);
    eprintln!("crash loop: {figures}");
    assert!(figures.problems.is_empty(), "{figures}");
    assert_eq!(figures.kills, 10);
    assert_eq!(figures.lost, 0, "finished runs lost or changed");
    assert!(figures.interrupted > 0, "some kills landed mid-run: {figures}");
    assert!(figures.finished >= 12, "the experiment finished: {figures}");
}

/// A run killed with SIGKILL once it has saved a checkpoint, then resumed, ends with the
/// summary and every series point of the same run uninterrupted: it went on from the
/// checkpoint (its log says so) rather than from the beginning, and no step is missing or
/// changed. System metrics are off: they time the process, not the training.
#[cfg(unix)]
#[test]
fn a_run_killed_after_a_checkpoint_resumes_to_the_numbers_of_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("killed.toml");
    std::fs::write(
        &exp,
        "name = \"killed\"\nstudy = \"online_rlhf\"\nseeds = 1\n[params]\nmethod = \"iterative_dpo\"\niterations = 3\nsteps_per_iteration = 10\nsft_epochs = 8\neval_samples = 2\n",
    )
    .unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    let quiet = |store: &Path| {
        let mut cmd = benchtop(store);
        cmd.env("BENCHTOP_SYSTEM_METRICS", "0");
        cmd
    };
    let out = quiet(&straight).args(["run", exp.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The second store shares the first one's cache: the SFT policy is trained once.
    std::fs::create_dir_all(&killed).unwrap();
    std::os::unix::fs::symlink(straight.join("cache"), killed.join("cache")).unwrap();

    let mut child = quiet(&killed).args(["run", exp.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let checkpoint = || -> Option<PathBuf> {
        let runs = std::fs::read_dir(killed.join("artifacts")).ok()?;
        runs.filter_map(Result::ok).map(|e| e.path().join("checkpoint.bin")).find(|p| p.exists())
    };
    let started = std::time::Instant::now();
    while checkpoint().is_none() && started.elapsed() < std::time::Duration::from_secs(300) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(checkpoint().is_some(), "no checkpoint within 5 minutes");
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = runs_json(&killed);
    assert_eq!(runs[0]["status"], "interrupted");

    let out = quiet(&killed).args(["resume", "--experiment", "killed"]).output().unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success() && err.contains("1 from a checkpoint"), "{err}");
    let show = |store: &Path| {
        let id = runs_json(store)[0]["id"].as_str().unwrap().to_owned();
        let out = benchtop(store).args(["show", &id, "--json"]).output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let (mut expected, got) = (show(&straight), show(&killed));
    // The SFT stage logs its curve only in the run that computed it, not where the cache
    // served it.
    expected["series"].as_object_mut().unwrap().remove("sft_loss");
    assert_eq!(got["run"]["status"], "done");
    assert_eq!(got["run"]["summary"], expected["run"]["summary"]);
    assert_eq!(got["series"], expected["series"], "every point, none missing or changed");
    let logs = got["logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l["text"].as_str().unwrap().starts_with("resuming from the checkpoint at iteration")), "{logs:?}");
}

/// A full disk (here: a file-size limit just above the store's size) stops the launch with
/// a clear error and a non-zero exit; the store still opens, what was recorded is intact, and
/// the runs it could not record resume once there is room.
#[cfg(unix)]
#[test]
fn a_full_disk_stops_the_launch_clearly_and_loses_nothing_recorded() {
    let (_dir, store, exp) = stored("disk", 4, 1000);
    let before = runs_json(&store);
    // A file-size limit applies per file: just above the store's largest file.
    fn largest(dir: &Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| if e.file_type().unwrap().is_dir() { largest(&e.path()) } else { e.metadata().unwrap().len() })
            .max()
            .unwrap_or(0)
    }
    let kib = largest(&store) / 1024;
    // SIGXFSZ ignored, so a write past the limit fails with EFBIG as on a full disk. A point
    // every step: the launch writes far more than the limit's margin (series are compact).
    let script = format!("ulimit -f {}; trap '' XFSZ; exec \"$0\" --store \"$1\" run \"$2\" --jobs 2 --set eval_every=1", kib + 64);
    let out = Command::new("bash")
        .args(["-c", &script, env!("CARGO_BIN_EXE_benchtop"), store.to_str().unwrap(), exp.to_str().unwrap()])
        .env_remove("BENCHTOP_STORE")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("store error:") && err.contains("launch stopped"), "{err}");
    let after = runs_json(&store);
    for r in &before {
        assert!(after.contains(r), "a run recorded before the disk filled is unchanged: {}", r["id"]);
    }
    let count = |runs: &[Value], s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(count(&after, "interrupted") > 0, "the unrecorded runs read interrupted");
    assert_eq!(count(&after, "done") + count(&after, "interrupted"), after.len(), "nothing else");
    assert!(run(&store, &["resume", "--experiment", "disk"]).status.success());
    assert_eq!(count(&runs_json(&store), "done"), after.len(), "with room again, everything resumes");
}

#[test]
fn diff_shows_only_what_differs_unless_asked_for_all() {
    let (_dir, store, _exp) = stored("d", 2, 20);
    let runs = runs_json(&store);
    let pick = |method: &str, seed: u64| {
        runs.iter().find(|r| r["method"] == method && r["seed"] == seed).unwrap()["id"].as_str().unwrap().to_owned()
    };
    let (a, b) = (pick("erm", 0), pick("erm", 1));
    let out = run(&store, &["diff", &a, &b]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("seed") && shown.contains(&a) && shown.contains(&b), "{shown}");
    assert!(!shown.contains("param.samples_per_env"), "an equal parameter is folded away: {shown}");
    assert!(shown.contains("--all shows them"), "{shown}");
    let all = text(&run(&store, &["diff", &a, &b, "--all"]).stdout);
    assert!(all.contains("param.samples_per_env") && all.contains("* seed"), "{all}");
    assert!(!run(&store, &["diff", &a]).status.success(), "one run is not a comparison");
}

#[test]
fn where_queries_select_runs_for_listing_export_and_report_and_point_at_mistakes() {
    let (dir, store, _exp) = stored("q", 2, 20);
    let json = |args: &[&str]| -> Vec<Value> {
        let out = run(&store, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    };
    let erm = json(&["runs", "--json", "--where", "method = erm"]);
    assert_eq!(erm.len(), 2);
    assert!(erm.iter().all(|r| r["method"] == "erm"));
    let picked = json(&["runs", "--json", "--where", "(method = isr_mean AND seed = 1) OR NOT seed IN (0, 1)"]);
    assert_eq!(picked.len(), 1);
    assert_eq!((picked[0]["method"].as_str(), picked[0]["seed"].as_u64()), (Some("isr_mean"), Some(1)));
    // A metric comparison, and the same selection exported.
    let good = json(&["runs", "--json", "--where", "metric.test_error BETWEEN 0 AND 1 AND status = done"]);
    assert_eq!(good.len(), 4);
    let csv = text(&run(&store, &["export", "--where", "seed = 0"]).stdout);
    assert_eq!(csv.lines().count(), 3, "a header and the two seed-0 runs: {csv}");
    let report = dir.path().join("r.md");
    let out = run(&store, &["report", "--where", "method = erm", "--out", report.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&report).unwrap().contains("2 selected runs"));
    // Mistakes: one line each, with the column, and a non-zero exit.
    for (query, want) in
        [("seed <", "--where: column 7: expected a value after the operator"), ("lrr > 2", "--where: column 1: no run has a field `lrr`")]
    {
        let out = run(&store, &["runs", "--where", query]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(want) && err.trim().lines().count() == 1, "{query}: {err}");
    }
    let out = run(&store, &["export", "--where", "seed = 7"]);
    assert!(!out.status.success() && text(&out.stderr).contains("no runs match"), "{}", text(&out.stderr));
}

#[test]
fn group_by_gives_one_row_per_sweep_point_with_intervals() {
    let (_dir, store, _exp) = stored("g", 3, 20);
    let out = run(&store, &["runs", "--group-by"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("2 groups of 6 runs") && shown.contains("3 (3)") && shown.contains(" ± "), "{shown}");
    let out = run(&store, &["runs", "--json", "--group-by", "seed", "--where", "method = erm"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["by"], serde_json::json!(["seed"]));
    assert_eq!(v["groups"].as_array().unwrap().len(), 3, "three seeds of erm");
    assert_eq!(v["groups"][0]["metrics"]["test_error"]["n"], 1);
}

#[test]
fn compare_writes_the_numbers_a_chart_draws_as_csv() {
    let (dir, store, _exp) = stored("c", 3, 20);
    let out = dir.path().join("chart.csv");
    let done = run(&store, &["compare", "--experiment", "c", "--kind", "bars", "--y", "test_error", "--out", out.to_str().unwrap()]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let csv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("series,") && lines[0].contains("test_error_ci95") && lines[0].ends_with(",n"), "{csv}");
    assert_eq!(lines.len(), 3, "a header and one bar per method: {csv}");
    assert!(lines[1..].iter().all(|l| l.ends_with(",3")), "each bar averages the 3 seeds: {csv}");
    let bad = run(&store, &["compare", "--experiment", "c", "--y", "test_error", "--x", "n_envs", "--out", "chart.txt"]);
    assert!(!bad.status.success() && text(&bad.stderr).contains(".csv"), "{}", text(&bad.stderr));
}
