//! The CLI beside a process that holds the store (`benchtop serve` here; the app serves the
//! same API): every command answers through the holder as it does with the store itself.

#![allow(clippy::unwrap_used)] // helpers of a test file: a panic is the failure message

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::*;

/// `benchtop serve` on a store, started and answering; its later stderr lines.
struct Serve {
    child: Child,
    lines: Receiver<String>,
    /// Where it listens on TCP, when asked to.
    tcp: Option<String>,
}

fn serve(store: &Path, args: &[&str]) -> Serve {
    let mut child = benchtop(store).arg("serve").args(args).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(60)).expect("serve says where it serves");
    assert!(first.starts_with("serving the store at"), "{first}");
    let tcp = args.contains(&"--listen").then(|| {
        let line = lines.recv_timeout(Duration::from_secs(10)).expect("the TCP line");
        line.strip_prefix("and on TCP ").and_then(|l| l.split(',').next()).expect("an address").to_owned()
    });
    Serve { child, lines, tcp }
}

impl Serve {
    /// Ctrl-C, as a person stops it; its exit must be clean.
    fn stop(mut self, store: &Path) {
        let status = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success());
        // Until the reader thread has seen the pipe close: every line it will forward.
        let rest: Vec<String> = self.lines.iter().collect();
        assert!(rest.iter().any(|l| l.starts_with("stopping")), "{rest:?}");
        assert!(!store.join("benchtop.sock").exists(), "the socket goes with its holder");
    }
}

/// What a person reads from the store, command by command (ids filled in from the runs).
fn readings(store: &Path, dir: &Path, tag: &str) -> Vec<(String, String)> {
    let runs: Vec<Value> = serde_json::from_slice(&run(store, &["runs", "--json"]).stdout).unwrap();
    let (a, b) = (runs[0]["id"].as_str().unwrap().to_owned(), runs[1]["id"].as_str().unwrap().to_owned());
    let chart = dir.join(format!("chart-{tag}.csv"));
    let commands: Vec<Vec<String>> = vec![
        vec!["runs".into(), "--json".into()],
        vec!["runs".into()],
        vec!["runs".into(), "--group-by".into()],
        vec!["runs".into(), "--where".into(), "method = erm".into()],
        vec!["show".into(), a.clone(), "--json".into()],
        vec!["show".into(), b.clone()],
        vec!["diff".into(), a, b],
        vec!["export".into(), "--format".into(), "csv".into()],
        vec![
            "compare".into(),
            "--experiment".into(),
            "beside".into(),
            "--kind".into(),
            "curves".into(),
            "--y".into(),
            "train_loss".into(),
            "--out".into(),
            chart.display().to_string(),
        ],
    ];
    commands
        .into_iter()
        .map(|args| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(store, &args);
            assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            let stdout = if args[0] == "compare" { std::fs::read_to_string(&chart).unwrap() } else { text(&out.stdout) };
            (args.join(" "), stdout)
        })
        .collect()
}

#[test]
fn the_cli_beside_a_holder_answers_as_with_the_store_itself() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), "beside", 2, 100);
    let holder = serve(&store, &["--jobs", "2"]);

    // Launched through the holder: planned here (errors before anything is sent), trained there.
    let out = run(&store, &["run", exp.to_str().unwrap(), "--jobs", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("beside: 4 runs (2 jobs at a time)"), "{stderr}");
    assert!(stderr.contains("--jobs applies only to a store this process opens"), "{stderr}");
    assert!(stderr.contains("4 done, 0 failed, 0 cancelled"), "{stderr}");
    assert!(text(&out.stdout).contains("erm"), "the summary per sweep point: {}", text(&out.stdout));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\nstudy = \"isr\"\nseeds = 0\n").unwrap();
    let out = run(&store, &["run", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with(&format!("error: {}:3:", bad.display())), "{}", text(&out.stderr));

    let through = readings(&store, dir.path(), "through");
    let report = dir.path().join("through.html");
    assert!(run(&store, &["report", "--experiment", "beside", "--out", report.to_str().unwrap()]).status.success());
    assert!(std::fs::read_to_string(&report).unwrap().contains("<svg"), "the report draws its charts through the holder");
    holder.stop(&store);

    // The same commands with the store opened by the CLI itself: the same answers.
    let here = readings(&store, dir.path(), "here");
    for ((command, a), (_, b)) in through.iter().zip(&here) {
        assert_eq!(a, b, "`benchtop {command}` answers differently through the holder");
    }
    let runs: Vec<Value> = serde_json::from_str(&here[0].1).unwrap();
    assert_eq!(runs.len(), 4);
    let commit = runs[0]["provenance"]["git_commit"].clone();
    assert_eq!(runs[0]["experiment_file"], exp.display().to_string());
    // The commit is the one this side found for the file (none outside a git work tree).
    assert_eq!(commit, Value::Null);

    // Deleting through the holder.
    let holder = serve(&store, &[]);
    let id = runs[0]["id"].as_str().unwrap();
    let out = run(&store, &["delete", id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&store, &["runs", "--json"]);
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap().len(), 3);
    let out = run(&store, &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already held and served by benchtop serve"), "{}", text(&out.stderr));
    holder.stop(&store);
}

#[test]
fn ctrl_c_on_a_run_through_the_holder_cancels_it_there_and_resume_goes_through_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), "cancel", 4, 3000);
    let holder = serve(&store, &["--jobs", "1"]);
    // A run finishes through the holder.
    let mut child = spawn_until(benchtop(&store).args(["run", exp.to_str().unwrap()]), " done (1/8)", 1, Duration::from_secs(120));
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(130));

    let runs: Vec<Value> = serde_json::from_slice(&run(&store, &["runs", "--json"]).stdout).unwrap();
    let count = |runs: &[Value], s: &str| runs.iter().filter(|r| r["status"] == s).count();
    assert!(count(&runs, "done") >= 1);
    assert!(count(&runs, "cancelled") >= 1);
    assert_eq!(count(&runs, "done") + count(&runs, "cancelled"), 8, "the holder cancelled the rest");

    let out = run(&store, &["resume", "--experiment", "cancel"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("(1 jobs at a time)"), "{}", text(&out.stderr));
    let runs: Vec<Value> = serde_json::from_slice(&run(&store, &["runs", "--json"]).stdout).unwrap();
    assert_eq!(count(&runs, "done"), 8);
    holder.stop(&store);
}

#[test]
fn a_holder_on_tcp_answers_only_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let holder = serve(&store, &["--listen", "127.0.0.1:0"]);
    let addr = holder.tcp.clone().unwrap();
    let token_file = store.join("serve-token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let elsewhere = dir.path().join("not-the-store");
    let over_tcp = |token: Option<&str>| {
        let mut cmd = benchtop(&elsewhere);
        cmd.args(["--holder", &addr, "runs", "--json"]);
        if let Some(t) = token {
            cmd.env("BENCHTOP_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = over_tcp(Some(&token));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "[]");
    for (token, says) in [(Some("0123456789abcdef0123"), "refused the token"), (None, "set BENCHTOP_TOKEN")] {
        let out = over_tcp(token);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says) && stderr.lines().count() == 1, "{stderr}");
    }
    assert!(!elsewhere.exists(), "a client over TCP makes no store of its own");
    holder.stop(&store);
}

#[test]
fn a_running_launch_serves_its_store_to_another_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let exp = write_experiment(dir.path(), "long", 4, 10000);
    let mut child =
        spawn_until(benchtop(&store).args(["run", exp.to_str().unwrap(), "--jobs", "1"]), " done (1/8)", 1, Duration::from_secs(120));
    // From another terminal, while the launch trains: read it, and launch beside it.
    let out = run(&store, &["runs", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 8);
    assert!(runs.iter().any(|r| r["status"] == "done") && runs.iter().any(|r| r["status"] != "done"), "read mid-launch");
    let beside = write_experiment(dir.path(), "beside", 1, 50);
    let out = run(&store, &["run", beside.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(child.wait().unwrap().success());
    let out = run(&store, &["runs", "--json"]);
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.iter().filter(|r| r["status"] == "done").count(), 10);
}
