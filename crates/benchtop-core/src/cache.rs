//! A keyed cache of expensive stages shared across runs (a source model per seed, a
//! pre-trained encoder): the key names the study, the stage, every parameter the stage
//! depends on and the seed, so a sweep's second run reuses the first one's result.
//!
//! Entries are written to a temporary file and renamed into place, so a crash never leaves
//! a half-written entry under a real name; each entry carries its full key, its length and
//! a checksum, and anything that does not match is rebuilt, never trusted. Two runs that
//! miss the same key at once both compute it; the last rename wins (same bytes either way).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

const MAGIC: &[u8; 8] = b"BTCACHE1";

/// What a cached stage depends on. Parameters are kept sorted, so the order in which a
/// study names them never changes the key.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheKey {
    study: String,
    stage: String,
    params: BTreeMap<String, Value>,
    seed: u64,
}

impl CacheKey {
    pub fn new(study: &str, stage: &str, seed: u64) -> Self {
        CacheKey { study: study.to_owned(), stage: stage.to_owned(), params: BTreeMap::new(), seed }
    }

    /// A parameter the stage depends on (builder style).
    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// The key as one canonical line (stored in the entry and compared on read).
    pub fn canonical(&self) -> String {
        let params = serde_json::to_string(&self.params).unwrap_or_default();
        format!("{}/{}/seed={}/{}", self.study, self.stage, self.seed, params)
    }

    fn file_name(&self) -> String {
        format!("{}-{}-{:016x}.bin", self.study, self.stage, fnv1a(self.canonical().bytes()))
    }
}

/// FNV-1a, 64 bits: stable across builds, processes and platforms (std's hasher is not).
/// Used for cache file names (the full key inside the entry settles any collision), entry
/// checksums and the studies' text hashes.
pub fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// Whether a lookup found a valid entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    /// Computed now: there was no entry.
    Miss,
    /// Computed now: the entry was corrupt, partial or for another key.
    Rebuilt,
}

/// The cache's folder (beside the run store).
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ArtifactCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, ()> {
        let bytes = match std::fs::read(self.dir.join(key.file_name())) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => return Err(()),
        };
        let canonical = key.canonical();
        let header = 8 + 4 + canonical.len() + 8 + 8;
        if bytes.len() < header || &bytes[..8] != MAGIC {
            return Err(());
        }
        let key_len = u32::from_le_bytes(bytes[8..12].try_into().map_err(|_| ())?) as usize;
        if key_len != canonical.len() || &bytes[12..12 + key_len] != canonical.as_bytes() {
            return Err(());
        }
        let at = 12 + key_len;
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().map_err(|_| ())?) as usize;
        let sum = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().map_err(|_| ())?);
        let payload = &bytes[header..];
        if payload.len() != len || fnv1a(payload.iter().copied()) != sum {
            return Err(());
        }
        Ok(Some(payload.to_vec()))
    }

    fn write(&self, key: &CacheKey, payload: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let canonical = key.canonical();
        let path = self.dir.join(key.file_name());
        let tmp = path.with_extension(format!("partial-{}", std::process::id()));
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            f.write_all(MAGIC)?;
            f.write_all(&(canonical.len() as u32).to_le_bytes())?;
            f.write_all(canonical.as_bytes())?;
            f.write_all(&(payload.len() as u64).to_le_bytes())?;
            f.write_all(&fnv1a(payload.iter().copied()).to_le_bytes())?;
            f.write_all(payload)?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&tmp, &path)
    }

    /// The entry for `key`, or `compute`'s bytes, stored for next time. A failure to store
    /// is not an error (the run has its result); it is returned beside it to be logged.
    pub fn get_or_compute<E>(
        &self,
        key: &CacheKey,
        compute: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<(Vec<u8>, CacheOutcome, Option<String>), E> {
        // Runs of one sweep run side by side and often want the same entry at once: the
        // second waits for the first's result instead of computing it again.
        let lock = key_lock(&self.dir.join(key.file_name()));
        let _held = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = match self.read(key) {
            Ok(Some(bytes)) => return Ok((bytes, CacheOutcome::Hit, None)),
            Ok(None) => CacheOutcome::Miss,
            Err(()) => CacheOutcome::Rebuilt,
        };
        let bytes = compute()?;
        let store_error = self.write(key, &bytes).err().map(|e| format!("could not store the cache entry {}: {e}", key.canonical()));
        Ok((bytes, outcome, store_error))
    }
}

/// One lock per cache file in this process (entries are few: never removed).
fn key_lock(path: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    locks.entry(path.to_path_buf()).or_default().clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_second_lookup_reuses_the_first_result_and_parameters_make_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path());
        let calls = Cell::new(0);
        let compute = || -> Result<Vec<u8>, String> {
            calls.set(calls.get() + 1);
            Ok(vec![1, 2, 3])
        };
        let key = CacheKey::new("goat", "source_model", 3).param("lr", 1e-4).param("epochs", 5);
        assert_eq!(cache.get_or_compute(&key, compute).unwrap().1, CacheOutcome::Miss);
        let (bytes, outcome, _) = cache.get_or_compute(&key, compute).unwrap();
        assert_eq!((bytes, outcome, calls.get()), (vec![1, 2, 3], CacheOutcome::Hit, 1));
        let same = CacheKey::new("goat", "source_model", 3).param("epochs", 5).param("lr", 1e-4);
        assert_eq!(cache.get_or_compute(&same, compute).unwrap().1, CacheOutcome::Hit, "order of params does not matter");
        let other_seed = CacheKey::new("goat", "source_model", 4).param("lr", 1e-4).param("epochs", 5);
        assert_eq!(cache.get_or_compute(&other_seed, compute).unwrap().1, CacheOutcome::Miss);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_corrupt_or_partial_entry_is_rebuilt_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path());
        let key = CacheKey::new("cfa", "encoder", 0);
        cache.get_or_compute(&key, || Ok::<_, String>(vec![7; 100])).unwrap();
        let path = dir.path().join(key.file_name());
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (got, outcome, _) = cache.get_or_compute(&key, || Ok::<_, String>(vec![7; 100])).unwrap();
        assert_eq!((got.len(), outcome), (100, CacheOutcome::Rebuilt), "a flipped byte fails the checksum");
        std::fs::write(&path, &std::fs::read(&path).unwrap()[..50]).unwrap();
        assert_eq!(cache.get_or_compute(&key, || Ok::<_, String>(vec![7; 100])).unwrap().1, CacheOutcome::Rebuilt, "truncated");
        assert_eq!(cache.get_or_compute(&key, || Ok::<_, String>(vec![0])).unwrap().1, CacheOutcome::Hit, "and rewritten");
    }

    #[test]
    fn two_threads_wanting_one_entry_compute_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let key = CacheKey::new("goat", "source_model", 9);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let cache = ArtifactCache::new(dir.path());
                    cache
                        .get_or_compute(&key, || {
                            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            Ok::<_, String>(vec![1])
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_computation_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path());
        let key = CacheKey::new("goat", "source_model", 0);
        assert!(cache.get_or_compute(&key, || Err::<Vec<u8>, _>("out of memory")).is_err());
        assert_eq!(cache.get_or_compute(&key, || Ok::<_, String>(vec![1])).unwrap().1, CacheOutcome::Miss);
    }
}
