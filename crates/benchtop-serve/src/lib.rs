//! The store holder's API. One process holds a store (sled's file lock): the app, or
//! `benchtop serve`. It answers this API on a Unix socket beside the store (owner-only), and
//! on TCP only when asked to, with a token. A second process that finds the store held
//! talks to the holder through [`Remote`] instead of failing: it reads runs, deletes,
//! cancels and launches through it, and gets the same answers as with the store open itself.
//!
//! The API is HTTP/1.1 with JSON bodies (hyper on both sides), versioned under `/v1`. It never takes a file-system path from a request: an
//! experiment travels as its text, and series as exact binary (step, value) pairs.
//!
//! Routes (all under `/v1`):
//! - `GET hello`: [`Hello`]
//! - `GET runs?experiment=&study=&status=`: [`RunList`]
//! - `GET run?key=ID_OR_PREFIX`: a run record
//! - `GET series?run=ID`: the run's series names
//! - `GET points?run=ID&name=NAME`: the series as 16-byte little-endian (step u64, value f64)
//! - `GET logs?run=ID`, `GET artifacts?run=ID`
//! - `POST delete` `{"runs": [ID]}`: what was deleted and what was busy
//! - `POST cancel` `{"runs": [ID]}`: the runs dequeued at once
//! - `POST launch` [`LaunchRequest`]: a stream of [`LaunchLine`]s, one JSON per line, until
//!   the launch's outcome
//! - `POST worker/claim`, `GET worker/checkpoint?run=`, `POST worker/events`,
//!   `PUT worker/checkpoint?run=`, `PUT worker/artifact?run=&name=`: a worker (a Slurm
//!   task's `benchtop worker`) takes the run it trains, and sends back what it logs, its
//!   checkpoints and its files (see `workers`)

use std::path::{Path, PathBuf};

use benchtop_core::{RunId, RunRecord, RunStatus};
use benchtop_runner::Outcome;
use benchtop_store::Unreadable;
use serde::{Deserialize, Serialize};

mod client;
pub mod inbox;
mod server;
pub mod slurm;
pub mod workers;

pub use client::Remote;
pub use server::{Holder, Launcher, Pool, Serving, TOKEN_ENV, advertised, bind_tcp, new_token, reach, serve_tcp, serve_unix};

/// The socket a store's holder listens on, beside the store's data.
pub fn socket_path(store_dir: &Path) -> PathBuf {
    store_dir.join("benchtop.sock")
}

/// Who holds the store: the holder's first answer, checked by every client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hello {
    /// The holder's Benchtop version: a client of another version is refused (the API's
    /// types are this version's).
    pub version: String,
    pub store: PathBuf,
    pub pid: u32,
    /// `benchtop serve` or `the app`.
    pub holder: String,
    /// Runs the holder trains at a time.
    pub jobs: usize,
}

/// A listing of runs and the stored records it skipped because they do not decode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunList {
    pub runs: Vec<RunRecord>,
    pub unreadable: Vec<Unreadable>,
}

/// One experiment file to launch, as its text: the holder plans it with its own studies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExperimentSource {
    /// The file's name as the client knows it: recorded with the runs and used in error
    /// messages, never opened.
    pub file: String,
    pub source: String,
    /// `--set KEY=VALUE` overrides, in order.
    pub sets: Vec<String>,
    /// The git commit of the file's work tree, as the client found it.
    pub git_commit: Option<String>,
    /// `--executor`: where to train, instead of the file's `executor`.
    #[serde(default)]
    pub executor: Option<benchtop_core::Executor>,
}

/// What to launch: experiment files, or stored runs to resume.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchRequest {
    Experiments(Vec<ExperimentSource>),
    Resume(Vec<RunId>),
}

/// One line of a launch's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchLine {
    /// First: the runs stored as queued, how many go on from a checkpoint, and the pool.
    Queued { runs: Vec<RunId>, from_checkpoint: usize, jobs: usize },
    /// A run of the launch ended.
    Finished { run: RunId, status: RunStatus, error: Option<String> },
    /// Last: how the launch ended.
    Outcome(Outcome),
}

/// The body of every refused request: one line for a person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// Runs named in a request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunIds {
    pub runs: Vec<RunId>,
}

/// Encode a series as the `points` route sends it: exact, 16 bytes a point.
pub fn encode_points(points: &[(u64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * 16);
    for (step, value) in points {
        out.extend_from_slice(&step.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// Decode [`encode_points`]; `None` when the length is not a whole number of points.
pub fn decode_points(bytes: &[u8]) -> Option<Vec<(u64, f64)>> {
    if !bytes.len().is_multiple_of(16) {
        return None;
    }
    let word = |b: &[u8]| <[u8; 8]>::try_from(b).ok();
    bytes.chunks_exact(16).map(|c| Some((u64::from_le_bytes(word(&c[..8])?), f64::from_le_bytes(word(&c[8..])?)))).collect()
}

#[cfg(test)]
mod tests;
