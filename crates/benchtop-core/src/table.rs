//! Runs as a flat table (for export) and grouped by sweep point (for summaries).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::run::RunRecord;
use crate::stats::Aggregate;

/// The fixed leading columns of an export, in order.
pub const BASE_COLUMNS: [&str; 7] = ["run_id", "experiment", "study", "method", "seed", "status", "duration_s"];

/// One row per run: the base columns, then `param.<name>` for every parameter and
/// `metric.<name>` for every summary metric seen in any run (empty where a run lacks it).
#[derive(Clone, Debug, PartialEq)]
pub struct RunTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl RunTable {
    pub fn from_records(records: &[RunRecord]) -> RunTable {
        let params: BTreeSet<&String> = records.iter().flat_map(|r| r.params.keys()).collect();
        let metrics: BTreeSet<&String> = records.iter().flat_map(|r| r.summary.keys()).collect();
        let mut columns: Vec<String> = BASE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        columns.extend(params.iter().map(|p| format!("param.{p}")));
        columns.extend(metrics.iter().map(|m| format!("metric.{m}")));
        let rows = records
            .iter()
            .map(|r| {
                let mut row = vec![
                    Value::from(r.id.to_string()),
                    Value::from(r.experiment.clone()),
                    Value::from(r.study.clone()),
                    r.method.clone().map_or(Value::Null, Value::from),
                    Value::from(r.seed),
                    Value::from(r.status.as_str()),
                    r.provenance.duration_s.map_or(Value::Null, Value::from),
                ];
                row.extend(params.iter().map(|p| r.params.get(*p).cloned().unwrap_or(Value::Null)));
                row.extend(metrics.iter().map(|m| r.summary.get(*m).map_or(Value::Null, |v| Value::from(*v))));
                row
            })
            .collect();
        RunTable { columns, rows }
    }
}

/// The runs of one sweep point (all seeds), summarised.
#[derive(Clone, Debug, PartialEq)]
pub struct PointSummary {
    pub experiment: String,
    /// The sweep point's values (empty for an experiment without a sweep).
    pub point: BTreeMap<String, Value>,
    /// Runs in this group, whatever their status.
    pub runs: usize,
    /// Runs that finished `done` (the ones the metrics aggregate).
    pub done: usize,
    pub metrics: BTreeMap<String, Aggregate>,
}

/// Group finished runs by (experiment, sweep point), in the order the points first appear,
/// and aggregate each summary metric over the group's `done` runs.
pub fn summarise_points(records: &[RunRecord]) -> Vec<PointSummary> {
    let mut groups: Vec<(String, BTreeMap<String, Value>, Vec<&RunRecord>)> = Vec::new();
    for r in records {
        match groups.iter_mut().find(|(e, p, _)| *e == r.experiment && *p == r.sweep_point) {
            Some((_, _, members)) => members.push(r),
            None => groups.push((r.experiment.clone(), r.sweep_point.clone(), vec![r])),
        }
    }
    groups
        .into_iter()
        .map(|(experiment, point, members)| {
            let (done, metrics) = aggregate_done(&members);
            PointSummary { experiment, point, runs: members.len(), done, metrics }
        })
        .collect()
}

/// How many of `members` finished `done`, and each summary metric aggregated over those.
fn aggregate_done(members: &[&RunRecord]) -> (usize, BTreeMap<String, Aggregate>) {
    let done: Vec<&&RunRecord> = members.iter().filter(|r| r.status == crate::RunStatus::Done).collect();
    let names: BTreeSet<&String> = done.iter().flat_map(|r| r.summary.keys()).collect();
    let metrics = names
        .into_iter()
        .filter_map(|name| {
            let values: Vec<f64> = done.iter().filter_map(|r| r.summary.get(name).copied()).collect();
            Aggregate::of(&values).map(|a| (name.clone(), a))
        })
        .collect();
    (done.len(), metrics)
}

/// Runs that share values of some fields (usually every swept parameter but the seed), with
/// each summary metric aggregated over the group's finished runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct RunGroup {
    /// The grouping fields' values, in the order asked; `Null` where the runs lack one.
    pub key: Vec<Value>,
    /// The group's runs, in the order given.
    pub runs: Vec<crate::RunId>,
    /// Runs that finished `done`: the ones the metrics aggregate.
    pub done: usize,
    /// n, mean and 95% interval of each summary metric over the done runs.
    pub metrics: BTreeMap<String, Aggregate>,
}

/// The fields to group by when none are named: every parameter the runs were swept over but
/// the seed, after the experiment when there is more than one. A parameter named like a
/// built-in field (`status`, `notes`, ...) is named `param.KEY`, so it groups by itself.
pub fn default_group_keys(records: &[RunRecord]) -> Vec<String> {
    let mut keys: Vec<String> = records
        .iter()
        .flat_map(|r| r.sweep_point.keys().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| k != "seed")
        .map(|k| if k != "method" && crate::query::is_reserved(&k) { format!("param.{k}") } else { k })
        .collect();
    if records.iter().map(|r| &r.experiment).collect::<BTreeSet<_>>().len() > 1 {
        keys.insert(0, "experiment".into());
    }
    keys
}

/// Group `records` by the values of `by` (query fields: `method`, `param.lr` or `lr`, ...),
/// groups in the order they first appear, and aggregate each group's done runs.
pub fn group_runs(records: &[RunRecord], by: &[String]) -> Vec<RunGroup> {
    let mut groups: Vec<(Vec<Value>, Vec<&RunRecord>)> = Vec::new();
    // Looked up by the key's text, numbers as f64 so 1 and 1.0 are one group: linear in runs.
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for r in records {
        let key: Vec<Value> = by.iter().map(|f| crate::query::field(r, f).unwrap_or(Value::Null)).collect();
        let text = Value::Array(key.iter().map(|v| v.as_f64().map_or_else(|| v.clone(), Value::from)).collect()).to_string();
        match index.get(&text) {
            Some(&i) => groups[i].1.push(r),
            None => {
                index.insert(text, groups.len());
                groups.push((key, vec![r]));
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| {
            let (done, metrics) = aggregate_done(&members);
            RunGroup { key, runs: members.iter().map(|r| r.id).collect(), done, metrics }
        })
        .collect()
}

/// One field of [`diff_runs`]: its value in each run, and whether they differ.
#[derive(Clone, Debug, PartialEq, serde::Serialize, ts_rs::TS)]
pub struct DiffRow {
    /// `experiment`, `param.lr`, `summary.test_error`, `compute.simd`, ...
    pub field: String,
    /// One per run, in the order given; `Null` where a run lacks the field.
    pub values: Vec<Value>,
    pub differs: bool,
}

/// What tells `records` apart: their identity, parameters, summary and provenance, field by
/// field (the union of every run's fields), each marked whether the runs disagree on it.
/// Times and ids are left out: they always differ and explain nothing.
pub fn diff_runs(records: &[RunRecord]) -> Vec<DiffRow> {
    let mut fields: Vec<(String, Vec<Value>)> = Vec::new();
    let mut push = |field: String, value: &dyn Fn(&RunRecord) -> Value| {
        fields.push((field, records.iter().map(value).collect()));
    };
    push("experiment".into(), &|r| Value::from(r.experiment.clone()));
    push("study".into(), &|r| Value::from(r.study.clone()));
    push("method".into(), &|r| r.method.clone().map_or(Value::Null, Value::from));
    push("seed".into(), &|r| Value::from(r.seed));
    push("backend".into(), &|r| serde_json::to_value(r.backend).unwrap_or(Value::Null));
    push("status".into(), &|r| Value::from(r.status.to_string()));
    let keys = |f: &dyn Fn(&RunRecord) -> Vec<String>| -> BTreeSet<String> { records.iter().flat_map(f).collect() };
    for key in keys(&|r| r.params.keys().cloned().collect()) {
        push(format!("param.{key}"), &|r| r.params.get(&key).cloned().unwrap_or(Value::Null));
    }
    for key in keys(&|r| r.summary.keys().cloned().collect()) {
        push(format!("summary.{key}"), &|r| r.summary.get(&key).map_or(Value::Null, |v| Value::from(*v)));
    }
    push("provenance.benchtop_version".into(), &|r| Value::from(r.provenance.benchtop_version.clone()));
    push("provenance.git_commit".into(), &|r| r.provenance.git_commit.clone().map_or(Value::Null, Value::from));
    push("provenance.host".into(), &|r| Value::from(r.provenance.host.clone()));
    push("experiment_file".into(), &|r| r.experiment_file.clone().map_or(Value::Null, Value::from));
    push("compute.cpu".into(), &|r| r.provenance.compute.as_ref().map_or(Value::Null, |c| Value::from(c.cpu.clone())));
    push("compute.simd".into(), &|r| r.provenance.compute.as_ref().map_or(Value::Null, |c| Value::from(c.simd.clone())));
    push("compute.threads".into(), &|r| r.provenance.compute.as_ref().map_or(Value::Null, |c| Value::from(c.threads)));
    push("compute.gpu".into(), &|r| r.provenance.compute.as_ref().and_then(|c| c.gpu.clone()).map_or(Value::Null, Value::from));
    fields
        .into_iter()
        .map(|(field, values)| {
            let differs = values.windows(2).any(|w| w[0] != w[1]);
            DiffRow { field, values, differs }
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_diff_marks_the_fields_that_differ_and_keeps_the_union_of_fields() {
        use crate::experiment::RunPlan;
        let plan = |seed: u64, lr: f64, extra: bool| {
            let mut params = serde_json::Map::from_iter([("lr".to_owned(), Value::from(lr))]);
            if extra {
                params.insert("k".into(), Value::from(2));
            }
            RunPlan {
                experiment: "e".into(),
                description: String::new(),
                study: "isr".into(),
                method: Some("erm".into()),
                seed,
                backend: crate::Backend::Cpu,
                params,
                sweep_point: Default::default(),
                experiment_file: None,
            }
            .to_record(crate::Provenance::default())
        };
        let rows = diff_runs(&[plan(0, 0.1, false), plan(0, 0.2, true)]);
        let row = |f: &str| rows.iter().find(|r| r.field == f).unwrap_or_else(|| panic!("{f} missing"));
        assert!(row("param.lr").differs);
        assert_eq!(row("param.k").values, vec![Value::Null, Value::from(2)], "a field one run lacks shows as empty");
        assert!(row("param.k").differs);
        assert!(!row("seed").differs && !row("study").differs && !row("compute.cpu").differs);
    }
    use super::*;
    use crate::experiment::RunPlan;
    use crate::run::{Backend, Provenance, RunStatus};

    fn rec(n_envs: i64, seed: u64, err: Option<f64>, status: RunStatus) -> RunRecord {
        let point = BTreeMap::from([("n_envs".to_owned(), Value::from(n_envs))]);
        let plan = RunPlan {
            experiment: "e".into(),
            description: String::new(),
            study: "isr".into(),
            method: Some("erm".into()),
            seed,
            backend: Backend::Cpu,
            params: serde_json::Map::from_iter([("n_envs".to_owned(), Value::from(n_envs))]),
            sweep_point: point,
            experiment_file: None,
        };
        let mut r = plan.to_record(Provenance::default());
        r.status = status;
        if let Some(e) = err {
            r.summary.insert("test_error".into(), e);
        }
        r
    }

    #[test]
    fn groups_aggregate_the_done_runs_of_each_key_and_default_to_the_swept_params() {
        let mut runs = vec![
            rec(2, 0, Some(0.5), RunStatus::Done),
            rec(2, 1, Some(0.7), RunStatus::Done),
            rec(3, 0, Some(0.1), RunStatus::Done),
            rec(3, 1, None, RunStatus::Failed),
        ];
        for r in &mut runs {
            r.sweep_point.insert("seed".into(), Value::from(r.seed));
        }
        assert_eq!(default_group_keys(&runs), ["n_envs"]);
        // 2 and 2.0 are one group.
        runs[1].params.insert("n_envs".into(), Value::from(2.0));
        let groups = group_runs(&runs, &default_group_keys(&runs));
        assert_eq!(groups.len(), 2);
        assert_eq!((groups[0].key.clone(), groups[0].runs.len(), groups[0].done), (vec![Value::from(2)], 2, 2));
        let a = groups[0].metrics["test_error"];
        assert!((a.mean - 0.6).abs() < 1e-12 && a.n == 2 && a.ci95.is_some());
        assert_eq!(
            (groups[1].runs.len(), groups[1].done, groups[1].metrics["test_error"].n),
            (2, 1, 1),
            "the failed run counts, not its metrics"
        );
        // Any query field groups; a field the runs lack is one Null group.
        assert_eq!(group_runs(&runs, &["status".into()]).len(), 2);
        assert_eq!(group_runs(&runs, &["param.missing".into()])[0].key, [Value::Null]);
        runs[0].experiment = "other".into();
        assert_eq!(default_group_keys(&runs), ["experiment", "n_envs"]);
        // A swept parameter named like a built-in field groups by itself.
        runs[0].sweep_point.insert("status".into(), Value::from("x"));
        assert_eq!(default_group_keys(&runs), ["experiment", "n_envs", "param.status"]);
    }

    #[test]
    fn the_export_table_has_base_param_and_metric_columns() {
        let t = RunTable::from_records(&[rec(2, 0, Some(0.5), RunStatus::Done), rec(3, 1, None, RunStatus::Failed)]);
        assert_eq!(
            t.columns,
            ["run_id", "experiment", "study", "method", "seed", "status", "duration_s", "param.n_envs", "metric.test_error"]
        );
        assert_eq!(t.rows[0][7], Value::from(2));
        assert_eq!(t.rows[0][8], Value::from(0.5));
        assert_eq!(t.rows[1][8], Value::Null, "a failed run has no metric");
    }

    #[test]
    fn points_group_seeds_and_aggregate_only_done_runs() {
        let records = [
            rec(2, 0, Some(0.4), RunStatus::Done),
            rec(2, 1, Some(0.6), RunStatus::Done),
            rec(3, 0, Some(0.1), RunStatus::Done),
            rec(2, 2, Some(9.0), RunStatus::Cancelled),
        ];
        let points = summarise_points(&records);
        assert_eq!(points.len(), 2);
        assert_eq!((points[0].runs, points[0].done), (3, 2));
        assert!((points[0].metrics["test_error"].mean - 0.5).abs() < 1e-12);
        assert_eq!(points[1].metrics["test_error"].n, 1);
    }
}
