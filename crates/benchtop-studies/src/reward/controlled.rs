//! The controlled preference benchmark: real responses and their real embeddings, with
//! labels drawn from a hidden truth, so every run can say how close its model came to it.
//!
//! - SSRM: a hidden linear utility u = w* . features (w* Gaussian, seeded), and for each real
//!   pair the label a > b drawn with probability sigmoid((u(a) - u(b)) / (noise * sd(u))).
//! - ArmoRM: K hidden objective scores per response (linear in its embedding), a hidden
//!   prompt-dependent mixture g*(x) = softmax(A e(x)) over them, the utility
//!   u(x, y) = sum_k g*_k(x) s_k(y), and labels drawn from it as above.

use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::bradley_terry::sigmoid;

/// Where a reward study's preference labels come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Labels {
    /// The people's choices in the data.
    #[default]
    Human,
    /// The controlled benchmark: drawn from the study's hidden objectives, with `noise`.
    Synthetic,
}

fn gaussian(rng: &mut benchtop_data::Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

fn dot(w: &[f64], x: &[f32]) -> f64 {
    w.iter().zip(x).map(|(w, x)| w * *x as f64).sum()
}

/// A hidden linear utility on (standardised) feature rows.
#[derive(Clone, Debug)]
pub struct HiddenUtility {
    w: Vec<f64>,
}

impl HiddenUtility {
    pub fn new(dim: usize, rng: &mut benchtop_data::Rng) -> HiddenUtility {
        let w = gaussian(rng, dim);
        let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        HiddenUtility { w: w.into_iter().map(|v| v / norm).collect() }
    }

    pub fn utility(&self, features: &[f32]) -> f64 {
        dot(&self.w, features)
    }
}

/// The standard deviation of `values` (the unit the label noise is measured in).
pub fn spread(values: &[f64]) -> f64 {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt().max(1e-12)
}

/// Draw "a preferred to b" from the Bradley–Terry model on utilities with temperature
/// `noise * scale` (noise 0: the higher utility always wins).
pub fn draw_label(ua: f64, ub: f64, noise: f64, scale: f64, rng: &mut benchtop_data::Rng) -> bool {
    if noise <= 0.0 {
        return ua > ub;
    }
    rng.random::<f64>() < sigmoid((ua - ub) / (noise * scale))
}

/// ArmoRM's hidden truth: K objective directions on the response embedding and a mixture
/// matrix on the prompt embedding.
#[derive(Clone, Debug)]
pub struct HiddenObjectives {
    objectives: Vec<Vec<f64>>,
    mixture: Vec<Vec<f64>>,
}

impl HiddenObjectives {
    /// `k` objectives over `dim`-dimensional (standardised) embeddings; `sharpness` is the
    /// spread of the mixture's logits (larger: each prompt leans on fewer objectives).
    pub fn new(k: usize, dim: usize, sharpness: f64, rng: &mut benchtop_data::Rng) -> HiddenObjectives {
        let unit = |v: Vec<f64>| {
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            v.into_iter().map(|x| x / norm).collect::<Vec<f64>>()
        };
        let objectives = (0..k).map(|_| unit(gaussian(rng, dim))).collect();
        // A unit row times a standardised embedding has spread about 1: scale to `sharpness`.
        let mixture = (0..k).map(|_| unit(gaussian(rng, dim)).into_iter().map(|x| x * sharpness).collect()).collect();
        HiddenObjectives { objectives, mixture }
    }

    pub fn k(&self) -> usize {
        self.objectives.len()
    }

    /// The objective scores of a response embedding.
    pub fn scores(&self, response: &[f32]) -> Vec<f64> {
        self.objectives.iter().map(|w| dot(w, response)).collect()
    }

    /// The mixture weights of a prompt embedding (they sum to 1).
    pub fn mixture(&self, prompt: &[f32]) -> Vec<f64> {
        let z: Vec<f64> = self.mixture.iter().map(|w| dot(w, prompt)).collect();
        softmax(&z)
    }

    pub fn utility(&self, prompt: &[f32], response: &[f32]) -> f64 {
        self.mixture(prompt).iter().zip(self.scores(response)).map(|(g, s)| g * s).sum()
    }
}

pub fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_utility_with_the_stated_noise() {
        let mut rng = benchtop_data::rng(0, 0);
        assert!(draw_label(1.0, 0.0, 0.0, 1.0, &mut rng) && !draw_label(0.0, 1.0, 0.0, 1.0, &mut rng));
        // A utility gap of one noise unit: the better one wins with probability sigmoid(1).
        let wins = (0..20_000).filter(|_| draw_label(1.0, 0.0, 1.0, 1.0, &mut rng)).count() as f64 / 20_000.0;
        assert!((wins - sigmoid(1.0)).abs() < 0.015, "{wins}");
    }

    #[test]
    fn mixtures_are_distributions_that_vary_with_the_prompt() {
        let mut rng = benchtop_data::rng(1, 0);
        let truth = HiddenObjectives::new(3, 8, 2.0, &mut rng);
        let (x1, x2) = ([1.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
        let (g1, g2) = (truth.mixture(&x1), truth.mixture(&x2));
        assert!((g1.iter().sum::<f64>() - 1.0).abs() < 1e-12 && g1.iter().all(|g| *g > 0.0));
        assert!(g1.iter().zip(&g2).any(|(a, b)| (a - b).abs() > 0.01), "{g1:?} {g2:?}");
        let y = [0.5f32; 8];
        let u: f64 = g1.iter().zip(truth.scores(&y)).map(|(g, s)| g * s).sum();
        assert!((truth.utility(&x1, &y) - u).abs() < 1e-12);
    }
}
