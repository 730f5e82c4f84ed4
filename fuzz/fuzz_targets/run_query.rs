//! The run query language (the CLI's `--where` and the app's search box): any text parses
//! or is refused with a column inside it; a parsed query evaluates on a run. Never a panic.
#![no_main]

use benchtop_core::Query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let run: benchtop_core::RunRecord = serde_json::from_str(include_str!("run.json")).expect("the sample run");
    for parsed in [Query::parse(text), Query::parse_search(text)] {
        match parsed {
            Ok(query) => {
                let _ = query.matches(&run);
            }
            Err(e) => assert!(e.column <= text.chars().count() + 1, "column {} past the end of {text:?}", e.column),
        }
    }
});
