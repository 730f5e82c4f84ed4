//! Runs: identity, status, backend, provenance and the stored record.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// A run's id: a UUID v7, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(transparent)]
pub struct RunId(pub Uuid);

impl RunId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        RunId(Uuid::now_v7())
    }

    /// The 16 bytes used as the store's key prefix.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RunId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(RunId)
    }
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    /// The process died while the run was queued or running (found on the next open).
    Interrupted,
}

impl RunStatus {
    /// All statuses, in life order.
    pub const ALL: [RunStatus; 6] =
        [RunStatus::Queued, RunStatus::Running, RunStatus::Done, RunStatus::Failed, RunStatus::Cancelled, RunStatus::Interrupted];

    /// The lower-case name used in files, JSON and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Whether the run has ended (for better or worse).
    pub fn is_final(&self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    // The lifecycle rules, in one place: the store applies them, the runner, CLI and app
    // call the store, and the window asks the same questions to enable its buttons.

    /// Whether cancelling means anything: the run is waiting or training.
    pub fn can_cancel(&self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// Whether the run may start again from the beginning (studies keep no checkpoints): it
    /// ended without a result. A finished run is rerun as a new run, not resumed.
    pub fn can_resume(&self) -> bool {
        matches!(self, RunStatus::Cancelled | RunStatus::Interrupted | RunStatus::Failed)
    }

    /// Whether the run may be deleted: only once it has ended, so nothing writes to it.
    pub fn can_delete(&self) -> bool {
        self.is_final()
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            let allowed: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status `{s}`; allowed: {}", allowed.join(", "))
        })
    }
}

/// The device family a run trains on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn's pure-Rust CPU backend.
    #[default]
    Cpu,
    /// burn-wgpu: a GPU through Vulkan/Metal/DX12 (or a CPU Vulkan driver).
    Gpu,
    /// LibTorch's CPU kernels under burn (burn-tch), in a build with the opt-in `libtorch`
    /// feature: faster than burn-flex on convolutions and transformers, slower on small
    /// dense models (docs/performance.md).
    Libtorch,
}

impl Backend {
    /// The lower-case name used in files and the CLI.
    pub fn as_str(&self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::Libtorch => "libtorch",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn finite_only<S: serde::Serializer>(summary: &Summary, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(summary.iter().filter(|(_, v)| v.is_finite()))
}

fn skip_nulls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Summary, D::Error> {
    let raw: BTreeMap<String, Option<f64>> = serde::Deserialize::deserialize(d)?;
    Ok(raw.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
}

/// A run's summary: its final scalar per metric.
pub type Summary = BTreeMap<String, f64>;

/// What is needed to reproduce a run, recorded when it starts and ends.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Provenance {
    /// Benchtop's version.
    pub benchtop_version: String,
    /// The git commit of the experiment file's directory, with `-dirty` when it has changes.
    pub git_commit: Option<String>,
    /// The machine's host name.
    pub host: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_s: Option<f64>,
    /// The compute the run's numbers came from, recorded when it starts (absent for runs
    /// that never started, and for runs stored before it was recorded).
    #[serde(default)]
    pub compute: Option<Compute>,
}

/// What a run's numbers depend on besides (params, seed, backend). A run is bit-identical
/// only on the same compute: another CPU's kernels take another SIMD path or cache blocking
/// and round differently, and training amplifies the difference (a per-seed result can
/// change sign). Runs from two machines compare as two samples, not as reruns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Compute {
    /// The CPU's model name (`/proc/cpuinfo`), or its architecture where no name is known.
    pub cpu: String,
    /// The SIMD paths the CPU kernels chose at run time: element-wise ops and reductions,
    /// and the matrix multiply (e.g. `elementwise x86-64-v3 (AVX2); matmul FMA`).
    pub simd: String,
    /// Threads the CPU kernels split each op over.
    pub threads: usize,
    /// For a GPU run: the adapter, its graphics API and driver.
    #[serde(default)]
    pub gpu: Option<String>,
}

impl Compute {
    /// One line for tables and reports: `AMD EPYC, x86-64-v3 (AVX2); matmul FMA, 2 threads`.
    pub fn describe(&self) -> String {
        let mut s = format!("{}, {}, {} threads", self.cpu, self.simd, self.threads);
        if let Some(gpu) = &self.gpu {
            s.push_str(&format!("; GPU {gpu}"));
        }
        s
    }
}

/// Everything stored about one run but its series, logs and artifacts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct RunRecord {
    pub id: RunId,
    pub experiment: String,
    /// The experiment's description, as its file gave it.
    #[serde(default)]
    pub description: String,
    pub study: String,
    /// The method, when the study's parameters have one (most do).
    pub method: Option<String>,
    /// At most 2^53 - 1 (experiment files are checked), so the UI's numbers hold it exactly.
    #[ts(type = "number")]
    pub seed: u64,
    pub backend: Backend,
    pub status: RunStatus,
    /// The fully resolved parameters: defaults, then `[params]`, then the sweep point.
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The sweep point alone: the keys that vary across this experiment's runs.
    pub sweep_point: BTreeMap<String, serde_json::Value>,
    /// Finite values only: JSON has no NaN (serde writes it as null, which would not read
    /// back), so a non-finite value is left out on write and a null skipped on read.
    #[serde(serialize_with = "finite_only", deserialize_with = "skip_nulls")]
    pub summary: Summary,
    /// The error message of a failed run.
    pub error: Option<String>,
    /// The experiment file this run came from, if any.
    pub experiment_file: Option<String>,
    pub provenance: Provenance,
    pub created_at: DateTime<Utc>,
    /// Free-form labels set by the user.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The user's notes on this run.
    #[serde(default)]
    pub notes: String,
}
