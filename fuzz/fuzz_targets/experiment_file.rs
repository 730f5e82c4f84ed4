//! Experiment files: any text either parses and plans, or is refused with an error that
//! names the file, a line and a column. Never a panic.
#![no_main]

use benchtop_core::{Params, ParamProblem, Registry, RunContext, StudyError, Summary};
use libfuzzer_sys::fuzz_target;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How to do it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Method {
    #[default]
    Plain,
    Clever,
}

/// Every kind of parameter a study has: an enum, ranged integers and floats, a cross-check.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct FuzzParams {
    method: Method,
    #[schemars(range(min = 2, max = 10))]
    n_envs: u32,
    #[schemars(range(min = 0.0, max = 1.0))]
    lr: f64,
    k: u32,
    name: String,
    flag: bool,
}

impl Default for FuzzParams {
    fn default() -> Self {
        FuzzParams { method: Method::Plain, n_envs: 3, lr: 0.1, k: 1, name: String::new(), flag: false }
    }
}

impl Params for FuzzParams {
    fn check(&self) -> Vec<ParamProblem> {
        if self.k > self.n_envs { vec![ParamProblem::new("k", "must be at most n_envs")] } else { vec![] }
    }
}

struct Fuzz;

impl benchtop_core::Study for Fuzz {
    type Params = FuzzParams;
    fn name(&self) -> &'static str {
        "fuzz"
    }
    fn title(&self) -> &'static str {
        "Fuzz"
    }
    fn description(&self) -> &'static str {
        "A study for fuzzing experiment files."
    }
    fn run(&self, _ctx: &RunContext, _p: &FuzzParams) -> Result<Summary, StudyError> {
        Ok(Summary::new())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let registry = Registry::new().with(Fuzz);
    let result = benchtop_core::Experiment::parse(text, "fuzz.toml").and_then(|exp| exp.plan(&registry));
    if let Err(e) = result {
        let shown = e.to_string();
        assert!(shown.starts_with("fuzz.toml:"), "an error that does not name the file: {shown}");
        assert!(e.line >= 1 && e.column >= 1, "an error without a line and column: {shown}");
        assert!(!shown.contains('\n'), "an error on more than one line: {shown}");
    }
});
