//! The app's start, before any window: a store it cannot use is one clear line and exit
//! code 2, never a panic or a blank window. (This test also makes `cargo test` build the
//! `benchtop-app` binary that the E2E test drives.)

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::process::Command;

#[test]
fn a_store_from_a_newer_schema_stops_the_app_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    {
        let store = benchtop_store::Store::open(&store_dir).unwrap();
        store.force_schema_version(999).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_benchtop-app"))
        .env("BENCHTOP_STORE", &store_dir)
        .env("BENCHTOP_EXPERIMENTS", dir.path().join("experiments"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("benchtop-app: "), "{stderr}");
    assert!(stderr.contains("999") && stderr.lines().count() == 1, "one line naming the version: {stderr}");
}

#[test]
fn without_a_display_the_app_says_so_instead_of_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_benchtop-app"))
        .env("BENCHTOP_STORE", dir.path().join("store"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("no display") && stderr.contains("xvfb-run"), "{stderr}");
}
