//! The [`Study`] trait every paper's protocol implements, and the [`Registry`] of them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::chart::ChartSpec;
use crate::context::RunContext;
pub use crate::error::StudyError;
use crate::params::{self, ParamInfo, ParamProblem, Params};
use crate::run::Summary;

/// One method of a study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct MethodInfo {
    pub name: String,
    pub doc: String,
}

/// A study as front ends see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct StudyInfo {
    /// The registry name (`isr`, `goat`, ...).
    pub name: String,
    /// The paper's short title.
    pub title: String,
    /// What the study shows, in a paragraph.
    pub description: String,
    pub methods: Vec<MethodInfo>,
    pub params: Vec<ParamInfo>,
    /// The charts that show the paper's finding (a report's defaults).
    pub charts: Vec<ChartSpec>,
}

/// A paper's protocol: typed parameters in, metrics and a summary out, through [`RunContext`].
pub trait Study: Send + Sync + 'static {
    type Params: Params;

    /// The registry name (`isr`, ...).
    fn name(&self) -> &'static str;
    /// The paper's short title.
    fn title(&self) -> &'static str;
    /// What the study shows.
    fn description(&self) -> &'static str;

    /// The charts that show the paper's finding; reports draw them by default.
    fn default_charts(&self) -> Vec<ChartSpec> {
        Vec::new()
    }

    /// Train and evaluate one run; return its summary metrics.
    fn run(&self, ctx: &RunContext, params: &Self::Params) -> Result<Summary, StudyError>;
}

/// The object-safe face of a [`Study`], used by the registry, runner and front ends.
pub trait StudyObject: Send + Sync {
    fn info(&self) -> StudyInfo;
    /// The parameters' JSON Schema (drives the app's form).
    fn schema(&self) -> Value;
    /// The default parameters as a JSON object.
    fn defaults(&self) -> Map<String, Value>;
    /// Type-check, range-check and cross-check a full parameter object; return it normalised
    /// (parameters the setting does not read at their defaults, see [`Params::unused`]).
    fn resolve(&self, params: &Map<String, Value>) -> Result<Map<String, Value>, Vec<ParamProblem>>;
    /// Run with parameters that [`Self::resolve`] accepted.
    fn run_json(&self, ctx: &RunContext, params: &Map<String, Value>) -> Result<Summary, StudyError>;
}

impl<S: Study> StudyObject for S {
    fn info(&self) -> StudyInfo {
        let params = params::param_infos(&self.schema(), &self.defaults());
        let methods = params
            .iter()
            .find(|p| p.name == "method")
            .map(|p| p.allowed.iter().map(|(v, doc)| MethodInfo { name: params::show(v), doc: doc.clone() }).collect())
            .unwrap_or_default();
        StudyInfo {
            name: self.name().to_owned(),
            title: self.title().to_owned(),
            description: self.description().to_owned(),
            methods,
            params,
            charts: self.default_charts(),
        }
    }

    fn schema(&self) -> Value {
        params::schema_of::<S::Params>()
    }

    fn defaults(&self) -> Map<String, Value> {
        params::defaults_of::<S::Params>()
    }

    fn resolve(&self, raw: &Map<String, Value>) -> Result<Map<String, Value>, Vec<ParamProblem>> {
        let infos = params::param_infos(&self.schema(), &self.defaults());
        let mut problems = Vec::new();
        for (key, value) in raw {
            match infos.iter().find(|i| &i.name == key) {
                None => problems.push(ParamProblem::new(key, format!("unknown parameter; allowed: {}", names(&infos)))),
                Some(info) => {
                    if let Err(why) = info.check_value(value) {
                        problems.push(ParamProblem::new(key, format!("{why}; allowed: {}", info.describe_allowed())));
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let typed = typed::<S::Params>(raw, &infos)?;
        let Ok(Value::Object(mut map)) = serde_json::to_value(&typed) else {
            return Err(vec![ParamProblem::new("", "parameters do not serialise to an object")]);
        };
        // Parameters the setting does not read go back to their defaults first, so a
        // cross-check never refuses a value the run ignores.
        let defaults = params::defaults_of::<S::Params>();
        for key in typed.unused() {
            if let Some(d) = defaults.get(key) {
                map.insert(key.to_owned(), d.clone());
            }
        }
        let normal: S::Params = serde_json::from_value(Value::Object(map.clone()))
            .map_err(|e| vec![ParamProblem::new("", format!("parameters do not round-trip: {e}"))])?;
        let cross = normal.check();
        if !cross.is_empty() {
            return Err(cross);
        }
        Ok(map)
    }

    fn run_json(&self, ctx: &RunContext, raw: &Map<String, Value>) -> Result<Summary, StudyError> {
        // Stored parameters (a resumed run, a record another build wrote) get every check an
        // experiment file gets: keys, types, ranges and the study's cross-checks.
        let invalid = |problems: Vec<ParamProblem>| {
            let text: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect();
            StudyError::InvalidParams(text.join("; "))
        };
        let resolved = self.resolve(raw).map_err(invalid)?;
        let typed: S::Params = serde_json::from_value(Value::Object(resolved))
            .map_err(|e| StudyError::InvalidParams(format!("parameters do not round-trip: {e}")))?;
        self.run(ctx, &typed)
    }
}

/// Deserialise `raw` over the defaults, one key at a time first so a type error names its key.
/// Keys the schema does not list are refused here rather than by serde, so parameter structs
/// may `flatten` shared groups (which serde's `deny_unknown_fields` cannot combine with).
fn typed<P: Params>(raw: &Map<String, Value>, infos: &[ParamInfo]) -> Result<P, Vec<ParamProblem>> {
    let defaults = params::defaults_of::<P>();
    let mut problems = Vec::new();
    for key in raw.keys().filter(|k| !infos.iter().any(|i| &i.name == *k)) {
        problems.push(ParamProblem::new(key, format!("unknown parameter; allowed: {}", names(infos))));
    }
    for (key, value) in raw {
        let mut one = defaults.clone();
        one.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<P>(Value::Object(one)) {
            let allowed = infos.iter().find(|i| &i.name == key).map(|i| format!("; allowed: {}", i.describe_allowed())).unwrap_or_default();
            problems.push(ParamProblem::new(key, format!("{e}{allowed}")));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut all = defaults;
    all.extend(raw.iter().map(|(k, v)| (k.clone(), v.clone())));
    serde_json::from_value::<P>(Value::Object(all)).map_err(|e| vec![ParamProblem::new("", e.to_string())])
}

fn names(infos: &[ParamInfo]) -> String {
    infos.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// Every study this build knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    studies: Vec<Arc<dyn StudyObject>>,
    /// Names the compute a backend runs on here (the crate that owns the backends knows its
    /// kernels); the runner records it in each run's provenance.
    compute: Option<fn(crate::Backend) -> crate::Compute>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a study (builder style).
    pub fn with(mut self, study: impl StudyObject + 'static) -> Self {
        self.studies.push(Arc::new(study));
        self
    }

    /// Set how the compute of a backend is named for provenance (builder style).
    pub fn with_compute_probe(mut self, probe: fn(crate::Backend) -> crate::Compute) -> Self {
        self.compute = Some(probe);
        self
    }

    /// The compute a run on `backend` gets in this process, where a probe is set.
    pub fn compute(&self, backend: crate::Backend) -> Option<crate::Compute> {
        self.compute.map(|probe| probe(backend))
    }

    /// The study called `name`, or an error that lists the known ones.
    pub fn get(&self, name: &str) -> Result<Arc<dyn StudyObject>, String> {
        self.studies
            .iter()
            .find(|s| s.info().name == name)
            .cloned()
            .ok_or_else(|| format!("unknown study `{name}`; known studies: {}", self.names().join(", ")))
    }

    /// The names of all studies, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.studies.iter().map(|s| s.info().name).collect()
    }

    /// All studies.
    pub fn all(&self) -> &[Arc<dyn StudyObject>] {
        &self.studies
    }

    /// The default charts of the named studies (unknown ones give none), in the order the
    /// studies first appear.
    pub fn default_charts<'a>(&self, studies: impl IntoIterator<Item = &'a str>) -> Vec<crate::ChartSpec> {
        let mut seen: Vec<&str> = Vec::new();
        let mut charts = Vec::new();
        for name in studies {
            if !seen.contains(&name) {
                seen.push(name);
                if let Ok(study) = self.get(name) {
                    charts.extend(study.info().charts);
                }
            }
        }
        charts
    }
}
