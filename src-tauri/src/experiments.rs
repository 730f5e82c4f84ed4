//! Experiment files as the Library shows them: the shipped presets (embedded in the binary,
//! read-only) and the user's own files. Saving never writes over a shipped preset: an edited
//! preset becomes a file in the user's experiments dir.

use std::path::{Path, PathBuf};

use benchtop_core::{Experiment, ExperimentDoc, ExperimentError, Registry};
use serde::Serialize;
use ts_rs::TS;

/// `BENCHTOP_EXPERIMENTS`, else `experiments/` in the platform data dir.
pub fn user_dir() -> PathBuf {
    benchtop_core::paths::env_or_data_dir("BENCHTOP_EXPERIMENTS", "experiments").unwrap_or_else(|| PathBuf::from("experiments"))
}

/// An error located in a file, for the form to show beside its field.
#[derive(Clone, Debug, Serialize, TS)]
pub struct ErrorView {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
    /// `file:line:column: key: message`, as the CLI prints it.
    pub text: String,
}

impl From<&ExperimentError> for ErrorView {
    fn from(e: &ExperimentError) -> Self {
        ErrorView {
            file: e.file.clone(),
            line: e.line,
            column: e.column,
            key: e.key.clone(),
            message: e.message.clone(),
            text: e.to_string(),
        }
    }
}

#[derive(Clone, Debug, Serialize, TS)]
pub struct ExperimentEntry {
    /// `shipped:FILE` or `user:FILE`.
    pub id: String,
    pub file: String,
    #[ts(type = "\"shipped\" | \"user\"")]
    pub origin: &'static str,
    /// The file's path on disk (user files only).
    pub path: Option<String>,
    pub name: String,
    pub study: String,
    pub description: String,
    pub doc: Option<ExperimentDoc>,
    pub run_count: usize,
    pub error: Option<ErrorView>,
}

fn entry(id: String, file: String, origin: &'static str, path: Option<&Path>, source: &str, registry: &Registry) -> ExperimentEntry {
    let shown = path.map_or_else(|| file.clone(), |p| p.display().to_string());
    let parsed = Experiment::parse(source, &shown).and_then(|exp| exp.plan(registry).map(|plans| (exp, plans.len())));
    match parsed {
        Ok((exp, run_count)) => ExperimentEntry {
            id,
            file,
            origin,
            path: path.map(|p| p.display().to_string()),
            name: exp.name.clone(),
            study: exp.study.clone(),
            description: exp.description.clone(),
            doc: Some(ExperimentDoc::from_experiment(&exp)),
            run_count,
            error: None,
        },
        // A broken file still shows, with its error, so the user can see and fix it.
        Err(e) => {
            let partial = Experiment::parse(source, &shown).ok();
            ExperimentEntry {
                id,
                file: file.clone(),
                origin,
                path: path.map(|p| p.display().to_string()),
                name: partial.as_ref().map_or_else(|| file.trim_end_matches(".toml").to_owned(), |x| x.name.clone()),
                study: partial.as_ref().map_or_else(String::new, |x| x.study.clone()),
                description: partial.as_ref().map_or_else(String::new, |x| x.description.clone()),
                doc: partial.as_ref().map(ExperimentDoc::from_experiment),
                run_count: 0,
                error: Some(ErrorView::from(&e)),
            }
        }
    }
}

/// Every experiment: shipped presets first, then the user's files by name.
pub fn list(user_dir: &Path, registry: &Registry) -> Vec<ExperimentEntry> {
    let mut out: Vec<ExperimentEntry> = benchtop_studies::presets()
        .iter()
        .map(|p| entry(format!("shipped:{}", p.file), p.file.to_owned(), "shipped", None, p.source, registry))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(user_dir)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        match std::fs::read_to_string(&path) {
            Ok(source) => out.push(entry(format!("user:{file}"), file, "user", Some(&path), &source, registry)),
            Err(e) => out.push(ExperimentEntry {
                id: format!("user:{file}"),
                file: file.clone(),
                origin: "user",
                path: Some(path.display().to_string()),
                name: file.clone(),
                study: String::new(),
                description: String::new(),
                doc: None,
                run_count: 0,
                error: Some(ErrorView {
                    file: path.display().to_string(),
                    line: 0,
                    column: 0,
                    key: None,
                    message: format!("cannot read the file: {e}"),
                    text: format!("{}: cannot read the file: {e}", path.display()),
                }),
            }),
        }
    }
    out
}

/// The result of checking a form's document.
#[derive(Clone, Debug, Serialize, TS)]
pub struct Check {
    pub run_count: usize,
    pub error: Option<ErrorView>,
    pub toml: String,
}

/// Validate a document exactly as a file is validated: write it as TOML, parse, plan.
pub fn check(doc: &ExperimentDoc, registry: &Registry) -> (Check, Option<Experiment>) {
    let file = format!("{}.toml", file_stem(&doc.name));
    let toml = match doc.to_toml() {
        Ok(t) => t,
        Err(message) => {
            let key = message.split(':').next().map(str::to_owned);
            let view = ErrorView { file: file.clone(), line: 0, column: 0, key, text: format!("{file}: {message}"), message };
            return (Check { run_count: 0, error: Some(view), toml: String::new() }, None);
        }
    };
    match Experiment::parse(&toml, &file).and_then(|exp| exp.plan(registry).map(|plans| (exp, plans.len()))) {
        Ok((exp, run_count)) => (Check { run_count, error: None, toml }, Some(exp)),
        Err(e) => (Check { run_count: 0, error: Some(ErrorView::from(&e)), toml }, None),
    }
}

/// A file name from an experiment name: letters, digits, `-` and `_` kept, the rest `-`.
pub fn file_stem(name: &str) -> String {
    let stem: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let stem = stem.trim_matches('-').to_owned();
    if stem.is_empty() { "experiment".into() } else { stem }
}

/// Save a valid document as `<name>.toml` in the user's dir; returns its path. Only the
/// file being edited (`current`) may be overwritten: another experiment whose name maps to
/// the same file is refused, not lost.
pub fn save(doc: &ExperimentDoc, user_dir: &Path, registry: &Registry, current: Option<&Path>) -> Result<PathBuf, String> {
    let (checked, _) = check(doc, registry);
    if let Some(e) = checked.error {
        return Err(e.text);
    }
    std::fs::create_dir_all(user_dir).map_err(|e| format!("cannot create {}: {e}", user_dir.display()))?;
    let path = user_dir.join(format!("{}.toml", file_stem(&doc.name)));
    if path.exists() && current != Some(path.as_path()) {
        return Err(format!("{} already exists: give this experiment another name", path.display()));
    }
    // Write beside, then rename: a crash never leaves half a file.
    let tmp = path.with_extension("toml.partial");
    std::fs::write(&tmp, checked.toml).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the window sends as a name or as the file being edited, a save lands in the
    /// user's folder: names become file stems of [A-Za-z0-9_-], never paths.
    #[test]
    fn a_name_that_looks_like_a_path_is_saved_inside_the_user_dir() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        let registry = benchtop_studies::registry();
        let quick = list(&user, &registry).into_iter().find(|e| e.id == "shipped:isr-quick.toml").unwrap();
        for name in ["../../escape", "/etc/passwd", "..", "a/../../b", "C:\\x", "~/.ssh/x", "\u{0}nul"] {
            let mut doc = quick.doc.clone().unwrap();
            doc.name = name.into();
            let outside = dir.path().join("escape.toml");
            match save(&doc, &user, &registry, Some(&outside)) {
                Ok(path) => {
                    assert_eq!(path.parent(), Some(user.as_path()), "{name}: {}", path.display());
                    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                    assert!(stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{name}: {stem}");
                    std::fs::remove_file(path).unwrap();
                }
                Err(e) => assert!(!e.is_empty(), "{name}: refused with a reason"),
            }
            assert!(!outside.exists(), "{name}: nothing written outside the user dir");
        }
    }

    #[test]
    fn an_edited_preset_is_saved_in_the_user_dir_and_listed_beside_the_shipped_one() {
        let dir = tempfile::tempdir().unwrap();
        let registry = benchtop_studies::registry();
        let shipped = list(dir.path(), &registry);
        let quick = shipped.iter().find(|e| e.id == "shipped:isr-quick.toml").expect("isr-quick ships");
        let mut doc = quick.doc.clone().unwrap();
        doc.seeds = serde_json::json!(2);
        let path = save(&doc, dir.path(), &registry, None).unwrap();
        assert_eq!(path, dir.path().join("isr-quick.toml"));
        let again = save(&doc, dir.path(), &registry, None).unwrap_err();
        assert!(again.contains("already exists"), "a second copy never overwrites the first: {again}");
        assert_eq!(save(&doc, dir.path(), &registry, Some(&path)).unwrap(), path, "the file being edited may be");
        let all = list(dir.path(), &registry);
        assert_eq!(all.len(), shipped.len() + 1);
        let mine = all.iter().find(|e| e.id == "user:isr-quick.toml").unwrap();
        assert_eq!(mine.run_count, quick.run_count / 3 * 2, "3 seeds became 2");
    }

    #[test]
    fn a_bad_value_names_its_key_and_a_broken_file_is_listed_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let registry = benchtop_studies::registry();
        let mut doc = list(dir.path(), &registry)[0].doc.clone().unwrap();
        doc.params.insert("lr".into(), serde_json::json!(-1.0));
        let (checked, _) = check(&doc, &registry);
        let err = checked.error.expect("a negative learning rate is refused");
        assert_eq!(err.key.as_deref(), Some("params.lr"));
        assert!(save(&doc, dir.path(), &registry, None).is_err(), "an invalid document is not saved");

        std::fs::write(dir.path().join("broken.toml"), "name = \"b\"\nstudy = \"isr\"\nseeds = \"many\"\n").unwrap();
        let broken = list(dir.path(), &registry).into_iter().find(|e| e.id == "user:broken.toml").unwrap();
        let err = broken.error.unwrap();
        assert_eq!((err.line, err.key.as_deref()), (3, Some("seeds")));
        assert!(err.text.contains("broken.toml:3:"), "{}", err.text);
    }
}
