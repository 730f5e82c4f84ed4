//! One page of runs for a table: filter by text and columns, sort by any column, then page.
//! The app's Runs screen asks for the rows it shows, so 10k runs never cross to the UI at once.

use std::cmp::Ordering;

use benchtop_core::{RunRecord, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use crate::{Result, RunFilter, Store, StoreError};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct RunQuery {
    pub experiment: Option<String>,
    pub study: Option<String>,
    pub status: Option<RunStatus>,
    /// A query in the run query language (`benchtop_core::query`): comparisons on fields,
    /// AND / OR / NOT, IN, BETWEEN; plain words must all appear (case-insensitive) in the
    /// run's id, experiment, study, method, status, tags, notes or parameter values.
    pub text: String,
    /// Per-column filters: the column's shown value must contain this text.
    pub columns: Vec<(String, String)>,
    /// `created`, `experiment`, `study`, `method`, `seed`, `status`, `param.KEY` or
    /// `metric.KEY`; `created` when empty.
    pub sort: String,
    pub descending: bool,
    pub offset: usize,
    /// At most this many rows; all when zero.
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct RunPage {
    /// Rows matching the filters, before paging.
    pub total: usize,
    /// Runs per status among those matching every filter but the status one, so a table
    /// can say "18 runs, 12 done, 6 running" without asking again.
    pub by_status: std::collections::BTreeMap<RunStatus, usize>,
    pub offset: usize,
    pub rows: Vec<RunRecord>,
    /// Stored records that do not decode, skipped rather than failing the table.
    pub unreadable: Vec<crate::Unreadable>,
}

/// A column's value as a table shows it.
pub fn cell(r: &RunRecord, column: &str) -> Value {
    match column {
        "" | "created" => Value::from(r.created_at.to_rfc3339()),
        "id" => Value::from(r.id.to_string()),
        "experiment" => Value::from(r.experiment.clone()),
        "study" => Value::from(r.study.clone()),
        "method" => r.method.clone().map_or(Value::Null, Value::from),
        "seed" => Value::from(r.seed),
        "status" => Value::from(r.status.to_string()),
        "tags" => Value::from(r.tags.join(" ")),
        "notes" => Value::from(r.notes.clone()),
        other => {
            if let Some(key) = other.strip_prefix("param.") {
                r.params.get(key).cloned().unwrap_or(Value::Null)
            } else if let Some(key) = other.strip_prefix("metric.") {
                r.summary.get(key).copied().map_or(Value::Null, Value::from)
            } else {
                Value::Null
            }
        }
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Numbers by value, text by text, empty cells last whatever the direction.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        // Numbers before text, each kind in its own order: a total order whatever the mix.
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => shown(a).cmp(&shown(b)),
        },
    }
}

impl Store {
    /// One page of the runs matching `query`, sorted as asked.
    pub fn run_page(&self, query: &RunQuery) -> Result<RunPage> {
        let filter = RunFilter { experiment: query.experiment.clone(), study: query.study.clone(), status: None };
        let parsed = benchtop_core::Query::parse_search(&query.text).map_err(StoreError::Query)?;
        let columns: Vec<(String, String)> =
            query.columns.iter().filter(|(_, t)| !t.trim().is_empty()).map(|(c, t)| (c.clone(), t.trim().to_lowercase())).collect();
        let all = self.runs(&filter)?;
        // A field no run of the table has is a typo, not an empty answer (the CLI says so too).
        if let Some(e) = parsed.unknown_field(&all) {
            return Err(StoreError::Query(e));
        }
        let mut rows: Vec<RunRecord> = all
            .into_iter()
            .filter(|r| parsed.matches(r))
            .filter(|r| columns.iter().all(|(c, t)| shown(&cell(r, c)).to_lowercase().contains(t.as_str())))
            .collect();
        let mut by_status = std::collections::BTreeMap::new();
        for r in &rows {
            *by_status.entry(r.status).or_insert(0) += 1;
        }
        rows.retain(|r| query.status.is_none_or(|s| r.status == s));
        let sort = query.sort.as_str();
        // Runs are stored oldest first; a stable sort keeps that order among equal cells.
        rows.sort_by(|a, b| {
            let (x, y) = (cell(a, sort), cell(b, sort));
            match (query.descending, &x, &y) {
                (true, Value::Null, _) | (true, _, Value::Null) => compare(&x, &y),
                (true, _, _) => compare(&y, &x),
                (false, _, _) => compare(&x, &y),
            }
        });
        let total = rows.len();
        let offset = query.offset.min(total);
        let end = if query.limit == 0 { total } else { (offset + query.limit).min(total) };
        Ok(RunPage { total, by_status, offset, rows: rows.drain(offset..end).collect(), unreadable: self.unreadable() })
    }
}
