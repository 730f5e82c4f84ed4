//! An experiment as a form edits it: plain data that serialises to JSON for a front end and
//! to the TOML of an experiment file. The file stays the source of truth: a document is
//! validated by writing it as TOML and parsing that with [`Experiment::parse`], so a form
//! and a hand-written file can never disagree on what is valid.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::{Executor, Experiment, SeedSpec, SlurmOptions};
use crate::run::Backend;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ExperimentDoc {
    pub name: String,
    pub study: String,
    #[serde(default)]
    pub description: String,
    /// A count (seeds `0..n`) or a list of seeds. Kept as JSON here so a bad value reaches the
    /// experiment parser, which names it; the UI sends only these two shapes.
    #[ts(type = "number | number[]")]
    pub seeds: Value,
    #[serde(default)]
    pub backend: Backend,
    /// Overrides of the study's defaults.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Each swept key with its list of values.
    #[serde(default)]
    pub sweep: Map<String, Value>,
    /// The `[search]` table (samples, seed, a range per drawn key), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub search: Option<Map<String, Value>>,
    /// Where the runs train, when the file says (the form keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub executor: Option<Executor>,
    /// `[slurm]`, when the file has options there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub slurm: Option<SlurmOptions>,
}

impl ExperimentDoc {
    /// The document of a parsed experiment.
    pub fn from_experiment(exp: &Experiment) -> Self {
        ExperimentDoc {
            name: exp.name.clone(),
            study: exp.study.clone(),
            description: exp.description.clone(),
            seeds: match &exp.seeds {
                SeedSpec::Count(n) => Value::from(*n),
                SeedSpec::List(list) => Value::from(list.clone()),
            },
            backend: exp.backend,
            params: exp.params.clone(),
            sweep: exp.sweep.iter().map(|(k, v)| (k.clone(), Value::Array(v.clone()))).collect(),
            search: exp.search.as_ref().map(super::Search::to_json),
            executor: (exp.executor != Executor::Local).then(|| exp.executor.clone()),
            slurm: (exp.slurm != SlurmOptions::default()).then(|| exp.slurm.clone()),
        }
    }

    /// The experiment file's text. Values TOML cannot hold (null) are an error naming the key.
    pub fn to_toml(&self) -> Result<String, String> {
        #[derive(Serialize)]
        struct File<'a> {
            name: &'a str,
            study: &'a str,
            description: &'a str,
            seeds: &'a Value,
            backend: Backend,
            // A plain value: before the tables, as TOML wants.
            #[serde(skip_serializing_if = "Option::is_none")]
            executor: Option<&'a Executor>,
            #[serde(skip_serializing_if = "Map::is_empty")]
            params: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Map::is_empty")]
            sweep: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            search: Option<&'a Map<String, Value>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            slurm: Option<&'a SlurmOptions>,
        }

        for (table, map) in [("params", &self.params), ("sweep", &self.sweep)] {
            if let Some((key, _)) = map.iter().find(|(_, v)| contains_null(v)) {
                return Err(format!("{table}.{key}: an empty value; give one or remove the key"));
            }
        }
        let file = File {
            name: &self.name,
            study: &self.study,
            description: &self.description,
            seeds: &self.seeds,
            backend: self.backend,
            executor: self.executor.as_ref(),
            params: &self.params,
            sweep: &self.sweep,
            search: self.search.as_ref().filter(|s| !s.is_empty()),
            slurm: self.slurm.as_ref(),
        };
        toml::to_string(&file).map_err(|e| e.to_string())
    }
}

fn contains_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(items) => items.iter().any(contains_null),
        Value::Object(map) => map.values().any(contains_null),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
name = "demo"
study = "isr"
description = "a demo"
seeds = [0, 7]
backend = "cpu"
[params]
d_spu = 5
[sweep]
method = ["erm", "isr_mean"]
n_envs = [2, 6]
"#;

    #[test]
    fn a_document_round_trips_through_toml() {
        let exp = Experiment::parse(FILE, "demo.toml").unwrap();
        let doc = ExperimentDoc::from_experiment(&exp);
        assert_eq!(doc.seeds, serde_json::json!([0, 7]));
        assert_eq!(doc.sweep["n_envs"], serde_json::json!([2, 6]));
        let again = Experiment::parse(&doc.to_toml().unwrap(), "again.toml").unwrap();
        assert_eq!(ExperimentDoc::from_experiment(&again), doc);
    }

    #[test]
    fn a_files_executor_and_slurm_options_survive_the_form() {
        let file =
            "name = \"demo\"\nstudy = \"isr\"\nexecutor = \"slurm\"\n[slurm]\npartition = \"cpu\"\nthrottle = 4\nreport = \"inbox\"\n";
        let exp = Experiment::parse(file, "demo.toml").unwrap();
        assert_eq!(exp.executor, Executor::Slurm);
        let doc = ExperimentDoc::from_experiment(&exp);
        let again = Experiment::parse(&doc.to_toml().unwrap(), "again.toml").unwrap();
        assert_eq!(again.executor, Executor::Slurm);
        let report = Some(super::super::Report::Inbox);
        assert_eq!(again.slurm, SlurmOptions { partition: Some("cpu".into()), throttle: Some(4), report, ..SlurmOptions::default() });
        let bad = file.replace("throttle = 4", "throttle = 4\nmem = \"4 GB\"");
        let err = Experiment::parse(&bad, "bad.toml").unwrap_err().to_string();
        assert!(err.contains("slurm.mem") && err.starts_with("bad.toml:"), "{err}");
        let err = Experiment::parse(&file.replace("\"inbox\"", "\"pigeon\""), "bad.toml").unwrap_err().to_string();
        assert!(err.starts_with("bad.toml:7:") && err.contains("report") && err.contains("inbox"), "{err}");
        let plain = ExperimentDoc::from_experiment(&Experiment::parse(FILE, "demo.toml").unwrap());
        assert!(!plain.to_toml().unwrap().contains("executor"), "a local file stays as it was");
    }

    #[test]
    fn a_null_value_is_an_error_naming_its_key() {
        let mut doc = ExperimentDoc::from_experiment(&Experiment::parse(FILE, "demo.toml").unwrap());
        doc.params.insert("lr".into(), Value::Null);
        let err = doc.to_toml().unwrap_err();
        assert!(err.starts_with("params.lr:"), "{err}");
    }
}
