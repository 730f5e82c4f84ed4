//! The run store: every run's record, metric series, logs and artifact index, in sled.
//!
//! Trees and keys (all ids are the run's 16 UUID bytes, integers big-endian so a range
//! scan reads in order):
//! - `runs`: id -> [`RunRecord`] as JSON
//! - `blocks`: id | name length (u16) | name | first step (u64) -> up to 512 points of the
//!   series, sorted by step, each step (u64) and value (f64) little-endian (see `blocks`)
//! - `series`: id | name -> nothing (which series a run has)
//! - `logs`: id | sequence (u64) -> [`LogLine`] as JSON
//! - `artifacts`: id | name -> [`Artifact`] as JSON; the files live under `artifacts/<id>/`,
//!   the run's latest [`Checkpoint`] too (`checkpoint.bin`, replaced atomically)
//! - `meta`: `schema_version` -> u32
//!
//! Only one process opens a store at a time (sled holds a file lock); a second one gets
//! [`StoreError::Locked`], and reads through the holder's API instead (`benchtop-serve`):
//! [`RunSource`] is what both an open store and that API's client answer.

use std::path::{Path, PathBuf};

use benchtop_core::{Checkpoint, LogLevel, RunId, RunRecord, RunStatus};

mod blocks;
mod query;
use chrono::{DateTime, Utc};
pub use query::{RunPage, RunQuery, cell};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The layout version this build writes. Bump it with a migration when the layout changes.
/// 1: a key per metric point (`metrics`); 2: series in blocks (`blocks`), migrated on open.
pub const SCHEMA_VERSION: u32 = 2;

/// A series' key prefix and points.
type SeriesPoints = (Vec<u8>, Vec<(u64, f64)>);

/// Schema 1's tree of points, a key each; migrated into `blocks` and dropped on open.
const LEGACY_POINTS: &str = "metrics";

/// How long opening waits for a store's lock before calling it in use by another process.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// sled's page cache, at most. Its default (1 GiB) is what the soak's resident memory grew
/// to; reads past the cache come from the operating system's file cache.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The environment variable that overrides the default store location.
pub const STORE_ENV: &str = "BENCHTOP_STORE";

/// What can go wrong with the store; every message names the store's folder.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {0} is in use by another Benchtop process (close it, or pick another store with --store)")]
    Locked(PathBuf),
    #[error(
        "the store at {path} has schema version {found}, newer than this Benchtop understands ({supported}); upgrade Benchtop to open it (nothing was changed)"
    )]
    NewerSchema { path: PathBuf, found: u32, supported: u32 },
    #[error("cannot open the store at {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("no run with id `{0}`")]
    NoSuchRun(String),
    #[error("`{prefix}` matches {count} runs; give more of the id")]
    AmbiguousRun { prefix: String, count: usize },
    #[error("store at {path}: {source}")]
    Db { path: PathBuf, source: sled::Error },
    #[error("store at {path}: corrupt record: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("store at {path}: cannot write artifacts: {source}")]
    Artifacts { path: PathBuf, source: std::io::Error },
    #[error("store at {path}: the run's checkpoint cannot be read: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("no data directory for this user; set {STORE_ENV} or pass --store DIR")]
    NoDataDir,
    #[error("query: {0}")]
    Query(benchtop_core::QueryError),
    /// An error the process holding the store answered with, already worded for a person
    /// (the same words as when this process holds the store itself).
    #[error("{0}")]
    Remote(String),
}

type Result<T> = std::result::Result<T, StoreError>;

/// One line of a run's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub text: String,
}

/// A file a run kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Artifact {
    pub name: String,
    #[ts(type = "string")]
    pub path: PathBuf,
    #[ts(type = "number")]
    pub bytes: u64,
}

/// A stored run record that does not decode (written by a broken build, or damaged on
/// disk). Listings skip it and say so rather than fail whole; `benchtop delete ID` removes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Unreadable {
    /// The record's key: the run's id when the key is one.
    pub id: String,
    pub error: String,
}

/// Writes gathered by the runner and applied together (one sled batch per tree).
#[derive(Default, Debug)]
pub struct WriteBatch {
    metrics: Vec<(RunId, String, u64, f64)>,
    logs: Vec<(RunId, LogLine)>,
    artifacts: Vec<(RunId, Artifact)>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn metric(&mut self, run: RunId, name: &str, step: u64, value: f64) {
        self.metrics.push((run, name.to_owned(), step, value));
    }
    pub fn log(&mut self, run: RunId, level: LogLevel, text: String) {
        self.logs.push((run, LogLine { at: Utc::now(), level, text }));
    }
    pub fn artifact(&mut self, run: RunId, artifact: Artifact) {
        self.artifacts.push((run, artifact));
    }
    /// How many writes are waiting.
    pub fn len(&self) -> usize {
        self.metrics.len() + self.logs.len() + self.artifacts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which runs to list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunFilter {
    pub experiment: Option<String>,
    pub study: Option<String>,
    pub status: Option<RunStatus>,
}

impl RunFilter {
    fn accepts(&self, r: &RunRecord) -> bool {
        self.experiment.as_ref().is_none_or(|e| &r.experiment == e)
            && self.study.as_ref().is_none_or(|s| &r.study == s)
            && self.status.is_none_or(|s| r.status == s)
    }
}

/// An open run store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    runs: sled::Tree,
    blocks: sled::Tree,
    series: sled::Tree,
    logs: sled::Tree,
    artifacts: sled::Tree,
    /// Serialises read-change-write of run records: the runner's writer thread (status,
    /// summary) and the app (tags, notes, resume) change the same records concurrently.
    record_lock: std::sync::Mutex<()>,
    /// A write re-cuts a series' blocks (read, merge, replace): readers of series wait for
    /// it, since a scan across blocks being replaced could see a point twice or miss one,
    /// and two writes of one series never interleave.
    series_lock: std::sync::RwLock<()>,
    /// The records the last listing could not decode, by key.
    unreadable: std::sync::Mutex<std::collections::BTreeMap<Vec<u8>, String>>,
}

impl Store {
    /// `--store DIR` if given, else `$BENCHTOP_STORE`, else the platform's data dir.
    pub fn resolve_dir(explicit: Option<&Path>) -> Result<PathBuf> {
        if let Some(dir) = explicit {
            return Ok(dir.to_path_buf());
        }
        benchtop_core::paths::env_or_data_dir(STORE_ENV, "store").ok_or(StoreError::NoDataDir)
    }

    /// Open (or create) the store in `dir`. Runs a crash left `queued` or `running` are
    /// marked `interrupted`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Open { path: dir.to_path_buf(), source })?;
        let open = || {
            sled::Config::new().path(dir.join("db")).cache_capacity(CACHE_BYTES).flush_every_ms(Some(500)).open().map_err(|e| match e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => StoreError::Locked(dir.to_path_buf()),
                sled::Error::Io(source) => StoreError::Open { path: dir.to_path_buf(), source },
                other => StoreError::Db { path: dir.to_path_buf(), source: other },
            })
        };
        // A store this process has just closed is unlocked by sled's flusher thread when it
        // next wakes (up to its 500 ms period later): wait that long before calling it in use.
        let since = std::time::Instant::now();
        let db = loop {
            match open() {
                Err(StoreError::Locked(_)) if since.elapsed() < LOCK_WAIT => std::thread::sleep(std::time::Duration::from_millis(25)),
                other => break other?,
            }
        };
        let path = dir.to_path_buf();
        let tree = |name: &str| db.open_tree(name).map_err(|source| StoreError::Db { path: path.clone(), source });
        let store = Store {
            runs: tree("runs")?,
            blocks: tree("blocks")?,
            series: tree("series")?,
            logs: tree("logs")?,
            artifacts: tree("artifacts")?,
            db: db.clone(),
            path: path.clone(),
            record_lock: std::sync::Mutex::new(()),
            series_lock: std::sync::RwLock::new(()),
            unreadable: Default::default(),
        };
        store.check_schema()?;
        store.mark_interrupted()?;
        Ok(store)
    }

    /// The store's folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_err(&self) -> impl Fn(sled::Error) -> StoreError + '_ {
        |source| StoreError::Db { path: self.path.clone(), source }
    }

    fn corrupt(&self, message: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt { path: self.path.clone(), message: message.to_string() }
    }

    fn check_schema(&self) -> Result<()> {
        let meta = self.db.open_tree("meta").map_err(self.db_err())?;
        match meta.get("schema_version").map_err(self.db_err())? {
            None => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes()).map_err(self.db_err())?;
                Ok(())
            }
            Some(bytes) => {
                let found = u32::from_be_bytes(bytes.as_ref().try_into().map_err(|_| self.corrupt("schema_version is not a u32"))?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::NewerSchema { path: self.path.clone(), found, supported: SCHEMA_VERSION });
                }
                if found < 2 {
                    self.migrate_to_blocks()?;
                    meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes()).map_err(self.db_err())?;
                    self.flush()?;
                }
                // Schema 1's points, once in blocks (also when a migration stopped after the
                // version was written).
                if self.db.tree_names().iter().any(|n| n.as_ref() == LEGACY_POINTS.as_bytes()) {
                    self.db.drop_tree(LEGACY_POINTS).map_err(self.db_err())?;
                    self.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Schema 1 kept a key per point (`metrics`: id | name length | name | step -> value);
    /// put every series into blocks. Written before the version says so, and the same blocks
    /// every time: a migration stopped part way runs again on the next open.
    fn migrate_to_blocks(&self) -> Result<()> {
        let legacy = self.db.open_tree(LEGACY_POINTS).map_err(self.db_err())?;
        // Below schema 2 the blocks tree holds only what a stopped migration left (and a
        // schema-1 build may have changed the points since): start it afresh.
        self.blocks.clear().map_err(self.db_err())?;
        let mut batch = sled::Batch::default();
        let mut pending = 0usize;
        // The series being read and its points not yet in a block; keys come in step order,
        // so a block is cut every 512 points and memory stays at one batch.
        let mut current: Option<SeriesPoints> = None;
        for item in legacy.iter() {
            let (key, value) = item.map_err(self.db_err())?;
            let (prefix, step) = key.split_at(key.len().saturating_sub(8));
            let step = <[u8; 8]>::try_from(step).map(u64::from_be_bytes).map_err(|_| self.corrupt("a schema-1 metric key"))?;
            let value = <[u8; 8]>::try_from(value.as_ref()).map(f64::from_be_bytes).map_err(|_| self.corrupt("a schema-1 metric value"))?;
            let same = current.as_ref().is_some_and(|(p, _)| p.as_slice() == prefix);
            if !same
                && let Some((p, points)) = current.take()
                && !points.is_empty()
            {
                batch.insert(block_key(&p, points[0].0), blocks::encode(&points));
            }
            let (p, points) = current.get_or_insert_with(|| (prefix.to_vec(), Vec::with_capacity(blocks::BLOCK)));
            points.push((step, value));
            pending += 1;
            if points.len() == blocks::BLOCK {
                batch.insert(block_key(p, points[0].0), blocks::encode(points));
                points.clear();
            }
            if pending >= 1_000_000 {
                self.blocks.apply_batch(std::mem::take(&mut batch)).map_err(self.db_err())?;
                pending = 0;
            }
        }
        if let Some((p, points)) = current.take()
            && !points.is_empty()
        {
            batch.insert(block_key(&p, points[0].0), blocks::encode(&points));
        }
        self.blocks.apply_batch(batch).map_err(self.db_err())?;
        self.flush()
    }

    fn mark_interrupted(&self) -> Result<()> {
        let mut fixed = 0;
        for record in self.runs(&RunFilter::default())? {
            if !record.status.is_final() {
                self.update_run(record.id, |r| r.status = RunStatus::Interrupted)?;
                fixed += 1;
            }
        }
        if fixed > 0 {
            self.flush()?;
        }
        Ok(())
    }

    /// Write a schema version (for tests of what a newer Benchtop leaves behind).
    #[doc(hidden)]
    pub fn force_schema_version(&self, version: u32) -> Result<()> {
        let meta = self.db.open_tree("meta").map_err(self.db_err())?;
        meta.insert("schema_version", &version.to_be_bytes()).map_err(self.db_err())?;
        self.flush()
    }

    /// Store new runs.
    pub fn create_runs(&self, records: &[RunRecord]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for r in records {
            batch.insert(r.id.as_bytes(), self.encode(r)?);
        }
        self.runs.apply_batch(batch).map_err(self.db_err())?;
        self.flush()
    }

    fn encode(&self, record: &RunRecord) -> Result<Vec<u8>> {
        serde_json::to_vec(record).map_err(|e| self.corrupt(e))
    }

    fn decode(&self, bytes: &[u8]) -> Result<RunRecord> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(format!("run record: {e}")))
    }

    /// Change a run's record in place; returns the new record.
    pub fn update_run(&self, id: RunId, change: impl FnOnce(&mut RunRecord)) -> Result<RunRecord> {
        // A poisoned lock guards no broken state (records are written whole).
        let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.run(id)?;
        change(&mut record);
        self.runs.insert(id.as_bytes(), self.encode(&record)?).map_err(self.db_err())?;
        Ok(record)
    }

    /// Change a run's record only when `change` says it did (returns true), under the same
    /// lock as [`Store::update_run`], so a check and its write cannot interleave with another.
    fn transition(&self, id: RunId, change: impl FnOnce(&mut RunRecord) -> bool) -> Result<bool> {
        let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self.run(id)?;
        if !change(&mut record) {
            return Ok(false);
        }
        self.runs.insert(id.as_bytes(), self.encode(&record)?).map_err(self.db_err())?;
        Ok(true)
    }

    /// Mark the queued runs among `ids` cancelled, so the runner never starts them; returns
    /// those. (A running run is stopped through its runner's cancel flag instead.)
    pub fn cancel_queued(&self, ids: &[RunId]) -> Result<Vec<RunId>> {
        let mut cancelled = Vec::new();
        for &id in ids {
            let changed = self.transition(id, |r| {
                let queued = r.status == RunStatus::Queued;
                if queued {
                    r.status = RunStatus::Cancelled;
                }
                queued
            })?;
            if changed {
                cancelled.push(id);
            }
        }
        Ok(cancelled)
    }

    /// Queue again the runs among `ids` that may be resumed ([`RunStatus::can_resume`]),
    /// clearing their error and summary; returns those. Their old series stay until the new
    /// attempt writes over them.
    pub fn requeue(&self, ids: &[RunId]) -> Result<Vec<RunId>> {
        let mut again = Vec::new();
        for &id in ids {
            let changed = self.transition(id, |r| {
                let resumable = r.status.can_resume();
                if resumable {
                    r.status = RunStatus::Queued;
                    r.error = None;
                    r.summary.clear();
                }
                resumable
            })?;
            if changed {
                again.push(id);
            }
        }
        Ok(again)
    }

    /// Delete the runs among `ids` that have ended ([`RunStatus::can_delete`]) with all their
    /// data; the ones still queued or running are left alone and listed in `busy`.
    pub fn delete_runs(&self, ids: &[RunId]) -> Result<Deleted> {
        let mut out = Deleted::default();
        for &id in ids {
            // Held across the check and the delete, so the run cannot be requeued between.
            let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
            let deletable = match self.run(id) {
                Ok(record) => record.status.can_delete(),
                // A record that does not decode runs nowhere: it can only be removed.
                Err(StoreError::Corrupt { .. }) => true,
                Err(e) => return Err(e),
            };
            if deletable {
                self.delete_run(id)?;
                out.deleted.push(id);
            } else {
                out.busy.push(id);
            }
        }
        Ok(out)
    }

    /// One run by id.
    pub fn run(&self, id: RunId) -> Result<RunRecord> {
        match self.runs.get(id.as_bytes()).map_err(self.db_err())? {
            Some(bytes) => self.decode(&bytes),
            None => Err(StoreError::NoSuchRun(id.to_string())),
        }
    }

    /// A run by its full id or a unique prefix of it (as printed by `benchtop runs`).
    pub fn find_run(&self, text: &str) -> Result<RunRecord> {
        if let Ok(id) = text.parse::<RunId>() {
            return self.run(id);
        }
        let prefix = text.to_ascii_lowercase();
        if prefix.len() < 4 {
            return Err(StoreError::NoSuchRun(text.to_owned()));
        }
        let matches: Vec<RunRecord> = self
            .runs(&RunFilter::default())?
            .into_iter()
            .filter(|r| r.id.to_string().starts_with(&prefix) || r.id.0.simple().to_string().starts_with(&prefix))
            .collect();
        match matches.len() {
            0 => Err(StoreError::NoSuchRun(text.to_owned())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            count => Err(StoreError::AmbiguousRun { prefix: text.to_owned(), count }),
        }
    }

    /// Runs matching `filter`, oldest first (ids are time-ordered). A record that does not
    /// decode is skipped, not fatal: [`Store::unreadable`] then names it.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut out = Vec::new();
        let mut unreadable = std::collections::BTreeMap::new();
        for item in self.runs.iter() {
            let (key, bytes) = item.map_err(self.db_err())?;
            match self.decode(&bytes) {
                Ok(record) if filter.accepts(&record) => out.push(record),
                Ok(_) => {}
                Err(e) => {
                    unreadable.insert(key.to_vec(), e.to_string());
                }
            }
        }
        *self.unreadable.lock().unwrap_or_else(|p| p.into_inner()) = unreadable;
        Ok(out)
    }

    /// The run records the last listing skipped because they do not decode.
    pub fn unreadable(&self) -> Vec<Unreadable> {
        let map = self.unreadable.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(key, error)| Unreadable {
                id: match uuid::Uuid::from_slice(key) {
                    Ok(id) => id.to_string(),
                    Err(_) => format!("key {}", key.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                },
                error: error.clone(),
            })
            .collect()
    }

    /// Store a record's raw bytes under `id` (for tests of damaged records).
    #[doc(hidden)]
    pub fn put_raw_record(&self, id: RunId, bytes: &[u8]) -> Result<()> {
        self.runs.insert(id.as_bytes(), bytes).map_err(self.db_err())?;
        self.flush()
    }

    /// Apply a batch of metric points, log lines and artifacts.
    pub fn write(&self, batch: WriteBatch) -> Result<()> {
        if !batch.metrics.is_empty() {
            let _writing = self.series_lock.write().unwrap_or_else(|p| p.into_inner());
            // Each series' new points, in the order logged (a repeated step keeps its last),
            // by key prefix (two names cut to the same prefix are one series, not two writes
            // of the same blocks).
            let mut by_series: Vec<SeriesPoints> = Vec::new();
            let mut index: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
            let mut names = sled::Batch::default();
            for (run, name, step, value) in &batch.metrics {
                let prefix = series_prefix(*run, name);
                let i = *index.entry(prefix.clone()).or_insert_with(|| {
                    names.insert(named_key(*run, name), &[]);
                    by_series.push((prefix, Vec::new()));
                    by_series.len() - 1
                });
                by_series[i].1.push((*step, *value));
            }
            let mut writes = sled::Batch::default();
            for (prefix, new) in &by_series {
                let (blocks, removed) = blocks::merge(self.touched_blocks(prefix, new)?, new);
                for first in removed {
                    writes.remove(block_key(prefix, first));
                }
                for (first, points) in blocks {
                    writes.insert(block_key(prefix, first), blocks::encode(&points));
                }
            }
            self.series.apply_batch(names).map_err(self.db_err())?;
            self.blocks.apply_batch(writes).map_err(self.db_err())?;
        }
        if !batch.logs.is_empty() {
            let mut logs = sled::Batch::default();
            for (run, line) in &batch.logs {
                let seq = self.db.generate_id().map_err(self.db_err())?;
                let mut key = run.as_bytes().to_vec();
                key.extend_from_slice(&seq.to_be_bytes());
                logs.insert(key, serde_json::to_vec(line).map_err(|e| self.corrupt(e))?);
            }
            self.logs.apply_batch(logs).map_err(self.db_err())?;
        }
        if !batch.artifacts.is_empty() {
            let mut arts = sled::Batch::default();
            for (run, artifact) in &batch.artifacts {
                arts.insert(named_key(*run, &artifact.name), serde_json::to_vec(artifact).map_err(|e| self.corrupt(e))?);
            }
            self.artifacts.apply_batch(arts).map_err(self.db_err())?;
        }
        Ok(())
    }

    /// The names of a run's metric series, sorted.
    pub fn series_names(&self, run: RunId) -> Result<Vec<String>> {
        self.series
            .scan_prefix(run.as_bytes())
            .keys()
            .map(|k| {
                let k = k.map_err(self.db_err())?;
                Ok(String::from_utf8_lossy(&k[16..]).into_owned())
            })
            .collect()
    }

    /// One series as `(step, value)` in step order: a single range scan over its blocks.
    pub fn series(&self, run: RunId, name: &str) -> Result<Vec<(u64, f64)>> {
        let _reading = self.series_lock.read().unwrap_or_else(|p| p.into_inner());
        let mut points = Vec::new();
        for block in self.blocks.scan_prefix(series_prefix(run, name)).values() {
            let block = block.map_err(self.db_err())?;
            if !blocks::decode_into(&block, &mut points) {
                return Err(self.corrupt("a series block is not whole points"));
            }
        }
        Ok(points)
    }

    /// The blocks of a series that new points (steps `new`) fall in or between: the block
    /// holding the first new step, and every block starting up to the last.
    fn touched_blocks(&self, prefix: &[u8], new: &[(u64, f64)]) -> Result<blocks::Blocks> {
        let (Some(lo), Some(hi)) = (new.iter().map(|p| p.0).min(), new.iter().map(|p| p.0).max()) else { return Ok(Vec::new()) };
        let mut touched = Vec::new();
        let holding = self.blocks.range(prefix.to_vec()..=block_key(prefix, lo)).next_back();
        let after = if lo < u64::MAX { Some(self.blocks.range(block_key(prefix, lo + 1)..=block_key(prefix, hi))) } else { None };
        for item in holding.into_iter().chain(after.into_iter().flatten()) {
            let (key, value) = item.map_err(self.db_err())?;
            let first = key
                .get(prefix.len()..)
                .and_then(|k| <[u8; 8]>::try_from(k).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| self.corrupt("a series block key"))?;
            touched.push((first, blocks::decode(&value).ok_or_else(|| self.corrupt("a series block is not whole points"))?));
        }
        Ok(touched)
    }

    /// A run's log, oldest line first.
    pub fn logs(&self, run: RunId) -> Result<Vec<LogLine>> {
        self.logs
            .scan_prefix(run.as_bytes())
            .values()
            .map(|v| {
                let v = v.map_err(self.db_err())?;
                serde_json::from_slice(&v).map_err(|e| self.corrupt(format!("log line: {e}")))
            })
            .collect()
    }

    /// A run's artifacts, by name.
    pub fn artifacts(&self, run: RunId) -> Result<Vec<Artifact>> {
        self.artifacts
            .scan_prefix(run.as_bytes())
            .values()
            .map(|v| {
                let v = v.map_err(self.db_err())?;
                serde_json::from_slice(&v).map_err(|e| self.corrupt(format!("artifact: {e}")))
            })
            .collect()
    }

    /// The folder where a run keeps its files.
    pub fn artifacts_dir(&self, run: RunId) -> PathBuf {
        self.path.join("artifacts").join(run.to_string())
    }

    /// Where a run's latest checkpoint lives.
    pub fn checkpoint_path(&self, run: RunId) -> PathBuf {
        self.artifacts_dir(run).join("checkpoint.bin")
    }

    /// Keep `checkpoint` as the run's latest: written beside, synced, then renamed over the
    /// old one, so a crash at any moment leaves either the old checkpoint or the new one.
    /// The caller flushes what the run logged before it first.
    pub fn save_checkpoint(&self, run: RunId, checkpoint: &Checkpoint) -> Result<()> {
        use std::io::Write as _;
        let dir = self.artifacts_dir(run);
        let io = |source| StoreError::Artifacts { path: dir.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = self.checkpoint_path(run);
        let partial = path.with_extension("bin.partial");
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(&checkpoint.encode())?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            // The rename itself is durable once the folder is synced (a folder cannot be
            // opened as a file on Windows, where the rename is durable with the file).
            #[cfg(unix)]
            std::fs::File::open(&dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            io(e)
        })
    }

    /// The run's latest checkpoint, if it has one; a damaged one is an error saying why.
    pub fn checkpoint(&self, run: RunId) -> Result<Option<Checkpoint>> {
        let path = self.checkpoint_path(run);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Checkpoint { path, message: e.to_string() }),
        };
        Checkpoint::decode(&bytes).map(Some).map_err(|message| StoreError::Checkpoint { path, message })
    }

    /// Drop a run's checkpoint (once it is done, nothing resumes from it).
    pub fn remove_checkpoint(&self, run: RunId) -> Result<()> {
        match std::fs::remove_file(self.checkpoint_path(run)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Artifacts { path: self.artifacts_dir(run), source: e }),
            _ => Ok(()),
        }
    }

    /// Remove a run and everything it logged or kept, whatever its status: front ends call
    /// [`Store::delete_runs`], which keeps the rules.
    pub fn delete_run(&self, run: RunId) -> Result<()> {
        // Only that the record exists: an undecodable one can be deleted too.
        if !self.runs.contains_key(run.as_bytes()).map_err(self.db_err())? {
            return Err(StoreError::NoSuchRun(run.to_string()));
        }
        for tree in [&self.blocks, &self.series, &self.logs, &self.artifacts] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(run.as_bytes()).keys() {
                batch.remove(key.map_err(self.db_err())?);
            }
            tree.apply_batch(batch).map_err(self.db_err())?;
        }
        self.runs.remove(run.as_bytes()).map_err(self.db_err())?;
        let dir = self.artifacts_dir(run);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| StoreError::Artifacts { path: dir.clone(), source })?;
        }
        self.flush()
    }

    /// Make everything written so far durable.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(self.db_err())
    }
}

/// What reading a store's runs takes, whether this process holds the store ([`Store`]) or
/// another process does and serves it (`benchtop_serve::Remote`): the CLI's readers, the
/// charts and the reports take this, so they answer the same either way.
pub trait RunSource: Sync {
    /// The store's folder.
    fn location(&self) -> &Path;
    /// Runs matching `filter`, oldest first; records that do not decode are skipped and
    /// named by [`RunSource::skipped`].
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>>;
    /// The records the last listing skipped.
    fn skipped(&self) -> Vec<Unreadable>;
    /// A run by its full id or a unique prefix of it.
    fn find(&self, text: &str) -> Result<RunRecord>;
    fn series_of(&self, run: RunId) -> Result<Vec<String>>;
    fn points(&self, run: RunId, name: &str) -> Result<Vec<(u64, f64)>>;
    fn log_lines(&self, run: RunId) -> Result<Vec<LogLine>>;
    fn artifact_list(&self, run: RunId) -> Result<Vec<Artifact>>;
}

impl RunSource for Store {
    fn location(&self) -> &Path {
        self.path()
    }
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        self.runs(filter)
    }
    fn skipped(&self) -> Vec<Unreadable> {
        self.unreadable()
    }
    fn find(&self, text: &str) -> Result<RunRecord> {
        self.find_run(text)
    }
    fn series_of(&self, run: RunId) -> Result<Vec<String>> {
        self.series_names(run)
    }
    fn points(&self, run: RunId, name: &str) -> Result<Vec<(u64, f64)>> {
        self.series(run, name)
    }
    fn log_lines(&self, run: RunId) -> Result<Vec<LogLine>> {
        self.logs(run)
    }
    fn artifact_list(&self, run: RunId) -> Result<Vec<Artifact>> {
        self.artifacts(run)
    }
}

/// What [`Store::delete_runs`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: Vec<RunId>,
    /// Still queued or running: cancel them first.
    pub busy: Vec<RunId>,
}

fn named_key(run: RunId, name: &str) -> Vec<u8> {
    let mut key = run.as_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

fn series_prefix(run: RunId, name: &str) -> Vec<u8> {
    let mut key = run.as_bytes().to_vec();
    // The length prefix keeps "loss" from matching "loss_val" in a prefix scan.
    let len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(&name.as_bytes()[..len as usize]);
    key
}

fn block_key(prefix: &[u8], first_step: u64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(&first_step.to_be_bytes());
    key
}

#[cfg(test)]
mod tests;
