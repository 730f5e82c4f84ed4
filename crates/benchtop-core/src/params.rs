//! Typed study parameters and what their JSON Schema says about them.
//!
//! One definition (a serde + schemars struct with doc comments and ranges) serves the
//! experiment file's validation, the app's form and `benchtop studies`: the checks here read
//! types, ranges and allowed values from the schema, so all three always agree.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

/// A study's parameter struct.
pub trait Params: Serialize + DeserializeOwned + JsonSchema + Default + Send + Sync + 'static {
    /// Checks across fields that a schema cannot state (e.g. `a < b`).
    fn check(&self) -> Vec<ParamProblem> {
        Vec::new()
    }

    /// Parameters this setting does not read (another method's knobs, say). They are reset to
    /// their defaults when resolved, so sweep points that differ only in them plan one run.
    fn unused(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// One thing wrong with one parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamProblem {
    pub key: String,
    pub message: String,
}

impl ParamProblem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ParamProblem { key: key.into(), message: message.into() }
    }
}

/// What a front end needs to show and check one parameter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ParamInfo {
    pub name: String,
    /// `integer`, `number`, `boolean`, `string`, `path` (a string naming a file), `enum` (or
    /// the schema's own word).
    pub kind: String,
    pub default: Value,
    /// The field's doc comment.
    pub doc: String,
    /// The allowed values and their docs, for enumerations (e.g. `method`).
    pub allowed: Vec<(Value, String)>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
}

impl ParamInfo {
    /// "an integer from 2 to 50", "one of `erm`, `irm`", ...: said in every error.
    pub fn describe_allowed(&self) -> String {
        if !self.allowed.is_empty() {
            let names: Vec<String> = self.allowed.iter().map(|(v, _)| show(v)).collect();
            return format!("one of {}", names.join(", "));
        }
        let noun = match self.kind.as_str() {
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "true or false",
            "string" => "a string",
            "path" => "a file path",
            other => other,
        };
        match (self.minimum, self.maximum) {
            (Some(lo), Some(hi)) => format!("{noun} from {lo} to {hi}"),
            (Some(lo), None) => format!("{noun} of at least {lo}"),
            (None, Some(hi)) => format!("{noun} of at most {hi}"),
            (None, None) => noun.to_owned(),
        }
    }

    /// The schema's range and enumeration checks on one value (types are serde's job).
    pub fn check_value(&self, value: &Value) -> Result<(), String> {
        if !self.allowed.is_empty() && !self.allowed.iter().any(|(v, _)| v == value) {
            return Err(format!("`{}` is not allowed", show(value)));
        }
        if let Some(x) = value.as_f64() {
            if self.minimum.is_some_and(|lo| x < lo) || self.maximum.is_some_and(|hi| x > hi) {
                return Err(format!("{} is out of range", show(value)));
            }
            if !x.is_finite() {
                return Err(format!("{x} is not a finite number"));
            }
        }
        Ok(())
    }
}

/// A JSON value as a person would type it in the file.
pub fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The schema of `P` as JSON.
pub fn schema_of<P: Params>() -> Value {
    serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null)
}

/// The defaults of `P` as a JSON object.
pub fn defaults_of<P: Params>() -> Map<String, Value> {
    match serde_json::to_value(P::default()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Each property of a struct's schema, in declaration order, with its default.
pub fn param_infos(schema: &Value, defaults: &Map<String, Value>) -> Vec<ParamInfo> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let resolved = resolve_ref(schema, prop);
            let doc =
                prop.get("description").or_else(|| resolved.get("description")).and_then(Value::as_str).unwrap_or_default().to_owned();
            let allowed = enumeration(schema, resolved);
            let kind = if !allowed.is_empty() {
                "enum".to_owned()
            } else if resolved.get("format").and_then(Value::as_str) == Some("path") {
                // A string naming a file: front ends offer a file chooser beside the text.
                "path".to_owned()
            } else {
                type_word(resolved)
            };
            ParamInfo {
                name: name.clone(),
                kind,
                default: defaults.get(name).cloned().unwrap_or(Value::Null),
                doc,
                allowed,
                minimum: resolved.get("minimum").and_then(Value::as_f64),
                maximum: resolved.get("maximum").and_then(Value::as_f64),
            }
        })
        .collect()
}

fn resolve_ref<'a>(root: &'a Value, prop: &'a Value) -> &'a Value {
    let Some(reference) = prop.get("$ref").and_then(Value::as_str) else {
        return prop;
    };
    let path = reference.trim_start_matches('#');
    root.pointer(path).unwrap_or(prop)
}

fn type_word(prop: &Value) -> String {
    match prop.get("type") {
        Some(Value::String(t)) => t.clone(),
        // Optional fields are ["integer", "null"]: name the real type.
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("value").to_owned(),
        _ => "value".to_owned(),
    }
}

fn enumeration(root: &Value, prop: &Value) -> Vec<(Value, String)> {
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| (v.clone(), String::new())).collect();
    }
    let Some(variants) = prop.get("oneOf").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for variant in variants {
        let variant = resolve_ref(root, variant);
        let doc = variant.get("description").and_then(Value::as_str).unwrap_or_default();
        if let Some(c) = variant.get("const") {
            out.push((c.clone(), doc.to_owned()));
        } else if let Some(values) = variant.get("enum").and_then(Value::as_array) {
            out.extend(values.iter().map(|v| (v.clone(), doc.to_owned())));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which way to go.
    #[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Way {
        /// Up it goes.
        #[default]
        Up,
        /// Down it goes.
        Down,
    }

    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Demo {
        /// How many.
        #[schemars(range(min = 2, max = 10))]
        count: u32,
        /// How fast.
        rate: f64,
        way: Way,
    }

    impl Default for Demo {
        fn default() -> Self {
            Demo { count: 3, rate: 0.5, way: Way::Up }
        }
    }

    impl Params for Demo {}

    fn infos() -> Vec<ParamInfo> {
        param_infos(&schema_of::<Demo>(), &defaults_of::<Demo>())
    }

    #[test]
    fn infos_carry_docs_defaults_ranges_and_enumerations() {
        let infos = infos();
        let names: Vec<_> = infos.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["count", "rate", "way"]);
        assert_eq!(infos[0].kind, "integer");
        assert_eq!(infos[0].doc, "How many.");
        assert_eq!(infos[0].default, Value::from(3));
        assert_eq!((infos[0].minimum, infos[0].maximum), (Some(2.0), Some(10.0)));
        assert_eq!(infos[1].kind, "number");
        assert_eq!(
            infos[2].allowed,
            vec![(Value::from("up"), "Up it goes.".to_owned()), (Value::from("down"), "Down it goes.".to_owned())]
        );
        assert_eq!(infos[2].describe_allowed(), "one of up, down");
        assert_eq!(infos[0].describe_allowed(), "an integer from 2 to 10");
    }

    #[test]
    fn range_and_enumeration_checks_follow_the_schema() {
        let infos = infos();
        assert!(infos[0].check_value(&Value::from(2)).is_ok());
        assert!(infos[0].check_value(&Value::from(11)).is_err());
        assert!(infos[0].check_value(&Value::from(1)).is_err());
        assert!(infos[2].check_value(&Value::from("down")).is_ok());
        assert!(infos[2].check_value(&Value::from("sideways")).is_err());
    }
}
