//! Camera poses from a NeRF-style `transforms.json`: any text reads or is refused with an
//! error naming the file. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = benchtop_data::lightfield::poses::read_transforms(text, "transforms.json") {
        assert!(e.to_string().starts_with("transforms.json"), "an error that does not name the file: {e}");
    }
});
