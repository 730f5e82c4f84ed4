//! Speciality vs generality when fine-tuning (Lin et al., 2023, "Speciality vs generality:
//! an empirical study on catastrophic forgetting in fine-tuning foundation models").
//!
//! A model pre-trained on broad digits (five styles) is fine-tuned on a narrow speciality
//! (digits rotated 90 degrees). Speciality = accuracy on held-out rotated digits; generality =
//! accuracy on held-out digits in the pre-training styles. Plain fine-tuning gains the first
//! and forgets the second; pulls toward the pre-trained weights (L1, L2), distillation of the
//! pre-trained outputs, weight interpolation (Wise-FT) and low-rank adapters (LoRA) trade the
//! two differently.

use benchtop_core::{Better, ChartKind, ChartSpec, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::cg_digits::{Style, in_every_style, in_styles};
use benchtop_data::digits::{Digits, Mnist, mnist};
use benchtop_data::transforms::rotate;
use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::checkpoint::fit_checkpointed;
use crate::ml::device::training_device;
use crate::ml::lora::LoraLinear;
use crate::ml::nets::host;
use crate::ml::nets::{Batchable, Epochs, TrainOptions, cross_entropy, linear, log_softmax, predict, softmax, tensor};

/// The study's registry entry.
pub struct Forgetting;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForgettingMethod {
    /// Every weight fine-tuned on the speciality.
    #[default]
    Finetune,
    /// Fine-tuning plus lambda * sum |theta - theta_0|.
    L1Init,
    /// Fine-tuning plus lambda / 2 * sum (theta - theta_0)^2.
    L2Init,
    /// Fine-tuning plus lambda * KL(pre-trained outputs || outputs) on the fine-tuning inputs.
    Distill,
    /// (1 - alpha) theta_0 + alpha theta_ft, from one cached fine-tuning per seed.
    WiseFt,
    /// Rank-r adapters on every (frozen) layer, merged into the weights for evaluation.
    Lora,
}

/// Parameters of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ForgettingParams {
    pub method: ForgettingMethod,
    /// l1_init, l2_init, distill: the strength of the pull toward the pre-trained model.
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub lambda: f64,
    /// wise_ft: 0 is the pre-trained model, 1 the fine-tuned one.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub alpha: f64,
    /// lora: the adapters' rank.
    #[schemars(range(min = 1, max = 256))]
    pub rank: u32,
    /// Digits pre-trained on, each in every one of the five pre-training styles (the other
    /// 1,000 of MNIST's first 10,000 training digits, in every style, are the held-out set
    /// that decides when pre-training stops).
    #[schemars(range(min = 500, max = 9000))]
    pub pretrain_points: u32,
    /// The most pre-training epochs: it stops earlier, at the best epoch, once held-out
    /// generality has not risen by 0.1 points for `pretrain_patience` epochs.
    #[schemars(range(min = 1, max = 200))]
    pub pretrain_epochs: u32,
    /// Epochs without a rise in held-out generality before pre-training stops.
    #[schemars(range(min = 1, max = 50))]
    pub pretrain_patience: u32,
    /// Rotated digits fine-tuned on.
    #[schemars(range(min = 100, max = 6000))]
    pub finetune_points: u32,
    /// Held-out digits for each score (speciality and generality).
    #[schemars(range(min = 100, max = 2000))]
    pub test_points: u32,
    #[schemars(range(min = 1, max = 100))]
    pub ft_epochs: u32,
    #[schemars(range(min = 0.000001, max = 0.1))]
    pub ft_lr: f64,
    #[schemars(range(min = 2, max = 4096))]
    pub batch_size: u32,
}

impl Default for ForgettingParams {
    fn default() -> Self {
        ForgettingParams {
            method: ForgettingMethod::Finetune,
            lambda: 0.1,
            alpha: 0.5,
            rank: 4,
            pretrain_points: 9000,
            pretrain_epochs: 60,
            pretrain_patience: 4,
            finetune_points: 4000,
            test_points: 2000,
            ft_epochs: 5,
            ft_lr: 1e-3,
            batch_size: 128,
        }
    }
}

impl Params for ForgettingParams {
    fn check(&self) -> Vec<benchtop_core::ParamProblem> {
        let mut problems = Vec::new();
        if self.finetune_points + 2 * self.test_points > 10_000 {
            problems.push(benchtop_core::ParamProblem::new(
                "finetune_points",
                "finetune_points + 2 x test_points must fit in MNIST's 10,000 test digits",
            ));
        }
        problems
    }

    fn unused(&self) -> Vec<&'static str> {
        match self.method {
            ForgettingMethod::Finetune => vec!["lambda", "alpha", "rank"],
            ForgettingMethod::L1Init | ForgettingMethod::L2Init | ForgettingMethod::Distill => vec!["alpha", "rank"],
            ForgettingMethod::WiseFt => vec!["lambda", "rank"],
            ForgettingMethod::Lora => vec!["lambda", "alpha"],
        }
    }
}

/// The styles the model is pre-trained on (generality); the speciality is rotation by 90.
pub const PRETRAIN_STYLES: [Style; 5] = [Style::Plain, Style::Inverted, Style::Thick, Style::Noisy, Style::Blurred];
const SIZES: [usize; 4] = [28 * 28, 256, 256, 10];

/// The classifier: 784 -> 256 -> 256 -> 10 with ReLU.
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    pub fn new(rng: &mut benchtop_data::Rng, device: &Device) -> Mlp {
        Mlp { layers: SIZES.windows(2).map(|w| linear(rng, w[0], w[1], device)).collect() }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x.flatten(1, 3);
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i + 1 < self.layers.len() {
                h = relu(h);
            }
        }
        h
    }

    /// Every weight and bias, layer by layer.
    pub fn values(&self) -> Result<Vec<f32>, StudyError> {
        let mut out = Vec::new();
        for l in &self.layers {
            out.extend(host(l.weight.val())?);
            if let Some(b) = &l.bias {
                out.extend(host(b.val())?);
            }
        }
        Ok(out)
    }

    pub fn from_values(values: &[f32], device: &Device) -> Result<Mlp, StudyError> {
        let expected: usize = SIZES.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        if values.len() != expected {
            return Err(StudyError::Failed(format!("a cached model has {} values, not {expected}", values.len())));
        }
        let mut at = 0;
        let mut layers = Vec::new();
        let mut template = Mlp::new(&mut benchtop_data::rng(0, 0), device);
        for (l, w) in template.layers.iter_mut().zip(SIZES.windows(2)) {
            let (i, o) = (w[0], w[1]);
            l.weight = Param::from_tensor(tensor(values[at..at + i * o].to_vec(), [i, o], device));
            at += i * o;
            l.bias = Some(Param::from_tensor(tensor(values[at..at + o].to_vec(), [o], device)));
            at += o;
            layers.push(l.clone());
        }
        Ok(Mlp { layers })
    }

    /// Σ |θ − θ0| (p = 1) or ½ Σ (θ − θ0)² (p = 2) over every weight and bias.
    fn distance(&self, anchor: &[Tensor<1>], p: u8) -> Tensor<1> {
        let mut total: Option<Tensor<1>> = None;
        for (t, a) in self.flat().into_iter().zip(anchor) {
            let d = t - a.clone();
            let term = if p == 1 { d.abs().sum() } else { d.powi_scalar(2).sum().mul_scalar(0.5) };
            total = Some(match total {
                None => term,
                Some(s) => s + term,
            });
        }
        total.unwrap_or_else(|| Tensor::zeros([1], &self.layers[0].weight.device()))
    }

    fn flat(&self) -> Vec<Tensor<1>> {
        self.layers
            .iter()
            .flat_map(|l| {
                let mut t = vec![l.weight.val().flatten(0, 1)];
                t.extend(l.bias.as_ref().map(|b| b.val()));
                t
            })
            .collect()
    }
}

/// The MLP with a rank-r adapter on every layer.
#[derive(Module, Debug)]
pub struct LoraMlp {
    layers: Vec<LoraLinear>,
}

impl LoraMlp {
    /// `pre` frozen, with a rank-`rank` adapter (alpha = rank) on every layer.
    pub fn new(pre: &Mlp, rank: usize, rng: &mut benchtop_data::Rng, device: &Device) -> LoraMlp {
        LoraMlp { layers: pre.layers.iter().map(|l| LoraLinear::new(l.clone(), rank, rank as f64, rng, device)).collect() }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h = x.flatten(1, 3);
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i + 1 < self.layers.len() {
                h = relu(h);
            }
        }
        h
    }

    fn merge(&self) -> Mlp {
        Mlp { layers: self.layers.iter().map(LoraLinear::merge).collect() }
    }
}

/// Wise-FT: `(1 - alpha) * pre + alpha * ft`, value by value.
pub fn interpolate(pre: &[f32], ft: &[f32], alpha: f64) -> Vec<f32> {
    let a = alpha as f32;
    pre.iter().zip(ft).map(|(p, f)| (1.0 - a) * p + a * f).collect()
}

struct Data {
    pretrain: Digits,
    /// Held-out training digits in every pre-training style: when to stop pre-training.
    validation: Digits,
    finetune: Digits,
    speciality: Digits,
    generality: Digits,
}

fn rotated(d: &Digits) -> Digits {
    d.map_images(|img| rotate(img, d.rows, d.cols, 90.0))
}

fn data(p: &ForgettingParams, seed: u64) -> Result<Data, StudyError> {
    let broad = mnist(Mnist::TrainFirst10k)?;
    let (pre, rest) = broad.split(p.pretrain_points as usize, &mut benchtop_data::rng(seed, 50));
    let validation = rest.select(&(0..rest.len().min(VALIDATION_POINTS)).collect::<Vec<_>>());
    let task = mnist(Mnist::Test)?;
    let mut order: Vec<usize> = (0..task.len()).collect();
    order.shuffle(&mut benchtop_data::rng(seed, 51));
    let (n, t) = (p.finetune_points as usize, p.test_points as usize);
    Ok(Data {
        pretrain: in_every_style(&pre, &PRETRAIN_STYLES, &mut benchtop_data::rng(seed, 52)),
        validation: in_every_style(&validation, &PRETRAIN_STYLES, &mut benchtop_data::rng(seed, 56)),
        finetune: rotated(&task.select(&order[..n])),
        speciality: rotated(&task.select(&order[n..n + t])),
        generality: in_styles(&task.select(&order[n + t..n + 2 * t]), &PRETRAIN_STYLES, &mut benchtop_data::rng(seed, 53)),
    })
}

fn batchable(d: &Digits) -> Batchable<'_> {
    Batchable { x: &d.pixels, labels: &d.labels, shape: [1, d.rows, d.cols] }
}

fn accuracy(model: &Mlp, d: &Digits, device: &Device) -> Result<f64, StudyError> {
    Ok(crate::ml::nets::logit_accuracy(&predict(model, Mlp::forward, &batchable(d), device)?, 10, &d.labels))
}

impl Study for Forgetting {
    type Params = ForgettingParams;

    fn name(&self) -> &'static str {
        "forgetting"
    }

    fn title(&self) -> &'static str {
        "Speciality vs generality in fine-tuning (Lin et al., 2023)"
    }

    fn description(&self) -> &'static str {
        "A model pre-trained on digits in five styles is fine-tuned on digits rotated 90 degrees. \
         Plain fine-tuning gains speciality and forgets generality; L1/L2 pulls to the pre-trained \
         weights, distillation, Wise-FT interpolation and LoRA trade the two. Paper's finding: \
         Wise-FT gives the best trade-off."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        vec![
            ChartSpec {
                better: Some(Better::Higher),
                ..ChartSpec::new(ChartKind::Scatter, "generality")
                    .with_x("speciality")
                    .with_title("Generality vs speciality, one point per method setting, with the Pareto front")
            },
            // The curves at each method's default strength, so a band is one setting's seeds.
            ChartSpec::new(ChartKind::Curves, "generality")
                .with_filter("lambda", ForgettingParams::default().lambda)
                .with_filter("rank", ForgettingParams::default().rank)
                .with_title("Generality during fine-tuning (forgetting as it happens; lambda = 0.1, rank 4)"),
            ChartSpec::new(ChartKind::Curves, "speciality")
                .with_filter("lambda", ForgettingParams::default().lambda)
                .with_filter("rank", ForgettingParams::default().rank)
                .with_title("Speciality during fine-tuning (lambda = 0.1, rank 4)"),
            ChartSpec::new(ChartKind::MetricVsParam, "generality")
                .with_x("alpha")
                .with_filter("method", "wise_ft")
                .with_title("Wise-FT: generality vs the interpolation weight alpha"),
            // One run per seed shows the pre-training it started from (all share it).
            ChartSpec::new(ChartKind::Curves, "pretrain_generality")
                .with_filter("method", "finetune")
                .with_title("Held-out generality during pre-training, to where it is flat"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &ForgettingParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let data = data(p, ctx.seed())?;
        write_samples(ctx, &data);
        let pretraining = pretrained(ctx, p, &data, &device)?;
        for (epoch, g) in pretraining.curve.iter().enumerate() {
            ctx.log_metric("pretrain_generality", epoch as u64 + 1, *g);
        }
        let pre_values = pretraining.values;
        let pre = Mlp::from_values(&pre_values, &device)?;
        let (spec0, gen0) = (accuracy(&pre, &data.speciality, &device)?, accuracy(&pre, &data.generality, &device)?);
        ctx.info(format!("pre-trained: speciality {spec0:.3}, generality {gen0:.3}"));
        let log = |step: u64, m: &Mlp| -> Result<(f64, f64), StudyError> {
            let (s, g) = (accuracy(m, &data.speciality, &device)?, accuracy(m, &data.generality, &device)?);
            ctx.log_metric("speciality", step, s);
            ctx.log_metric("generality", step, g);
            Ok((s, g))
        };
        ctx.log_metric("speciality", 0, spec0);
        ctx.log_metric("generality", 0, gen0);

        let model = match p.method {
            ForgettingMethod::WiseFt => {
                let ft = finetuned(ctx, p, &data, &pre_values, &device)?;
                Mlp::from_values(&interpolate(&pre_values, &ft, p.alpha), &device)?
            }
            ForgettingMethod::Lora => {
                let mut rng = benchtop_data::rng(ctx.seed(), 54);
                let rank = p.rank as usize;
                let lora = LoraMlp::new(&pre, rank, &mut rng, &device);
                let trainable: usize = lora.layers.iter().map(LoraLinear::trainable).sum();
                ctx.info(format!("LoRA rank {rank}: {trainable} trainable values"));
                let ft = batchable(&data.finetune);
                let loss = |m: &LoraMlp, idx: &[usize]| {
                    let (x, y) = ft.batch(idx, &device);
                    cross_entropy(m.forward(x), y)
                };
                let trained = fit_checkpointed(ctx, "lora", lora, loss, data.finetune.len(), &options(p), &mut rng, |epoch, _, m| {
                    if epoch + 1 < p.ft_epochs {
                        log(epoch as u64 + 1, &m.merge())?;
                    }
                    Ok(())
                })?;
                trained.merge()
            }
            _ => {
                let values = regularised_finetune(ctx, p, &data, &pre, &device, &log)?;
                Mlp::from_values(&values, &device)?
            }
        };
        let (speciality, generality) = if p.method == ForgettingMethod::WiseFt {
            (accuracy(&model, &data.speciality, &device)?, accuracy(&model, &data.generality, &device)?)
        } else {
            log(p.ft_epochs as u64, &model)?
        };
        ctx.info(format!("speciality {spec0:.3} -> {speciality:.3}, generality {gen0:.3} -> {generality:.3}"));
        let mut summary = Summary::new();
        summary.insert("speciality".into(), speciality);
        summary.insert("generality".into(), generality);
        summary.insert("speciality_before".into(), spec0);
        summary.insert("generality_before".into(), gen0);
        summary.insert("pretrain_epochs_trained".into(), pretraining.curve.len() as f64);
        summary.insert("pretrain_best_epoch".into(), pretraining.best_epoch as f64);
        Ok(summary)
    }
}

fn options(p: &ForgettingParams) -> TrainOptions {
    TrainOptions { epochs: p.ft_epochs, batch_size: p.batch_size as usize, lr: p.ft_lr, weight_decay: 0.0, decoupled: true }
}

/// Held-out digits (before styling) that decide when pre-training stops.
const VALIDATION_POINTS: usize = 1000;
/// The rise in held-out generality that counts as still learning: 0.1 points.
const MIN_RISE: f64 = 0.001;

/// The pre-trained model and how it got there.
struct Pretraining {
    values: Vec<f32>,
    /// Held-out generality after each epoch.
    curve: Vec<f64>,
    /// The epoch (from 1) whose weights these are: the best on the held-out set.
    best_epoch: usize,
}

impl Pretraining {
    /// `[epochs, curve..., best_epoch, values...]` as f32s: the cache keeps the curve too, so
    /// a run served from the cache still shows how pre-training went.
    fn to_bytes(&self) -> Vec<u8> {
        let mut all = vec![self.curve.len() as f32];
        all.extend(self.curve.iter().map(|g| *g as f32));
        all.push(self.best_epoch as f32);
        all.extend(&self.values);
        crate::ml::nets::float_bytes(&all)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Pretraining, StudyError> {
        let all = crate::ml::nets::floats(bytes)?;
        let broken = || StudyError::Failed("the cached pre-training entry is too short".into());
        let epochs = *all.first().ok_or_else(broken)? as usize;
        let curve = all.get(1..1 + epochs).ok_or_else(broken)?.iter().map(|g| *g as f64).collect();
        let best_epoch = *all.get(1 + epochs).ok_or_else(broken)? as usize;
        Ok(Pretraining { values: all[2 + epochs..].to_vec(), curve, best_epoch })
    }
}

/// Pre-training on every digit in every one of the five styles until held-out generality is
/// flat (no rise of [`MIN_RISE`] for `pretrain_patience` epochs), keeping the best epoch's
/// weights; cached per seed and settings.
fn pretrained(ctx: &RunContext, p: &ForgettingParams, data: &Data, device: &Device) -> Result<Pretraining, StudyError> {
    let key = crate::ml::device::stage_key(ctx, "forgetting", "pretrained-every-style", ctx.seed())
        .param("pretrain_points", p.pretrain_points)
        .param("pretrain_epochs", p.pretrain_epochs)
        .param("pretrain_patience", p.pretrain_patience)
        .param("batch_size", p.batch_size);
    let bytes = ctx.cached(&key, || {
        let mut rng = benchtop_data::rng(ctx.seed(), 55);
        let model = Mlp::new(&mut rng, device);
        let options =
            TrainOptions { epochs: p.pretrain_epochs, batch_size: p.batch_size as usize, lr: 1e-3, weight_decay: 0.0, decoupled: true };
        let mut best = Pretraining { values: model.values()?, curve: Vec::new(), best_epoch: 0 };
        let mut best_score = f64::NEG_INFINITY;
        crate::ml::nets::train_until(model, Mlp::forward, &batchable(&data.pretrain), &options, &mut rng, device, |epoch, loss, m| {
            ctx.check_cancelled()?;
            let held_out = accuracy(m, &data.validation, device)?;
            ctx.info(format!("pre-training epoch {}: loss {loss:.4}, held-out generality {held_out:.4}", epoch + 1));
            best.curve.push(held_out);
            if held_out > best_score + MIN_RISE || best.best_epoch == 0 {
                best_score = best_score.max(held_out);
                best.best_epoch = epoch as usize + 1;
                best.values = m.values()?;
            }
            let flat = best.curve.len() - best.best_epoch >= p.pretrain_patience as usize;
            Ok(if flat { Epochs::Stop } else { Epochs::Continue })
        })?;
        Ok(best.to_bytes())
    })?;
    Pretraining::from_bytes(&bytes)
}

/// Plain fine-tuning's weights, cached per seed and fine-tuning settings: one fine-tuning
/// serves the whole Wise-FT sweep.
fn finetuned(ctx: &RunContext, p: &ForgettingParams, data: &Data, pre: &[f32], device: &Device) -> Result<Vec<f32>, StudyError> {
    let plain = ForgettingParams { method: ForgettingMethod::Finetune, ..p.clone() };
    let key = crate::ml::device::stage_key(ctx, "forgetting", "finetuned", ctx.seed())
        .param("pretrain_points", p.pretrain_points)
        .param("pretrain_epochs", p.pretrain_epochs)
        .param("pretrain_patience", p.pretrain_patience)
        .param("finetune_points", p.finetune_points)
        .param("ft_epochs", p.ft_epochs)
        .param("ft_lr", p.ft_lr)
        .param("batch_size", p.batch_size);
    let bytes = ctx.cached(&key, || {
        let model = Mlp::from_values(pre, device)?;
        let values = regularised_finetune(ctx, &plain, data, &model, device, &|_, _| Ok((0.0, 0.0)))?;
        Ok(crate::ml::nets::float_bytes(&values))
    })?;
    crate::ml::nets::floats(&bytes)
}

/// Measures the model at a step and logs it: (speciality, generality) accuracy.
type Probe<'a> = dyn Fn(u64, &Mlp) -> Result<(f64, f64), StudyError> + 'a;

/// Fine-tuning with the method's pull toward the pre-trained model (none for `finetune`).
fn regularised_finetune(
    ctx: &RunContext,
    p: &ForgettingParams,
    data: &Data,
    pre: &Mlp,
    device: &Device,
    log: &Probe,
) -> Result<Vec<f32>, StudyError> {
    let anchor: Vec<Tensor<1>> = pre.flat().into_iter().map(|t| t.detach()).collect();
    let teacher = pre.valid();
    let ft = batchable(&data.finetune);
    let lambda = p.lambda;
    let method = p.method;
    let loss = |m: &Mlp, idx: &[usize]| {
        let (x, y) = ft.batch(idx, device);
        let logits = m.forward(x.clone());
        let task = cross_entropy(logits.clone(), y);
        match method {
            ForgettingMethod::L1Init => task + m.distance(&anchor, 1).mul_scalar(lambda),
            ForgettingMethod::L2Init => task + m.distance(&anchor, 2).mul_scalar(lambda),
            ForgettingMethod::Distill => {
                // KL(p0 || p) with the pre-trained model's outputs as constants.
                let target = teacher.forward(x.to_device(&device.clone().inner())).detach().to_device(device);
                let p0 = softmax(target.clone(), 1);
                let kl = (p0 * (log_softmax(target, 1) - log_softmax(logits, 1))).sum_dim(1).mean();
                task + kl.mul_scalar(lambda)
            }
            _ => task,
        }
    };
    let mut rng = benchtop_data::rng(ctx.seed(), 56);
    let model = Mlp::from_values(&pre.values()?, device)?;
    let trained = fit_checkpointed(ctx, "finetune", model, loss, data.finetune.len(), &options(p), &mut rng, |epoch, _, m| {
        if epoch + 1 < p.ft_epochs {
            log(epoch as u64 + 1, m)?;
        }
        Ok(())
    })?;
    trained.values()
}

/// A row of samples per pre-training style and one of the speciality, as an artifact.
fn write_samples(ctx: &RunContext, data: &Data) {
    if std::fs::create_dir_all(ctx.artifacts_dir()).is_err() {
        return;
    }
    let rows: Vec<Vec<&[f32]>> =
        vec![(0..12).map(|i| data.generality.image(i)).collect(), (0..12).map(|i| data.speciality.image(i)).collect()];
    let path = ctx.artifacts_dir().join("samples.png");
    if benchtop_data::grid::write_grid_png(&rows, 28, 28, 2, &path).is_ok() {
        ctx.record_artifact("samples.png", path);
    }
}

#[cfg(test)]
mod tests;
