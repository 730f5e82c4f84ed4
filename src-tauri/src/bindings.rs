//! The TypeScript declarations of every type the window receives or sends, generated from the
//! Rust types with ts-rs into `ui/src/lib/bindings/`, so the UI cannot drift from them. The
//! test regenerates them and fails when the committed files differ; to update them after a
//! change, run `BENCHTOP_WRITE_BINDINGS=1 cargo test --workspace bindings`.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use ts_rs::TS;

    /// Every type the commands and events carry; ts-rs follows their fields to the rest.
    fn export_all(dir: &Path) -> Result<(), ts_rs::ExportError> {
        use crate::commands::{Info, RunDetail, StudyView};
        use crate::experiments::{Check, ExperimentEntry};
        use crate::live::{MetricsEvent, ProgressEvent, StatusEvent};
        Info::export_all_to(dir)?;
        StudyView::export_all_to(dir)?;
        ExperimentEntry::export_all_to(dir)?;
        Check::export_all_to(dir)?;
        benchtop_core::ExperimentDoc::export_all_to(dir)?;
        benchtop_core::ChartSpec::export_all_to(dir)?;
        benchtop_core::RunStatus::export_all_to(dir)?;
        benchtop_store::RunQuery::export_all_to(dir)?;
        benchtop_store::RunPage::export_all_to(dir)?;
        RunDetail::export_all_to(dir)?;
        StatusEvent::export_all_to(dir)?;
        ProgressEvent::export_all_to(dir)?;
        MetricsEvent::export_all_to(dir)?;
        benchtop_studies::alignment::dpa::Steered::export_all_to(dir)?;
        Ok(())
    }

    /// Every file under `dir`, by its path relative to `dir`, with its text.
    fn files(dir: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    todo.push(path);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), text);
                }
            }
        }
        out
    }

    #[test]
    fn the_ui_bindings_are_generated_from_the_rust_types() {
        let fresh = tempfile::tempdir().unwrap();
        export_all(fresh.path()).unwrap();
        let generated = files(fresh.path());
        let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings");
        if std::env::var_os("BENCHTOP_WRITE_BINDINGS").is_some() {
            let _ = std::fs::remove_dir_all(&committed_dir);
            for (path, text) in &generated {
                let to = committed_dir.join(path);
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::write(to, text).unwrap();
            }
        }
        let committed = files(&committed_dir);
        let stale: Vec<String> = generated
            .keys()
            .chain(committed.keys())
            .filter(|p| generated.get(*p) != committed.get(*p))
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            stale.is_empty(),
            "ui/src/lib/bindings is stale ({}); run `BENCHTOP_WRITE_BINDINGS=1 cargo test --workspace bindings` and commit the result",
            stale.join(", ")
        );
    }
}
