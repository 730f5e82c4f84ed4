//! Experiment files: parsing, validation against a study's schema, and sweep expansion.
//!
//! ```toml
//! name = "isr-environments"
//! study = "isr"
//! description = "Test error against the number of training environments"
//! seeds = 5                 # or a list: [0, 1, 7]
//! backend = "cpu"           # or "gpu", or "libtorch" (opt-in builds)
//! [params]                  # overrides the study's defaults
//! d_spu = 5
//! [sweep]                   # lists expand as a grid; `method` is a key like any other
//! method = ["erm", "isr_mean"]
//! n_envs = [2, 4, 6]
//! [search]                  # random search, crossed with the grid (see `search`)
//! samples = 10
//! lr = { log_uniform = [1e-4, 1e-1] }
//! ```
//! and where the runs train (`executor = "slurm"` with a `[slurm]` table: see `executor`).
//! Every problem is reported as `file:line:column: key: what is wrong; allowed: ...`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::params::ParamProblem;
use crate::run::{Backend, Provenance, RunId, RunRecord, RunStatus, Summary};
use crate::study::{Registry, StudyObject};

pub mod doc;
pub mod executor;
pub mod search;
pub use doc::ExperimentDoc;
pub use executor::{Executor, Report, SlurmOptions};
pub use search::{Draw, Search};

/// A problem with an experiment, located in its file (or in a `--set` override).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExperimentError {
    /// The file's path, or `--set` for a command-line override.
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The offending key, when there is one.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ExperimentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, always: a key or message that quotes a multi-line value shows its breaks
        // escaped.
        let one_line = |text: &str| text.replace('\r', "\\r").replace('\n', "\\n");
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "{}: ", one_line(key))?;
        }
        f.write_str(&one_line(&self.message))
    }
}

impl std::error::Error for ExperimentError {}

/// How many seeds, or which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeedSpec {
    Count(u64),
    List(Vec<u64>),
}

impl SeedSpec {
    /// The seeds themselves: `0..n` for a count.
    pub fn seeds(&self) -> Vec<u64> {
        match self {
            SeedSpec::Count(n) => (0..*n).collect(),
            SeedSpec::List(list) => list.clone(),
        }
    }
}

/// One run to create: a sweep point with one seed, parameters resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    pub experiment: String,
    pub description: String,
    pub study: String,
    pub method: Option<String>,
    pub seed: u64,
    pub backend: Backend,
    /// Defaults, then `[params]`, then the sweep point: normalised by the study.
    pub params: Map<String, Value>,
    pub sweep_point: BTreeMap<String, Value>,
    pub experiment_file: Option<String>,
}

impl RunPlan {
    /// The `queued` run record this plan starts as.
    pub fn to_record(&self, provenance: Provenance) -> RunRecord {
        RunRecord {
            id: RunId::new(),
            experiment: self.experiment.clone(),
            description: self.description.clone(),
            study: self.study.clone(),
            method: self.method.clone(),
            seed: self.seed,
            backend: self.backend,
            status: RunStatus::Queued,
            params: self.params.clone(),
            sweep_point: self.sweep_point.clone(),
            summary: Summary::new(),
            error: None,
            experiment_file: self.experiment_file.clone(),
            provenance,
            created_at: chrono::Utc::now(),
            tags: Vec::new(),
            notes: String::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: Spanned<String>,
    study: Spanned<String>,
    #[serde(default)]
    description: String,
    seeds: Option<Spanned<toml::Value>>,
    backend: Option<Spanned<String>>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    sweep: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    search: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    executor: Option<Spanned<String>>,
    slurm: Option<Spanned<SlurmOptions>>,
}

/// Where a key and its value sit in the source.
#[derive(Clone, Debug, PartialEq)]
struct Located {
    key_span: Range<usize>,
    value_span: Range<usize>,
}

/// A parsed experiment file, not yet checked against its study.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub name: String,
    pub study: String,
    pub description: String,
    pub seeds: SeedSpec,
    pub backend: Backend,
    /// `[params]`, as JSON.
    pub params: Map<String, Value>,
    /// `[sweep]`: each key with its list of values, in key order.
    pub sweep: Vec<(String, Vec<Value>)>,
    /// `[search]`: random draws crossed with the grid, if any.
    pub search: Option<Search>,
    /// Where the runs train (`executor`), and `[slurm]`'s options for when it is Slurm.
    pub executor: Executor,
    pub slurm: SlurmOptions,
    /// The file it was read from, if any.
    pub path: Option<PathBuf>,
    /// How errors name the source (the path, or what the caller passed to `parse`).
    file: String,
    source: String,
    study_span: Range<usize>,
    param_spans: BTreeMap<String, Located>,
    sweep_spans: BTreeMap<String, (Located, Vec<Range<usize>>)>,
    search_spans: BTreeMap<String, Located>,
    overrides: Vec<String>,
}

impl Experiment {
    /// Read and parse an experiment file.
    pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
        let source = std::fs::read_to_string(path).map_err(|e| ExperimentError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            key: None,
            message: format!("cannot read the file: {e}"),
        })?;
        let mut exp = Self::parse(&source, &path.display().to_string())?;
        exp.path = Some(path.to_path_buf());
        Ok(exp)
    }

    /// Parse an experiment from text; `file` names it in errors.
    pub fn parse(source: &str, file: &str) -> Result<Experiment, ExperimentError> {
        let at = |span: Range<usize>, key: Option<&str>, message: String| locate(source, file, span.start, key, message);
        let raw: RawExperiment = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_on_line(source, span.start);
            at(span, key.as_deref(), e.message().trim().to_owned())
        })?;

        let seeds = match &raw.seeds {
            None => SeedSpec::Count(1),
            Some(spanned) => parse_seeds(spanned.get_ref()).map_err(|m| at(spanned.span(), Some("seeds"), m))?,
        };
        let backend = match &raw.backend {
            None => Backend::Cpu,
            Some(b) => match b.get_ref().as_str() {
                "cpu" => Backend::Cpu,
                "gpu" => Backend::Gpu,
                "libtorch" => Backend::Libtorch,
                other => {
                    return Err(at(b.span(), Some("backend"), format!("unknown backend `{other}`; allowed: cpu, gpu, libtorch")));
                }
            },
        };
        let executor = match &raw.executor {
            None => Executor::Local,
            Some(e) => Executor::parse(e.get_ref()).map_err(|m| at(e.span(), Some("executor"), m))?,
        };
        let slurm = match &raw.slurm {
            None => SlurmOptions::default(),
            Some(spanned) => {
                spanned.get_ref().check().map_err(|(key, m)| at(spanned.span(), Some(&format!("slurm.{key}")), m))?;
                spanned.get_ref().clone()
            }
        };
        if raw.name.get_ref().trim().is_empty() {
            return Err(at(raw.name.span(), Some("name"), "must not be empty".into()));
        }

        let mut params = Map::new();
        let mut param_spans = BTreeMap::new();
        for (key, value) in &raw.params {
            params.insert(key.get_ref().clone(), to_json(value.get_ref()));
            param_spans.insert(key.get_ref().clone(), Located { key_span: key.span(), value_span: value.span() });
        }

        let mut sweep = Vec::new();
        let mut sweep_spans = BTreeMap::new();
        for (key, value) in &raw.sweep {
            let name = key.get_ref().clone();
            let toml::Value::Array(items) = value.get_ref() else {
                return Err(at(value.span(), Some(&format!("sweep.{name}")), "a sweep value must be a list, e.g. [1, 2, 3]".into()));
            };
            if items.is_empty() {
                return Err(at(value.span(), Some(&format!("sweep.{name}")), "the list is empty".into()));
            }
            if let Some(p) = param_spans.get(&name) {
                return Err(at(p.key_span.clone(), Some(&format!("params.{name}")), "also set in [sweep]; keep it in one place".into()));
            }
            let item_spans = list_item_spans(source, value.span(), items.len());
            sweep.push((name.clone(), items.iter().map(to_json).collect()));
            sweep_spans.insert(name, (Located { key_span: key.span(), value_span: value.span() }, item_spans));
        }

        let mut search_spans = BTreeMap::new();
        let search = if raw.search.is_empty() {
            None
        } else {
            let (mut samples, mut seed, mut draws) = (None, 0, Vec::new());
            let mut first_span = 0..0;
            for (key, value) in &raw.search {
                let name = key.get_ref().clone();
                let field = format!("search.{name}");
                if first_span == (0..0) {
                    first_span = key.span();
                }
                match name.as_str() {
                    "samples" => match value.get_ref() {
                        toml::Value::Integer(n) if (1..=search::MAX_SAMPLES).contains(n) => samples = Some(*n as usize),
                        other => {
                            return Err(at(
                                value.span(),
                                Some(&field),
                                format!("`{other}` is not a sample count; allowed: an integer from 1 to {}", search::MAX_SAMPLES),
                            ));
                        }
                    },
                    "seed" => match value.get_ref() {
                        toml::Value::Integer(n) if *n >= 0 && *n as u64 <= MAX_SEED => seed = *n as u64,
                        other => {
                            return Err(at(
                                value.span(),
                                Some(&field),
                                format!("`{other}` is not a seed; allowed: an integer from 0 to 2^53 - 1"),
                            ));
                        }
                    },
                    _ => {
                        if let Some(p) = param_spans.get(&name) {
                            return Err(at(
                                p.key_span.clone(),
                                Some(&format!("params.{name}")),
                                "also drawn in [search]; keep it in one place".into(),
                            ));
                        }
                        if let Some((loc, _)) = sweep_spans.get(&name) {
                            return Err(at(
                                loc.key_span.clone(),
                                Some(&format!("sweep.{name}")),
                                "also drawn in [search]; keep it in one place".into(),
                            ));
                        }
                        let draw = Draw::parse(&to_json(value.get_ref())).map_err(|m| at(value.span(), Some(&field), m))?;
                        draws.push((name.clone(), draw));
                        search_spans.insert(name, Located { key_span: key.span(), value_span: value.span() });
                    }
                }
            }
            let Some(samples) = samples else {
                return Err(at(first_span, Some("search.samples"), "is missing: say how many draws, e.g. samples = 20".into()));
            };
            if draws.is_empty() {
                return Err(at(first_span, Some("search"), "draws nothing: add a range, e.g. lr = { log_uniform = [1e-4, 1e-1] }".into()));
            }
            Some(Search { samples, seed, draws })
        };

        Ok(Experiment {
            name: raw.name.into_inner(),
            study: raw.study.get_ref().clone(),
            description: raw.description,
            seeds,
            backend,
            params,
            sweep,
            search,
            executor,
            slurm,
            path: None,
            file: file.to_owned(),
            source: source.to_owned(),
            study_span: raw.study.span(),
            param_spans,
            sweep_spans,
            search_spans,
            overrides: Vec::new(),
        })
    }

    fn error_at(&self, offset: usize, key: &str, message: String) -> ExperimentError {
        locate(&self.source, &self.file, offset, Some(key), message)
    }

    /// Fix a parameter from the command line (`--set key=value`): it replaces both the
    /// `[params]` value and any sweep over that key. `value` is read as TOML, or as a
    /// plain string when it is not TOML (`--set method=erm`).
    pub fn set(&mut self, assignment: &str) -> Result<(), ExperimentError> {
        let err = |message: String| ExperimentError {
            file: "--set".into(),
            line: 1,
            column: 1,
            key: None,
            message: format!("`{assignment}`: {message}"),
        };
        let (key, text) = assignment.split_once('=').ok_or_else(|| err("expected key=value".into()))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(err("the key is empty".into()));
        }
        let value = match toml::from_str::<toml::Table>(&format!("v = {}", text.trim())) {
            Ok(mut table) => table.remove("v").map(|v| to_json(&v)).unwrap_or(Value::Null),
            Err(_) => Value::String(text.trim().to_owned()),
        };
        self.sweep.retain(|(k, _)| k != key);
        self.sweep_spans.remove(key);
        if let Some(search) = &mut self.search {
            search.draws.retain(|(k, _)| k != key);
            if search.draws.is_empty() {
                self.search = None;
            }
        }
        self.search_spans.remove(key);
        self.param_spans.remove(key);
        self.params.insert(key.to_owned(), value);
        self.overrides.push(key.to_owned());
        Ok(())
    }

    /// The sweep grid times the search's draws times the seeds: an upper bound on the runs
    /// [`Experiment::plan`] makes (a point that repeats an earlier run in all parameters its
    /// method reads is planned once).
    pub fn run_count(&self) -> usize {
        let draws = self.search.as_ref().map_or(1, |s| s.samples);
        self.sweep.iter().map(|(_, v)| v.len()).product::<usize>() * draws * self.seeds.seeds().len()
    }

    /// Check everything against the study and expand the sweep into one plan per run.
    pub fn plan(&self, registry: &Registry) -> Result<Vec<RunPlan>, ExperimentError> {
        let study = registry.get(&self.study).map_err(|m| self.error_at(self.study_span.start, "study", m))?;
        self.check_each_value(study.as_ref())?;

        let seeds = self.seeds.seeds();
        let mut plans = Vec::with_capacity(self.run_count());
        let mut planned = std::collections::HashSet::new();
        // Each grid point crossed with each draw of the search (the same draws for every point).
        let draws = match &self.search {
            None => vec![Vec::new()],
            Some(search) => {
                let infos = study.info().params;
                search.draw(|key| infos.iter().any(|p| p.name == key && p.kind == "integer"))
            }
        };
        let points: Vec<BTreeMap<String, Value>> = self
            .grid()
            .into_iter()
            .flat_map(|point| {
                draws.iter().map(move |draw| {
                    let mut p = point.clone();
                    p.extend(draw.iter().cloned());
                    p
                })
            })
            .collect();
        for mut point in points {
            let mut raw = self.params.clone();
            raw.extend(point.iter().map(|(k, v)| (k.clone(), v.clone())));
            let resolved = study.resolve(&raw).map_err(|problems| self.problem_error(&problems))?;
            // A point that differs from an earlier one only in parameters its method does not
            // read is the same run: plan it once (the sweep point shows what the run used).
            if !planned.insert(Value::Object(resolved.clone()).to_string()) {
                continue;
            }
            for (key, value) in point.iter_mut() {
                if let Some(v) = resolved.get(key) {
                    *value = v.clone();
                }
            }
            let method = resolved.get("method").map(crate::params::show);
            for &seed in &seeds {
                plans.push(RunPlan {
                    experiment: self.name.clone(),
                    description: self.description.clone(),
                    study: self.study.clone(),
                    method: method.clone(),
                    seed,
                    backend: self.backend,
                    params: resolved.clone(),
                    sweep_point: point.clone(),
                    experiment_file: self.path.as_ref().map(|p| p.display().to_string()),
                });
            }
        }
        Ok(plans)
    }

    /// `[params]` together, then each sweep value on top of them, so an error points at the
    /// exact value (a sweep list item included). A cross-check that fails only because of
    /// another sweep key's default is left to `plan`, which resolves whole sweep points.
    fn check_each_value(&self, study: &dyn StudyObject) -> Result<(), ExperimentError> {
        if let Err(problems) = study.resolve(&self.params) {
            return Err(self.problem_error(&problems));
        }
        for (key, values) in &self.sweep {
            for (i, value) in values.iter().enumerate() {
                let mut single = self.params.clone();
                single.insert(key.clone(), value.clone());
                let problems: Vec<ParamProblem> = match study.resolve(&single) {
                    Ok(_) => Vec::new(),
                    Err(all) => all.into_iter().filter(|p| &p.key == key).collect(),
                };
                if !problems.is_empty() {
                    let mut e = self.problem_error(&problems);
                    if let Some(span) = self.sweep_spans.get(key).and_then(|(_, items)| items.get(i)) {
                        let (line, column) = line_col(&self.source, span.start);
                        e.line = line;
                        e.column = column;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn problem_error(&self, problems: &[ParamProblem]) -> ExperimentError {
        let Some(problem) = problems.first() else {
            return self.error_at(0, "params", "invalid parameters".into());
        };
        let key = problem.key.as_str();
        if self.overrides.iter().any(|k| k == key) {
            return ExperimentError {
                file: "--set".into(),
                line: 1,
                column: 1,
                key: Some(key.to_owned()),
                message: problem.message.clone(),
            };
        }
        if let Some(loc) = self.param_spans.get(key) {
            let offset = if problem.message.starts_with("unknown parameter") { loc.key_span.start } else { loc.value_span.start };
            return self.error_at(offset, &format!("params.{key}"), problem.message.clone());
        }
        if let Some((loc, _)) = self.sweep_spans.get(key) {
            let offset = if problem.message.starts_with("unknown parameter") { loc.key_span.start } else { loc.value_span.start };
            return self.error_at(offset, &format!("sweep.{key}"), problem.message.clone());
        }
        if let Some(loc) = self.search_spans.get(key) {
            let offset = if problem.message.starts_with("unknown parameter") { loc.key_span.start } else { loc.value_span.start };
            let message = if problem.message.starts_with("unknown parameter") {
                problem.message.clone()
            } else {
                format!("a draw from this range: {}", problem.message)
            };
            return self.error_at(offset, &format!("search.{key}"), message);
        }
        self.error_at(self.study_span.start, key, problem.message.clone())
    }

    /// The sweep's grid points, the last key varying fastest.
    pub fn grid(&self) -> Vec<BTreeMap<String, Value>> {
        let mut points = vec![BTreeMap::new()];
        for (key, values) in &self.sweep {
            points = points
                .into_iter()
                .flat_map(|point| {
                    values.iter().map(move |v| {
                        let mut p = point.clone();
                        p.insert(key.clone(), v.clone());
                        p
                    })
                })
                .collect();
        }
        points
    }
}

/// Load, apply `--set` overrides and plan in one go.
pub fn load_and_plan(path: &Path, sets: &[String], registry: &Registry) -> Result<(Experiment, Vec<RunPlan>), ExperimentError> {
    let mut exp = Experiment::load(path)?;
    for s in sets {
        exp.set(s)?;
    }
    let plans = exp.plan(registry)?;
    Ok((exp, plans))
}

/// The largest seed: 2^53 - 1, the largest integer JavaScript's numbers (the app's) hold
/// exactly, so a seed shown in the app is the seed that ran.
pub const MAX_SEED: u64 = (1 << 53) - 1;

fn parse_seeds(value: &toml::Value) -> Result<SeedSpec, String> {
    const ALLOWED: &str = "allowed: a count from 1 to 10000 (seeds 0..n) or a list of distinct integers from 0 to 2^53 - 1";
    match value {
        toml::Value::Integer(n) if (1..=10_000).contains(n) => Ok(SeedSpec::Count(*n as u64)),
        toml::Value::Array(items) if !items.is_empty() => {
            let mut seeds = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::Integer(n) if *n >= 0 && *n as u64 <= MAX_SEED => {
                        let n = *n as u64;
                        if seeds.contains(&n) {
                            return Err(format!("seed {n} is listed twice; {ALLOWED}"));
                        }
                        seeds.push(n);
                    }
                    other => return Err(format!("`{other}` is not a seed; {ALLOWED}")),
                }
            }
            Ok(SeedSpec::List(seeds))
        }
        other => Err(format!("`{other}` is not a seed count or list; {ALLOWED}")),
    }
}

/// TOML values as JSON (datetimes become their text).
fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(t) => Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..source.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn locate(source: &str, file: &str, offset: usize, key: Option<&str>, message: String) -> ExperimentError {
    let (line, column) = line_col(source, offset);
    ExperimentError { file: file.to_owned(), line, column, key: key.map(str::to_owned), message }
}

/// The `key` of a `key = value` line, to name it in errors the TOML parser reports.
fn key_on_line(source: &str, offset: usize) -> Option<String> {
    let offset = source.floor_char_boundary(offset.min(source.len()));
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && !key.starts_with('[') && !key.starts_with('#')).then(|| key.to_owned())
}

/// Byte spans of the items of an inline list, so a bad sweep value is pointed at exactly.
/// Falls back to the list's own span where the text is not a simple list.
fn list_item_spans(source: &str, list: Range<usize>, count: usize) -> Vec<Range<usize>> {
    let text = &source[list.clone()];
    let mut spans = Vec::with_capacity(count);
    let mut depth = 0usize;
    let mut in_string: Option<char> = None;
    let mut item_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if let Some(q) = in_string {
            if c == q {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => {
                in_string = Some(c);
                if depth == 1 && item_start.is_none() {
                    item_start = Some(i);
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth == 2 && item_start.is_none() {
                    item_start = Some(i);
                }
            }
            ']' | '}' => {
                if depth == 1
                    && let Some(s) = item_start.take()
                {
                    spans.push(list.start + s..list.start + i);
                }
                depth = depth.saturating_sub(1);
            }
            ',' if depth == 1 => {
                if let Some(s) = item_start.take() {
                    spans.push(list.start + s..list.start + i);
                }
            }
            c if depth == 1 && !c.is_whitespace() && item_start.is_none() && c != '#' => {
                item_start = Some(i);
            }
            _ => {}
        }
    }
    if spans.len() == count { spans } else { vec![list; count] }
}

#[cfg(test)]
mod tests;
