//! Run checkpoints (`artifacts/<run>/checkpoint.bin`): any bytes decode or are refused with a
//! reason, and what decodes encodes back to the same bytes. Never a panic.
#![no_main]

use benchtop_core::Checkpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs keep a valid header so the fuzzer reaches the body's reader.
    let framed;
    let input = if data.first().is_some_and(|b| b & 1 == 1) {
        let body = &data[1..];
        let mut bytes = b"BENCHTOP-CHECKPOINT\n".to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend_from_slice(&benchtop_core::cache::fnv1a(body.iter().copied()).to_le_bytes());
        bytes.extend_from_slice(body);
        framed = bytes;
        &framed[..]
    } else {
        data
    };
    match Checkpoint::decode(input) {
        Ok(cp) => assert_eq!(cp.encode(), input, "a decoded checkpoint encodes to its own bytes"),
        Err(reason) => assert!(!reason.is_empty()),
    }
});
