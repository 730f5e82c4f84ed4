//! Chart specifications: a small serde description of a comparison chart, shared by the
//! app, the CLI and reports (the charts crate draws them; studies declare their defaults).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// What a chart shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// A metric series against step, one line per group: mean over runs with a 95% CI band.
    Curves,
    /// A summary metric against a parameter, one line per group, with 95% CI error bars.
    MetricVsParam,
    /// A summary metric per group as bars with 95% CI error bars.
    Bars,
    /// Two summary metrics against each other, one point per group and sweep point, with the
    /// Pareto front marked.
    Scatter,
    /// Parallel coordinates from parameters to one summary metric, one line per run.
    Parallel,
    /// How much a summary metric depends on each parameter that varies: permutation
    /// importance on a random forest, as bars with 95% intervals over its trees.
    Importance,
}

/// Which way a metric improves (for the Pareto front and "best" marks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// How the app looks at a chart: the axes' ranges a dragged box chose, and the series a
/// legend click left out. Drawn by the same renderer as reports, which use the default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct ChartView {
    /// x from, to (data units); `None`: fit the data.
    #[serde(default)]
    pub x: Option<(f64, f64)>,
    #[serde(default)]
    pub y: Option<(f64, f64)>,
    /// Series labels not drawn (the legend still lists them, greyed).
    #[serde(default)]
    pub hidden: Vec<String>,
}

/// Where a drawing put things, in its own pixels, so a pointer can be read in data units.
#[derive(Clone, Debug, Default, PartialEq, Serialize, TS)]
pub struct ChartLayout {
    /// The plotting area and the data ranges at its edges (none for parallel coordinates).
    pub plot: Option<PlotFrame>,
    /// Each legend entry's box, by series label.
    pub legend: Vec<LegendItem>,
}

/// The plotting area: pixels `left..right` span x `x.0..x.1`, and `top..bottom` span y
/// from `y.1` down to `y.0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, TS)]
pub struct PlotFrame {
    pub left: i32,
    pub right: i32,
    pub top: i32,
    pub bottom: i32,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

/// A legend entry's box.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct LegendItem {
    pub label: String,
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

/// A chart, described by what it plots rather than how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    pub kind: ChartKind,
    /// The title; a default is made from the axes when absent.
    #[serde(default)]
    pub title: Option<String>,
    /// metric_vs_param: a parameter; scatter: a summary metric; unused otherwise.
    #[serde(default)]
    pub x: Option<String>,
    /// The metric: a series name for curves, a summary metric otherwise.
    pub y: String,
    /// The parameter whose values get a colour each (default `method`).
    #[serde(default)]
    pub group: Option<String>,
    /// Keep only runs whose parameters have these values.
    #[serde(default)]
    pub filters: BTreeMap<String, Value>,
    /// parallel: the parameter axes, in order.
    #[serde(default)]
    pub dims: Vec<String>,
    /// scatter: which way is better on both axes (draws the Pareto front).
    #[serde(default)]
    pub better: Option<Better>,
    /// Also draw runs that have not finished (a live run's curves); comparisons leave
    /// them out so a half-trained run never skews a mean.
    #[serde(default)]
    pub unfinished: bool,
    /// metric_vs_param and bars: plot each run's difference from its baseline run (same
    /// seed, same `on` parameters) instead of the metric itself, so intervals are paired.
    #[serde(default)]
    pub paired: Option<Paired>,
}

/// A paired comparison: which runs are the baseline, and what a run shares with its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema, TS)]
#[serde(deny_unknown_fields)]
pub struct Paired {
    /// The baseline runs: those whose parameters have these values (e.g. method = gradual).
    pub baseline: BTreeMap<String, Value>,
    /// Parameters a run and its baseline have in common besides the seed.
    #[serde(default)]
    pub on: Vec<String>,
}

impl ChartSpec {
    /// A spec of `kind` for metric `y`, everything else default.
    pub fn new(kind: ChartKind, y: &str) -> Self {
        ChartSpec {
            kind,
            title: None,
            x: None,
            y: y.to_owned(),
            group: None,
            filters: BTreeMap::new(),
            dims: Vec::new(),
            better: None,
            unfinished: false,
            paired: None,
        }
    }

    /// Plot differences from the baseline runs matching `key = value` (paired by seed and `on`).
    pub fn paired_against(mut self, key: &str, value: impl Into<Value>, on: &[&str]) -> Self {
        self.paired =
            Some(Paired { baseline: BTreeMap::from([(key.to_owned(), value.into())]), on: on.iter().map(|s| (*s).to_owned()).collect() });
        self
    }

    pub fn with_x(mut self, x: &str) -> Self {
        self.x = Some(x.to_owned());
        self
    }

    pub fn with_title(mut self, title: &str) -> Self {
        self.title = Some(title.to_owned());
        self
    }

    pub fn with_group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    pub fn with_filter(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.filters.insert(key.to_owned(), value.into());
        self
    }

    /// The grouping parameter (`method` unless set).
    pub fn group_key(&self) -> &str {
        self.group.as_deref().unwrap_or("method")
    }

    /// The title to draw.
    pub fn display_title(&self) -> String {
        if let Some(t) = &self.title {
            return t.clone();
        }
        match (self.kind, &self.x) {
            (ChartKind::Curves, _) => format!("{} during training", self.y),
            (ChartKind::Bars, _) => format!("{} by {}", self.y, self.group_key()),
            (ChartKind::Parallel, _) => format!("{} by parameters", self.y),
            (ChartKind::Importance, _) => format!("What {} depends on: each parameter's importance", self.y),
            (_, Some(x)) if self.paired.is_some() => format!("{} difference vs {x}", self.y),
            (_, Some(x)) => format!("{} vs {x}", self.y),
            (_, None) => self.y.clone(),
        }
    }
}
