//! ArmoRM (Wang et al., 2024, "Interpretable preferences via multi-objective reward modeling
//! and mixture-of-experts"): one ridge regression per objective on the response, each
//! objective decorrelated from verbosity, and a gating network on the prompt that mixes the
//! objectives into one reward, trained with the Bradley–Terry loss on preferences.
//!
//! On FineGrained QA: objectives relevance, factuality and completeness from the human error
//! spans (answer 1 of each question), verbosity = words, preferences between the 4 answers.
//! On the controlled benchmark the same answers get hidden objective scores, ratings of them
//! biased toward long answers, and preferences from a hidden prompt-dependent mixture.

use benchtop_core::{Better, ChartKind, ChartSpec, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::preference::{Preferred, finegrained_qa};
use burn::module::Param;
use burn::nn::Linear;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::relu;
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::controlled::{HiddenObjectives, Labels, draw_label, spread};
use super::features::{DIM, Encoder, TextVectors, embed, finegrained_texts, response_features, text_hash};
use crate::ml::bradley_terry::{self, BtOptions, Comparisons, Head, accuracy, cross_validate_l2, sigmoid};
use crate::ml::device::training_device;
use crate::ml::nets::{host, linear, softmax, tensor};
use crate::ml::stats::{Standardiser, pearson, spearman};

/// The study's registry entry.
pub struct Armorm;

/// The objectives, in gate order.
pub const OBJECTIVES: [&str; 3] = ["relevance", "factuality", "completeness"];
const K: usize = OBJECTIVES.len();

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArmormMethod {
    /// One linear Bradley–Terry reward on the response features, trained on the preferences.
    #[default]
    BradleyTerry,
    /// Ridge regressions per objective, verbosity decorrelation, then the gate trained on the
    /// preferences.
    Armorm,
    /// Beyond the paper: ArmoRM with the plain Bradley–Terry reward as a fourth expert, so the
    /// gate can lean on what the preferences alone teach where the ratings teach little.
    ArmormBt,
}

/// Parameters of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ArmormParams {
    pub method: ArmormMethod,
    pub labels: Labels,
    /// synthetic: the preference temperature in units of the spread of the hidden utility's
    /// difference between two answers to one question.
    #[schemars(range(min = 0.0, max = 10.0))]
    pub noise: f64,
    /// synthetic: the rating noise in units of an objective's spread.
    #[schemars(range(min = 0.0, max = 10.0))]
    pub rating_noise: f64,
    /// synthetic: how much the ratings favour long answers (per spread of log length).
    #[schemars(range(min = 0.0, max = 5.0))]
    pub verbosity_bias: f64,
    /// synthetic: the spread of the hidden mixture's logits (larger: sharper mixtures).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub mixture_sharpness: f64,
    /// The share of questions held out for testing.
    #[schemars(range(min = 0.05, max = 0.5))]
    pub test_fraction: f64,
    /// The gate's softmax temperature (authors: 10).
    #[schemars(range(min = 0.1, max = 100.0))]
    pub temperature: f64,
    /// Units in each of the gate's two hidden layers (authors: three of 1,024 for 8B-model
    /// features and 500k pairs; two of 64 suit 400 prompts).
    #[schemars(range(min = 4, max = 1024))]
    pub gate_hidden: u32,
    /// Full-batch AdamW steps for the gate (cosine schedule).
    #[schemars(range(min = 10, max = 20000))]
    pub steps: u32,
    #[schemars(range(min = 0.00001, max = 1.0))]
    pub lr: f64,
    pub encoder: Encoder,
}

impl Default for ArmormParams {
    fn default() -> Self {
        ArmormParams {
            method: ArmormMethod::BradleyTerry,
            labels: Labels::Human,
            noise: 0.5,
            rating_noise: 0.5,
            verbosity_bias: 0.5,
            mixture_sharpness: 2.0,
            test_fraction: 0.2,
            temperature: 10.0,
            gate_hidden: 64,
            steps: 1000,
            lr: 1e-3,
            encoder: Encoder::Minilm,
        }
    }
}

impl Params for ArmormParams {
    fn unused(&self) -> Vec<&'static str> {
        let mut unused = Vec::new();
        if self.method == ArmormMethod::BradleyTerry {
            unused.extend(["temperature", "gate_hidden", "steps", "lr"]);
        }
        if self.labels == Labels::Human {
            unused.extend(["noise", "rating_noise", "verbosity_bias", "mixture_sharpness"]);
        }
        unused
    }
}

/// One answer: its question, features and (where rated) objective ratings.
struct Answer {
    question: usize,
    features: Vec<f32>,
    /// log(1 + words), standardised.
    verbosity: f64,
    ratings: Option<[f64; K]>,
    /// The hidden truth (synthetic only): objective scores and utility.
    hidden: Option<([f64; K], f64)>,
}

/// A preference between two answers (indices into `answers`), `a` preferred with `target`.
struct Pair {
    question: usize,
    a: usize,
    b: usize,
    target: f32,
}

struct Prepared {
    /// The encoder the features came from (hashed when MiniLM was asked for and missing).
    encoder: Encoder,
    answers: Vec<Answer>,
    /// Standardised prompt embeddings, one per question.
    prompts: Vec<Vec<f32>>,
    questions: Vec<String>,
    /// Hidden mixture per question (synthetic only).
    mixtures: Option<Vec<Vec<f64>>>,
    /// Which questions are in which split.
    train: Vec<usize>,
    validation: Vec<usize>,
    test: Vec<usize>,
    pairs: Vec<Pair>,
}

fn prepare(ctx: &RunContext, p: &ArmormParams) -> Result<Prepared, StudyError> {
    let questions = finegrained_qa()?;
    let vectors: TextVectors = embed(ctx, super::Corpus::FinegrainedQa.name(), &finegrained_texts(&questions), p.encoder)?;
    let encoder = vectors.encoder;
    let seed = ctx.seed();
    let mut order: Vec<usize> = (0..questions.len()).collect();
    order.shuffle(&mut benchtop_data::rng(seed, 100));
    let n_test = ((questions.len() as f64) * p.test_fraction).round() as usize;
    let n_val = (questions.len() - n_test) / 5;
    let (test, rest) = order.split_at(n_test);
    let (validation, train) = rest.split_at(n_val);
    let fitted: Vec<usize> = train.iter().chain(validation).copied().collect();

    let raw_prompts: Vec<Vec<f32>> = questions.iter().map(|q| vectors.get(&q.question).map(<[f32]>::to_vec)).collect::<Result<_, _>>()?;
    let prompt_rows: Vec<f32> = fitted.iter().flat_map(|&q| raw_prompts[q].iter().copied()).collect();
    let prompt_standard = Standardiser::fit(&prompt_rows, DIM);
    let prompts: Vec<Vec<f32>> = raw_prompts.iter().map(|x| prompt_standard.apply(x)).collect();

    let mut raw = Vec::new();
    for q in &questions {
        let x = vectors.get(&q.question)?;
        for a in &q.answers {
            raw.push(response_features(x, vectors.get(a)?));
        }
    }
    let dim = raw[0].len();
    let raw_ref = &raw;
    let fitted_rows: Vec<f32> = fitted.iter().flat_map(|&q| (0..4).flat_map(move |j| raw_ref[q * 4 + j].clone())).collect();
    let standard = Standardiser::fit(&fitted_rows, dim);
    let log_words: Vec<f64> = questions.iter().flat_map(|q| (0..4).map(|j| (1.0 + q.verbosity(j) as f64).ln())).collect();
    let (mean_words, spread_words) = {
        let words = &log_words;
        let v: Vec<f64> = fitted.iter().flat_map(|&q| (0..4).map(move |j| words[q * 4 + j])).collect();
        (v.iter().sum::<f64>() / v.len().max(1) as f64, spread(&v))
    };

    let truth =
        (p.labels == Labels::Synthetic).then(|| HiddenObjectives::new(K, DIM, p.mixture_sharpness, &mut benchtop_data::rng(seed, 101)));
    let mut answers = Vec::with_capacity(raw.len());
    for (i, row) in raw.iter().enumerate() {
        let (question, j) = (i / 4, i % 4);
        let features = standard.apply(row);
        let s = questions[question].scores;
        answers.push(Answer {
            question,
            verbosity: (log_words[i] - mean_words) / spread_words,
            ratings: (truth.is_none() && j == 0).then_some([s.relevance, s.factuality, s.completeness]),
            hidden: None,
            features,
        });
    }
    let mut mixtures = None;
    let mut pairs = Vec::new();
    if let Some(truth) = &truth {
        // Hidden objective scores on the response's own (standardised) embedding, each scaled
        // to unit spread; ratings add a length bias and noise; utilities mix the true scores.
        let scores: Vec<Vec<f64>> = answers.iter().map(|a| truth.scores(&a.features[..DIM])).collect();
        let spreads: Vec<f64> = (0..K).map(|k| spread(&scores.iter().map(|s| s[k]).collect::<Vec<_>>())).collect();
        let mix: Vec<Vec<f64>> = prompts.iter().map(|x| truth.mixture(x)).collect();
        let mut rng = benchtop_data::rng(seed, 102);
        for (a, s) in answers.iter_mut().zip(&scores) {
            let mut true_scores = [0.0; K];
            let mut ratings = [0.0; K];
            for k in 0..K {
                true_scores[k] = s[k] / spreads[k];
                let noise: f64 = StandardNormal.sample(&mut rng);
                ratings[k] = true_scores[k] + p.verbosity_bias * a.verbosity + p.rating_noise * noise;
            }
            let utility = mix[a.question].iter().zip(&true_scores).map(|(g, s)| g * s).sum();
            a.hidden = Some((true_scores, utility));
            a.ratings = Some(ratings);
        }
        // Noise is measured against what a label depends on: the spread of the utility
        // differences between two answers to the same question.
        let u = |i: usize| answers[i].hidden.map_or(0.0, |h| h.1);
        let differences: Vec<f64> = (0..questions.len())
            .flat_map(|q| benchtop_data::preference::QA_PAIRS.iter().map(move |&(a, b)| (q, a, b)))
            .map(|(q, a, b)| u(q * 4 + a) - u(q * 4 + b))
            .collect();
        let scale = spread(&differences);
        for q in 0..questions.len() {
            for &(a, b) in &benchtop_data::preference::QA_PAIRS {
                let (ia, ib) = (q * 4 + a, q * 4 + b);
                let (ua, ub) = (answers[ia].hidden.map_or(0.0, |h| h.1), answers[ib].hidden.map_or(0.0, |h| h.1));
                let target = draw_label(ua, ub, p.noise, scale, &mut rng) as u8 as f32;
                pairs.push(Pair { question: q, a: ia, b: ib, target });
            }
        }
        mixtures = Some(mix);
    } else {
        for (q, question) in questions.iter().enumerate() {
            for &(a, b, which) in &question.preferences {
                let target = match which {
                    Preferred::First => 1.0,
                    Preferred::Second => 0.0,
                    Preferred::Tie => continue,
                };
                pairs.push(Pair { question: q, a: q * 4 + a, b: q * 4 + b, target });
            }
        }
    }
    Ok(Prepared {
        encoder,
        answers,
        prompts,
        questions: questions.into_iter().map(|q| q.question).collect(),
        mixtures,
        train: train.to_vec(),
        validation: validation.to_vec(),
        test: test.to_vec(),
        pairs,
    })
}

/// A linear predictor: weights and bias.
pub type Affine = (Vec<f64>, f64);

/// Ridge regressions of several targets on one design: (w, b) minimising
/// |Xw + b - y|^2 + alpha |w|^2 per target, by one Cholesky factorisation per penalty, in
/// the primal (d x d) or, with fewer rows than features, the dual (n x n) form.
pub struct Ridge {
    x_mean: Vec<f64>,
    y_mean: Vec<f64>,
    xm: DMatrix<f64>,
    ym: DMatrix<f64>,
}

impl Ridge {
    /// `x`: rows of features; `y`: one row of targets per row of `x`.
    pub fn new(x: &[Vec<f32>], y: &[Vec<f64>]) -> Ridge {
        let (n, d, t) = (x.len(), x.first().map_or(0, Vec::len), y.first().map_or(0, Vec::len));
        let mut x_mean = vec![0.0; d];
        let mut y_mean = vec![0.0; t];
        for (row, targets) in x.iter().zip(y) {
            x_mean.iter_mut().zip(row).for_each(|(m, v)| *m += *v as f64 / n as f64);
            y_mean.iter_mut().zip(targets).for_each(|(m, v)| *m += v / n as f64);
        }
        let xm = DMatrix::from_fn(n, d, |i, j| x[i][j] as f64 - x_mean[j]);
        let ym = DMatrix::from_fn(n, t, |i, k| y[i][k] - y_mean[k]);
        Ridge { x_mean, y_mean, xm, ym }
    }

    /// (w, b) of every target at penalty `alpha` (> 0).
    pub fn solve(&self, alpha: f64) -> Result<Vec<Affine>, StudyError> {
        let (n, d) = self.xm.shape();
        let w = if n < d {
            // w = X' (X X' + alpha I)^-1 y
            let gram = &self.xm * self.xm.transpose() + DMatrix::identity(n, n) * alpha;
            self.xm.transpose() * spd_solve(gram, &self.ym)?
        } else {
            let gram = self.xm.transpose() * &self.xm + DMatrix::identity(d, d) * alpha;
            let rhs = self.xm.transpose() * &self.ym;
            spd_solve(gram, &rhs)?
        };
        Ok((0..self.ym.ncols())
            .map(|k| {
                let col: Vec<f64> = w.column(k).iter().copied().collect();
                let b = self.y_mean[k] - col.iter().zip(&self.x_mean).map(|(w, m)| w * m).sum::<f64>();
                (col, b)
            })
            .collect())
    }
}

/// Solve `a x = b` for a symmetric positive-definite `a` by Cholesky; when rounding leaves
/// `a` not numerically positive definite, by SVD least squares (the minimum-norm solution)
/// instead. Never zeros in place of a solution: non-finite input is an error.
fn spd_solve(a: DMatrix<f64>, b: &DMatrix<f64>) -> Result<DMatrix<f64>, StudyError> {
    if let Some(c) = a.clone().cholesky() {
        return Ok(c.solve(b));
    }
    if !a.iter().chain(b.iter()).all(|v| v.is_finite()) {
        return Err(StudyError::Failed("the ridge regression's design or targets are not finite".into()));
    }
    a.svd(true, true).solve(b, 1e-12).map_err(|e| StudyError::Failed(format!("the ridge regression could not be solved: {e}")))
}

/// One ridge regression (see [`Ridge`]).
pub fn ridge(x: &[Vec<f32>], y: &[f64], alpha: f64) -> Result<(Vec<f64>, f64), StudyError> {
    let mut solved = Ridge::new(x, &y.iter().map(|v| vec![*v]).collect::<Vec<_>>()).solve(alpha)?;
    Ok(solved.remove(0))
}

fn predict(w: &(Vec<f64>, f64), x: &[f32]) -> f64 {
    w.0.iter().zip(x).map(|(w, x)| w * *x as f64).sum::<f64>() + w.1
}

/// The ridge penalties tried for each objective.
const ALPHAS: [f64; 6] = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0];
/// Verbosity decorrelation's target: Spearman(r - lambda v, v) at most this.
pub const DECORRELATION_TARGET: f64 = 0.03;

/// The smallest lambda >= 0 with Spearman(r - lambda v, v) <= target, signed (bisection; the
/// correlation falls as lambda grows). 0 when r is already at or below the target.
pub fn decorrelate(r: &[f64], v: &[f64], target: f64) -> f64 {
    let corr = |l: f64| spearman(&r.iter().zip(v).map(|(r, v)| r - l * v).collect::<Vec<_>>(), v);
    if corr(0.0) <= target {
        return 0.0;
    }
    let mut hi = 1.0;
    while corr(hi) > target && hi < 1e6 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if corr(mid) > target { lo = mid } else { hi = mid }
    }
    hi
}

/// The gate: an MLP on the prompt embedding, softmax(z / T) over the objectives, times a
/// learnable scale beta.
#[derive(Module, Debug)]
pub struct Gate {
    layers: Vec<Linear>,
    beta: Param<Tensor<1>>,
}

impl Gate {
    pub fn new(hidden: usize, experts: usize, rng: &mut benchtop_data::Rng, device: &Device) -> Gate {
        Gate {
            layers: vec![linear(rng, DIM, hidden, device), linear(rng, hidden, hidden, device), linear(rng, hidden, experts, device)],
            beta: Param::from_tensor(Tensor::ones([1], device)),
        }
    }

    /// Mixture weights `[n, experts]` of `[n, DIM]` prompt rows.
    pub fn weights(&self, x: Tensor<2>, temperature: f64) -> Tensor<2> {
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i + 1 < self.layers.len() {
                h = relu(h);
            }
        }
        softmax(h.div_scalar(temperature), 1)
    }

    /// beta * sum_k g_k r_k for `[n, experts]` expert rewards.
    pub fn score(&self, x: Tensor<2>, objectives: Tensor<2>, temperature: f64) -> Tensor<1> {
        let n = objectives.dims()[0];
        (self.weights(x, temperature) * objectives).sum_dim(1).reshape([n]) * self.beta.val()
    }
}

/// What a run measures on its test questions.
struct Outcome {
    accuracy: f64,
    /// Spearman of the learned reward with the hidden utility over test answers (synthetic).
    utility_correlation: Option<f64>,
    /// Per test question, the gate's weight per expert (armorm).
    gates: Option<Vec<Vec<f64>>>,
}

/// Folds of the training questions for cross-fitting `armorm_bt`'s preference expert.
const EXPERT_FOLDS: usize = 3;

/// The plain model as an expert for the gate, cross-fitted: each training question's answers
/// get rewards from a model that did not see that question's pairs (trained on the other
/// folds, with the penalty the full cross-validation chose), test answers from the model
/// trained on all training questions. Rewards the expert fitted itself would look better to
/// the gate than they are on new questions.
fn cross_fitted_bradley_terry(ctx: &RunContext, d: &Prepared, device: &Device) -> Result<(Outcome, Vec<f64>), StudyError> {
    let (outcome, mut rewards, l2) = bradley_terry_fit(ctx, d, device, None)?;
    let fitted: Vec<usize> = d.train.iter().chain(&d.validation).copied().collect();
    for fold in 0..EXPERT_FOLDS {
        let held: Vec<usize> = fitted.iter().enumerate().filter(|(i, _)| i % EXPERT_FOLDS == fold).map(|(_, q)| *q).collect();
        let rest: Vec<usize> = fitted.iter().enumerate().filter(|(i, _)| i % EXPERT_FOLDS != fold).map(|(_, q)| *q).collect();
        let (_, fold_rewards, _) = bradley_terry_fit(ctx, d, device, Some((&rest, l2)))?;
        for &q in &held {
            for j in 0..4 {
                rewards[q * 4 + j] = fold_rewards[q * 4 + j];
            }
        }
    }
    Ok((outcome, rewards))
}

fn bradley_terry_run(ctx: &RunContext, d: &Prepared, device: &Device) -> Result<(Outcome, Vec<f64>), StudyError> {
    let (outcome, rewards, _) = bradley_terry_fit(ctx, d, device, None)?;
    Ok((outcome, rewards))
}

/// The plain model trained on the training questions' pairs (or on `only` questions with a
/// given penalty), its test outcome, every answer's reward and the penalty used.
fn bradley_terry_fit(
    ctx: &RunContext,
    d: &Prepared,
    device: &Device,
    only: Option<(&[usize], f64)>,
) -> Result<(Outcome, Vec<f64>, f64), StudyError> {
    let dim = d.answers[0].features.len();
    let split = |qs: &[usize]| {
        let keep: std::collections::HashSet<usize> = qs.iter().copied().collect();
        let mut c = Comparisons::new(dim);
        let mut groups = Vec::new();
        for pair in d.pairs.iter().filter(|p| keep.contains(&p.question)) {
            c.push(&d.answers[pair.a].features, &d.answers[pair.b].features, pair.target, 1.0);
            groups.push(text_hash(&d.questions[pair.question]));
        }
        (c, groups)
    };
    let fitted: Vec<usize> = match only {
        Some((qs, _)) => qs.to_vec(),
        None => d.train.iter().chain(&d.validation).copied().collect(),
    };
    let (train, groups) = split(&fitted);
    let (test, _) = split(&d.test);
    let options = BtOptions { steps: 300, lr: 0.01, l2: 1.0 };
    let cancelled = || ctx.is_cancelled();
    let l2 = match only {
        Some((_, l2)) => l2,
        None => {
            let (l2, _) = cross_validate_l2(&train, &groups, Head::Linear, &options, ctx.seed(), device, &cancelled)?;
            ctx.info(format!("Bradley-Terry on {} training pairs, L2 penalty {l2} by cross-validation", train.len()));
            l2
        }
    };
    let model = bradley_terry::train(
        &train,
        Head::Linear,
        &BtOptions { l2, ..options },
        &mut benchtop_data::rng(ctx.seed(), 103),
        device,
        &cancelled,
    )?;
    let p = bradley_terry::probabilities(&model, &test, device)?;
    let rows: Vec<f32> = d.answers.iter().flat_map(|a| a.features.iter().copied()).collect();
    let rewards: Vec<f64> = bradley_terry::rewards(&model, &rows, dim, device)?.into_iter().map(f64::from).collect();
    Ok((Outcome { accuracy: accuracy(&p, &test.target), utility_correlation: None, gates: None }, rewards, l2))
}

/// Stage 1's outcome: each answer's decorrelated, unit-spread objective rewards, with what
/// to log and summarise. It depends on neither the preferences nor the gate, so runs that
/// differ only there (noise levels, methods) share it through the run cache.
#[derive(Serialize, Deserialize)]
struct StageOne {
    rewards: Vec<Vec<f64>>,
    /// Per objective: the held-out correlation of its regression with the ratings.
    correlations: Vec<f64>,
    metrics: Vec<(String, f64)>,
    notes: Vec<String>,
}

fn stage_one(d: &Prepared) -> Result<StageOne, StudyError> {
    let mut notes = Vec::new();
    let mut metrics = Vec::new();
    let mut correlations = Vec::new();
    // Stage 1: a ridge regression per objective on the rated answers, alpha by validation.
    let rated = |qs: &[usize]| -> Vec<usize> {
        let keep: std::collections::HashSet<usize> = qs.iter().copied().collect();
        (0..d.answers.len()).filter(|&i| keep.contains(&d.answers[i].question) && d.answers[i].ratings.is_some()).collect()
    };
    let (train_rated, val_rated, test_rated) = (rated(&d.train), rated(&d.validation), rated(&d.test));
    let x = |idx: &[usize]| -> Vec<Vec<f32>> { idx.iter().map(|&i| d.answers[i].features.clone()).collect() };
    let y = |idx: &[usize], k: usize| -> Vec<f64> { idx.iter().map(|&i| d.answers[i].ratings.map_or(0.0, |r| r[k])).collect() };
    let fitted_rated: Vec<usize> = train_rated.iter().chain(&val_rated).copied().collect();
    let targets =
        |idx: &[usize]| -> Vec<Vec<f64>> { idx.iter().map(|&i| d.answers[i].ratings.map_or(vec![0.0; K], |r| r.to_vec())).collect() };
    let on_train = Ridge::new(&x(&train_rated), &targets(&train_rated));
    let on_fitted = Ridge::new(&x(&fitted_rated), &targets(&fitted_rated));
    // Validation error of every objective at every penalty: one factorisation per penalty.
    let errors: Vec<Vec<f64>> = ALPHAS
        .iter()
        .map(|&alpha| {
            let ws = on_train.solve(alpha)?;
            Ok((0..K)
                .map(|k| {
                    val_rated
                        .iter()
                        .map(|&i| (predict(&ws[k], &d.answers[i].features) - d.answers[i].ratings.map_or(0.0, |r| r[k])).powi(2))
                        .sum::<f64>()
                })
                .collect())
        })
        .collect::<Result<_, StudyError>>()?;
    let chosen: Vec<f64> =
        (0..K).map(|k| ALPHAS.iter().zip(&errors).min_by(|a, b| a.1[k].total_cmp(&b.1[k])).map_or(100.0, |(a, _)| *a)).collect();
    let mut solved: Vec<(f64, Vec<Affine>)> = Vec::new();
    let mut objective = Vec::with_capacity(K);
    for (k, name) in OBJECTIVES.iter().enumerate() {
        let alpha = chosen[k];
        if !solved.iter().any(|(a, _)| *a == alpha) {
            solved.push((alpha, on_fitted.solve(alpha)?));
        }
        let w = solved.iter().find(|(a, _)| *a == alpha).map(|(_, ws)| ws[k].clone()).unwrap_or_default();
        let held: Vec<f64> = test_rated.iter().map(|&i| predict(&w, &d.answers[i].features)).collect();
        let r = pearson(&held, &y(&test_rated, k));
        notes.push(format!(
            "{name}: ridge alpha {alpha} (validation), test correlation with the ratings {r:.3} on {} answers",
            test_rated.len()
        ));
        metrics.push((format!("objective_r_{name}"), r));
        correlations.push(r);
        objective.push(w);
    }
    // Verbosity decorrelation on every training answer (rated or not), then unit spread.
    let fitted_q: std::collections::HashSet<usize> = d.train.iter().chain(&d.validation).copied().collect();
    let fitted_answers: Vec<usize> = (0..d.answers.len()).filter(|&i| fitted_q.contains(&d.answers[i].question)).collect();
    let verbosity: Vec<f64> = fitted_answers.iter().map(|&i| d.answers[i].verbosity).collect();
    let mut rewards = vec![vec![0.0f64; K]; d.answers.len()];
    for (k, name) in OBJECTIVES.iter().enumerate() {
        let r: Vec<f64> = d.answers.iter().map(|a| predict(&objective[k], &a.features)).collect();
        let on_fitted: Vec<f64> = fitted_answers.iter().map(|&i| r[i]).collect();
        let lambda = decorrelate(&on_fitted, &verbosity, DECORRELATION_TARGET);
        let adjusted: Vec<f64> = r.iter().zip(&d.answers).map(|(r, a)| r - lambda * a.verbosity).collect();
        let scale = spread(&fitted_answers.iter().map(|&i| adjusted[i]).collect::<Vec<_>>());
        let before = spearman(&on_fitted, &verbosity);
        notes.push(format!("{name}: verbosity correlation {before:.3}, lambda {lambda:.3}"));
        metrics.push((format!("verbosity_lambda_{name}"), lambda));
        for (i, v) in adjusted.iter().enumerate() {
            rewards[i][k] = v / scale;
        }
    }
    Ok(StageOne { rewards, correlations, metrics, notes })
}

/// Bump when stage 1's computation changes, so cached results of the old one are not reused.
const STAGE_ONE_VERSION: u32 = 1;

fn cached_stage_one(ctx: &RunContext, p: &ArmormParams, d: &Prepared) -> Result<StageOne, StudyError> {
    let key = crate::ml::device::stage_key(ctx, "armorm", "stage_one", ctx.seed())
        .param("version", STAGE_ONE_VERSION)
        .param("labels", serde_json::to_value(p.labels).unwrap_or_default())
        .param("rating_noise", p.rating_noise)
        .param("verbosity_bias", p.verbosity_bias)
        .param("mixture_sharpness", p.mixture_sharpness)
        .param("test_fraction", p.test_fraction)
        .param("encoder", serde_json::to_value(d.encoder).unwrap_or_default());
    let bytes = ctx.cached(&key, || serde_json::to_vec(&stage_one(d)?).map_err(|e| StudyError::Failed(format!("stage 1: {e}"))))?;
    serde_json::from_slice(&bytes).map_err(|e| StudyError::Failed(format!("the cached stage 1: {e}")))
}

fn armorm_run(
    ctx: &RunContext,
    p: &ArmormParams,
    d: &Prepared,
    device: &Device,
    summary: &mut Summary,
) -> Result<(Outcome, Vec<f64>), StudyError> {
    let mut experts: Vec<&str> = OBJECTIVES.to_vec();
    let StageOne { mut rewards, correlations, metrics, notes } = cached_stage_one(ctx, p, d)?;
    notes.into_iter().for_each(|n| ctx.info(n));
    summary.extend(metrics);
    for (k, r) in correlations.iter().enumerate() {
        ctx.log_metric("objective_test_correlation", k as u64, *r);
    }
    let fitted_q: std::collections::HashSet<usize> = d.train.iter().chain(&d.validation).copied().collect();
    let fitted_answers: Vec<usize> = (0..d.answers.len()).filter(|&i| fitted_q.contains(&d.answers[i].question)).collect();
    if p.method == ArmormMethod::ArmormBt {
        let (plain, r) = cross_fitted_bradley_terry(ctx, d, device)?;
        ctx.info(format!("the Bradley-Terry expert alone: test accuracy {:.3}", plain.accuracy));
        let scale = spread(&fitted_answers.iter().map(|&i| r[i]).collect::<Vec<_>>());
        for (row, v) in rewards.iter_mut().zip(&r) {
            row.push(v / scale);
        }
        experts.push("preference");
    }
    let e = experts.len();

    // Stage 2: the gate on preferences, AdamW with a cosine schedule, full batch.
    let rewards_ref = &rewards;
    let gather = |qs: &[usize]| {
        let keep: std::collections::HashSet<usize> = qs.iter().copied().collect();
        let chosen: Vec<&Pair> = d.pairs.iter().filter(|p| keep.contains(&p.question)).collect();
        let n = chosen.len();
        let prompts: Vec<f32> = chosen.iter().flat_map(|p| d.prompts[p.question].iter().copied()).collect();
        let diff: Vec<f32> = chosen.iter().flat_map(|p| (0..e).map(move |k| (rewards_ref[p.a][k] - rewards_ref[p.b][k]) as f32)).collect();
        let target: Vec<f32> = chosen.iter().map(|p| p.target).collect();
        (n, prompts, diff, target)
    };
    let fitted: Vec<usize> = d.train.iter().chain(&d.validation).copied().collect();
    let (n, prompts, diff, target) = gather(&fitted);
    let (x, objectives, target_t) = (tensor(prompts, [n, DIM], device), tensor(diff, [n, e], device), tensor(target, [n], device));
    let weight = Tensor::<1>::ones([n], device);
    let mut gate = Gate::new(p.gate_hidden as usize, e, &mut benchtop_data::rng(ctx.seed(), 104), device);
    let mut optimizer: ModuleOptimizer = crate::ml::adam::adamw(0.01);
    for step in 0..p.steps {
        let lr = p.lr * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / p.steps as f64).cos());
        let margin = gate.score(x.clone(), objectives.clone(), p.temperature);
        let loss = bradley_terry::bt_loss(margin, Tensor::zeros([n], device), target_t.clone(), weight.clone());
        if step % 100 == 0 || step + 1 == p.steps {
            let value = host(loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
            ctx.log_metric("gate_loss", step as u64, value);
            // A diverged gate scores every pair NaN, which would read as a coin flip.
            if !value.is_finite() {
                return Err(StudyError::Failed(format!(
                    "the gate's training loss diverged at step {step} (lr {}, temperature {})",
                    p.lr, p.temperature
                )));
            }
            ctx.check_cancelled()?;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &gate);
        gate = optimizer.step(lr, gate, grads);
        ctx.progress(step as u64 + 1, p.steps as u64);
    }
    let gate = gate.valid();
    let plain = device.clone().inner();
    let all_prompts: Vec<f32> = d.prompts.iter().flatten().copied().collect();
    let g = host(gate.weights(tensor(all_prompts, [d.prompts.len(), DIM], &plain), p.temperature))?;
    let beta = host(gate.beta.val())?.first().copied().unwrap_or(1.0) as f64;
    summary.insert("beta".into(), beta);
    let gates: Vec<Vec<f64>> = g.chunks_exact(e).map(|c| c.iter().map(|v| *v as f64).collect()).collect();
    let score = |i: usize| beta * (0..e).map(|k| gates[d.answers[i].question][k] * rewards[i][k]).sum::<f64>();
    let scores: Vec<f64> = (0..d.answers.len()).map(score).collect();
    let test_q: std::collections::HashSet<usize> = d.test.iter().copied().collect();
    let test_pairs: Vec<&Pair> = d.pairs.iter().filter(|p| test_q.contains(&p.question)).collect();
    let probs: Vec<f64> = test_pairs.iter().map(|p| sigmoid(scores[p.a] - scores[p.b])).collect();
    let targets: Vec<f32> = test_pairs.iter().map(|p| p.target).collect();
    write_gates(ctx, d, &experts, &gates, &rewards, &scores);
    for (k, name) in experts.iter().enumerate() {
        let mean = d.test.iter().map(|&q| gates[q][k]).sum::<f64>() / d.test.len().max(1) as f64;
        summary.insert(format!("gate_{name}"), mean);
        ctx.log_metric("gate_weight", k as u64, mean);
    }
    Ok((
        Outcome {
            accuracy: accuracy(&probs, &targets),
            utility_correlation: None,
            gates: Some(d.test.iter().map(|&q| gates[q].clone()).collect()),
        },
        scores,
    ))
}

/// Per test question: the gate's weights (and the hidden mixture), and each answer's
/// expert rewards and score: why a response scored as it did.
fn write_gates(ctx: &RunContext, d: &Prepared, experts: &[&str], gates: &[Vec<f64>], rewards: &[Vec<f64>], scores: &[f64]) {
    let dir = ctx.artifacts_dir();
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut header = vec!["question".to_owned(), "answer".to_owned()];
    header.extend(experts.iter().map(|e| format!("gate_{e}")));
    header.extend(OBJECTIVES.iter().map(|o| format!("hidden_{o}")));
    header.extend(experts.iter().map(|e| format!("reward_{e}")));
    header.push("score".into());
    let mut out = header.join(",") + "\n";
    for &q in &d.test {
        let hidden = d.mixtures.as_ref().map(|m| m[q].clone()).unwrap_or_default();
        for j in 0..4 {
            let i = q * 4 + j;
            let mut row = vec![format!("\"{}\"", d.questions[q].replace('"', "\"\"")), (j + 1).to_string()];
            row.extend(gates[q].iter().map(|g| format!("{g:.4}")));
            row.extend((0..K).map(|k| hidden.get(k).map_or(String::new(), |v| format!("{v:.4}"))));
            row.extend(rewards[i].iter().map(|r| format!("{r:.4}")));
            row.push(format!("{:.4}", scores[i]));
            out.push_str(&(row.join(",") + "\n"));
        }
    }
    let path = dir.join("gates.csv");
    if std::fs::write(&path, out).is_ok() {
        ctx.record_artifact("gates.csv", path);
    }
}

impl Study for Armorm {
    type Params = ArmormParams;

    fn name(&self) -> &'static str {
        "armorm"
    }

    fn title(&self) -> &'static str {
        "Multi-objective reward model with a gating mixture (ArmoRM; Wang et al., 2024)"
    }

    fn description(&self) -> &'static str {
        "Ridge regressions predict relevance, factuality and completeness of an answer from its \
         MiniLM embedding, each decorrelated from verbosity; a gate on the question mixes them into \
         one reward trained on FineGrained QA preferences. Compared with one Bradley-Terry reward, on \
         the real pairs and on a controlled benchmark with a hidden prompt-dependent mixture. \
         Paper's finding: the gated mixture beats the plain model and its gate is interpretable."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        vec![
            ChartSpec {
                better: Some(Better::Higher),
                ..ChartSpec::new(ChartKind::Bars, "test_accuracy").with_title("Test accuracy on held-out questions")
            },
            ChartSpec::new(ChartKind::MetricVsParam, "test_accuracy")
                .with_x("noise")
                .paired_against("method", "bradley_terry", &["noise"])
                .with_title("Test accuracy minus the plain Bradley-Terry model's, same seed, against the label noise (controlled)"),
            ChartSpec::new(ChartKind::Curves, "gate_weight")
                .with_title("Mean gate weight per expert: 0 relevance, 1 factuality, 2 completeness, 3 preference"),
            ChartSpec::new(ChartKind::Bars, "gate_recovery").with_title("Gate recovery: correlation with the hidden mixture (controlled)"),
            ChartSpec::new(ChartKind::Bars, "utility_correlation").with_title("Spearman correlation with the hidden utility (controlled)"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &ArmormParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let d = prepare(ctx, p)?;
        ctx.info(format!(
            "{} questions: {} train, {} validation, {} test; {} preference pairs",
            d.questions.len(),
            d.train.len(),
            d.validation.len(),
            d.test.len(),
            d.pairs.len()
        ));
        let mut summary = Summary::new();
        let (mut outcome, scores) = match p.method {
            ArmormMethod::BradleyTerry => bradley_terry_run(ctx, &d, &device)?,
            ArmormMethod::Armorm | ArmormMethod::ArmormBt => armorm_run(ctx, p, &d, &device, &mut summary)?,
        };
        let test_q: std::collections::HashSet<usize> = d.test.iter().copied().collect();
        let test_answers: Vec<usize> = (0..d.answers.len()).filter(|&i| test_q.contains(&d.answers[i].question)).collect();
        if d.mixtures.is_some() {
            // The ceiling: how often the hidden utility itself picks the drawn winner.
            let test_pairs: Vec<&Pair> = d.pairs.iter().filter(|p| test_q.contains(&p.question)).collect();
            let u = |i: usize| d.answers[i].hidden.map_or(0.0, |h| h.1);
            let right = test_pairs.iter().filter(|p| (u(p.a) > u(p.b)) == (p.target > 0.5)).count();
            summary.insert("truth_accuracy".into(), right as f64 / test_pairs.len().max(1) as f64);
            // How much the prompt-dependence matters: the true objectives under the average
            // mixture instead of each prompt's own (what a perfect gate could add over it).
            if let Some(mix) = &d.mixtures {
                let mean: Vec<f64> = (0..K).map(|k| mix.iter().map(|m| m[k]).sum::<f64>() / mix.len().max(1) as f64).collect();
                let fixed = |i: usize| d.answers[i].hidden.map_or(0.0, |h| h.0.iter().zip(&mean).map(|(s, g)| s * g).sum::<f64>());
                let right = test_pairs.iter().filter(|p| (fixed(p.a) > fixed(p.b)) == (p.target > 0.5)).count();
                summary.insert("fixed_mixture_accuracy".into(), right as f64 / test_pairs.len().max(1) as f64);
            }
            let learned: Vec<f64> = test_answers.iter().map(|&i| scores[i]).collect();
            let hidden: Vec<f64> = test_answers.iter().map(|&i| d.answers[i].hidden.map_or(0.0, |h| h.1)).collect();
            outcome.utility_correlation = Some(spearman(&learned, &hidden));
        }
        if let (Some(gates), Some(mix)) = (&outcome.gates, &d.mixtures) {
            let recovery = gate_recovery(gates, &d.test.iter().map(|&q| mix[q].clone()).collect::<Vec<_>>());
            summary.insert("gate_recovery".into(), recovery);
            ctx.info(format!("gate recovery (mean correlation with the hidden mixture over objectives): {recovery:.3}"));
        }
        ctx.info(format!("test accuracy {:.3}", outcome.accuracy));
        summary.insert("test_accuracy".into(), outcome.accuracy);
        if let Some(c) = outcome.utility_correlation {
            summary.insert("utility_correlation".into(), c);
        }
        summary.insert("test_pairs".into(), d.pairs.iter().filter(|p| test_q.contains(&p.question)).count() as f64);
        Ok(summary)
    }
}

/// How well learned gate weights follow the hidden mixture: per objective, the Pearson
/// correlation over prompts; their mean (an extra expert's weight is not compared).
pub fn gate_recovery(learned: &[Vec<f64>], hidden: &[Vec<f64>]) -> f64 {
    let per: Vec<f64> = (0..K)
        .map(|k| {
            pearson(
                &learned.iter().map(|g| g.get(k).copied().unwrap_or(0.0)).collect::<Vec<_>>(),
                &hidden.iter().map(|h| h.get(k).copied().unwrap_or(0.0)).collect::<Vec<_>>(),
            )
        })
        .collect();
    per.iter().sum::<f64>() / K as f64
}

#[cfg(test)]
mod tests;
