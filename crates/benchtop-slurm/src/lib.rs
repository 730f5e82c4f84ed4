//! Slurm as Benchtop's cluster engine: we write no scheduler. A launch becomes one `sbatch`
//! job array (one task per planned run), its tasks' states come from `squeue`, and cancelling
//! calls `scancel`. Every command is run with an argument list, never through a shell, from
//! values checked where they were read (`SlurmOptions::check`) or typed (job ids, indices).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use benchtop_core::SlurmOptions;

/// What can go wrong talking to Slurm; each message names the command.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("`{0}` is not installed here (Slurm's client commands: Debian's slurm-client)")]
    Missing(&'static str),
    #[error("`{command}` failed: {message}")]
    Failed { command: String, message: String },
}

/// One job array to submit.
pub struct ArrayJob<'a> {
    /// The job's name in `squeue`.
    pub name: &'a str,
    /// Tasks 0..tasks.
    pub tasks: usize,
    pub options: &'a SlurmOptions,
    /// The batch script (bash), given to `sbatch` on its standard input.
    pub script: &'a str,
    /// Where each task's output goes (`%A_%a.out`), on a file system the nodes share.
    pub output_dir: &'a Path,
    /// Environment variables the tasks get besides the submitter's (a token, say), passed
    /// to `sbatch` itself, so they are never written into the script.
    pub env: &'a [(&'a str, &'a str)],
}

/// The `sbatch` arguments of `job` (without the script, which goes on standard input).
pub fn sbatch_args(job: &ArrayJob<'_>) -> Vec<String> {
    let last = job.tasks.saturating_sub(1);
    let throttle = job.options.throttle.map(|t| format!("%{t}")).unwrap_or_default();
    let mut args = vec![
        "--parsable".to_owned(),
        format!("--array=0-{last}{throttle}"),
        format!("--job-name={}", job.name),
        format!("--output={}", job.output_dir.join("%A_%a.out").display()),
        format!("--cpus-per-task={}", job.options.cpus.unwrap_or(1)),
    ];
    if let Some(p) = &job.options.partition {
        args.push(format!("--partition={p}"));
    }
    if let Some(t) = &job.options.time {
        args.push(format!("--time={t}"));
    }
    if let Some(m) = &job.options.mem {
        args.push(format!("--mem={m}"));
    }
    args
}

/// Submit `job`; its array's job id.
pub fn submit(job: &ArrayJob<'_>) -> Result<u64, SlurmError> {
    if job.tasks == 0 {
        return Err(SlurmError::Failed { command: "sbatch".into(), message: "an array of no tasks".into() });
    }
    let mut command = Command::new("sbatch");
    command.args(sbatch_args(job)).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, value) in job.env {
        command.env(key, value);
    }
    let mut child = command.spawn().map_err(|e| spawn_error("sbatch", e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(job.script.as_bytes()).map_err(|e| failed("sbatch", format!("writing the script: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| failed("sbatch", e.to_string()))?;
    if !out.status.success() {
        return Err(failed("sbatch", last_line(&out.stderr)));
    }
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .split(';')
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| failed("sbatch", format!("printed no job id: `{}`", text.trim())))
}

/// Where one array task is, as `squeue` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting, starting or running.
    Live(String),
    /// Ended, with Slurm's word for how (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL,
    /// OUT_OF_MEMORY, ...).
    Ended(String),
}

/// The states of `job`'s tasks by index. A task Slurm has forgotten (past `MinJobAge`) is
/// absent: the caller knows which tasks it submitted.
pub fn task_states(job: u64) -> Result<BTreeMap<usize, TaskState>, SlurmError> {
    let out = Command::new("squeue")
        .args(["--noheader", "--array", "--states=all", "--format=%K %T", "--jobs"])
        .arg(job.to_string())
        .output()
        .map_err(|e| spawn_error("squeue", e))?;
    if !out.status.success() {
        let message = last_line(&out.stderr);
        // A job Slurm no longer knows: every task is gone.
        if message.contains("Invalid job id") {
            return Ok(BTreeMap::new());
        }
        return Err(failed("squeue", message));
    }
    Ok(parse_states(&String::from_utf8_lossy(&out.stdout)))
}

/// `squeue --array --format='%K %T'` output, by task index.
pub fn parse_states(text: &str) -> BTreeMap<usize, TaskState> {
    text.lines()
        .filter_map(|line| {
            let (index, state) = line.trim().split_once(' ')?;
            let index: usize = index.parse().ok()?;
            let state = state.trim().to_owned();
            // Every state from which a task may still run (held, stopped, requeued included).
            let live = matches!(
                state.as_str(),
                "PENDING"
                    | "CONFIGURING"
                    | "RUNNING"
                    | "COMPLETING"
                    | "SUSPENDED"
                    | "STOPPED"
                    | "REQUEUED"
                    | "REQUEUE_HOLD"
                    | "REQUEUE_FED"
                    | "SPECIAL_EXIT"
                    | "RESV_DEL_HOLD"
                    | "RESIZING"
                    | "SIGNALING"
                    | "STAGE_OUT"
            );
            Some((index, if live { TaskState::Live(state) } else { TaskState::Ended(state) }))
        })
        .collect()
}

/// Cancel tasks of `job` (all of them with `None`). Slurm sends running tasks SIGTERM, then
/// SIGKILL after its `KillWait`.
pub fn cancel(job: u64, tasks: Option<&[usize]>) -> Result<(), SlurmError> {
    let targets: Vec<String> = match tasks {
        None => vec![job.to_string()],
        Some(tasks) => tasks.iter().map(|t| format!("{job}_{t}")).collect(),
    };
    if targets.is_empty() {
        return Ok(());
    }
    let out = Command::new("scancel").args(&targets).output().map_err(|e| spawn_error("scancel", e))?;
    if out.status.success() { Ok(()) } else { Err(failed("scancel", last_line(&out.stderr))) }
}

fn spawn_error(command: &'static str, e: std::io::Error) -> SlurmError {
    if e.kind() == std::io::ErrorKind::NotFound { SlurmError::Missing(command) } else { failed(command, e.to_string()) }
}

fn failed(command: &str, message: String) -> SlurmError {
    SlurmError::Failed { command: command.to_owned(), message }
}

fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("(no message)").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_array_asks_for_what_the_file_set_and_nothing_else() {
        let options = SlurmOptions {
            partition: Some("gpu".into()),
            time: Some("1:30:00".into()),
            cpus: Some(4),
            mem: Some("8G".into()),
            throttle: Some(3),
            report: None,
        };
        let job = ArrayJob {
            name: "benchtop-isr",
            tasks: 12,
            options: &options,
            script: "#!/bin/bash\n",
            output_dir: Path::new("/shared/out"),
            env: &[],
        };
        assert_eq!(
            sbatch_args(&job),
            [
                "--parsable",
                "--array=0-11%3",
                "--job-name=benchtop-isr",
                "--output=/shared/out/%A_%a.out",
                "--cpus-per-task=4",
                "--partition=gpu",
                "--time=1:30:00",
                "--mem=8G"
            ]
        );
        let bare = ArrayJob { options: &SlurmOptions::default(), tasks: 1, ..job };
        assert_eq!(
            sbatch_args(&bare)[1..],
            ["--array=0-0", "--job-name=benchtop-isr", "--output=/shared/out/%A_%a.out", "--cpus-per-task=1"]
        );
    }

    #[test]
    fn squeue_states_parse_by_task() {
        let text = "0 COMPLETED\n1 RUNNING\n2 PENDING\n3 NODE_FAIL\nbad line\n4 CANCELLED\n";
        let states = parse_states(text);
        assert_eq!(states.len(), 5);
        assert_eq!(states[&0], TaskState::Ended("COMPLETED".into()));
        assert_eq!(states[&1], TaskState::Live("RUNNING".into()));
        assert_eq!(states[&2], TaskState::Live("PENDING".into()));
        assert_eq!(states[&3], TaskState::Ended("NODE_FAIL".into()));
        assert_eq!(states[&4], TaskState::Ended("CANCELLED".into()));
    }
}
