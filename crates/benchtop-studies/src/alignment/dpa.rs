//! Directional preference alignment (Wang et al., 2024, "Arithmetic control of LLMs for
//! diverse user preferences"): a user's preference is a unit vector v = (cos t, sin t) over
//! (helpfulness, verbosity); the policy reads v as a prefix and is trained by
//! preference-conditioned rejection-sampling fine-tuning — draw t, sample N responses, keep
//! the one with the largest v . r, fine-tune on it, repeat.
//!
//! The multi-objective reward r is the quiz's gold scorer itself (helpfulness 0 or 1,
//! verbosity in units of `verbosity_unit` words), not a model fitted to it: the study is
//! about steering, and a learned reward would mix its own errors into the front.

use std::path::Path;

use benchtop_core::{Better, ChartKind, ChartSpec, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::quiz;
use rand::Rng as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::policy::{Policy, Weighting};
use super::{Testbed, TestbedParams, csv_field, direction_prefix, fine_tune, mean, sample_texts, sft_policy, write_artifact};
use crate::ml::device::training_device;

pub struct Dpa;

/// The directions DPA trains on: from preferring brevity (-45°: v = (0.71, -0.71)) to
/// preferring length (60°: v = (0.5, 0.87)).
pub const MIN_ANGLE: f64 = -45.0;
pub const MAX_ANGLE: f64 = 60.0;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DpaMethod {
    /// Preference-conditioned rejection sampling: each prompt gets random directions t in
    /// [-45°, 60°] as its prefix and the response maximising v . r for them.
    #[default]
    Dpa,
    /// The same loop with one fixed scalar reward, helpfulness (t = 0), whatever the user
    /// wants: one policy, one point on the plane.
    ScalarRsf,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
// No `deny_unknown_fields`: serde cannot combine it with `flatten`; the registry refuses
// keys the schema does not list before serde sees them.
#[serde(default)]
pub struct DpaParams {
    pub method: DpaMethod,
    /// The direction the trained policy is asked for at evaluation: 0 is helpfulness only,
    /// positive angles add a wish for length, negative ones for brevity.
    #[schemars(range(min = -90.0, max = 90.0))]
    pub angle_deg: f64,
    /// Rounds of sampling, keeping the best response by v · r, and fine-tuning on them.
    #[schemars(range(min = 1, max = 10))]
    pub iterations: u32,
    /// Responses drawn per prompt and direction, of which the best by v . r is kept.
    #[schemars(range(min = 2, max = 16))]
    pub samples_per_prompt: u32,
    /// Directions drawn per training prompt each iteration.
    #[schemars(range(min = 1, max = 8))]
    pub directions_per_prompt: u32,
    /// Passes over the kept responses per iteration.
    #[schemars(range(min = 1, max = 20))]
    pub epochs_per_iteration: u32,
    /// AdamW's learning rate for the rejection-sampling fine-tuning.
    #[schemars(range(min = 0.00001, max = 0.1))]
    pub lr: f64,
    /// How the fine-tuning loss averages over the kept answers' tokens. `per_response` is
    /// beyond the paper: every kept answer counts the same, so short answers kept for brevity
    /// are not outweighed by long ones kept for length.
    pub loss_weighting: Weighting,
    /// Words per unit of the verbosity reward.
    #[schemars(range(min = 1.0, max = 100.0))]
    pub verbosity_unit: f64,
    /// The testbed, SFT and evaluation settings both alignment studies share.
    #[serde(flatten)]
    pub testbed: TestbedParams,
}

impl Default for DpaParams {
    fn default() -> Self {
        DpaParams {
            method: DpaMethod::Dpa,
            angle_deg: 0.0,
            iterations: 4,
            samples_per_prompt: 6,
            directions_per_prompt: 2,
            epochs_per_iteration: 2,
            lr: 1e-3,
            loss_weighting: Weighting::PerToken,
            verbosity_unit: 10.0,
            testbed: TestbedParams::default(),
        }
    }
}

impl Params for DpaParams {
    fn unused(&self) -> Vec<&'static str> {
        match self.method {
            DpaMethod::Dpa => vec![],
            DpaMethod::ScalarRsf => vec!["angle_deg", "directions_per_prompt"],
        }
    }
}

/// v . r for a response at direction `angle_deg`.
pub fn directional_reward(g: &quiz::Gold, angle_deg: f64, verbosity_unit: f64) -> f64 {
    let t = angle_deg.to_radians();
    t.cos() * g.helpfulness + t.sin() * g.verbosity / verbosity_unit
}

/// The policy after rejection-sampling fine-tuning, cached per seed and training settings
/// (every evaluation angle of a seed reads the same one).
fn trained_policy(ctx: &RunContext, bed: &Testbed, p: &DpaParams, device: &burn::prelude::Device) -> Result<Policy, StudyError> {
    let sft = sft_policy(ctx, bed, &p.testbed.sft_options(true), device)?;
    let key = crate::ml::device::stage_key(ctx, "dpa", "rsf", ctx.seed())
        .param("version", 1)
        .param("method", serde_json::to_value(p.method).unwrap_or_default())
        .param("iterations", p.iterations)
        .param("samples_per_prompt", p.samples_per_prompt)
        .param("directions_per_prompt", p.directions_per_prompt)
        .param("epochs_per_iteration", p.epochs_per_iteration)
        .param("lr", p.lr)
        .param("loss_weighting", serde_json::to_value(p.loss_weighting).unwrap_or_default())
        .param("verbosity_unit", p.verbosity_unit)
        .param("sft_epochs", p.testbed.sft_epochs)
        .param("correct_share", p.testbed.correct_share)
        .param("test_fraction", p.testbed.test_fraction)
        .param("temperature", p.testbed.temperature);
    let template = sft.clone();
    let bytes = ctx.cached(&key, || {
        let mut rng = benchtop_data::rng(ctx.seed(), 150);
        let mut policy = sft;
        let n = p.samples_per_prompt as usize;
        for it in 0..p.iterations {
            ctx.progress(it as u64, p.iterations as u64 + 1);
            // Directions per prompt: uniform over the allowed range, or helpfulness alone.
            let mut prompts = Vec::new();
            let mut meta = Vec::new();
            for &qi in &bed.train {
                for _ in 0..p.directions_per_prompt.max(1) {
                    let angle = match p.method {
                        DpaMethod::Dpa => rng.random_range(MIN_ANGLE..=MAX_ANGLE),
                        DpaMethod::ScalarRsf => 0.0,
                    };
                    let prompt = bed.prompt(&bed.questions[qi].text, &direction_prefix(angle))?;
                    for _ in 0..n {
                        prompts.push(prompt.clone());
                        meta.push((qi, angle));
                    }
                    if p.method == DpaMethod::ScalarRsf {
                        break;
                    }
                }
            }
            let samples = sample_texts(&policy, bed, &prompts, p.testbed.temperature, &mut rng)?;
            let mut kept = Vec::new();
            let (mut help, mut words) = (Vec::new(), Vec::new());
            for start in (0..samples.len()).step_by(n) {
                let (qi, angle) = meta[start];
                let q = &bed.questions[qi];
                let best = (start..start + n)
                    .max_by(|&a, &b| {
                        let r = |i: usize| directional_reward(&quiz::gold(q, &samples[i].1), angle, p.verbosity_unit);
                        r(a).total_cmp(&r(b)).then(b.cmp(&a)) // ties: the first drawn
                    })
                    .unwrap_or(start);
                let g = quiz::gold(q, &samples[best].1);
                help.push(g.helpfulness);
                words.push(g.verbosity);
                let mut response = samples[best].0.clone();
                response.push(bed.eos);
                kept.push((prompts[start].clone(), response));
            }
            ctx.log_metric("kept_helpfulness", it as u64 + 1, mean(help));
            ctx.log_metric("kept_verbosity", it as u64 + 1, mean(words));
            let steps = p.epochs_per_iteration as usize * kept.len().div_ceil(super::BATCH);
            policy = fine_tune(ctx, policy, &kept, steps, p.lr, &mut rng, p.loss_weighting, device, "rsf_loss")?;
            ctx.info(format!("iteration {}: fine-tuned on {} kept responses", it + 1, kept.len()));
        }
        Ok(crate::ml::nets::float_bytes(&policy.values()?))
    })?;
    template.with_values(&crate::ml::nets::floats(&bytes)?, device)
}

/// What the policy does at one direction on the held-out questions.
#[derive(Clone, Debug, Default)]
pub struct AtAngle {
    pub helpfulness: f64,
    pub verbosity: f64,
    pub format: f64,
    pub reward: f64,
    pub examples: Vec<(String, String)>,
}

fn evaluate(policy: &Policy, bed: &Testbed, p: &DpaParams, angle: f64, seed: u64) -> Result<AtAngle, StudyError> {
    let mut prompts = Vec::new();
    let mut questions = Vec::new();
    for &qi in &bed.test {
        let prompt = bed.prompt(&bed.questions[qi].text, &direction_prefix(angle))?;
        for _ in 0..p.testbed.eval_samples {
            prompts.push(prompt.clone());
            questions.push(&bed.questions[qi]);
        }
    }
    let samples = sample_texts(policy, bed, &prompts, p.testbed.temperature, &mut benchtop_data::rng(seed, 151))?;
    let golds: Vec<quiz::Gold> = samples.iter().zip(&questions).map(|((_, t), q)| quiz::gold(q, t)).collect();
    Ok(AtAngle {
        helpfulness: mean(golds.iter().map(|g| g.helpfulness)),
        verbosity: mean(golds.iter().map(|g| g.verbosity)),
        format: mean(golds.iter().map(|g| g.format)),
        reward: mean(golds.iter().map(|g| directional_reward(g, angle, p.verbosity_unit))),
        examples: samples
            .iter()
            .zip(&questions)
            .step_by(p.testbed.eval_samples.max(1) as usize)
            .map(|((_, t), q)| (q.text.clone(), t.clone()))
            .collect(),
    })
}

/// The file a DPA run saves its trained policy in (little-endian f32 weights), which the app
/// reads to let a person steer it.
pub const POLICY_FILE: &str = "policy.bin";

/// One response of a steered policy, with its gold scores when the question is one of the
/// testbed's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Steered {
    pub text: String,
    pub words: usize,
    /// Gold helpfulness (0 or 1) when the question is one of the testbed's.
    pub helpfulness: Option<f64>,
}

/// Sample `n` responses to `question` from the policy saved at `weights`, asked for direction
/// `angle_deg`.
pub fn steer(weights: &Path, question: &str, angle_deg: f64, n: usize, temperature: f64, seed: u64) -> Result<Vec<Steered>, StudyError> {
    let bytes =
        std::fs::read(weights).map_err(|e| StudyError::Failed(format!("{}: cannot read the trained policy: {e}", weights.display())))?;
    let device = crate::ml::device::training_device(benchtop_core::Backend::Cpu)?.inner();
    let bed = Testbed::new(0, 0.25)?;
    let policy =
        Policy::new(bed.vocab.len(), &mut benchtop_data::rng(0, 0), &device).with_values(&crate::ml::nets::floats(&bytes)?, &device)?;
    let question = question.trim().to_lowercase();
    // The testbed's text has punctuation as separate words.
    let question = question.trim_end_matches('?').trim().to_owned() + " ?";
    let prompt = bed.prompt(&question, &direction_prefix(angle_deg))?;
    let known = quiz::all_questions().into_iter().find(|q| q.text == question);
    let samples = sample_texts(&policy, &bed, &vec![prompt; n.clamp(1, 64)], temperature, &mut benchtop_data::rng(seed, 152))?;
    Ok(samples
        .into_iter()
        .map(|(_, text)| {
            let g = known.as_ref().map(|q| quiz::gold(q, &text));
            Steered {
                words: quiz::words(&text).iter().filter(|w| !matches!(**w, "." | "?" | "!" | ",")).count(),
                helpfulness: g.map(|g| g.helpfulness),
                text,
            }
        })
        .collect())
}

impl Study for Dpa {
    type Params = DpaParams;

    fn name(&self) -> &'static str {
        "dpa"
    }

    fn title(&self) -> &'static str {
        "Directional preference alignment (arithmetic control of helpfulness and verbosity)"
    }

    fn description(&self) -> &'static str {
        "A tiny transformer policy answers quiz questions; a prefix tells it the user's preference as a direction \
         v = (cos t, sin t) over (helpfulness, verbosity). Preference-conditioned rejection-sampling fine-tuning draws \
         directions, samples responses, keeps the one with the largest v . r and fine-tunes on it. Asking the trained \
         policy for different angles should move it along the helpfulness-verbosity front; scalar_rsf trains the same \
         loop on helpfulness alone and gives one point."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        let token = serde_json::to_value(Weighting::PerToken).unwrap_or_default();
        vec![
            ChartSpec {
                better: Some(Better::Higher),
                ..ChartSpec::new(ChartKind::Scatter, "helpfulness")
                    .with_x("verbosity")
                    .with_filter("loss_weighting", token.clone())
                    .with_title("Helpfulness against verbosity (words) reached at each angle")
            },
            ChartSpec::new(ChartKind::MetricVsParam, "verbosity")
                .with_x("angle_deg")
                .with_filter("loss_weighting", token.clone())
                .with_title("Verbosity (words) against the angle asked for"),
            ChartSpec::new(ChartKind::MetricVsParam, "helpfulness")
                .with_x("angle_deg")
                .with_filter("loss_weighting", token)
                .with_title("Helpfulness against the angle asked for"),
            ChartSpec::new(ChartKind::MetricVsParam, "verbosity")
                .with_x("angle_deg")
                .with_group("loss_weighting")
                .with_filter("method", "dpa")
                .with_title("DPA: verbosity against the angle, per loss weighting"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &DpaParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let seed = ctx.seed();
        let bed = Testbed::new(seed, p.testbed.test_fraction)?;
        let angle = match p.method {
            DpaMethod::Dpa => p.angle_deg,
            DpaMethod::ScalarRsf => 0.0,
        };
        let sft = sft_policy(ctx, &bed, &p.testbed.sft_options(true), &device)?;
        let before = evaluate(&sft, &bed, p, angle, seed)?;
        let policy = trained_policy(ctx, &bed, p, &device)?;
        let after = evaluate(&policy, &bed, p, angle, seed)?;
        ctx.info(format!(
            "at {angle}°: helpfulness {:.3} (SFT {:.3}), {:.1} words (SFT {:.1}), well-formed {:.3}",
            after.helpfulness, before.helpfulness, after.verbosity, before.verbosity, after.format
        ));

        let bytes: Vec<u8> = crate::ml::nets::float_bytes(&policy.values()?);
        write_artifact(ctx, POLICY_FILE, &bytes)?;
        let mut csv = String::from("question,angle_deg,sft_response,policy_response\n");
        for ((q, sft), (_, mine)) in before.examples.iter().zip(&after.examples) {
            csv.push_str(&format!("{},{angle},{},{}\n", csv_field(q), csv_field(sft), csv_field(mine)));
        }
        write_artifact(ctx, "samples.csv", csv.as_bytes())?;

        Ok(Summary::from([
            ("helpfulness".to_owned(), after.helpfulness),
            ("verbosity".to_owned(), after.verbosity),
            ("format".to_owned(), after.format),
            ("directional_reward".to_owned(), after.reward),
            ("sft_helpfulness".to_owned(), before.helpfulness),
            ("sft_verbosity".to_owned(), before.verbosity),
        ]))
    }
}
