//! Logistic regression trained with burn: the ISR study's linear classifier, with an
//! optional IRMv1 penalty across environments.

use benchtop_core::{RunContext, StudyError};
use burn::module::Param;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};

use crate::ml::nets::host;

/// Inputs (`n x dim`, row-major) and 0/1 labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub dim: usize,
}

impl Design {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// `x P` for a `dim x k` projection `P` given column-major as `k` columns of `dim`.
    pub fn project(&self, columns: &[Vec<f64>]) -> Design {
        let mut x = Vec::with_capacity(self.len() * columns.len());
        for row in self.x.chunks_exact(self.dim) {
            for col in columns {
                x.push(row.iter().zip(col).map(|(a, b)| *a as f64 * b).sum::<f64>() as f32);
            }
        }
        Design { x, y: self.y.clone(), dim: columns.len() }
    }
}

/// The IRMv1 penalty (Arjovsky et al. 2019): the squared gradient of each environment's risk
/// with respect to a dummy scale on the logits, summed over environments.
#[derive(Clone, Debug, PartialEq)]
pub struct Irm {
    /// Sizes of the consecutive environment blocks of the training rows.
    pub env_sizes: Vec<usize>,
    /// Penalty weight after annealing.
    pub penalty: f64,
    /// Steps with weight 1 before the full weight (the optimiser restarts then, as in IRMv1).
    pub anneal_steps: u32,
}

/// How to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    /// The most steps to take.
    pub steps: u32,
    pub lr: f64,
    pub eval_every: u32,
    pub irm: Option<Irm>,
    /// Stop at the first evaluation where the gradient's norm is below this (0: never stop
    /// early). With IRM it is checked only once the full penalty applies.
    pub tolerance: f64,
}

/// A fitted classifier, back on the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub weights: Vec<f32>,
    pub bias: f32,
    /// The training objective's data term at the end.
    pub train_loss: f64,
    /// Steps taken.
    pub steps: u32,
    /// The norm of the objective's gradient at the last evaluation.
    pub grad_norm: f64,
}

impl Fitted {
    /// The logit of each row.
    pub fn logits(&self, data: &Design) -> Vec<f64> {
        data.x
            .chunks_exact(data.dim)
            .map(|row| row.iter().zip(&self.weights).map(|(a, w)| (*a * *w) as f64).sum::<f64>() + self.bias as f64)
            .collect()
    }

    /// The fraction of rows whose predicted class is wrong.
    pub fn error(&self, data: &Design) -> f64 {
        if data.is_empty() {
            return 0.0;
        }
        let wrong = self.logits(data).iter().zip(&data.y).filter(|(f, y)| (**f > 0.0) != (**y > 0.5)).count();
        wrong as f64 / data.len() as f64
    }
}

#[derive(Module, Debug)]
struct Linear1 {
    weight: Param<Tensor<2>>,
    bias: Param<Tensor<2>>,
}

impl Linear1 {
    /// Zero weights: the objective is convex, so a fixed start keeps runs deterministic.
    fn zeros(dim: usize, device: &Device) -> Self {
        Linear1 { weight: Param::from_tensor(Tensor::zeros([dim, 1], device)), bias: Param::from_tensor(Tensor::zeros([1, 1], device)) }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val()) + self.bias.val()
    }

    fn to_host(&self) -> Result<(Vec<f32>, f32), StudyError> {
        let weights = host(self.weight.val())?;
        let bias = host(self.bias.val())?.first().copied().unwrap_or(0.0);
        Ok((weights, bias))
    }
}

/// Mean binary cross-entropy with logits, stable for large logits.
fn bce(logits: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let ones = y.ones_like();
    let loss = y.clone() * log_sigmoid(logits.clone()) + (ones - y) * log_sigmoid(logits.neg());
    loss.mean().neg()
}

/// Fit by full-batch Adam on `device` until the gradient's norm falls below the tolerance (or
/// for the most steps), logging `train_loss`, `train_error`, `test_error`, `grad_norm` (and
/// `irm_penalty`) every `eval_every` steps under `prefix`.
pub fn fit(
    ctx: &RunContext,
    device: &Device,
    train: &Design,
    test: &Design,
    options: &FitOptions,
    prefix: &str,
) -> Result<Fitted, StudyError> {
    let n = train.len();
    let x = Tensor::<2>::from_data(TensorData::new(train.x.clone(), [n, train.dim]), device);
    let y = Tensor::<2>::from_data(TensorData::new(train.y.clone(), [n, 1]), device);
    let mut model = Linear1::zeros(train.dim, device);
    let new_optimizer = || -> ModuleOptimizer { crate::ml::adam::adam(None) };
    let mut optimizer = new_optimizer();
    let name = |m: &str| format!("{prefix}{m}");

    let mut last_loss = f64::NAN;
    let mut grad_norm = f64::NAN;
    let mut taken = 0;
    for step in 0..options.steps {
        ctx.check_cancelled()?;
        let logits = model.forward(x.clone());
        let risk = bce(logits.clone(), y.clone());
        let (objective, penalty) = match &options.irm {
            None => (risk.clone(), None),
            Some(irm) => {
                let weight = if step < irm.anneal_steps { 1.0 } else { irm.penalty };
                if step == irm.anneal_steps && step > 0 {
                    optimizer = new_optimizer();
                }
                let penalty = irm_penalty(logits, y.clone(), &irm.env_sizes);
                let mut total = risk.clone() + penalty.clone().mul_scalar(weight);
                if weight > 1.0 {
                    // As in IRMv1: keep the gradient scale comparable across the anneal.
                    total = total.div_scalar(weight);
                }
                (total, Some(penalty))
            }
        };
        let evaluate = step % options.eval_every == 0 || step + 1 == options.steps;
        let grads = objective.backward();
        if evaluate {
            let squares = |g: Option<Tensor<2>>| -> Result<f64, StudyError> {
                Ok(g.map(host).transpose()?.unwrap_or_default().iter().map(|v| (*v as f64).powi(2)).sum())
            };
            grad_norm = (squares(model.weight.val().grad(&grads))? + squares(model.bias.val().grad(&grads))?).sqrt();
            ctx.log_metric(&name("grad_norm"), step as u64, grad_norm);
            last_loss = host(risk)?.first().copied().unwrap_or(f32::NAN) as f64;
            if !last_loss.is_finite() {
                return Err(StudyError::Failed(format!("the training loss diverged at step {step}")));
            }
            let (weights, bias) = model.to_host()?;
            let current = Fitted { weights, bias, train_loss: last_loss, steps: taken, grad_norm };
            ctx.log_metric(&name("train_loss"), step as u64, last_loss);
            ctx.log_metric(&name("train_error"), step as u64, current.error(train));
            ctx.log_metric(&name("test_error"), step as u64, current.error(test));
            if let Some(p) = penalty {
                let p = host(p)?.first().copied().unwrap_or(f32::NAN) as f64;
                ctx.log_metric(&name("irm_penalty"), step as u64, p);
            }
            ctx.progress(step as u64 + 1, options.steps as u64);
            let penalised = options.irm.as_ref().is_none_or(|irm| step >= irm.anneal_steps);
            if penalised && grad_norm < options.tolerance {
                // Converged: the parameters this gradient was taken at are the answer.
                break;
            }
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optimizer.step(options.lr, model, grads);
        taken = step + 1;
    }
    let (weights, bias) = model.to_host()?;
    Ok(Fitted { weights, bias, train_loss: last_loss, steps: taken, grad_norm })
}

/// Sum over environments of (d risk_e / d s at s = 1)^2, with logits scaled by s:
/// that derivative is mean_e((sigmoid(f) - y) * f).
fn irm_penalty(logits: Tensor<2>, y: Tensor<2>, env_sizes: &[usize]) -> Tensor<1> {
    let slope = (sigmoid(logits.clone()) - y) * logits;
    let mut start = 0;
    let mut total: Option<Tensor<1>> = None;
    for &size in env_sizes {
        let grad = slope.clone().slice([start..start + size, 0..1]).mean();
        let sq = grad.clone() * grad;
        total = Some(match total {
            None => sq,
            Some(t) => t + sq,
        });
        start += size;
    }
    total.unwrap_or_else(|| Tensor::zeros([1], &slope.device()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use benchtop_core::{Backend, RunEvent, RunId};
    use std::sync::mpsc::{Receiver, channel};

    fn ctx() -> (RunContext, Receiver<RunEvent>) {
        let (tx, rx) = channel();
        (RunContext::new(RunId::new(), 0, Backend::Cpu, std::env::temp_dir(), tx, Default::default()), rx)
    }

    /// A separable 1-d problem: y = 1 exactly when x > 0.5.
    fn threshold_data() -> Design {
        let x: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
        let y = x.iter().map(|&v| if v > 0.5 { 1.0 } else { 0.0 }).collect();
        Design { x, y, dim: 1 }
    }

    #[test]
    fn fitting_a_separable_problem_reaches_low_error_and_logs_curves() {
        let (ctx, rx) = ctx();
        let data = threshold_data();
        let opts = FitOptions { steps: 400, lr: 0.1, eval_every: 100, irm: None, tolerance: 0.0 };
        let device = crate::ml::device::training_device(Backend::Cpu).unwrap();
        let fitted = fit(&ctx, &device, &data, &data, &opts, "").unwrap();
        assert!(fitted.error(&data) < 0.05, "error {}", fitted.error(&data));
        drop(ctx);
        let losses: Vec<f64> = rx
            .iter()
            .filter_map(|e| match e {
                RunEvent::Metric { name, value, .. } if name == "train_loss" => Some(value),
                _ => None,
            })
            .collect();
        assert_eq!(losses.len(), 5, "steps 0, 100, 200, 300 and the last");
        assert!((losses[0] - std::f64::consts::LN_2).abs() < 1e-5, "zero weights give log 2");
        assert!(losses[4] < losses[0]);
    }

    /// Labels that a threshold at 0.5 gets right 80% of the time: a finite optimum.
    fn noisy_data() -> Design {
        let x: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
        let y = x.iter().enumerate().map(|(i, &v)| if (v > 0.5) != (i % 5 == 0) { 1.0 } else { 0.0 }).collect();
        Design { x, y, dim: 1 }
    }

    #[test]
    fn fitting_stops_at_the_optimum_once_the_gradient_is_below_the_tolerance() {
        let (ctx, _rx) = ctx();
        let data = noisy_data();
        let device = crate::ml::device::training_device(Backend::Cpu).unwrap();
        let opts = FitOptions { steps: 50_000, lr: 0.05, eval_every: 50, irm: None, tolerance: 1e-5 };
        let stopped = fit(&ctx, &device, &data, &data, &opts, "").unwrap();
        assert!(stopped.steps < opts.steps && stopped.grad_norm < 1e-5, "{} steps, gradient {}", stopped.steps, stopped.grad_norm);
        assert_eq!(stopped.steps % 50, 0, "it stops where it checked");
        // Training on for twice as long improves nothing that matters: it was the optimum.
        let longer = fit(&ctx, &device, &data, &data, &FitOptions { steps: 2 * stopped.steps, tolerance: 0.0, ..opts }, "").unwrap();
        assert!(stopped.train_loss - longer.train_loss < 1e-6, "{} vs {}", stopped.train_loss, longer.train_loss);
        assert_eq!(stopped.error(&data), longer.error(&data));
    }

    #[test]
    fn the_irm_penalty_is_zero_when_logits_are_optimally_scaled_per_environment() {
        let device = Device::flex();
        // Logit 0 everywhere: the derivative mean((sigmoid(0) - y) * 0) is exactly zero.
        let logits = Tensor::<2>::zeros([4, 1], &device);
        let y = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 1.0, 1.0, 0.0], [4, 1]), &device);
        let p = host(irm_penalty(logits, y.clone(), &[2, 2])).unwrap()[0];
        assert_eq!(p, 0.0);
        // Over-confident wrong logits give a positive penalty.
        let logits = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, -3.0, -3.0, 3.0], [4, 1]), &device);
        let p = host(irm_penalty(logits, y, &[2, 2])).unwrap()[0];
        assert!(p > 1.0, "{p}");
    }

    #[test]
    fn projection_multiplies_rows_by_the_columns() {
        let d = Design { x: vec![1.0, 2.0, 3.0, 4.0], y: vec![0.0, 1.0], dim: 2 };
        let p = d.project(&[vec![1.0, 0.0], vec![1.0, 1.0]]);
        assert_eq!(p.x, vec![1.0, 3.0, 3.0, 7.0]);
        assert_eq!(p.dim, 2);
    }
}
