//! Workers on a cluster with no route back to the holder (or a holder not on TCP, like the
//! app): the launch's folder, on the file system the nodes share with the store, carries
//! everything both ways.
//!
//! - Before submitting, the holder writes each run's `inbox/<run>/claimed.json` (what a
//!   worker's claim would answer) and, when the run goes on from a checkpoint, a copy of it.
//! - The worker writes what it would send as numbered parcels into `inbox/<run>/out/`: its
//!   claim (its node), event batches, checkpoints and files. Each is staged as `.partial`,
//!   synced and renamed into place, so a parcel the holder sees is whole. Names start with
//!   the worker's start time, so a task Slurm requeues never overwrites an unread parcel.
//! - The holder reads the parcels in order, records each as it records what a TCP worker
//!   sends (the same durable path), and deletes it once stored. A holder killed between the
//!   two reads it again when it takes the launch back: its points land on the same keys.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use benchtop_core::RunId;

use crate::workers::{Claim, Claimed, WorkerEvent};

/// A run's folder in a launch's inbox.
pub fn run_dir(inbox: &Path, run: RunId) -> PathBuf {
    inbox.join(run.to_string())
}

const CLAIMED: &str = "claimed.json";
const CHECKPOINT: &str = "checkpoint.bin";
const OUT: &str = "out";

/// What the holder leaves for a run's worker before submitting.
pub fn prepare(inbox: &Path, claimed: &Claimed, checkpoint: Option<&Path>) -> std::io::Result<()> {
    let dir = run_dir(inbox, claimed.record.id);
    std::fs::create_dir_all(dir.join(OUT))?;
    {
        // Only this user's workers write here.
        use std::os::unix::fs::PermissionsExt;
        for d in [inbox.to_path_buf(), dir.clone(), dir.join(OUT)] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    if let Some(from) = checkpoint {
        std::fs::copy(from, dir.join(CHECKPOINT))?;
    }
    write_whole(&dir.join(CLAIMED), &serde_json::to_vec(claimed).map_err(std::io::Error::other)?)
}

/// Write `bytes` to `path` so that a reader sees all of it or nothing: staged beside it,
/// synced, then renamed into place.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".partial");
    let staged = PathBuf::from(staged);
    let mut file = std::fs::File::create(&staged)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)
}

/// One thing a worker sent.
#[derive(Debug)]
pub enum Parcel {
    Claim(Claim),
    Events(Vec<WorkerEvent>),
    Checkpoint(Vec<u8>),
    Artifact { name: String, bytes: Vec<u8> },
}

/// The worker's side: where its parcels go, in order.
pub struct Outbox {
    dir: PathBuf,
    started: u128,
    next: AtomicU64,
}

impl Outbox {
    pub fn new(inbox: &Path, run: RunId) -> Outbox {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Outbox { dir: run_dir(inbox, run), started, next: AtomicU64::new(0) }
    }

    /// What the holder left for this run.
    pub fn claimed(&self) -> std::io::Result<Claimed> {
        let path = self.dir.join(CLAIMED);
        let bytes = std::fs::read(&path).map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
        serde_json::from_slice(&bytes).map_err(|e| std::io::Error::other(format!("{}: {e}", path.display())))
    }

    /// The checkpoint the run goes on from.
    pub fn checkpoint(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.join(CHECKPOINT))
    }

    /// Leave a parcel for the holder.
    pub fn send(&self, parcel: &Parcel) -> std::io::Result<()> {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let stem = format!("{:039}-{seq:010}", self.started);
        let (name, bytes) = match parcel {
            Parcel::Claim(claim) => (format!("{stem}.claim"), serde_json::to_vec(claim).map_err(std::io::Error::other)?),
            Parcel::Events(events) => (format!("{stem}.events"), serde_json::to_vec(events).map_err(std::io::Error::other)?),
            Parcel::Checkpoint(bytes) => (format!("{stem}.checkpoint"), bytes.clone()),
            Parcel::Artifact { name, bytes } => (format!("{stem}.artifact.{name}"), bytes.clone()),
        };
        write_whole(&self.dir.join(OUT).join(name), &bytes)
    }
}

/// The holder's side: the names of the whole parcels waiting in a run's folder, oldest first.
pub fn waiting(inbox: &Path, run: RunId) -> std::io::Result<Vec<String>> {
    let dir = run_dir(inbox, run).join(OUT);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(Result::ok).filter_map(|e| e.file_name().into_string().ok()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    names.retain(|n| !n.ends_with(".partial"));
    names.sort();
    Ok(names)
}

/// The path of a waiting parcel.
pub fn parcel_path(inbox: &Path, run: RunId, name: &str) -> PathBuf {
    run_dir(inbox, run).join(OUT).join(name)
}

/// Read one waiting parcel: `Err(Ok(e))` when it could not be read (try again later),
/// `Err(Err(why))` when it is not a parcel a worker writes (never will be).
pub fn read(inbox: &Path, run: RunId, name: &str) -> Result<Parcel, Result<std::io::Error, String>> {
    let path = parcel_path(inbox, run, name);
    // A parcel is a file the worker renamed into place: not a link to elsewhere.
    let meta = std::fs::symlink_metadata(&path).map_err(Ok)?;
    if !meta.file_type().is_file() {
        return Err(Err(format!("{name}: not a plain file")));
    }
    let bytes = std::fs::read(&path).map_err(Ok)?;
    let what = name.split_once('.').map_or("", |(_, kind)| kind);
    let parcel = match what {
        "claim" => serde_json::from_slice(&bytes).map(Parcel::Claim).map_err(|e| e.to_string()),
        "events" => serde_json::from_slice(&bytes).map(Parcel::Events).map_err(|e| e.to_string()),
        "checkpoint" => Ok(Parcel::Checkpoint(bytes)),
        other => match other.strip_prefix("artifact.") {
            Some(artifact) => Ok(Parcel::Artifact { name: artifact.to_owned(), bytes }),
            None => Err("not a parcel a worker writes".to_owned()),
        },
    };
    parcel.map_err(|e| Err(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcels_come_back_whole_in_order_and_a_staged_one_is_not_read() {
        let dir = tempfile::tempdir().expect("dir");
        let run = RunId::new();
        std::fs::create_dir_all(run_dir(dir.path(), run).join(OUT)).expect("dirs");
        let outbox = Outbox::new(dir.path(), run);
        outbox.send(&Parcel::Claim(Claim { run, host: "node1".into() })).expect("claim");
        for step in 0..12 {
            let events = vec![WorkerEvent::Metric { name: "loss".into(), step, bits: (step as f64).to_bits() }];
            outbox.send(&Parcel::Events(events)).expect("events");
        }
        outbox.send(&Parcel::Artifact { name: "fig.v2.png".into(), bytes: vec![7] }).expect("artifact");
        // A parcel being written is not read.
        std::fs::write(run_dir(dir.path(), run).join(OUT).join("99.events.partial"), b"[").expect("staged");
        let read_all = || -> Vec<Result<Parcel, String>> {
            let names = waiting(dir.path(), run).expect("list");
            names.iter().map(|n| read(dir.path(), run, n).map_err(|e| e.map_or_else(|why| why, |io| io.to_string()))).collect()
        };
        let parcels = read_all();
        assert_eq!(parcels.len(), 14);
        assert!(matches!(&parcels[0], Ok(Parcel::Claim(c)) if c.host == "node1"));
        for (step, parcel) in parcels[1..13].iter().enumerate() {
            assert!(
                matches!(parcel, Ok(Parcel::Events(e)) if e[0] == WorkerEvent::Metric { name: "loss".into(), step: step as u64, bits: (step as f64).to_bits() }),
                "in order past 10"
            );
        }
        assert!(matches!(&parcels[13], Ok(Parcel::Artifact { name, bytes }) if name == "fig.v2.png" && bytes == &[7]));
        // A requeued task's worker starts later: its parcels sort after the first one's.
        std::thread::sleep(std::time::Duration::from_millis(2));
        let again = Outbox::new(dir.path(), run);
        again.send(&Parcel::Events(Vec::new())).expect("events");
        assert!(matches!(&read_all()[14], Ok(Parcel::Events(e)) if e.is_empty()));
        std::fs::write(run_dir(dir.path(), run).join(OUT).join("5.junk"), b"").expect("junk");
        assert!(read_all().iter().any(|p| p.as_ref().is_err_and(|e| e.starts_with("5.junk"))));
    }
}
