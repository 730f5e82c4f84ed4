//! ISR: Invariant-feature Subspace Recovery (Wang, Si, Li & Zhao, ICML 2022,
//! "Provable domain generalization via invariant-feature subspace recovery").
//!
//! On the linear model of Rosenfeld et al. (see [`benchtop_data::isr`]), ISR finds the
//! invariant subspace from environment statistics alone, then fits a classifier on the
//! projection. ISR-Mean needs E >= d_spu + 1 environments (the E class means must span the
//! spurious directions); ISR-Cov needs only two, provided the environments' spurious
//! scales differ. ERM and IRM lean on the spurious features and fail when, at test time,
//! those stop agreeing with the label.

use benchtop_core::{ChartKind, ChartSpec, ParamProblem, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::isr::{IsrConfig, IsrData, Samples, generate};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod logistic;

use crate::ml::device::training_device;
use logistic::{Design, FitOptions, Irm, fit};

/// The study's registry entry.
pub struct Isr;

/// How to learn a classifier that survives the test shift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IsrMethod {
    /// Empirical risk minimisation: logistic regression on all of x, environments pooled.
    #[default]
    Erm,
    /// IRMv1: ERM plus the squared gradient of each environment's risk w.r.t. a dummy scale.
    Irm,
    /// ISR-Mean: PCA of the E per-environment class means; keep the d_inv least-varying directions.
    IsrMean,
    /// ISR-Cov: spread of the per-environment class covariances; drop their d_spu top directions.
    IsrCov,
    /// Logistic regression on the true invariant features (the best achievable).
    Oracle,
}

/// The gradient norm below which a fit counts as converged (see [`IsrParams::tolerance`]).
const TOLERANCE: f64 = 1e-5;

/// Parameters of one ISR run (defaults: the authors' Example 3 at laptop scale).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IsrParams {
    /// The method to train.
    pub method: IsrMethod,
    /// Number of training environments E.
    #[schemars(range(min = 2, max = 64))]
    pub n_envs: u32,
    /// Dimension of the invariant features.
    #[schemars(range(min = 1, max = 64))]
    pub d_inv: u32,
    /// Dimension of the spurious features.
    #[schemars(range(min = 1, max = 64))]
    pub d_spu: u32,
    /// Training samples per environment (half of each class); the test set has as many.
    #[schemars(range(min = 20, max = 100000))]
    pub samples_per_env: u32,
    /// Mix the features by a random orthogonal matrix, so no coordinate is purely invariant.
    pub scrambled: bool,
    /// How much the spurious scale grows across environments (0: Example 3, all equal).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub spu_std_spread: f64,
    /// The most full-batch Adam steps for each logistic regression.
    #[schemars(range(min = 1, max = 1000000))]
    pub steps: u32,
    /// Adam's learning rate.
    #[schemars(range(min = 0.000001, max = 1.0))]
    pub lr: f64,
    /// IRM only: the penalty weight after annealing.
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub irm_penalty: f64,
    /// IRM only: steps trained with penalty weight 1 before the full weight.
    #[schemars(range(min = 0, max = 100000))]
    pub irm_anneal_steps: u32,
    /// Stop once the gradient's norm is below this (checked every `eval_every` steps), so
    /// every model is compared at its optimum, not at a budget; 0 trains for all `steps`.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub tolerance: f64,
    /// Log the curves every this many steps.
    #[schemars(range(min = 1, max = 100000))]
    pub eval_every: u32,
}

impl Default for IsrParams {
    fn default() -> Self {
        IsrParams {
            method: IsrMethod::Erm,
            n_envs: 6,
            d_inv: 5,
            d_spu: 5,
            samples_per_env: 1000,
            scrambled: false,
            spu_std_spread: 0.0,
            steps: 50_000,
            lr: 0.01,
            irm_penalty: 1000.0,
            irm_anneal_steps: 200,
            tolerance: TOLERANCE,
            eval_every: 50,
        }
    }
}

impl Params for IsrParams {
    fn check(&self) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        if self.method == IsrMethod::Irm && self.irm_anneal_steps >= self.steps {
            problems
                .push(ParamProblem::new("irm_anneal_steps", format!("must be below steps ({}) or the penalty never applies", self.steps)));
        }
        problems
    }

    fn unused(&self) -> Vec<&'static str> {
        if self.method == IsrMethod::Irm { Vec::new() } else { vec!["irm_penalty", "irm_anneal_steps"] }
    }
}

impl Study for Isr {
    type Params = IsrParams;

    fn name(&self) -> &'static str {
        "isr"
    }

    fn title(&self) -> &'static str {
        "Invariant-feature Subspace Recovery (Wang et al., ICML 2022)"
    }

    fn description(&self) -> &'static str {
        "Domain generalisation on the linear model of Rosenfeld et al.: each environment shares \
         invariant features and has its own spurious ones. ISR-Mean recovers the invariant subspace \
         from the environments' class means once E >= d_spu + 1 and reaches the oracle's test error; \
         ISR-Cov needs two environments whose spurious scales differ; ERM and IRM lean on the \
         spurious features and fail when the test set breaks them."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        vec![
            ChartSpec::new(ChartKind::MetricVsParam, "test_error")
                .with_x("n_envs")
                .with_title("Test error vs number of training environments"),
            ChartSpec::new(ChartKind::MetricVsParam, "invariant_overlap")
                .with_x("n_envs")
                .with_title("Recovered subspace overlap with the invariant one (1 = exact)"),
            ChartSpec::new(ChartKind::Curves, "test_error")
                .with_filter("n_envs", 6)
                .with_title("Test error during training at E = 6 = d_spu + 1"),
            ChartSpec::new(ChartKind::Bars, "test_error").with_filter("n_envs", 6).with_title("Test error by method at E = 6"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &IsrParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let config = IsrConfig {
            n_envs: p.n_envs as usize,
            d_inv: p.d_inv as usize,
            d_spu: p.d_spu as usize,
            samples_per_env: p.samples_per_env as usize,
            scrambled: p.scrambled,
            spu_std_spread: p.spu_std_spread,
            ..IsrConfig::default()
        };
        let data = generate(&config, ctx.seed());
        ctx.info(format!(
            "{} environments x {} samples, d_inv = {}, d_spu = {}{}",
            config.n_envs,
            config.samples_per_env,
            config.d_inv,
            config.d_spu,
            if config.scrambled { ", scrambled" } else { "" }
        ));

        let pooled = Samples::concat(&data.train);
        let mut summary = Summary::new();
        let (train, test) = match p.method {
            IsrMethod::Erm | IsrMethod::Irm => (design(&pooled, &data, false), design(&data.test, &data, false)),
            IsrMethod::Oracle => (design(&pooled, &data, true), design(&data.test, &data, true)),
            IsrMethod::IsrMean | IsrMethod::IsrCov => {
                let basis = if p.method == IsrMethod::IsrMean { isr_mean_subspace(&data) } else { isr_cov_subspace(&data) };
                let overlap = invariant_overlap(&data, &basis);
                ctx.info(format!("recovered subspace overlaps the true invariant one by {overlap:.3} (1 = exactly)"));
                summary.insert("invariant_overlap".into(), overlap);
                (design(&pooled, &data, false).project(&basis), design(&data.test, &data, false).project(&basis))
            }
        };

        let irm = (p.method == IsrMethod::Irm).then(|| Irm {
            env_sizes: data.train.iter().map(Samples::len).collect(),
            penalty: p.irm_penalty,
            anneal_steps: p.irm_anneal_steps,
        });
        let options = FitOptions { steps: p.steps, lr: p.lr, eval_every: p.eval_every, irm, tolerance: p.tolerance };
        let fitted = fit(ctx, &device, &train, &test, &options, "")?;
        if p.tolerance > 0.0 && fitted.grad_norm >= p.tolerance {
            ctx.log_text(
                benchtop_core::LogLevel::Warn,
                format!(
                    "not converged: after {} steps the gradient's norm is {:.2e}, above the tolerance {:.0e}",
                    fitted.steps, fitted.grad_norm, p.tolerance
                ),
            );
        }
        summary.insert("steps_trained".into(), fitted.steps as f64);
        summary.insert("grad_norm".into(), fitted.grad_norm);
        summary.insert("train_error".into(), fitted.error(&train));
        summary.insert("test_error".into(), fitted.error(&test));
        summary.insert("train_loss".into(), fitted.train_loss);
        Ok(summary)
    }
}

/// Rows of x (or, for the oracle, of the invariant latent block) with their labels.
fn design(samples: &Samples, data: &IsrData, oracle: bool) -> Design {
    if oracle {
        Design { x: samples.z_inv.clone(), y: samples.y.clone(), dim: data.config.d_inv }
    } else {
        Design { x: samples.x.clone(), y: samples.y.clone(), dim: data.dim() }
    }
}

/// Class-1 rows of one environment as a matrix.
fn class_rows(env: &Samples, dim: usize) -> DMatrix<f64> {
    let rows: Vec<f64> =
        env.x.chunks_exact(dim).zip(&env.y).filter(|(_, y)| **y > 0.5).flat_map(|(row, _)| row.iter().map(|&v| v as f64)).collect();
    DMatrix::from_row_slice(rows.len() / dim, dim, &rows)
}

fn column_mean(m: &DMatrix<f64>) -> DVector<f64> {
    m.row_mean().transpose()
}

fn covariance(m: &DMatrix<f64>) -> DMatrix<f64> {
    let mean = m.row_mean();
    let mut centred = m.clone();
    for mut row in centred.row_iter_mut() {
        row -= &mean;
    }
    let n = (m.nrows().max(2) - 1) as f64;
    centred.transpose() * centred / n
}

/// The eigenvectors of a symmetric matrix with the `k` smallest eigenvalues, as columns.
fn smallest_eigenvectors(m: DMatrix<f64>, k: usize) -> Vec<Vec<f64>> {
    let eig = SymmetricEigen::new(m);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[a].total_cmp(&eig.eigenvalues[b]));
    order.iter().take(k).map(|&i| eig.eigenvectors.column(i).iter().copied().collect()).collect()
}

/// ISR-Mean (Algorithm 1): the class-1 mean of each environment; the covariance of those E
/// means varies only along spurious directions, so its d_inv least-varying eigenvectors span
/// the invariant subspace (once the means span all d_spu spurious directions).
pub fn isr_mean_subspace(data: &IsrData) -> Vec<Vec<f64>> {
    let dim = data.dim();
    let means: Vec<DVector<f64>> = data.train.iter().map(|env| column_mean(&class_rows(env, dim))).collect();
    let stacked = DMatrix::from_fn(means.len(), dim, |i, j| means[i][j]);
    smallest_eigenvectors(covariance(&stacked), data.config.d_inv)
}

/// ISR-Cov (Algorithm 2), over all environments: the class-1 covariances differ only along
/// spurious directions, so sum_e (S_e - mean S)^2 has its top d_spu eigenvectors there; the
/// rest span the invariant subspace. With two environments this is (S_1 - S_0)^2.
pub fn isr_cov_subspace(data: &IsrData) -> Vec<Vec<f64>> {
    let dim = data.dim();
    let covs: Vec<DMatrix<f64>> = data.train.iter().map(|env| covariance(&class_rows(env, dim))).collect();
    let mean = covs.iter().fold(DMatrix::zeros(dim, dim), |acc, c| acc + c) / covs.len() as f64;
    let spread = covs.iter().fold(DMatrix::zeros(dim, dim), |acc, c| {
        let diff = c - &mean;
        acc + &diff * &diff
    });
    smallest_eigenvectors(spread, data.config.d_inv)
}

/// How much of the true invariant subspace a recovered basis spans: ||U^T P||_F^2 / d_inv,
/// 1 when the two subspaces coincide, 0 when they are orthogonal.
pub fn invariant_overlap(data: &IsrData, basis: &[Vec<f64>]) -> f64 {
    let d_inv = data.config.d_inv;
    let truth = data.mixing.columns(0, d_inv);
    let mut total = 0.0;
    for col in basis {
        let p = DVector::from_column_slice(col);
        let proj = truth.transpose() * p;
        total += proj.norm_squared();
    }
    total / d_inv as f64
}

#[cfg(test)]
mod tests;
