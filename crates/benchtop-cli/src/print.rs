//! Terminal tables for people (machines get `--json`).

use std::collections::BTreeSet;

use benchtop_core::table::{DiffRow, PointSummary};
use benchtop_core::{RunRecord, StudyInfo};
use benchtop_store::{Artifact, LogLine};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::Value;

/// A JSON value as a table cell: strings bare, null empty.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn table(header: Vec<String>) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    t
}

/// One table per experiment: a row per sweep point, metrics as mean ± 95% CI over seeds.
pub fn point_table(points: &[PointSummary]) {
    let experiments: Vec<&String> = points.iter().map(|p| &p.experiment).fold(Vec::new(), |mut v, e| {
        if !v.contains(&e) {
            v.push(e);
        }
        v
    });
    for exp in experiments {
        let group: Vec<&PointSummary> = points.iter().filter(|p| &p.experiment == exp).collect();
        let keys: BTreeSet<&String> = group.iter().flat_map(|p| p.point.keys()).collect();
        let metrics: BTreeSet<&String> = group.iter().flat_map(|p| p.metrics.keys()).collect();
        let mut header: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
        header.push("n".into());
        header.extend(metrics.iter().map(|m| format!("{m} (mean ± 95% CI)")));
        let mut t = table(header);
        for p in group {
            let mut row: Vec<String> = keys.iter().map(|k| p.point.get(*k).map(cell).unwrap_or_default()).collect();
            row.push(if p.done == p.runs { p.done.to_string() } else { format!("{}/{}", p.done, p.runs) });
            row.extend(metrics.iter().map(|m| p.metrics.get(*m).map(|a| a.display(3)).unwrap_or_default()));
            t.add_row(row);
        }
        println!("{exp}\n{t}");
    }
}

pub fn study_list(infos: &[StudyInfo]) {
    let mut t = table(vec!["study".into(), "title".into(), "methods".into()]);
    for s in infos {
        let methods: Vec<&str> = s.methods.iter().map(|m| m.name.as_str()).collect();
        t.add_row(vec![s.name.clone(), s.title.clone(), methods.join(", ")]);
    }
    println!("{t}\n`benchtop studies NAME` describes one.");
}

pub fn study_detail(s: &StudyInfo) {
    println!("{} — {}\n\n{}\n", s.name, s.title, s.description);
    let mut t = table(vec!["method".into(), "what it does".into()]);
    for m in &s.methods {
        t.add_row(vec![m.name.clone(), m.doc.clone()]);
    }
    println!("{t}\n");
    let mut t = table(vec!["parameter".into(), "default".into(), "allowed".into(), "meaning".into()]);
    for p in &s.params {
        t.add_row(vec![p.name.clone(), cell(&p.default), p.describe_allowed(), p.doc.clone()]);
    }
    println!("{t}");
}

/// Runs side by side, a column each: the fields that differ, or with `all` every field
/// (those that differ marked `*`).
pub fn run_diff(records: &[RunRecord], rows: &[DiffRow], all: bool) {
    let mut header = vec![String::new()];
    header.extend(records.iter().map(|r| r.id.to_string()));
    let mut t = table(header);
    let same = rows.iter().filter(|r| !r.differs).count();
    for row in rows.iter().filter(|r| all || r.differs) {
        let mut cells = vec![if all && row.differs { format!("* {}", row.field) } else { row.field.clone() }];
        cells.extend(row.values.iter().map(cell));
        t.add_row(cells);
    }
    println!("{t}");
    let differ = rows.len() - same;
    if all {
        println!("{differ} fields differ (*), {same} are the same");
    } else {
        println!("{differ} fields differ; {same} are the same in every run (--all shows them)");
    }
}

pub fn run_list(records: &[RunRecord]) {
    if records.is_empty() {
        println!("no runs");
        return;
    }
    let mut t = table(["id", "experiment", "study", "method", "seed", "status", "duration (s)", "summary"].map(String::from).to_vec());
    for r in records {
        let summary: Vec<String> = r.summary.iter().take(3).map(|(k, v)| format!("{k}={v:.4}")).collect();
        t.add_row(vec![
            r.id.to_string(),
            r.experiment.clone(),
            r.study.clone(),
            r.method.clone().unwrap_or_default(),
            r.seed.to_string(),
            r.status.to_string(),
            r.provenance.duration_s.map(|d| format!("{d:.1}")).unwrap_or_default(),
            summary.join(" "),
        ]);
    }
    println!("{t}\n{} runs", records.len());
}

/// One row per group: its key, how many runs (and how many done), each metric's mean ± 95% CI.
pub fn run_groups(keys: &[String], groups: &[benchtop_core::table::RunGroup]) {
    if groups.is_empty() {
        println!("no runs");
        return;
    }
    let metrics: Vec<String> =
        groups.iter().flat_map(|g| g.metrics.keys().cloned()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let mut header: Vec<String> = if keys.is_empty() { vec!["(all runs)".into()] } else { keys.to_vec() };
    header.push("runs (done)".into());
    header.extend(metrics.iter().cloned());
    let mut t = table(header);
    for g in groups {
        let mut row: Vec<String> = g
            .key
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            })
            .collect();
        if keys.is_empty() {
            row.push(String::new());
        }
        row.push(format!("{} ({})", g.runs.len(), g.done));
        row.extend(metrics.iter().map(|m| g.metrics.get(m).map(|a| a.display(4)).unwrap_or_default()));
        t.add_row(row);
    }
    let runs: usize = groups.iter().map(|g| g.runs.len()).sum();
    println!("{t}\n{} groups of {runs} runs; metrics over the done runs, mean ± 95% CI", groups.len());
}

pub fn run_detail(r: &RunRecord, series: &[(String, Vec<(u64, f64)>)], logs: &[LogLine], artifacts: &[Artifact]) {
    let p = &r.provenance;
    println!("run         {}", r.id);
    println!("experiment  {} ({})", r.experiment, r.experiment_file.as_deref().unwrap_or("no file"));
    println!("study       {} / {}", r.study, r.method.as_deref().unwrap_or("-"));
    println!("status      {}{}", r.status, r.error.as_ref().map(|e| format!(": {e}")).unwrap_or_default());
    println!("seed        {}    backend {}", r.seed, r.backend);
    println!("benchtop    {}    commit {}    host {}", p.benchtop_version, p.git_commit.as_deref().unwrap_or("-"), p.host);
    // What the numbers depend on besides params and seed: another CPU rounds differently.
    println!("compute     {}", p.compute.as_ref().map(|c| c.describe()).unwrap_or_else(|| "-".into()));
    println!(
        "time        {} -> {} ({})",
        p.started_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
        p.ended_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into()),
        p.duration_s.map(|d| format!("{d:.2} s")).unwrap_or_else(|| "-".into())
    );
    let params: Vec<String> = r.params.iter().map(|(k, v)| format!("{k}={}", cell(v))).collect();
    println!("params      {}", params.join(" "));
    let mut t = table(vec!["summary".into(), "value".into()]);
    for (k, v) in &r.summary {
        t.add_row(vec![k.clone(), format!("{v:.6}")]);
    }
    println!("{t}");
    let mut t = table(vec!["series".into(), "points".into(), "first".into(), "last".into()]);
    for (name, points) in series {
        let show = |pt: Option<&(u64, f64)>| pt.map(|(s, v)| format!("{v:.4} @ {s}")).unwrap_or_default();
        t.add_row(vec![name.clone(), points.len().to_string(), show(points.first()), show(points.last())]);
    }
    println!("{t}");
    for a in artifacts {
        println!("artifact    {} ({} bytes) {}", a.name, a.bytes, a.path.display());
    }
    let skip = logs.len().saturating_sub(20);
    for line in &logs[skip..] {
        println!("log {} [{:?}] {}", line.at.format("%H:%M:%S"), line.level, line.text);
    }
}
