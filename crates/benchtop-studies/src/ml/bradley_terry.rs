//! Bradley–Terry reward models in burn: P(a preferred to b) = sigmoid(r(a) - r(b)), with r a
//! linear or small-MLP head on a response's features, trained full-batch by Adam with an L2
//! penalty on weighted (possibly soft) comparison targets.

use benchtop_core::StudyError;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, relu};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::nets::{TrainOptions, fit, host, linear, tensor};

/// The reward head on the features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// r = w . features + b.
    #[default]
    Linear,
    /// One hidden layer of 64 ReLU units.
    Mlp,
}

const HIDDEN: usize = 64;

/// A reward function on feature rows.
#[derive(Module, Debug)]
pub struct RewardNet {
    layers: Vec<Linear>,
}

impl RewardNet {
    pub fn new(head: Head, dim: usize, rng: &mut benchtop_data::Rng, device: &Device) -> RewardNet {
        let layers = match head {
            Head::Linear => vec![linear(rng, dim, 1, device)],
            Head::Mlp => vec![linear(rng, dim, HIDDEN, device), linear(rng, HIDDEN, 1, device)],
        };
        RewardNet { layers }
    }

    /// Rewards of `[n, dim]` feature rows, `[n]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i + 1 < self.layers.len() {
                h = relu(h);
            }
        }
        let n = h.dims()[0];
        h.reshape([n])
    }
}

/// Comparisons to learn from: feature rows of `a` and `b`, the target probability that `a`
/// is preferred (1 or 0 for a hard label) and a weight per comparison.
#[derive(Clone, Debug, Default)]
pub struct Comparisons {
    pub dim: usize,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub target: Vec<f32>,
    pub weight: Vec<f32>,
}

impl Comparisons {
    pub fn new(dim: usize) -> Comparisons {
        Comparisons { dim, ..Default::default() }
    }

    pub fn len(&self) -> usize {
        self.target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    pub fn push(&mut self, a: &[f32], b: &[f32], target: f32, weight: f32) {
        self.a.extend_from_slice(a);
        self.b.extend_from_slice(b);
        self.target.push(target);
        self.weight.push(weight);
    }

    pub fn extend(&mut self, other: &Comparisons) {
        self.a.extend_from_slice(&other.a);
        self.b.extend_from_slice(&other.b);
        self.target.extend_from_slice(&other.target);
        self.weight.extend_from_slice(&other.weight);
    }

    pub fn row_a(&self, i: usize) -> &[f32] {
        &self.a[i * self.dim..(i + 1) * self.dim]
    }

    pub fn row_b(&self, i: usize) -> &[f32] {
        &self.b[i * self.dim..(i + 1) * self.dim]
    }

    fn rows(&self, side: &[f32], idx: &[usize], device: &Device) -> Tensor<2> {
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(&side[i * self.dim..(i + 1) * self.dim]);
        }
        tensor(x, [idx.len(), self.dim], device)
    }
}

/// Full-batch Adam steps, learning rate and L2 strength.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BtOptions {
    pub steps: u32,
    pub lr: f64,
    pub l2: f64,
}

/// The mean weighted Bradley–Terry loss: cross-entropy of sigmoid(r(a) - r(b)) against the
/// target, so a soft target 0.7 asks for exactly that probability.
pub fn bt_loss(ra: Tensor<1>, rb: Tensor<1>, target: Tensor<1>, weight: Tensor<1>) -> Tensor<1> {
    let margin = ra - rb;
    let per = target.clone() * log_sigmoid(margin.clone()) + (target.ones_like() - target) * log_sigmoid(margin.neg());
    (per * weight.clone()).sum().neg() / weight.sum().clamp_min(1e-12)
}

/// Train a fresh `head` on `data` (seeded initialisation; full batch, so no order noise).
pub fn train(
    data: &Comparisons,
    head: Head,
    options: &BtOptions,
    rng: &mut benchtop_data::Rng,
    device: &Device,
    cancelled: &dyn Fn() -> bool,
) -> Result<RewardNet, StudyError> {
    if data.is_empty() {
        return Err(StudyError::Failed("no comparisons to train a reward model on".into()));
    }
    let model = RewardNet::new(head, data.dim, rng, device);
    let all: Vec<usize> = (0..data.len()).collect();
    let (a, b) = (data.rows(&data.a, &all, device), data.rows(&data.b, &all, device));
    let target = tensor(data.target.clone(), [data.len()], device);
    let weight = tensor(data.weight.clone(), [data.len()], device);
    let loss = |m: &RewardNet, _: &[usize]| bt_loss(m.forward(a.clone()), m.forward(b.clone()), target.clone(), weight.clone());
    // Adam with the L2 term in the gradient (not decoupled): the optimum is the L2-penalised
    // maximum likelihood, the same for every method whatever its number of comparisons.
    let opts = TrainOptions {
        epochs: options.steps,
        batch_size: data.len().max(2),
        lr: options.lr,
        weight_decay: options.l2 as f32,
        decoupled: false,
    };
    fit(model, loss, data.len().max(2), &opts, rng, |_, _, _| if cancelled() { Err(StudyError::Cancelled) } else { Ok(()) })
}

/// The candidates for the L2 penalty and the number of cross-validation folds.
pub const L2_GRID: [f64; 5] = [0.01, 0.1, 1.0, 10.0, 100.0];
pub const FOLDS: u64 = 3;

/// The L2 penalty with the best held-out Bradley–Terry log-likelihood over `FOLDS` folds of
/// `data` (by prompt), and each candidate's mean log-likelihood per comparison.
pub fn cross_validate_l2(
    data: &Comparisons,
    group: &[u64],
    head: Head,
    options: &BtOptions,
    seed: u64,
    device: &Device,
    cancelled: &dyn Fn() -> bool,
) -> Result<(f64, Vec<f64>), StudyError> {
    let folds_used = (0..FOLDS).filter(|f| group.iter().any(|g| g % FOLDS == *f)).count();
    if folds_used < 2 {
        // Every prompt in one fold: nothing to validate on.
        return Err(StudyError::Failed(format!(
            "cannot cross-validate the L2 penalty: the {} labelled pairs come from prompts that all fall in one fold; \
             label more prompts or set regularisation = \"fixed\"",
            data.len()
        )));
    }
    let mut scores = Vec::new();
    for &l2 in &L2_GRID {
        let (mut total, mut n) = (0.0, 0usize);
        for fold in 0..FOLDS {
            let (mut fit_on, mut held) = (Comparisons::new(data.dim), Comparisons::new(data.dim));
            for (i, g) in group.iter().enumerate().take(data.len()) {
                let to = if g % FOLDS == fold { &mut held } else { &mut fit_on };
                to.push(data.row_a(i), data.row_b(i), data.target[i], data.weight[i]);
            }
            if fit_on.is_empty() || held.is_empty() {
                continue;
            }
            let opts = BtOptions { l2, ..*options };
            let model = train(&fit_on, head, &opts, &mut benchtop_data::rng(seed, 90 + fold), device, cancelled)?;
            let p = probabilities(&model, &held, device)?;
            total +=
                p.iter().zip(&held.target).map(|(p, t)| if *t > 0.5 { p.max(1e-9).ln() } else { (1.0 - p).max(1e-9).ln() }).sum::<f64>();
            n += held.len();
        }
        scores.push(total / n.max(1) as f64);
    }
    let best = crate::ml::nets::argmax(&scores).unwrap_or(1);
    Ok((L2_GRID[best], scores))
}

/// Rewards of feature rows (`dim` values each), without a graph.
pub fn rewards(model: &RewardNet, rows: &[f32], dim: usize, device: &Device) -> Result<Vec<f32>, StudyError> {
    let inference = model.valid();
    let plain = device.clone().inner();
    let mut out = Vec::with_capacity(rows.len() / dim.max(1));
    for chunk in rows.chunks(1024 * dim) {
        out.extend(host(inference.forward(tensor(chunk.to_vec(), [chunk.len() / dim, dim], &plain)))?);
    }
    Ok(out)
}

/// P(a preferred to b) for every comparison.
pub fn probabilities(model: &RewardNet, data: &Comparisons, device: &Device) -> Result<Vec<f64>, StudyError> {
    let (ra, rb) = (rewards(model, &data.a, data.dim, device)?, rewards(model, &data.b, data.dim, device)?);
    Ok(ra.iter().zip(&rb).map(|(x, y)| sigmoid((x - y) as f64)).collect())
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The share of comparisons whose predicted winner (p > 0.5) is the target's (target > 0.5).
/// NaN, not a number that looks like a result, when there is nothing to score or a
/// probability is not finite (a diverged model would otherwise read as "b always wins").
pub fn accuracy(p: &[f64], target: &[f32]) -> f64 {
    if p.is_empty() || p.iter().any(|p| !p.is_finite()) {
        return f64::NAN;
    }
    let right = p.iter().zip(target).filter(|(p, t)| (**p > 0.5) == (**t > 0.5)).count();
    right as f64 / p.len() as f64
}

/// Expected calibration error of the predicted winner: comparisons binned by confidence
/// max(p, 1 - p) into `bins` equal-width bins over [0.5, 1]; the size-weighted mean of
/// |accuracy - mean confidence| per bin.
pub fn ece(p: &[f64], target: &[f32], bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0.0f64); bins]; // (count, confidence, right)
    for (p, t) in p.iter().zip(target) {
        let confidence = p.max(1.0 - p);
        let bin = (((confidence - 0.5) * 2.0 * bins as f64) as usize).min(bins - 1);
        let right = ((*p > 0.5) == (*t > 0.5)) as u8 as f64;
        let s = &mut sums[bin];
        *s = (s.0 + 1, s.1 + confidence, s.2 + right);
    }
    let n = p.len().max(1) as f64;
    sums.iter().filter(|s| s.0 > 0).map(|s| (s.2 - s.1).abs() / n).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_matches_a_hand_computed_case() {
        // Bin [0.5, 0.75): confidences 0.6 and 0.7 (p = 0.6, p = 0.3), one right -> |1 - 1.3| / 4.
        // Bin [0.75, 1]: confidences 0.9 and 0.8, both right -> |2 - 1.7| / 4.
        let p = [0.6, 0.3, 0.9, 0.2];
        let target = [1.0, 1.0, 1.0, 0.0];
        let e = ece(&p, &target, 2);
        assert!((e - (0.3 / 4.0 + 0.3 / 4.0)).abs() < 1e-12, "{e}");
        assert_eq!(accuracy(&p, &target), 0.75);
        assert_eq!(ece(&[1.0, 0.0], &[1.0, 0.0], 10), 0.0, "certain and right: calibrated");
    }

    #[test]
    fn the_loss_is_log_two_at_equal_rewards_and_a_fit_recovers_a_hidden_utility() {
        let device = Device::flex();
        let l = bt_loss(
            tensor(vec![0.3, -1.0], [2], &device),
            tensor(vec![0.3, -1.0], [2], &device),
            tensor(vec![1.0, 0.0], [2], &device),
            tensor(vec![1.0, 1.0], [2], &device),
        );
        assert!((host(l).unwrap()[0] as f64 - 2f64.ln()).abs() < 1e-6);

        // Labels from a hidden linear utility on 5 features: the fit ranks held-out pairs.
        let mut rng = benchtop_data::rng(0, 0);
        let w = [1.0f32, -2.0, 0.5, 0.0, 1.5];
        let make = |n: usize, rng: &mut benchtop_data::Rng| {
            use rand::Rng as _;
            let mut c = Comparisons::new(5);
            for _ in 0..n {
                let a: Vec<f32> = (0..5).map(|_| rng.random_range(-1.0..1.0)).collect();
                let b: Vec<f32> = (0..5).map(|_| rng.random_range(-1.0..1.0)).collect();
                let u = |x: &[f32]| x.iter().zip(&w).map(|(x, w)| x * w).sum::<f32>();
                c.push(&a, &b, (u(&a) > u(&b)) as u8 as f32, 1.0);
            }
            c
        };
        let (train_set, test_set) = (make(400, &mut rng), make(400, &mut rng));
        let device = Device::flex().autodiff();
        let model = train(&train_set, Head::Linear, &BtOptions { steps: 300, lr: 0.05, l2: 1e-4 }, &mut rng, &device, &|| false).unwrap();
        let p = probabilities(&model, &test_set, &device).unwrap();
        assert!(accuracy(&p, &test_set.target) > 0.93, "{}", accuracy(&p, &test_set.target));
    }
}
