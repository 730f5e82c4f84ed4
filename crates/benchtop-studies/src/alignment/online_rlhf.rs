//! Online iterative RLHF (Dong et al., 2024, "RLHF workflow: from reward modeling to online
//! RLHF"; Xiong et al., 2024): a Bradley–Terry proxy reward learned from noisy preference
//! labels; each iteration samples K responses per prompt from the current policy, pairs the
//! best and worst by the proxy, and runs DPO (β = 0.1) from the previous policy with the
//! reference fixed at the SFT policy. Offline DPO spends the same gradient steps on one set
//! of pairs sampled from the SFT policy.
//!
//! The gold scorer of the quiz only evaluates: the policy never sees it, and the proxy sees
//! only gold-labelled comparisons with noise.

use benchtop_core::{ChartKind, ChartSpec, Checkpoint, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::quiz::{self, Question};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use rand::Rng as _;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::policy::{Policy, TokenBatch};
use super::{Testbed, TestbedParams, csv_field, logprobs, mean, sample_texts, sft_policy, write_artifact};
use crate::ml::bradley_terry::{self, BtOptions, Comparisons, Head, cross_validate_l2};
use crate::ml::checkpoint::{completed, load_module, load_optimizer, load_rng, module_bytes, optimizer_bytes, rng_bytes};
use crate::ml::device::training_device;
use crate::ml::nets::host;
use crate::ml::nets::tensor;

pub struct OnlineRlhf;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RlhfMethod {
    /// One round: K responses per prompt sampled from the SFT policy, best and worst by the
    /// proxy, DPO for all `iterations x steps_per_iteration` steps.
    #[default]
    OfflineDpo,
    /// `iterations` rounds, each sampling from the current policy and training
    /// `steps_per_iteration` DPO steps from it (reference: the SFT policy).
    IterativeDpo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
// No `deny_unknown_fields`: serde cannot combine it with `flatten`; the registry refuses
// keys the schema does not list before serde sees them.
#[serde(default)]
pub struct RlhfParams {
    pub method: RlhfMethod,
    /// DPO rounds; iterative DPO samples fresh pairs from its current policy for each.
    #[schemars(range(min = 1, max = 10))]
    pub iterations: u32,
    /// DPO minibatch steps per iteration (offline DPO: the same total in one round).
    #[schemars(range(min = 1, max = 2000))]
    pub steps_per_iteration: u32,
    /// Responses sampled per training prompt, of which the best and worst by the proxy make
    /// a pair.
    #[schemars(range(min = 2, max = 16))]
    pub samples_per_prompt: u32,
    /// DPO's β: the strength of the pull toward the reference policy.
    #[schemars(range(min = 0.01, max = 10.0))]
    pub beta: f64,
    /// AdamW's learning rate for DPO.
    #[schemars(range(min = 0.00001, max = 0.1))]
    pub lr: f64,
    /// The proxy's labels: P(a preferred) = sigmoid((gold(a) - gold(b)) / noise).
    #[schemars(range(min = 0.01, max = 10.0))]
    pub noise: f64,
    /// Gold-labelled comparisons per training prompt the proxy learns from.
    #[schemars(range(min = 1, max = 32))]
    pub proxy_pairs_per_prompt: u32,
    /// The testbed, SFT and evaluation settings both alignment studies share.
    #[serde(flatten)]
    pub testbed: TestbedParams,
}

impl Default for RlhfParams {
    fn default() -> Self {
        RlhfParams {
            method: RlhfMethod::OfflineDpo,
            iterations: 3,
            steps_per_iteration: 60,
            samples_per_prompt: 4,
            beta: 0.1,
            lr: 1e-4,
            noise: 0.5,
            proxy_pairs_per_prompt: 4,
            testbed: TestbedParams::default(),
        }
    }
}

impl Params for RlhfParams {}

/// The single gold reward the proxy is trained to stand for: a right answer first, then a
/// well-formed response, then brevity (one point for helpfulness, half for format, a fiftieth
/// per word).
pub fn gold_reward(q: &Question, response: &str) -> f64 {
    let g = quiz::gold(q, response);
    g.helpfulness + 0.5 * g.format - 0.02 * g.verbosity
}

/// What the proxy sees of a response: its bag of words, its length in tens of words, whether
/// it ends with a full stop, and a verifier's two flags (the right answer is stated; how many
/// other candidate answers are) — the knowledge a real reward model brings from pre-training.
/// Repetition it sees only through word counts.
pub fn proxy_features(bed: &Testbed, q: &Question, response: &str) -> Vec<f32> {
    let v = bed.vocab.len();
    let mut f = vec![0.0f32; v + 4];
    let words = quiz::words(response);
    for w in &words {
        if let Some(i) = bed.vocab.id(w) {
            f[i as usize] += 1.0;
        }
    }
    let g = quiz::gold(q, response);
    let right = words.iter().any(|w| *w == q.answer);
    let others = words.iter().filter(|w| **w != q.answer && is_candidate(q, w)).count();
    f[v] = (g.verbosity / 10.0) as f32;
    f[v + 1] = (words.last() == Some(&".")) as u8 as f32;
    f[v + 2] = right as u8 as f32;
    f[v + 3] = others as f32;
    f
}

fn is_candidate(q: &Question, w: &str) -> bool {
    match q.kind {
        quiz::Kind::Colour => quiz::COLOURS.contains(&w),
        _ => !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A response of the SFT mix, sometimes with its full stop dropped, so the proxy's data
/// shows both forms.
fn proxy_response(q: &Question, correct_share: f64, rng: &mut benchtop_data::Rng) -> String {
    let (text, _, _) = quiz::sft_example(q, correct_share, rng);
    if rng.random::<f64>() < 0.2 { text.trim_end_matches(" .").to_owned() } else { text }
}

/// The proxy reward: a linear Bradley–Terry model on [`proxy_features`], its L2 penalty by
/// cross-validation over prompts. Returns it and its accuracy on noiseless held-out pairs.
fn train_proxy(ctx: &RunContext, bed: &Testbed, p: &RlhfParams, device: &Device) -> Result<(bradley_terry::RewardNet, f64), StudyError> {
    let mut rng = benchtop_data::rng(ctx.seed(), 130);
    let dim = bed.vocab.len() + 4;
    let (mut train, mut group) = (Comparisons::new(dim), Vec::new());
    for &qi in &bed.train {
        let q = &bed.questions[qi];
        for _ in 0..p.proxy_pairs_per_prompt {
            let (a, b) = (proxy_response(q, p.testbed.correct_share, &mut rng), proxy_response(q, p.testbed.correct_share, &mut rng));
            let prob = bradley_terry::sigmoid((gold_reward(q, &a) - gold_reward(q, &b)) / p.noise);
            let label = (rng.random::<f64>() < prob) as u8 as f32;
            train.push(&proxy_features(bed, q, &a), &proxy_features(bed, q, &b), label, 1.0);
            group.push(qi as u64);
        }
    }
    let options = BtOptions { steps: 300, lr: 0.05, l2: 1.0 };
    let cancelled = || ctx.is_cancelled();
    let (l2, _) = cross_validate_l2(&train, &group, Head::Linear, &options, ctx.seed(), device, &cancelled)?;
    let model = bradley_terry::train(
        &train,
        Head::Linear,
        &BtOptions { l2, ..options },
        &mut benchtop_data::rng(ctx.seed(), 131),
        device,
        &cancelled,
    )?;
    // Held-out accuracy against the gold ordering (ties left out).
    let mut test = Comparisons::new(dim);
    for &qi in &bed.test {
        let q = &bed.questions[qi];
        for _ in 0..4 {
            let (a, b) = (proxy_response(q, p.testbed.correct_share, &mut rng), proxy_response(q, p.testbed.correct_share, &mut rng));
            let (ga, gb) = (gold_reward(q, &a), gold_reward(q, &b));
            if (ga - gb).abs() > 1e-9 {
                test.push(&proxy_features(bed, q, &a), &proxy_features(bed, q, &b), (ga > gb) as u8 as f32, 1.0);
            }
        }
    }
    let accuracy = bradley_terry::accuracy(&bradley_terry::probabilities(&model, &test, device)?, &test.target);
    ctx.info(format!(
        "proxy reward: {} comparisons, L2 {l2} by cross-validation, {:.1}% agreement with gold on held-out pairs",
        train.len(),
        100.0 * accuracy
    ));
    Ok((model, accuracy))
}

fn proxy_rewards(
    model: &bradley_terry::RewardNet,
    bed: &Testbed,
    items: &[(&Question, &str)],
    device: &Device,
) -> Result<Vec<f64>, StudyError> {
    let dim = bed.vocab.len() + 4;
    let rows: Vec<f32> = items.iter().flat_map(|(q, r)| proxy_features(bed, q, r)).collect();
    Ok(bradley_terry::rewards(model, &rows, dim, device)?.into_iter().map(f64::from).collect())
}

/// One DPO comparison: prompt, chosen and rejected responses (ids with `<eos>`), and the
/// reference policy's log-probabilities of both.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DpoPair {
    pub prompt: Vec<u32>,
    pub chosen: Vec<u32>,
    pub rejected: Vec<u32>,
    pub ref_chosen: f32,
    pub ref_rejected: f32,
}

/// DPO's loss: -log sigmoid(β ((log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l)))),
/// averaged over the batch.
pub fn dpo_loss(policy: &Policy, pairs: &[&DpoPair], beta: f64, device: &Device) -> Tensor<1> {
    let n = pairs.len();
    let rows: Vec<(&[u32], &[u32])> = pairs
        .iter()
        .map(|p| (p.prompt.as_slice(), p.chosen.as_slice()))
        .chain(pairs.iter().map(|p| (p.prompt.as_slice(), p.rejected.as_slice())))
        .collect();
    let lp = policy.sequence_logprob(&TokenBatch::new(&rows), device);
    let (chosen, rejected) = (lp.clone().narrow(0, 0, n), lp.narrow(0, n, n));
    let reference: Vec<f32> = pairs.iter().map(|p| p.ref_chosen - p.ref_rejected).collect();
    let margin = (chosen - rejected - tensor(reference, [n], device)).mul_scalar(beta);
    log_sigmoid(margin).mean().neg()
}

/// `steps` DPO minibatch steps on `pairs` in seeded shuffled order, continuing `optimizer`.
#[allow(clippy::too_many_arguments)]
fn dpo_train(
    ctx: &RunContext,
    mut policy: Policy,
    pairs: &[DpoPair],
    steps: usize,
    p: &RlhfParams,
    optimizer: &mut ModuleOptimizer,
    first_step: usize,
    rng: &mut benchtop_data::Rng,
    device: &Device,
) -> Result<Policy, StudyError> {
    let batch = super::BATCH.min(pairs.len());
    let mut order: Vec<usize> = Vec::new();
    let (mut total, mut count) = (0.0, 0);
    for step in 0..steps {
        if order.len() < batch {
            let mut more: Vec<usize> = (0..pairs.len()).collect();
            more.shuffle(rng);
            order.extend(more);
        }
        let idx: Vec<&DpoPair> = order.drain(..batch).map(|i| &pairs[i]).collect();
        let loss = dpo_loss(&policy, &idx, p.beta, device);
        total += host(loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
        count += 1;
        let grads = GradientsParams::from_grads(loss.backward(), &policy);
        policy = optimizer.step(p.lr, policy, grads);
        if count == 10 || step + 1 == steps {
            let m = total / count as f64;
            if !m.is_finite() {
                return Err(StudyError::Failed(format!("DPO diverged at step {}", first_step + step)));
            }
            ctx.log_metric("dpo_loss", (first_step + step + 1) as u64, m);
            (total, count) = (0.0, 0);
            ctx.check_cancelled()?;
        }
    }
    Ok(policy)
}

/// Sample K responses per training prompt from `policy`, keep the best and worst by the proxy
/// (prompts whose K responses all score the same give no pair).
fn collect_pairs(
    policy: &Policy,
    reference: &Policy,
    proxy: &bradley_terry::RewardNet,
    bed: &Testbed,
    p: &RlhfParams,
    rng: &mut benchtop_data::Rng,
    device: &Device,
) -> Result<Vec<DpoPair>, StudyError> {
    let k = p.samples_per_prompt as usize;
    let mut prompts = Vec::new();
    for &qi in &bed.train {
        let prompt = bed.prompt(&bed.questions[qi].text, &[])?;
        prompts.extend(std::iter::repeat_n(prompt, k));
    }
    let samples = sample_texts(policy, bed, &prompts, p.testbed.temperature, rng)?;
    let items: Vec<(&Question, &str)> =
        samples.iter().enumerate().map(|(i, (_, t))| (&bed.questions[bed.train[i / k]], t.as_str())).collect();
    let rewards = proxy_rewards(proxy, bed, &items, device)?;
    let mut pairs = Vec::new();
    for j in 0..bed.train.len() {
        let range = j * k..(j + 1) * k;
        let best = range.clone().max_by(|&a, &b| rewards[a].total_cmp(&rewards[b])).unwrap_or(j * k);
        let worst = range.min_by(|&a, &b| rewards[a].total_cmp(&rewards[b])).unwrap_or(j * k);
        if rewards[best] - rewards[worst] < 1e-6 {
            continue;
        }
        let with_eos = |i: usize| {
            let mut ids = samples[i].0.clone();
            ids.push(bed.eos);
            ids
        };
        let (chosen, rejected) = (with_eos(best), with_eos(worst));
        pairs.push(DpoPair { prompt: prompts[j * k].clone(), chosen, rejected, ref_chosen: 0.0, ref_rejected: 0.0 });
    }
    let rows: Vec<(&[u32], &[u32])> =
        pairs.iter().flat_map(|d| [(d.prompt.as_slice(), d.chosen.as_slice()), (d.prompt.as_slice(), d.rejected.as_slice())]).collect();
    let lp = logprobs(reference, &rows, device)?;
    for (i, d) in pairs.iter_mut().enumerate() {
        d.ref_chosen = lp[2 * i];
        d.ref_rejected = lp[2 * i + 1];
    }
    Ok(pairs)
}

/// What one evaluation on the held-out prompts found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Evaluation {
    pub gold_reward: f64,
    pub proxy_reward: f64,
    pub win_rate: f64,
    pub kl: f64,
    pub helpfulness: f64,
    pub verbosity: f64,
    pub format: f64,
    /// (question, response) of the first sample per prompt, for the artifact.
    pub examples: Vec<(String, String)>,
}

struct Evaluator<'a> {
    bed: &'a Testbed,
    prompts: Vec<Vec<u32>>,
    questions: Vec<&'a Question>,
    /// Gold rewards of the SFT policy's own samples, to compute win rates against.
    sft_gold: Vec<f64>,
}

impl Evaluator<'_> {
    fn evaluate(
        &self,
        policy: &Policy,
        reference: &Policy,
        proxy: &bradley_terry::RewardNet,
        p: &RlhfParams,
        seed: u64,
        device: &Device,
    ) -> Result<Evaluation, StudyError> {
        // The same evaluation stream at every iteration: differences come from the policy.
        let samples = sample_texts(policy, self.bed, &self.prompts, p.testbed.temperature, &mut benchtop_data::rng(seed, 140))?;
        let golds: Vec<quiz::Gold> = samples.iter().zip(&self.questions).map(|((_, t), q)| quiz::gold(q, t)).collect();
        let gold: Vec<f64> = samples.iter().zip(&self.questions).map(|((_, t), q)| gold_reward(q, t)).collect();
        let items: Vec<(&Question, &str)> = samples.iter().zip(&self.questions).map(|((_, t), q)| (*q, t.as_str())).collect();
        let proxy = proxy_rewards(proxy, self.bed, &items, device)?;
        let rows: Vec<(Vec<u32>, Vec<u32>)> = samples
            .iter()
            .zip(&self.prompts)
            .map(|((ids, _), prompt)| {
                let mut r = ids.clone();
                r.push(self.bed.eos);
                (prompt.clone(), r)
            })
            .collect();
        let refs: Vec<(&[u32], &[u32])> = rows.iter().map(|(a, b)| (a.as_slice(), b.as_slice())).collect();
        let (lp, lp_ref) = (logprobs(policy, &refs, device)?, logprobs(reference, &refs, device)?);
        let k = p.testbed.eval_samples as usize;
        Ok(Evaluation {
            gold_reward: mean(gold.iter().copied()),
            proxy_reward: mean(proxy),
            win_rate: mean(gold.iter().zip(&self.sft_gold).map(|(a, b)| {
                if (a - b).abs() < 1e-9 {
                    0.5
                } else if a > b {
                    1.0
                } else {
                    0.0
                }
            })),
            // Monte Carlo KL(π || π_ref) from the policy's own samples.
            kl: mean(lp.iter().zip(&lp_ref).map(|(a, b)| (a - b) as f64)),
            helpfulness: mean(golds.iter().map(|g| g.helpfulness)),
            verbosity: mean(golds.iter().map(|g| g.verbosity)),
            format: mean(golds.iter().map(|g| g.format)),
            examples: samples.iter().zip(&self.questions).step_by(k.max(1)).map(|((_, t), q)| (q.text.clone(), t.clone())).collect(),
        })
    }
}

fn log_evaluation(ctx: &RunContext, step: u64, e: &Evaluation) {
    for (name, v) in [
        ("gold_reward", e.gold_reward),
        ("proxy_reward", e.proxy_reward),
        ("win_rate", e.win_rate),
        ("kl", e.kl),
        ("helpfulness", e.helpfulness),
        ("verbosity", e.verbosity),
        ("format", e.format),
    ] {
        ctx.log_metric(name, step, v);
    }
}

impl Study for OnlineRlhf {
    type Params = RlhfParams;

    fn name(&self) -> &'static str {
        "online_rlhf"
    }

    fn title(&self) -> &'static str {
        "Online iterative RLHF (iterative DPO against a proxy reward)"
    }

    fn description(&self) -> &'static str {
        "A tiny transformer policy answers quiz questions (sums, differences, animal facts) in responses that differ in \
         correctness, form and length. A Bradley-Terry proxy reward learns a gold scorer from noisy comparisons; DPO \
         (beta 0.1, reference: the SFT policy) trains on the proxy's best-versus-worst pairs. Iterative DPO samples new \
         pairs from the current policy each round; offline DPO spends the same steps on one set sampled from the SFT \
         policy. Gold reward, proxy reward, win rate against SFT and KL to the reference on held-out questions, per round."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        vec![
            ChartSpec::new(ChartKind::Curves, "gold_reward").with_title("Gold reward on held-out questions per iteration"),
            ChartSpec::new(ChartKind::Curves, "proxy_reward").with_title("Proxy reward per iteration (what DPO optimises)"),
            ChartSpec::new(ChartKind::Curves, "win_rate").with_title("Win rate against the SFT policy (gold)"),
            ChartSpec::new(ChartKind::Curves, "kl").with_title("KL to the reference (SFT) policy"),
            ChartSpec::new(ChartKind::Bars, "gold_reward")
                .paired_against("method", "offline_dpo", &[])
                .with_title("Iterative minus offline DPO, gold reward, same seed"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &RlhfParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let seed = ctx.seed();
        let bed = Testbed::new(seed, p.testbed.test_fraction)?;
        let reference = sft_policy(ctx, &bed, &p.testbed.sft_options(false), &device)?;
        let (proxy, proxy_accuracy) = train_proxy(ctx, &bed, p, &device)?;

        let mut prompts = Vec::new();
        let mut questions = Vec::new();
        for &qi in &bed.test {
            let prompt = bed.prompt(&bed.questions[qi].text, &[])?;
            for _ in 0..p.testbed.eval_samples {
                prompts.push(prompt.clone());
                questions.push(&bed.questions[qi]);
            }
        }
        let sft_samples = sample_texts(&reference, &bed, &prompts, p.testbed.temperature, &mut benchtop_data::rng(seed, 141))?;
        let sft_gold = sft_samples.iter().zip(&questions).map(|((_, t), q)| gold_reward(q, t)).collect();
        let evaluator = Evaluator { bed: &bed, prompts, questions, sft_gold };

        let start = evaluator.evaluate(&reference, &reference, &proxy, p, seed, &device)?;
        log_evaluation(ctx, 0, &start);
        ctx.info(format!(
            "SFT policy: gold reward {:.3}, helpfulness {:.3}, {:.1} words",
            start.gold_reward, start.helpfulness, start.verbosity
        ));

        let iterations = p.iterations as usize;
        let steps = p.steps_per_iteration as usize;
        let mut rng = benchtop_data::rng(seed, 142);
        let mut policy = reference.clone();
        let mut pairs = Vec::new();
        let mut optimizer: ModuleOptimizer = crate::ml::adam::adamw(0.0);
        let mut last = start.clone();
        let mut pair_counts = Vec::new();
        // A resumed run goes on after the last iteration its checkpoint covers.
        let first = completed(ctx.resumed(), iterations)?;
        if let Some(cp) = ctx.resumed() {
            policy = load_module(policy, cp.part("policy")?, "policy")?;
            optimizer = load_optimizer(optimizer, cp.part("optimizer")?)?;
            rng = load_rng(cp.part("rng")?)?;
            pairs = cp.value("pairs")?;
            pair_counts = cp.value("pair_counts")?;
            last = cp.value("last")?;
        }
        for it in first..iterations {
            ctx.progress(it as u64, iterations as u64);
            if p.method == RlhfMethod::IterativeDpo || it == 0 {
                pairs = collect_pairs(&policy, &reference, &proxy, &bed, p, &mut rng, &device)?;
                if p.method == RlhfMethod::IterativeDpo {
                    // Each round trains afresh from the previous policy.
                    optimizer = crate::ml::adam::adamw(0.0);
                }
            }
            pair_counts.push(pairs.len());
            if pairs.is_empty() {
                return Err(StudyError::Failed("no prompt gave responses the proxy tells apart; nothing to train on".into()));
            }
            policy = dpo_train(ctx, policy, &pairs, steps, p, &mut optimizer, it * steps, &mut rng, &device)?;
            last = evaluator.evaluate(&policy, &reference, &proxy, p, seed, &device)?;
            log_evaluation(ctx, it as u64 + 1, &last);
            ctx.info(format!(
                "iteration {}: {} pairs; gold {:.3}, proxy {:.3}, win rate {:.3}, KL {:.2}",
                it + 1,
                pairs.len(),
                last.gold_reward,
                last.proxy_reward,
                last.win_rate,
                last.kl
            ));
            ctx.checkpoint(
                Checkpoint::new(format!("iteration {} of {iterations}", it + 1))
                    .with_value("completed", &(it + 1))?
                    .with("policy", module_bytes(&policy)?)
                    .with("optimizer", optimizer_bytes(&optimizer)?)
                    .with("rng", rng_bytes(&rng))
                    .with_value("pairs", &pairs)?
                    .with_value("pair_counts", &pair_counts)?
                    .with_value("last", &last)?,
            );
        }
        ctx.progress(iterations as u64, iterations as u64);

        // Held-out questions with a response of the SFT policy and of the trained one.
        let mut csv = String::from("question,sft_response,sft_gold,policy_response,policy_gold\n");
        for ((q, sft), (_, mine)) in start.examples.iter().zip(&last.examples) {
            let question = bed.questions.iter().find(|x| &x.text == q);
            let score = |r: &str| question.map_or(f64::NAN, |x| gold_reward(x, r));
            csv.push_str(&format!("{},{},{:.3},{},{:.3}\n", csv_field(q), csv_field(sft), score(sft), csv_field(mine), score(mine)));
        }
        write_artifact(ctx, "samples.csv", csv.as_bytes())?;

        Ok(Summary::from([
            ("gold_reward".to_owned(), last.gold_reward),
            ("proxy_reward".to_owned(), last.proxy_reward),
            ("win_rate".to_owned(), last.win_rate),
            ("kl".to_owned(), last.kl),
            ("helpfulness".to_owned(), last.helpfulness),
            ("verbosity".to_owned(), last.verbosity),
            ("format".to_owned(), last.format),
            ("sft_gold_reward".to_owned(), start.gold_reward),
            ("sft_helpfulness".to_owned(), start.helpfulness),
            ("sft_verbosity".to_owned(), start.verbosity),
            ("gold_gain".to_owned(), last.gold_reward - start.gold_reward),
            ("proxy_accuracy".to_owned(), proxy_accuracy),
            ("pairs".to_owned(), mean(pair_counts.iter().map(|&c| c as f64))),
        ]))
    }
}
