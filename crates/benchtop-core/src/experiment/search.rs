//! Random search: `[search]` asks for `samples` draws of some parameters from ranges, beside
//! (and crossed with) the `[sweep]` grid.
//!
//! ```toml
//! [search]
//! samples = 20                            # how many draws
//! seed = 7                                # the draws' generator (not the runs' seeds); default 0
//! lr = { log_uniform = [1e-4, 1e-1] }     # integers for an integer parameter
//! steps = { uniform = [100, 1000] }       # inclusive for integers
//! method = { choice = ["erm", "irm"] }
//! ```
//!
//! The draws are deterministic from `seed` (ChaCha8, portable), the same for every grid point,
//! and recorded in each run's sweep point like grid values, so tables, group-by and charts
//! treat them alike.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

/// How one parameter is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum Draw {
    /// Uniform on `[lo, hi]`.
    Uniform(f64, f64),
    /// Uniform in the logarithm on `[lo, hi]`, `lo > 0`.
    LogUniform(f64, f64),
    /// One of the values, each as likely.
    Choice(Vec<Value>),
}

/// A parsed `[search]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub samples: usize,
    pub seed: u64,
    /// Each drawn parameter, in key order.
    pub draws: Vec<(String, Draw)>,
}

/// The most draws one experiment asks for.
pub const MAX_SAMPLES: i64 = 10_000;

impl Draw {
    /// Read `{ uniform = [lo, hi] }`, `{ log_uniform = [lo, hi] }` or `{ choice = [...] }`.
    pub fn parse(value: &Value) -> Result<Draw, String> {
        const ALLOWED: &str = "allowed: { uniform = [lo, hi] }, { log_uniform = [lo, hi] } or { choice = [a, b, ...] }";
        let Value::Object(table) = value else { return Err(format!("`{value}` is not a range; {ALLOWED}")) };
        let mut entries = table.iter();
        let (Some((kind, arg)), None) = (entries.next(), entries.next()) else {
            return Err(format!("give exactly one kind of range; {ALLOWED}"));
        };
        let bounds = || -> Result<(f64, f64), String> {
            match arg.as_array().map(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>()) {
                Some(Some(b)) if b.len() == 2 && b[0].is_finite() && b[1].is_finite() && b[0] < b[1] => Ok((b[0], b[1])),
                _ => Err(format!("{kind} needs two numbers [lo, hi] with lo < hi, found {arg}")),
            }
        };
        match kind.as_str() {
            "uniform" => bounds().map(|(lo, hi)| Draw::Uniform(lo, hi)),
            "log_uniform" => match bounds()? {
                (lo, hi) if lo > 0.0 => Ok(Draw::LogUniform(lo, hi)),
                (lo, _) => Err(format!("log_uniform needs lo > 0, found {lo}")),
            },
            "choice" => match arg.as_array() {
                Some(items) if !items.is_empty() => Ok(Draw::Choice(items.clone())),
                _ => Err(format!("choice needs a non-empty list, found {arg}")),
            },
            other => Err(format!("unknown range `{other}`; {ALLOWED}")),
        }
    }

    /// The range as the file writes it.
    pub fn to_json(&self) -> Value {
        let (kind, arg) = match self {
            Draw::Uniform(lo, hi) => ("uniform", Value::from(vec![*lo, *hi])),
            Draw::LogUniform(lo, hi) => ("log_uniform", Value::from(vec![*lo, *hi])),
            Draw::Choice(items) => ("choice", Value::Array(items.clone())),
        };
        Value::Object(Map::from_iter([(kind.to_owned(), arg)]))
    }

    /// One value; `integer` draws whole numbers (inclusive of both bounds for `uniform`).
    fn sample(&self, integer: bool, rng: &mut ChaCha8Rng) -> Value {
        let u: f64 = rng.random();
        match self {
            Draw::Choice(items) => items[((u * items.len() as f64) as usize).min(items.len() - 1)].clone(),
            Draw::Uniform(lo, hi) if integer => {
                let (lo, hi) = (lo.ceil(), hi.floor().max(lo.ceil()));
                Value::from((lo + (u * (hi - lo + 1.0)).floor()).min(hi) as i64)
            }
            Draw::Uniform(lo, hi) => Value::from(four_digits(lo + u * (hi - lo)).clamp(*lo, *hi)),
            Draw::LogUniform(lo, hi) => {
                let x = (lo.ln() + u * (hi.ln() - lo.ln())).exp();
                if integer {
                    Value::from(x.round().clamp(lo.ceil(), hi.floor().max(lo.ceil())) as i64)
                } else {
                    Value::from(four_digits(x).clamp(*lo, *hi))
                }
            }
        }
    }
}

/// `x` to four significant digits: a drawn 0.0262 reads (and is run) as such, not as
/// 0.0261909246338409; the draws stay as spread as the range asks.
fn four_digits(x: f64) -> f64 {
    format!("{x:.3e}").parse().unwrap_or(x)
}

impl Search {
    /// The `samples` draws, each a value per drawn key; `is_integer` says which keys take
    /// whole numbers (from the study's schema).
    pub fn draw(&self, is_integer: impl Fn(&str) -> bool) -> Vec<Vec<(String, Value)>> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        (0..self.samples).map(|_| self.draws.iter().map(|(key, d)| (key.clone(), d.sample(is_integer(key), &mut rng))).collect()).collect()
    }

    /// The `[search]` table as the file writes it.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut table = Map::new();
        table.insert("samples".into(), Value::from(self.samples));
        table.insert("seed".into(), Value::from(self.seed));
        for (key, d) in &self.draws {
            table.insert(key.clone(), d.to_json());
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_stay_in_their_ranges_take_integers_where_asked_and_repeat_from_the_seed() {
        let s = Search {
            samples: 500,
            seed: 3,
            draws: vec![
                ("lr".into(), Draw::parse(&json!({"log_uniform": [1e-4, 1e-1]})).unwrap()),
                ("steps".into(), Draw::parse(&json!({"uniform": [10, 12]})).unwrap()),
                ("method".into(), Draw::parse(&json!({"choice": ["a", "b"]})).unwrap()),
            ],
        };
        let draws = s.draw(|k| k == "steps");
        assert_eq!(draws.len(), 500);
        assert_eq!(draws, s.draw(|k| k == "steps"), "the same seed draws the same values");
        let lr: Vec<f64> = draws.iter().map(|d| d[0].1.as_f64().unwrap()).collect();
        assert!(lr.iter().all(|x| (1e-4..=1e-1).contains(x)));
        assert!(lr.iter().all(|x| *x == format!("{x:.3e}").parse::<f64>().unwrap()), "four significant digits");
        // Log-uniform: about a third of the draws in each decade.
        let low = lr.iter().filter(|x| **x < 1e-3).count();
        assert!((120..=215).contains(&low), "{low} of 500 below 1e-3");
        let steps: Vec<i64> = draws.iter().map(|d| d[1].1.as_i64().expect("an integer")).collect();
        for v in [10, 11, 12] {
            assert!(steps.iter().filter(|s| **s == v).count() > 120, "{v} is drawn about a third of the time");
        }
        assert!(draws.iter().all(|d| d[2].1 == "a" || d[2].1 == "b"));
        assert!(s.draw(|_| false)[0][1].1.is_f64(), "a number parameter draws numbers");
    }

    #[test]
    fn a_bad_range_says_what_is_allowed() {
        for (v, want) in [
            (json!({"uniform": [1, 1]}), "lo < hi"),
            (json!({"uniform": [1]}), "two numbers"),
            (json!({"log_uniform": [0, 1]}), "lo > 0"),
            (json!({"choice": []}), "non-empty"),
            (json!({"normal": [0, 1]}), "unknown range `normal`"),
            (json!({"uniform": [0, 1], "choice": [1]}), "exactly one"),
            (json!(3), "is not a range"),
        ] {
            let e = Draw::parse(&v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }

    #[test]
    fn a_search_round_trips_through_its_table() {
        let s = Search { samples: 4, seed: 9, draws: vec![("lr".into(), Draw::LogUniform(1e-3, 1.0))] };
        let table = s.to_json();
        assert_eq!(table["samples"], 4);
        assert_eq!(Draw::parse(&table["lr"]).unwrap(), s.draws[0].1);
    }
}
