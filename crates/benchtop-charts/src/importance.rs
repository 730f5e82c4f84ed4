//! Which parameters a summary metric depends on, over an experiment's runs: permutation
//! importance on a random forest (Breiman, 2001), the method the Optuna dashboard and
//! scikit-learn offer for hyperparameters.
//!
//! A random forest of regression trees learns the metric from the parameters that vary (a
//! number as itself; a string, boolean or missing value as a code after every number, in the
//! order of its text: trees only ask "below or above", so the coding is harmless). Each tree
//! is scored on the runs its bootstrap sample left out; shuffling one parameter among those
//! runs and scoring again measures how much the tree relied on it. The importance of a
//! parameter is that increase in squared error averaged over trees, as a share of the metric's
//! variance, with a 95% interval of that mean over the trees (how much the forest's own
//! randomness moves it, not what new runs would do).
//! Written here rather than taken from a crate: it is ~150 lines, and the Rust forests
//! (smartcore, linfa) bring their own linear-algebra stacks for what is sorting and averaging.

use std::collections::{BTreeMap, BTreeSet};

use benchtop_core::{RunRecord, RunStatus};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Trees in the forest: enough that the importances' intervals over trees are narrow.
const TREES: usize = 200;
/// Runs a leaf keeps at least.
const MIN_LEAF: usize = 2;
const MAX_DEPTH: usize = 12;
/// The most runs the forest learns from: a seeded sample beyond it keeps a chart of a
/// 10,000-run sweep to a second or two.
const MAX_RUNS: usize = 2000;

/// One parameter's importance.
#[derive(Clone, Debug, PartialEq)]
pub struct Importance {
    pub param: String,
    /// Mean increase in out-of-bag squared error when the parameter is shuffled, over the
    /// metric's variance.
    pub mean: f64,
    /// Half-width of the 95% interval over trees.
    pub ci95: f64,
}

/// The importances of every varying parameter for one metric, largest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Importances {
    pub metric: String,
    pub runs: usize,
    /// The forest's out-of-bag R²: how much of the metric the parameters explain at all.
    pub r2: f64,
    pub params: Vec<Importance>,
}

/// The method, as charts and tables name it.
pub const METHOD: &str = "permutation importance on a random forest (out-of-bag, 200 trees)";

/// Importances of the parameters that vary among the finished `records` reporting `metric`;
/// `None` when fewer than 4 such runs or no parameter varies.
pub fn importances(records: &[&RunRecord], metric: &str) -> Option<Importances> {
    let mut runs: Vec<&RunRecord> =
        records.iter().copied().filter(|r| r.status == RunStatus::Done && r.summary.get(metric).is_some_and(|v| v.is_finite())).collect();
    if runs.len() < 4 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    if runs.len() > MAX_RUNS {
        runs.shuffle(&mut rng);
        runs.truncate(MAX_RUNS);
    }
    let mut keys: BTreeSet<&String> = BTreeSet::new();
    for r in &runs {
        keys.extend(r.params.keys());
    }
    let mut names = Vec::new();
    let mut columns: Vec<Vec<f64>> = Vec::new();
    for key in keys {
        let values: Vec<Option<&Value>> = runs.iter().map(|r| r.params.get(key)).collect();
        let column = code(&values);
        let mut distinct = column.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        if distinct.len() < 2 {
            continue;
        }
        names.push(key.clone());
        columns.push(column);
    }
    if names.is_empty() {
        return None;
    }
    let y: Vec<f64> = runs.iter().map(|r| r.summary[metric]).collect();
    // Centred once, so the split search's running sums do not cancel on a metric far from zero.
    let centre = mean(y.iter().copied());
    let y: Vec<f64> = y.iter().map(|v| v - centre).collect();
    if y.iter().all(|v| *v == 0.0) {
        return None;
    }
    let rows: Vec<Vec<f64>> = (0..y.len()).map(|i| columns.iter().map(|c| c[i]).collect()).collect();
    let (r2, scores) = forest_importances(&rows, &y, &mut rng);
    let mut params: Vec<Importance> = names.into_iter().zip(scores).map(|(param, (mean, ci95))| Importance { param, mean, ci95 }).collect();
    params.sort_by(|a, b| b.mean.total_cmp(&a.mean).then_with(|| a.param.cmp(&b.param)));
    Some(Importances { metric: metric.to_owned(), runs: y.len(), r2, params })
}

/// A parameter's values as numbers for the trees: a number as itself (1 and 1.0 alike); any
/// other value (a string, a boolean, absent) as a code after the largest number, in the order
/// of its JSON text.
fn code(values: &[Option<&Value>]) -> Vec<f64> {
    let top = values.iter().filter_map(|v| v.and_then(Value::as_f64)).filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    let base = if top.is_finite() { top + 1.0 } else { 0.0 };
    let text = |v: &Option<&Value>| v.map(Value::to_string).unwrap_or_default();
    let others: BTreeSet<String> = values.iter().filter(|v| !v.and_then(|x| x.as_f64()).is_some_and(f64::is_finite)).map(text).collect();
    let rank: BTreeMap<&String, usize> = others.iter().enumerate().map(|(i, s)| (s, i)).collect();
    values
        .iter()
        .map(|v| match v.and_then(Value::as_f64).filter(|x| x.is_finite()) {
            Some(x) => x,
            None => base + rank[&text(v)] as f64,
        })
        .collect()
}

/// A regression tree: leaves hold a mean, inner nodes a feature and threshold.
enum Node {
    Leaf(f64),
    Split { feature: usize, threshold: f64, below: Box<Node>, above: Box<Node> },
}

impl Node {
    fn predict(&self, row: &[f64]) -> f64 {
        match self {
            Node::Leaf(v) => *v,
            Node::Split { feature, threshold, below, above } => {
                if row[*feature] <= *threshold {
                    below.predict(row)
                } else {
                    above.predict(row)
                }
            }
        }
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    if n == 0 { 0.0 } else { s / n as f64 }
}

/// Grow a tree on `idx` (indices into `rows`, repeats allowed: a bootstrap sample), trying
/// `mtry` random features at each split.
fn grow(rows: &[Vec<f64>], y: &[f64], idx: &[usize], mtry: usize, depth: usize, rng: &mut ChaCha8Rng) -> Node {
    let here = mean(idx.iter().map(|&i| y[i]));
    if idx.len() < 2 * MIN_LEAF || depth >= MAX_DEPTH {
        return Node::Leaf(here);
    }
    let p = rows[0].len();
    let mut features: Vec<usize> = (0..p).collect();
    features.shuffle(rng);
    let mut best: Option<(f64, usize, f64)> = None;
    let total: f64 = idx.iter().map(|&i| (y[i] - here).powi(2)).sum();
    // Features are tried in a random order until `mtry` of them could split this node at all
    // (one constant here does not count, as in ranger and scikit-learn).
    let mut usable = 0;
    for &f in &features {
        if usable >= mtry.max(1) {
            break;
        }
        let mut order: Vec<usize> = idx.to_vec();
        order.sort_by(|&a, &b| rows[a][f].total_cmp(&rows[b][f]));
        // Running sums give each cut's squared error in one pass.
        let (mut left_sum, mut left_sq) = (0.0, 0.0);
        let (all_sum, all_sq): (f64, f64) = order.iter().fold((0.0, 0.0), |(s, q), &i| (s + y[i], q + y[i] * y[i]));
        if rows[order[0]][f] < rows[order[order.len() - 1]][f] {
            usable += 1;
        }
        for k in 0..order.len() - 1 {
            let v = y[order[k]];
            left_sum += v;
            left_sq += v * v;
            let (a, b) = (rows[order[k]][f], rows[order[k + 1]][f]);
            let n_left = k + 1;
            // Cut only between distinct values; the threshold is the lower one, so the runs
            // sent left are exactly the first `n_left` of this order.
            if a.partial_cmp(&b) != Some(std::cmp::Ordering::Less) || n_left < MIN_LEAF || order.len() - n_left < MIN_LEAF {
                continue;
            }
            let n_right = (order.len() - n_left) as f64;
            let sse = (left_sq - left_sum * left_sum / n_left as f64) + ((all_sq - left_sq) - (all_sum - left_sum).powi(2) / n_right);
            if best.is_none_or(|(s, _, _)| sse < s) {
                best = Some((sse, f, a));
            }
        }
    }
    match best {
        Some((sse, feature, threshold)) if sse < total - 1e-12 * total.abs().max(1e-300) => {
            let (below, above): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| rows[i][feature] <= threshold);
            Node::Split {
                feature,
                threshold,
                below: Box::new(grow(rows, y, &below, mtry, depth + 1, rng)),
                above: Box::new(grow(rows, y, &above, mtry, depth + 1, rng)),
            }
        }
        _ => Node::Leaf(here),
    }
}

/// The forest's out-of-bag R² and, per feature, (mean, 95% half-width) of the out-of-bag
/// error increase when it is shuffled, over the variance of `y`.
fn forest_importances(rows: &[Vec<f64>], y: &[f64], rng: &mut ChaCha8Rng) -> (f64, Vec<(f64, f64)>) {
    let (n, p) = (y.len(), rows[0].len());
    let var = {
        let m = mean(y.iter().copied());
        y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n as f64
    };
    let mtry = p.div_ceil(3).max(1);
    let mut per_tree: Vec<Vec<f64>> = vec![Vec::new(); p];
    let (mut oob_sum, mut oob_count) = (vec![0.0; n], vec![0usize; n]);
    for _ in 0..TREES {
        let sample: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
        let mut in_bag = vec![false; n];
        for &i in &sample {
            in_bag[i] = true;
        }
        let oob: Vec<usize> = (0..n).filter(|&i| !in_bag[i]).collect();
        if oob.len() < 2 {
            continue;
        }
        let tree = grow(rows, y, &sample, mtry, 0, rng);
        let base = mean(oob.iter().map(|&i| (tree.predict(&rows[i]) - y[i]).powi(2)));
        for &i in &oob {
            oob_sum[i] += tree.predict(&rows[i]);
            oob_count[i] += 1;
        }
        let mut scratch = vec![0.0; p];
        for (f, scores) in per_tree.iter_mut().enumerate() {
            let mut shuffled: Vec<f64> = oob.iter().map(|&i| rows[i][f]).collect();
            shuffled.shuffle(rng);
            let permuted = mean(oob.iter().zip(&shuffled).map(|(&i, &v)| {
                scratch.copy_from_slice(&rows[i]);
                scratch[f] = v;
                (tree.predict(&scratch) - y[i]).powi(2)
            }));
            scores.push((permuted - base) / var);
        }
    }
    let predicted: Vec<usize> = (0..n).filter(|&i| oob_count[i] > 0).collect();
    let oob_mse = mean(predicted.iter().map(|&i| (oob_sum[i] / oob_count[i] as f64 - y[i]).powi(2)));
    let r2 = if predicted.is_empty() { f64::NAN } else { 1.0 - oob_mse / var };
    let summary = per_tree
        .iter()
        .map(|s| {
            let m = mean(s.iter().copied());
            let sd = if s.len() > 1 { (s.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (s.len() - 1) as f64).sqrt() } else { 0.0 };
            (m, 1.96 * sd / (s.len().max(1) as f64).sqrt())
        })
        .collect();
    (r2, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use benchtop_core::{RunId, RunPlan};

    fn record(a: f64, b: f64, kind: &str, y: f64) -> RunRecord {
        let mut params = serde_json::Map::new();
        params.insert("a".into(), a.into());
        params.insert("b".into(), b.into());
        params.insert("kind".into(), kind.into());
        params.insert("fixed".into(), 1.into());
        let plan = RunPlan {
            experiment: "e".into(),
            description: String::new(),
            study: "s".into(),
            method: None,
            seed: 0,
            backend: Default::default(),
            params,
            sweep_point: Default::default(),
            experiment_file: None,
        };
        let mut r = plan.to_record(Default::default());
        r.id = RunId::new();
        r.status = RunStatus::Done;
        r.summary.insert("score".into(), y);
        r
    }

    #[test]
    fn the_parameter_the_metric_follows_ranks_first_and_an_irrelevant_one_near_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let records: Vec<RunRecord> = (0..80)
            .map(|_| {
                let (a, b) = (rng.random_range(0.0..1.0), rng.random_range(0.0..1.0));
                let kind = if rng.random_bool(0.5) { "x" } else { "y" };
                let y = 3.0 * a + if kind == "x" { 0.8 } else { 0.0 } + rng.random_range(-0.05..0.05);
                record(a, b, kind, y)
            })
            .collect();
        let refs: Vec<&RunRecord> = records.iter().collect();
        let imp = importances(&refs, "score").unwrap();
        let names: Vec<&str> = imp.params.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(names, ["a", "kind", "b"], "{imp:?}");
        assert!(imp.params[0].mean > 0.5 && imp.params[1].mean > 0.02, "{imp:?}");
        assert!(imp.params[2].mean.abs() < 0.02, "{imp:?}");
        assert!(imp.r2 > 0.8, "the parameters explain the metric: {}", imp.r2);
        // Deterministic: the same runs, the same numbers.
        assert_eq!(importances(&refs, "score").unwrap(), imp);
    }

    #[test]
    fn too_few_runs_or_nothing_varying_gives_none() {
        let few: Vec<RunRecord> = (0..3).map(|i| record(i as f64, 0.0, "x", i as f64)).collect();
        let few: Vec<&RunRecord> = few.iter().collect();
        assert!(importances(&few, "score").is_none());
        let flat: Vec<RunRecord> = (0..10).map(|i| record(1.0, 0.0, "x", i as f64)).collect();
        assert!(importances(&flat.iter().collect::<Vec<_>>(), "score").is_none(), "no parameter varies");
        let constant: Vec<RunRecord> = (0..10).map(|i| record(i as f64, 0.0, "x", 0.5)).collect();
        assert!(importances(&constant.iter().collect::<Vec<_>>(), "score").is_none(), "nothing to explain");
        assert!(importances(&few, "missing").is_none());
    }

    #[test]
    fn numbers_keep_their_order_and_other_values_come_after_them() {
        let (n16, n128, n1, n1f) = (Value::from(16), Value::from(128), Value::from(1), Value::from(1.0));
        let (s, t) = (Value::from("adam"), Value::from(true));
        let coded = code(&[Some(&n16), Some(&n128), None, Some(&s), Some(&t), Some(&n1), Some(&n1f)]);
        assert_eq!(&coded[..2], &[16.0, 128.0], "numbers as themselves, not as text (128 < 16)");
        assert_eq!(coded[5], coded[6], "1 and 1.0 are one value");
        assert!(coded[2] > 128.0 && coded[3] > 128.0 && coded[4] > 128.0, "{coded:?}");
        let mut others = vec![coded[2], coded[3], coded[4]];
        others.sort_by(f64::total_cmp);
        others.dedup();
        assert_eq!(others.len(), 3, "absent, a string and a boolean are three values");
    }
}
