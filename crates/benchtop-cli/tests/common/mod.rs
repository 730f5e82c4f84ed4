//! Helpers the CLI's test files share.

#![allow(dead_code)] // each test file uses some of them
#![allow(clippy::unwrap_used)] // helpers of test files: a panic is the failure message

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// `benchtop --store STORE`, untouched by the environment's store, holder and token.
pub fn benchtop(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_benchtop"));
    cmd.arg("--store").arg(store);
    for var in ["BENCHTOP_STORE", "BENCHTOP_HOLDER", "BENCHTOP_TOKEN"] {
        cmd.env_remove(var);
    }
    cmd
}

pub fn run(store: &Path, args: &[&str]) -> Output {
    benchtop(store).args(args).output().unwrap()
}

pub fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// A small ISR experiment: `seeds` x 2 methods, `steps` steps each.
pub fn write_experiment(dir: &Path, name: &str, seeds: u32, steps: u32) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let body = format!(
        "name = \"{name}\"\nstudy = \"isr\"\nseeds = {seeds}\n[params]\nsamples_per_env = 200\nsteps = {steps}\neval_every = 25\n[sweep]\nmethod = [\"erm\", \"isr_mean\"]\n"
    );
    std::fs::write(&path, body).unwrap();
    path
}

/// Start `cmd` and wait (up to `within`) until its stderr has had `times` lines containing
/// `wanted`. Its stderr keeps being read after, so it never writes into a closed pipe.
pub fn spawn_until(cmd: &mut Command, wanted: &'static str, times: usize, within: Duration) -> Child {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = 0;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(wanted) {
                seen += 1;
                if seen == times {
                    let _ = tx.send(());
                }
            }
        }
    });
    rx.recv_timeout(within).unwrap_or_else(|_| panic!("the command never said `{wanted}` {times} time(s)"));
    child
}
