use super::*;
use crate::context::RunContext;
use crate::params::Params;
use crate::run::Summary;
use crate::study::{Study, StudyError};
use schemars::JsonSchema;
use serde::Serialize;

/// How to do it.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Method {
    /// The plain way.
    #[default]
    Plain,
    /// The clever way.
    Clever,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct DemoParams {
    method: Method,
    /// Number of environments.
    #[schemars(range(min = 2, max = 10))]
    n_envs: u32,
    /// Learning rate.
    #[schemars(range(min = 0.0, max = 1.0))]
    lr: f64,
    /// Must not exceed n_envs.
    k: u32,
}

impl Default for DemoParams {
    fn default() -> Self {
        DemoParams { method: Method::Plain, n_envs: 3, lr: 0.1, k: 1 }
    }
}

impl Params for DemoParams {
    fn check(&self) -> Vec<ParamProblem> {
        if self.k > self.n_envs { vec![ParamProblem::new("k", format!("must be at most n_envs ({})", self.n_envs))] } else { vec![] }
    }
}

struct Demo;

impl Study for Demo {
    type Params = DemoParams;
    fn name(&self) -> &'static str {
        "demo"
    }
    fn title(&self) -> &'static str {
        "Demo"
    }
    fn description(&self) -> &'static str {
        "A study for tests."
    }
    fn run(&self, _ctx: &RunContext, _p: &DemoParams) -> Result<Summary, StudyError> {
        Ok(Summary::new())
    }
}

fn registry() -> Registry {
    Registry::new().with(Demo)
}

fn plan(src: &str) -> Result<Vec<RunPlan>, ExperimentError> {
    Experiment::parse(src, "exp.toml")?.plan(&registry())
}

fn err(src: &str) -> ExperimentError {
    plan(src).expect_err("expected an error")
}

const GOOD: &str = r#"name = "demo-grid"
study = "demo"
description = "A grid"
seeds = 2
[params]
lr = 0.5
[sweep]
method = ["plain", "clever"]
n_envs = [2, 4, 6]
"#;

#[test]
fn a_sweep_expands_as_a_grid_times_seeds() {
    let plans = plan(GOOD).unwrap();
    assert_eq!(plans.len(), 2 * 3 * 2);
    let first = &plans[0];
    assert_eq!(first.experiment, "demo-grid");
    assert_eq!(first.method.as_deref(), Some("plain"));
    assert_eq!((first.seed, plans[1].seed), (0, 1));
    assert_eq!(first.params["lr"], Value::from(0.5));
    assert_eq!(first.params["k"], Value::from(1), "defaults fill the rest");
    assert_eq!(first.sweep_point.len(), 2);
    let points: std::collections::BTreeSet<String> = plans.iter().map(|p| format!("{:?}", p.sweep_point)).collect();
    assert_eq!(points.len(), 6, "every grid point appears once per seed");
    assert_eq!(plans.iter().filter(|p| p.method.as_deref() == Some("clever")).count(), 6);
}

#[test]
fn seeds_may_be_a_list_and_default_to_one() {
    let src = "name = \"a\"\nstudy = \"demo\"\nseeds = [3, 9]\n";
    let seeds: Vec<u64> = plan(src).unwrap().iter().map(|p| p.seed).collect();
    assert_eq!(seeds, [3, 9]);
    let src = "name = \"a\"\nstudy = \"demo\"\n";
    assert_eq!(plan(src).unwrap().len(), 1);
}

#[test]
fn malformed_toml_names_file_and_line() {
    let e = err("name = \"a\"\nstudy = \"demo\"\nseeds = [1, 2\n");
    assert_eq!(e.file, "exp.toml");
    assert!(e.line >= 3, "{e}");
}

#[test]
fn unknown_top_level_keys_are_named_with_the_allowed_ones() {
    let e = err("name = \"a\"\nstudy = \"demo\"\nseedz = 3\n");
    assert_eq!(e.line, 3, "{e}");
    assert!(e.message.contains("seedz") && e.message.contains("seeds"), "{e}");
}

#[test]
fn an_unknown_study_lists_the_known_ones() {
    let e = err("name = \"a\"\nstudy = \"nope\"\n");
    assert_eq!((e.line, e.key.as_deref()), (2, Some("study")));
    assert!(e.message.contains("known studies: demo"), "{e}");
}

#[test]
fn an_unknown_parameter_points_at_its_key_and_lists_the_parameters() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nlr = 0.1\nwat = 3\n");
    assert_eq!((e.line, e.column), (5, 1), "{e}");
    assert_eq!(e.key.as_deref(), Some("params.wat"));
    assert!(e.message.contains("method, n_envs, lr, k"), "{e}");
}

#[test]
fn a_wrong_type_points_at_the_value_and_says_what_is_allowed() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nn_envs = \"many\"\n");
    assert_eq!((e.line, e.column), (4, 10), "{e}");
    assert!(e.message.contains("integer from 2 to 10"), "{e}");
}

#[test]
fn an_out_of_range_value_is_an_error_with_the_range() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nlr = 3.5\n");
    assert_eq!(e.line, 4);
    assert!(e.message.contains("out of range") && e.message.contains("from 0 to 1"), "{e}");
}

#[test]
fn an_unknown_method_lists_the_methods() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[sweep]\nmethod = [\"plain\",\n  \"magic\"]\n");
    assert_eq!((e.line, e.column), (5, 3), "points at the bad item: {e}");
    assert_eq!(e.key.as_deref(), Some("sweep.method"));
    assert!(e.message.contains("one of plain, clever"), "{e}");
}

#[test]
fn a_sweep_value_must_be_a_non_empty_list() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[sweep]\nn_envs = 3\n");
    assert_eq!((e.line, e.key.as_deref()), (4, Some("sweep.n_envs")));
    let e = err("name = \"a\"\nstudy = \"demo\"\n[sweep]\nn_envs = []\n");
    assert!(e.message.contains("empty"), "{e}");
}

#[test]
fn a_key_in_both_params_and_sweep_is_an_error() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nlr = 0.1\n[sweep]\nlr = [0.2]\n");
    assert_eq!(e.line, 4);
}

#[test]
fn bad_seeds_and_backends_are_explained() {
    let e = err("name = \"a\"\nstudy = \"demo\"\nseeds = 0\n");
    assert_eq!((e.line, e.key.as_deref()), (3, Some("seeds")));
    assert!(e.message.contains("allowed"), "{e}");
    let e = err("name = \"a\"\nstudy = \"demo\"\nseeds = [1, 1]\n");
    assert!(e.message.contains("twice"), "{e}");
    // The app's numbers hold integers exactly up to 2^53 - 1: a larger seed is refused.
    assert!(plan("name = \"a\"\nstudy = \"demo\"\nseeds = [9007199254740991]\n").is_ok());
    let e = err("name = \"a\"\nstudy = \"demo\"\nseeds = [9007199254740992]\n");
    assert!(e.message.contains("2^53"), "{e}");
    let e = err("name = \"a\"\nstudy = \"demo\"\nbackend = \"tpu\"\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("cpu, gpu, libtorch"), "{e}");
}

#[test]
fn cross_field_checks_point_at_the_key_they_name() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nn_envs = 2\nk = 5\n");
    assert_eq!((e.line, e.key.as_deref()), (5, Some("params.k")));
    assert!(e.message.contains("at most n_envs"), "{e}");
}

#[test]
fn set_overrides_replace_params_and_sweeps() {
    let mut exp = Experiment::parse(GOOD, "exp.toml").unwrap();
    exp.set("n_envs=5").unwrap();
    exp.set("method=clever").unwrap();
    let plans = exp.plan(&registry()).unwrap();
    assert_eq!(plans.len(), 2, "only the seeds remain");
    assert!(plans.iter().all(|p| p.params["n_envs"] == 5));
    assert!(plans.iter().all(|p| p.method.as_deref() == Some("clever")));
}

#[test]
fn a_bad_set_override_is_blamed_on_the_command_line() {
    let mut exp = Experiment::parse(GOOD, "exp.toml").unwrap();
    exp.set("n_envs=99").unwrap();
    let e = exp.plan(&registry()).unwrap_err();
    assert_eq!((e.file.as_str(), e.key.as_deref()), ("--set", Some("n_envs")));
    assert!(exp.set("novalue").is_err());
}

#[test]
fn errors_print_on_one_line_with_file_line_and_column() {
    let e = err("name = \"a\"\nstudy = \"demo\"\n[params]\nlr = 3.5\n");
    let line = e.to_string();
    assert!(line.starts_with("exp.toml:4:6: params.lr: "), "{line}");
    assert!(!line.contains('\n'));
}

/// Property tests: whatever a user's file says, parsing and planning never panic, and every
/// error points inside the file. 6,000 generated files per run of the suite.
mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

    /// The error names the file, and its line and column exist in `src` (columns count
    /// characters, and one past a line's end is where a missing value would go).
    fn points_inside(e: &ExperimentError, src: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(&e.file, "exp.toml");
        let lines: Vec<&str> = src.split('\n').collect();
        prop_assert!(e.line >= 1 && e.line <= lines.len(), "line {} of {}: {}", e.line, lines.len(), e);
        let width = lines[e.line - 1].chars().count();
        prop_assert!(e.column >= 1 && e.column <= width + 1, "column {} of {}: {}", e.column, width, e);
        prop_assert!(!e.message.trim().is_empty(), "an empty message: {e:?}");
        prop_assert!(!e.to_string().contains('\n'), "not one line: {e}");
        Ok(())
    }

    fn check(src: &str) -> Result<(), TestCaseError> {
        match plan(src) {
            Ok(plans) => prop_assert!(!plans.is_empty(), "a valid file plans at least one run"),
            Err(e) => points_inside(&e, src)?,
        }
        Ok(())
    }

    /// Lines built from the keys and sections a file may have, with values of every type.
    fn file_like() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "name",
            "study",
            "description",
            "seeds",
            "backend",
            "method",
            "n_envs",
            "lr",
            "k",
            "[params]",
            "[sweep]",
            "[other]",
            "",
        ]);
        let value = prop::sample::select(vec![
            "\"demo\"",
            "\"a\"",
            "\"\"",
            "\"plain\"",
            "\"clever\"",
            "2",
            "-1",
            "0",
            "11",
            "3.5",
            "1e400",
            "true",
            "[]",
            "[1, 2]",
            "[\"plain\"]",
            "[2, \"x\"]",
            "[[1]]",
            "{ a = 1 }",
            "\"\"\"two\nlines\"\"\"",
            "'\u{e9}\u{1F600}'",
            "[1,",
            "\"unterminated",
            "nan",
            "inf",
        ]);
        prop::collection::vec((key, value, any::<bool>()), 0..10).prop_map(|lines| {
            lines
                .into_iter()
                .map(|(k, v, assign)| if k.starts_with('[') || k.is_empty() || !assign { k.to_owned() } else { format!("{k} = {v}") })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_text_plans_or_fails_inside_the_file(src in "\\PC{0,120}") {
            check(&src)?;
        }

        #[test]
        fn a_valid_file_with_one_edit_plans_or_fails_inside_the_file(at in 0..GOOD.len(), op in 0..3u8, c in any::<char>()) {
            let mut src: Vec<char> = GOOD.chars().collect();
            let at = at.min(src.len() - 1);
            match op {
                0 => { src.remove(at); }
                1 => src.insert(at, c),
                _ => src[at] = c,
            }
            check(&src.into_iter().collect::<String>())?;
        }

        #[test]
        fn file_like_text_plans_or_fails_inside_the_file(src in file_like()) {
            check(&src)?;
        }
    }
}

#[test]
fn a_random_search_is_crossed_with_the_grid_and_recorded_like_sweep_values() {
    let src = r#"name = "demo-search"
study = "demo"
seeds = 2
[sweep]
method = ["plain", "clever"]
[search]
samples = 5
seed = 11
lr = { log_uniform = [0.001, 0.5] }
n_envs = { uniform = [2, 10] }
"#;
    let exp = Experiment::parse(src, "exp.toml").unwrap();
    assert_eq!(exp.run_count(), 2 * 5 * 2);
    let plans = exp.plan(&registry()).unwrap();
    assert_eq!(plans.len(), 20);
    for p in &plans {
        let lr = p.sweep_point["lr"].as_f64().unwrap();
        let n = p.sweep_point["n_envs"].as_u64().expect("an integer parameter draws integers");
        assert!((0.001..=0.5).contains(&lr) && (2..=10).contains(&n), "{:?}", p.sweep_point);
        assert_eq!(p.params["lr"].as_f64(), Some(lr), "the drawn value is what runs");
    }
    // The same draws for both methods, and again on a second parse: seeded.
    let point = |p: &RunPlan| (p.sweep_point["lr"].clone(), p.sweep_point["n_envs"].clone());
    let plain: Vec<_> = plans.iter().filter(|p| p.sweep_point["method"] == "plain").map(point).collect();
    let clever: Vec<_> = plans.iter().filter(|p| p.sweep_point["method"] == "clever").map(point).collect();
    assert_eq!(plain, clever);
    assert_eq!(
        plans,
        Experiment::parse(src, "exp.toml")
            .unwrap()
            .plan(&registry())
            .unwrap()
            .into_iter()
            .map(|mut p| {
                p.experiment_file = None;
                p
            })
            .collect::<Vec<_>>()
    );
    // --set fixes a drawn parameter; the document round-trips the search through TOML.
    let mut fixed = Experiment::parse(src, "exp.toml").unwrap();
    fixed.set("lr=0.2").unwrap();
    assert!(fixed.plan(&registry()).unwrap().iter().all(|p| p.params["lr"] == 0.2 && !p.sweep_point.contains_key("lr")));
    let doc = ExperimentDoc::from_experiment(&exp);
    let again = Experiment::parse(&doc.to_toml().unwrap(), "again.toml").unwrap();
    assert_eq!(again.search, exp.search);
}

#[test]
fn search_mistakes_point_at_the_line_and_key() {
    let base = "name = \"s\"\nstudy = \"demo\"\n";
    for (tail, line, key, want) in [
        ("[search]\nlr = { uniform = [0.1, 0.2] }\n", 4, "search.samples", "is missing"),
        ("[search]\nsamples = 0\nlr = { uniform = [0.1, 0.2] }\n", 4, "search.samples", "not a sample count"),
        ("[search]\nsamples = 3\n", 4, "search", "draws nothing"),
        ("[search]\nsamples = 3\nlr = { uniform = [0.3, 0.2] }\n", 5, "search.lr", "lo < hi"),
        ("[search]\nsamples = 3\nlr = { gaussian = [0, 1] }\n", 5, "search.lr", "unknown range"),
        ("[params]\nlr = 0.1\n[search]\nsamples = 3\nlr = { uniform = [0.1, 0.2] }\n", 4, "params.lr", "also drawn in [search]"),
        ("[search]\nsamples = 3\nlr = { uniform = [0.5, 3.0] }\n", 5, "search.lr", "a draw from this range"),
        ("[search]\nsamples = 3\nwidth = { uniform = [1, 2] }\n", 5, "search.width", "unknown parameter"),
    ] {
        let e = err(&format!("{base}{tail}"));
        assert_eq!((e.line, e.key.as_deref()), (line, Some(key)), "{tail}: {e}");
        assert!(e.message.contains(want), "{tail}: {e}");
    }
}
