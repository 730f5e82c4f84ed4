//! The summary table every report shows: one row per sweep point, each metric as
//! mean ± 95% CI over seeds, the best row per metric marked.

use std::collections::BTreeSet;

use benchtop_core::params::show;
use benchtop_core::table::summarise_points;
use benchtop_core::{Aggregate, Better, RunRecord};

/// Which way a summary metric improves, from its name: errors, losses, calibration error,
/// divergences and times are better lower; everything else (accuracies, rewards, overlap)
/// higher.
pub fn metric_better(name: &str) -> Better {
    const LOWER: [&str; 7] = ["error", "loss", "ece", "kl", "regret", "duration", "time"];
    if LOWER.iter().any(|w| name.contains(w)) { Better::Lower } else { Better::Higher }
}

/// One row: a sweep point of one experiment.
pub struct SummaryRow {
    pub experiment: String,
    /// The sweep key values, in [`SummaryTable::keys`] order.
    pub point: Vec<String>,
    /// "5", or "3/5" when some runs did not finish.
    pub n: String,
    /// Finished runs at this sweep point.
    pub done: usize,
    /// In [`SummaryTable::metrics`] order.
    pub cells: Vec<Option<Aggregate>>,
}

impl SummaryRow {
    /// `" (n = 3)"` when metric `j` was averaged over fewer runs than finished (some gave no
    /// finite value, e.g. a diverged loss), so the table never hides that.
    pub fn cell_n_note(&self, j: usize) -> String {
        match self.cells.get(j).copied().flatten() {
            Some(a) if a.n < self.done => format!(" (n = {})", a.n),
            _ => String::new(),
        }
    }

    /// The cells before the metrics (experiment when several, sweep values, n), each
    /// escaped for the output format.
    pub fn lead_cells(&self, many: bool, esc: impl Fn(&str) -> String) -> Vec<String> {
        let mut cells = Vec::with_capacity(self.point.len() + 2);
        if many {
            cells.push(esc(&self.experiment));
        }
        cells.extend(self.point.iter().map(|v| esc(v)));
        cells.push(esc(&self.n));
        cells
    }
}

pub struct SummaryTable {
    pub keys: Vec<String>,
    pub metrics: Vec<String>,
    pub rows: Vec<SummaryRow>,
    /// Per metric, the index of the best row (by mean), if any.
    pub best: Vec<Option<usize>>,
}

impl SummaryTable {
    pub fn from_records(records: &[RunRecord]) -> Self {
        let points = summarise_points(records);
        let keys: Vec<String> = points.iter().flat_map(|p| p.point.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        let metrics: Vec<String> = points.iter().flat_map(|p| p.metrics.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
        let rows: Vec<SummaryRow> = points
            .iter()
            .map(|p| SummaryRow {
                experiment: p.experiment.clone(),
                point: keys.iter().map(|k| p.point.get(k).map(show).unwrap_or_default()).collect(),
                n: if p.done == p.runs { p.done.to_string() } else { format!("{}/{}", p.done, p.runs) },
                done: p.done,
                cells: metrics.iter().map(|m| p.metrics.get(m).copied()).collect(),
            })
            .collect();
        let best = (0..metrics.len())
            .map(|j| {
                let sign = if metric_better(&metrics[j]) == Better::Lower { 1.0 } else { -1.0 };
                rows.iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.cells[j].map(|a| (i, sign * a.mean)))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
            })
            .collect();
        SummaryTable { keys, metrics, rows, best }
    }

    /// Whether the table spans several experiments (then rows name theirs).
    pub fn many_experiments(&self) -> bool {
        self.rows.iter().any(|r| r.experiment != self.rows[0].experiment)
    }
}
