//! Entries of the artifact cache (the store's `cache/` folder): whatever bytes an entry's
//! file holds, a lookup returns them only when they are a whole, valid entry for its key, and
//! otherwise computes the stage again. Never a panic, never a damaged entry trusted.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use benchtop_core::{ArtifactCache, CacheKey, CacheOutcome};
use libfuzzer_sys::fuzz_target;

const PAYLOAD: &[u8] = b"the stage's bytes";

/// A cache with one valid entry, and that entry's file and bytes.
fn entry() -> &'static (ArtifactCache, PathBuf, Vec<u8>) {
    static ENTRY: OnceLock<(ArtifactCache, PathBuf, Vec<u8>)> = OnceLock::new();
    ENTRY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("benchtop-fuzz-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = ArtifactCache::new(&dir);
        cache.get_or_compute(&key(), || Ok::<_, ()>(PAYLOAD.to_vec())).expect("the first entry");
        let file = std::fs::read_dir(&dir).expect("the cache folder").filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|e| e == "bin")).expect("the entry's file");
        let valid = std::fs::read(&file).expect("the entry");
        (cache, file, valid)
    })
}

fn key() -> CacheKey {
    CacheKey::new("fuzz", "stage", 7)
}

fuzz_target!(|data: &[u8]| {
    let (cache, file, valid) = entry();
    std::fs::write(file, data).expect("writing the entry");
    let (bytes, outcome, _) = cache.get_or_compute(&key(), || Ok::<_, ()>(PAYLOAD.to_vec())).expect("a lookup");
    match outcome {
        // A hit returns the file's own payload: the valid entry, or another whole entry for
        // this key that the fuzzer built (its length and checksum fit).
        CacheOutcome::Hit => assert!(data.ends_with(&bytes), "a hit returned bytes that are not the entry's payload"),
        CacheOutcome::Rebuilt => {
            assert_ne!(data, valid.as_slice(), "the valid entry was not trusted");
            assert_eq!(bytes, PAYLOAD, "a rebuilt entry is the computed one");
        }
        CacheOutcome::Miss => panic!("the entry's file was there"),
    }
});
