//! The window's security settings, pinned: the capabilities it is granted and its content
//! security policy. Adding a permission or loosening the CSP fails here until this file is
//! changed with it, and each permission below names what uses it.

#![allow(clippy::unwrap_used)] // a test: a panic is the failure message

use serde_json::Value;

fn json(rel: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn the_window_gets_exactly_the_permissions_it_uses() {
    // Each with what needs it: an added permission needs a line here saying why.
    let expected = [
        // Live run events (run-status, run-progress, run-metrics, store-error): the E2E test
        // watches runs finish through them.
        "core:event:allow-listen",
        "core:event:allow-unlisten",
        // The Report screen's save dialog for choosing where a report or table goes. (The
        // E2E test exports a report by typing the path; the dialog itself is not driven.)
        "dialog:allow-save",
        // The experiment form's "Choose…" button beside a file-path parameter (the light-field
        // study's pose file): an open dialog for one file, whose path is typed into the form
        // and checked like any other value. (The E2E test types the path.)
        "dialog:allow-open",
    ];
    let caps = json("capabilities/default.json");
    let granted: Vec<&str> = caps["permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(granted, expected, "capabilities/default.json changed: update this test with what uses the new permission");
    assert_eq!(caps["windows"], serde_json::json!(["main"]));
    assert!(caps.get("remote").is_none(), "no remote origin may call Benchtop's commands");
    let others: Vec<_> = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(others, ["default.json"], "one capability file");
}

#[test]
fn the_content_security_policy_allows_only_the_apps_own_code() {
    let conf = json("tauri.conf.json");
    let security = &conf["app"]["security"];
    assert_eq!(security["freezePrototype"], true);
    assert!(conf["app"].get("withGlobalTauri").is_none_or(|v| v == false), "no global Tauri object for injected scripts");
    let csp = security["csp"].as_str().unwrap();
    let directive = |name: &str| -> Vec<&str> {
        csp.split(';').map(str::trim).find_map(|d| d.strip_prefix(name).map(|v| v.split_whitespace().collect())).unwrap_or_default()
    };
    assert_eq!(directive("default-src"), ["'self'"]);
    assert_eq!(directive("script-src"), ["'self'"], "no inline or eval'd script: a stored payload cannot run");
    assert_eq!(directive("object-src"), ["'none'"]);
    assert_eq!(directive("frame-src"), ["'none'"]);
    assert_eq!(directive("base-uri"), ["'none'"]);
    assert_eq!(directive("form-action"), ["'none'"]);
    for source in directive("connect-src").into_iter().chain(directive("img-src")) {
        assert!(!source.starts_with("http") || source == "http://ipc.localhost", "no remote origin: {source}");
        assert!(source != "*", "no wildcard");
    }
}

/// Stored text (run and experiment names, notes, tags, log lines, parameter values, errors)
/// reaches the window only through Svelte's text interpolation, which escapes it: no source
/// of the UI may turn a string into markup. The E2E test checks payloads in the real window;
/// this keeps a later screen from adding the one construct that would bypass it.
#[test]
fn the_ui_never_turns_text_into_markup() {
    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bindings") {
                    sources(&path, out);
                }
            } else if path.extension().is_some_and(|e| e == "svelte" || e == "ts") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    sources(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src"), &mut files);
    assert!(files.len() > 10, "found the UI's sources: {files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for construct in
            ["{@html", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "DOMParser", "createContextualFragment"]
        {
            assert!(!text.contains(construct), "{} uses {construct}: stored text could become markup", file.display());
        }
    }
}
