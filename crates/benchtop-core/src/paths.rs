//! Where Benchtop keeps its files on this machine: one rule for the store, the user's
//! experiments and downloaded model weights, so front ends and studies agree.

use std::path::PathBuf;

/// `$env` when it is set and not empty, else `sub` inside the platform's data dir (on Linux
/// `~/.local/share/benchtop/`); `None` when the platform has no data dir (no home).
pub fn env_or_data_dir(env: &str, sub: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    data_dir().map(|d| d.join(sub))
}

/// The platform's data dir for Benchtop.
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "benchtop", "benchtop").map(|d| d.data_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_variable_wins_and_an_empty_one_does_not() {
        // A name no other test or user sets, so changing it races with nothing.
        let env = "BENCHTOP_PATHS_TEST_DIR";
        // SAFETY: only this test touches this variable.
        unsafe { std::env::set_var(env, "/tmp/somewhere") };
        assert_eq!(env_or_data_dir(env, "store"), Some(PathBuf::from("/tmp/somewhere")));
        unsafe { std::env::set_var(env, "") };
        if let Some(dir) = data_dir() {
            assert_eq!(env_or_data_dir(env, "store"), Some(dir.join("store")));
            assert!(dir.ends_with("benchtop"), "{}", dir.display());
        }
    }
}
