//! Stored run records (the store's `runs` tree): any bytes decode or are refused, and a
//! record that decodes writes back to one that decodes equal, to the last bit of every
//! number. (This target found serde_json's default float parser reading some shortest-form
//! numbers one ULP off, so records drifted as they were rewritten; the workspace turns on its
//! exact `float_roundtrip` parsing.) Never a panic.
#![no_main]

use benchtop_core::RunRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<RunRecord>(data) else { return };
    let again = serde_json::to_vec(&record).expect("a decoded record encodes");
    let back: RunRecord = serde_json::from_slice(&again).expect("an encoded record decodes");
    let (a, b) = (serde_json::to_vec(&back).expect("a record encodes"), again);
    assert!(a == b, "a record changed through the store's encoding:\n{}\n{}", String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    let _ = record.status.can_resume();
});
