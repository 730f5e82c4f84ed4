//! Aligning a language policy with rewards: a tiny transformer policy on the quiz
//! testbed of `benchtop_data::quiz`, its supervised fine-tuning (cached per seed), and two
//! studies — online iterative RLHF (DPO against a learned proxy reward) and directional
//! preference alignment (DPA).

pub mod dpa;
pub mod online_rlhf;
pub mod policy;
#[cfg(test)]
mod tests;

use benchtop_core::{RunContext, StudyError};
use benchtop_data::quiz::{self, Question, Vocab};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::Rng as _;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::nets::host;
use policy::{Policy, TokenBatch, Weighting};

/// The words a DPA prefix is made of: `<h0>`..`<h10>` for the helpfulness weight and
/// `<v-10>`..`<v10>` for the verbosity weight, in tenths.
pub fn weight_tokens() -> Vec<String> {
    let mut out: Vec<String> = (0..=10).map(|i| format!("<h{i}>")).collect();
    out.extend((-10..=10).map(|i| format!("<v{i}>")));
    out
}

/// The prefix that tells a policy the direction v = (cos t, sin t): both weights rounded to
/// tenths.
pub fn direction_prefix(angle_deg: f64) -> [String; 2] {
    let t = angle_deg.to_radians();
    let tenths = |x: f64| (x * 10.0).round().clamp(-10.0, 10.0) as i64;
    [format!("<h{}>", tenths(t.cos()).max(0)), format!("<v{}>", tenths(t.sin()))]
}

/// The quiz as a policy sees it: the vocabulary, the questions and a seeded split of them
/// into prompts the studies train on and held-out prompts they are evaluated on.
pub struct Testbed {
    pub vocab: Vocab,
    pub questions: Vec<Question>,
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    bos: u32,
    sep: u32,
    pub eos: u32,
}

impl Testbed {
    pub fn new(seed: u64, test_fraction: f64) -> Result<Testbed, StudyError> {
        let extra = weight_tokens();
        let vocab = Vocab::new(&extra.iter().map(String::as_str).collect::<Vec<_>>());
        let questions = quiz::all_questions();
        let mut order: Vec<usize> = (0..questions.len()).collect();
        order.shuffle(&mut benchtop_data::rng(seed, 120));
        let held = ((questions.len() as f64 * test_fraction).round() as usize).clamp(1, questions.len() - 1);
        let test = order[..held].to_vec();
        let train = order[held..].to_vec();
        let id = |w: &str| vocab.id(w).ok_or_else(|| StudyError::Failed(format!("the vocabulary lacks {w}")));
        let (bos, sep, eos) = (id("<bos>")?, id("<sep>")?, id("<eos>")?);
        Ok(Testbed { vocab, questions, train, test, bos, sep, eos })
    }

    /// `<bos> prefix question <sep>`.
    pub fn prompt(&self, question: &str, prefix: &[String]) -> Result<Vec<u32>, StudyError> {
        let mut ids = vec![self.bos];
        for w in prefix {
            ids.push(self.vocab.id(w).ok_or_else(|| StudyError::Failed(format!("the vocabulary lacks {w}")))?);
        }
        for w in quiz::words(question) {
            let id = self.vocab.id(w).ok_or_else(|| {
                StudyError::InvalidParams(format!(
                    "the policy does not know the word {w:?} in {question:?}; it knows the quiz's words (sums and differences up to {}, legs and colours of: {})",
                    quiz::MAX_OPERAND,
                    quiz::ANIMALS.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
                ))
            })?;
            ids.push(id);
        }
        ids.push(self.sep);
        Ok(ids)
    }

    /// A response's ids followed by `<eos>`.
    pub fn response(&self, text: &str) -> Result<Vec<u32>, StudyError> {
        let mut ids = self.vocab.encode(text).ok_or_else(|| StudyError::Failed(format!("a response with an unknown word: {text:?}")))?;
        ids.push(self.eos);
        Ok(ids)
    }

    pub fn text(&self, response: &[u32]) -> String {
        self.vocab.decode(response)
    }
}

/// The settings both alignment studies share: the quiz testbed's split, the SFT policy they
/// start from, and how they sample and evaluate. Flattened into each study's parameters, so
/// experiment files keep the plain keys (`sft_epochs = 30`, not a nested table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TestbedParams {
    /// Passes over the SFT corpus before alignment (the SFT policy is cached per seed).
    #[schemars(range(min = 1, max = 100))]
    pub sft_epochs: u32,
    /// The share of right answers among the SFT responses.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub correct_share: f64,
    /// The share of questions held out for evaluation.
    #[schemars(range(min = 0.05, max = 0.5))]
    pub test_fraction: f64,
    /// Sampling temperature, for training and evaluation alike.
    #[schemars(range(min = 0.1, max = 2.0))]
    pub temperature: f64,
    /// Responses sampled per held-out prompt to evaluate.
    #[schemars(range(min = 1, max = 16))]
    pub eval_samples: u32,
}

impl Default for TestbedParams {
    fn default() -> Self {
        TestbedParams { sft_epochs: 30, correct_share: 0.6, test_fraction: 0.25, temperature: 1.0, eval_samples: 4 }
    }
}

impl TestbedParams {
    /// How this study's SFT policy is trained; `conditioned` for a policy that reads a
    /// direction prefix.
    pub fn sft_options(&self, conditioned: bool) -> SftOptions {
        SftOptions { epochs: self.sft_epochs, examples_per_question: 6, correct_share: self.correct_share, conditioned }
    }
}

/// How the SFT policy is trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SftOptions {
    pub epochs: u32,
    /// SFT responses per question (every question: the policy's "pre-training" knowledge).
    pub examples_per_question: u32,
    /// The share of SFT responses that give the right answer.
    pub correct_share: f64,
    /// Put a random direction prefix before each question (DPA's policy), so the prefix
    /// tokens are known, yet carry no meaning until DPA gives them one.
    pub conditioned: bool,
}

/// Minibatch and learning rate shared by every fine-tuning here.
pub const BATCH: usize = 32;
pub const SFT_LR: f64 = 2e-3;

/// The SFT policy of this seed: the testbed's broad mix of responses to every question,
/// cached across runs (both methods of a study start from the same one).
pub fn sft_policy(ctx: &RunContext, bed: &Testbed, options: &SftOptions, device: &Device) -> Result<Policy, StudyError> {
    let key = crate::ml::device::stage_key(ctx, "alignment", "sft", ctx.seed())
        .param("version", 1)
        .param("epochs", options.epochs)
        .param("examples_per_question", options.examples_per_question)
        .param("correct_share", options.correct_share)
        .param("conditioned", options.conditioned);
    let fresh = || Policy::new(bed.vocab.len(), &mut benchtop_data::rng(ctx.seed(), 121), device);
    let bytes = ctx.cached(&key, || {
        let mut rng = benchtop_data::rng(ctx.seed(), 122);
        let mut examples = Vec::new();
        for q in &bed.questions {
            for _ in 0..options.examples_per_question {
                let (text, _, _) = quiz::sft_example(q, options.correct_share, &mut rng);
                let prefix = if options.conditioned { direction_prefix(rng.random_range(-90.0..=90.0)).to_vec() } else { Vec::new() };
                examples.push((bed.prompt(&q.text, &prefix)?, bed.response(&text)?));
            }
        }
        ctx.info(format!("supervised fine-tuning on {} responses to {} questions", examples.len(), bed.questions.len()));
        let steps = options.epochs as usize * examples.len().div_ceil(BATCH);
        let trained = fine_tune(ctx, fresh(), &examples, steps, SFT_LR, &mut rng, Weighting::PerToken, device, "sft_loss")?;
        Ok(crate::ml::nets::float_bytes(&trained.values()?))
    })?;
    fresh().with_values(&crate::ml::nets::floats(&bytes)?, device)
}

/// `steps` minibatch AdamW steps of next-token cross-entropy on (prompt, response) pairs in
/// seeded shuffled order; logs the mean loss of every 20 steps as `metric`.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    ctx: &RunContext,
    mut model: Policy,
    examples: &[(Vec<u32>, Vec<u32>)],
    steps: usize,
    lr: f64,
    rng: &mut benchtop_data::Rng,
    weighting: Weighting,
    device: &Device,
    metric: &str,
) -> Result<Policy, StudyError> {
    if examples.is_empty() {
        return Ok(model);
    }
    let mut optimizer: ModuleOptimizer = crate::ml::adam::adamw(0.0);
    let mut order: Vec<usize> = Vec::new();
    let (mut total, mut count) = (0.0, 0);
    for step in 0..steps {
        if order.len() < BATCH.min(examples.len()) {
            let mut more: Vec<usize> = (0..examples.len()).collect();
            more.shuffle(rng);
            order.extend(more);
        }
        let idx: Vec<usize> = order.drain(..BATCH.min(examples.len())).collect();
        let pairs: Vec<(&[u32], &[u32])> = idx.iter().map(|&i| (examples[i].0.as_slice(), examples[i].1.as_slice())).collect();
        let loss = model.sft_loss(&TokenBatch::new(&pairs), weighting, device);
        total += host(loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
        count += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, grads);
        if count == 20 || step + 1 == steps {
            let mean = total / count as f64;
            if !mean.is_finite() {
                return Err(StudyError::Failed(format!("fine-tuning diverged at step {step}")));
            }
            ctx.log_metric(metric, step as u64 + 1, mean);
            (total, count) = (0.0, 0);
            ctx.check_cancelled()?;
        }
    }
    Ok(model)
}

/// Log-probabilities of (prompt, response) pairs under `model`, without a graph.
pub fn logprobs(model: &Policy, pairs: &[(&[u32], &[u32])], device: &Device) -> Result<Vec<f32>, StudyError> {
    let inference = model.valid();
    let plain = device.clone().inner();
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(256) {
        out.extend(host(inference.sequence_logprob(&TokenBatch::new(chunk), &plain))?);
    }
    Ok(out)
}

/// Sampled responses (ids without `<eos>`, and their text) to `prompts`.
pub fn sample_texts(
    model: &Policy,
    bed: &Testbed,
    prompts: &[Vec<u32>],
    temperature: f64,
    rng: &mut benchtop_data::Rng,
) -> Result<Vec<(Vec<u32>, String)>, StudyError> {
    let ids = model.sample(prompts, bed.eos, temperature, rng)?;
    Ok(ids
        .into_iter()
        .map(|r| {
            let text = bed.text(&r);
            (r, text)
        })
        .collect())
}

/// Mean of `values` (0 for none).
pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut total, mut n) = (0.0, 0usize);
    for v in values {
        total += v;
        n += 1;
    }
    if n == 0 { 0.0 } else { total / n as f64 }
}

/// Write `bytes` as the run's artifact `name` (creating the run's artifact folder).
pub fn write_artifact(ctx: &RunContext, name: &str, bytes: &[u8]) -> Result<(), StudyError> {
    let dir = ctx.artifacts_dir();
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, bytes))
        .map_err(|e| StudyError::Failed(format!("{}: {e}", path.display())))?;
    ctx.record_artifact(name, path);
    Ok(())
}

/// Quote a CSV field.
pub fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
