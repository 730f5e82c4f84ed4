//! Semi-supervised reward modelling (He et al., 2024, "Semi-supervised reward modeling via
//! iterative self-training"): train a Bradley–Terry reward model on a few labelled pairs,
//! pseudo-label an unlabelled pool with it, keep the confident pseudo-labels, retrain on
//! both, repeat.

use benchtop_core::{Better, ChartKind, ChartSpec, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::preference::{PreferencePair, finegrained_qa, split_by_prompt};

use burn::prelude::*;
use rand::Rng as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Corpus;
use super::controlled::Labels;
use super::controlled::{HiddenUtility, draw_label, spread};
use super::features::finegrained_texts;
use super::features::{Encoder, corpus_texts, embed, prompt_text, response_features, text_hash};
use crate::ml::bradley_terry::{
    self, BtOptions, Comparisons, FOLDS, Head, L2_GRID, RewardNet, accuracy, cross_validate_l2, ece, probabilities,
};
use crate::ml::device::training_device;
use crate::ml::stats::{Standardiser, spearman};

/// The study's registry entry.
pub struct Ssrm;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SsrmMethod {
    /// The labelled pairs only.
    #[default]
    Supervised,
    /// The paper's loop: hard pseudo-labels above the confidence threshold, retrain, repeat.
    Ssrm,
    /// The labelled pairs and the whole pool with its true labels (the ceiling).
    Oracle,
    /// Beyond the paper: curriculum labelling (Cascante-Bonilla et al., 2021). Round r admits
    /// the r / (rounds + 1) most confident share of the pool whatever the confidence, so a
    /// well-calibrated (hence rarely confident) model still teaches; each round retrains
    /// afresh on labelled + admitted pairs.
    Curriculum,
}

/// Parameters of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SsrmParams {
    pub method: SsrmMethod,
    pub data: Corpus,
    pub labels: Labels,
    /// synthetic labels: the Bradley–Terry temperature in units of the standard deviation of
    /// the hidden utility's difference within a pair (0: noiseless).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub noise: f64,
    /// The share of training prompts whose pairs are labelled; the rest is the unlabelled pool.
    #[schemars(range(min = 0.01, max = 0.9))]
    pub labeled_fraction: f64,
    /// Keep a pseudo-label when the model's confidence max(p, 1 - p) exceeds this.
    #[schemars(range(min = 0.5, max = 0.999))]
    pub threshold: f64,
    #[schemars(range(min = 1, max = 10))]
    pub rounds: u32,
    /// The share of prompts held out for testing.
    #[schemars(range(min = 0.05, max = 0.5))]
    pub test_fraction: f64,
    pub head: Head,
    pub encoder: Encoder,
    /// Full-batch Adam steps per training.
    #[schemars(range(min = 10, max = 5000))]
    pub steps: u32,
    #[schemars(range(min = 0.00001, max = 1.0))]
    pub lr: f64,
    /// How the L2 penalty on the reward model's weights is set.
    pub regularisation: Regularisation,
    /// regularisation = fixed: the L2 penalty.
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub l2: f64,
}

/// How the L2 penalty is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Regularisation {
    /// From 0.01, 0.1, 1, 10, 100 by 3-fold cross-validation (folds by prompt) of the held-out
    /// likelihood on the labels the method has: the labelled pairs (supervised, SSRM; its
    /// pseudo-labels cannot validate), or labelled plus pool (oracle).
    #[default]
    CrossValidated,
    /// `l2` as given.
    Fixed,
}

impl Default for SsrmParams {
    fn default() -> Self {
        SsrmParams {
            method: SsrmMethod::Supervised,
            data: Corpus::HhHarmless,
            labels: Labels::Human,
            noise: 0.5,
            labeled_fraction: 0.1,
            threshold: 0.8,
            rounds: 3,
            test_fraction: 0.2,
            head: Head::Linear,
            encoder: Encoder::Minilm,
            steps: 300,
            lr: 0.01,
            regularisation: Regularisation::CrossValidated,
            l2: 1.0,
        }
    }
}

impl Params for SsrmParams {
    fn unused(&self) -> Vec<&'static str> {
        let mut unused = match self.method {
            SsrmMethod::Supervised | SsrmMethod::Oracle => vec!["threshold", "rounds"],
            SsrmMethod::Ssrm => vec![],
            SsrmMethod::Curriculum => vec!["threshold"],
        };
        if self.labels == Labels::Human {
            unused.push("noise");
        }
        if self.regularisation == Regularisation::CrossValidated {
            unused.push("l2");
        }
        unused
    }
}

/// Comparisons of one split, with the truth of each (for the pool: hidden from the model).
struct Split {
    data: Comparisons,
    /// Hidden utilities of `a` and `b` (synthetic labels only).
    utility: Vec<(f64, f64)>,
    /// A hash of each comparison's prompt: cross-validation folds never split a prompt.
    group: Vec<u64>,
}

struct Prepared {
    labelled: Split,
    pool: Split,
    test: Split,
}

/// Features of every pair, standardised on the training prompts, labelled (by people or by
/// the hidden utility) and put in a seeded random order within each pair.
fn prepare(ctx: &RunContext, p: &SsrmParams) -> Result<Prepared, StudyError> {
    let pairs = p.data.pairs()?;
    // FineGrained: every question and answer, the text set ArmoRM embeds too (one cache).
    let questions = match p.data {
        Corpus::FinegrainedQa => finegrained_qa()?,
        Corpus::HhHarmless => Vec::new(),
    };
    let texts = if questions.is_empty() { corpus_texts(&pairs) } else { finegrained_texts(&questions) };
    let vectors = embed(ctx, p.data.name(), &texts, p.encoder)?;
    let seed = ctx.seed();
    let (train, test) = split_by_prompt(&pairs, p.test_fraction, &mut benchtop_data::rng(seed, 80));
    let train_pairs: Vec<PreferencePair> = train.iter().map(|&i| pairs[i].clone()).collect();
    let (labelled, pool) = split_by_prompt(&train_pairs, 1.0 - p.labeled_fraction, &mut benchtop_data::rng(seed, 81));
    let (labelled, pool): (Vec<usize>, Vec<usize>) =
        (labelled.iter().map(|&i| train[i]).collect(), pool.iter().map(|&i| train[i]).collect());

    let features = |pair: &PreferencePair| -> Result<(Vec<f32>, Vec<f32>), StudyError> {
        let x = vectors.get(prompt_text(&pair.prompt))?;
        Ok((response_features(x, vectors.get(&pair.chosen)?), response_features(x, vectors.get(&pair.rejected)?)))
    };
    let raw: Vec<(Vec<f32>, Vec<f32>)> = pairs.iter().map(features).collect::<Result<_, _>>()?;
    let dim = raw.first().map_or(0, |r| r.0.len());
    let train_rows: Vec<f32> = train.iter().flat_map(|&i| raw[i].0.iter().chain(&raw[i].1).copied()).collect();
    let standard = Standardiser::fit(&train_rows, dim);
    let rows: Vec<(Vec<f32>, Vec<f32>)> = raw.iter().map(|(c, r)| (standard.apply(c), standard.apply(r))).collect();

    // Who wins each pair: the person's choice, or a draw from the hidden utility.
    let truth = (p.labels == Labels::Synthetic).then(|| HiddenUtility::new(dim, &mut benchtop_data::rng(seed, 82)));
    let utilities: Vec<(f64, f64)> = match &truth {
        Some(t) => rows.iter().map(|(c, r)| (t.utility(c), t.utility(r))).collect(),
        None => vec![(0.0, 0.0); rows.len()],
    };
    // Noise is measured against what a label depends on: the spread of the utility differences
    // within the training pairs.
    let scale = spread(&train.iter().map(|&i| utilities[i].0 - utilities[i].1).collect::<Vec<_>>());
    let mut label_rng = benchtop_data::rng(seed, 83);
    let first_wins: Vec<bool> =
        utilities.iter().map(|&(uc, ur)| if truth.is_some() { draw_label(uc, ur, p.noise, scale, &mut label_rng) } else { true }).collect();
    if truth.is_some() {
        ctx.info(format!(
            "synthetic labels (noise {}): {:.1}% agree with the people's choices",
            p.noise,
            100.0 * first_wins.iter().filter(|w| **w).count() as f64 / first_wins.len().max(1) as f64
        ));
    }
    let mut order_rng = benchtop_data::rng(seed, 84);
    let swap: Vec<bool> = (0..rows.len()).map(|_| order_rng.random::<bool>()).collect();
    let split = |idx: &[usize]| {
        let mut s = Split { data: Comparisons::new(dim), utility: Vec::new(), group: Vec::new() };
        for &i in idx {
            let (c, r) = (&rows[i].0, &rows[i].1);
            let (uc, ur) = utilities[i];
            let (a, b, ua, ub, a_wins) = if swap[i] { (r, c, ur, uc, !first_wins[i]) } else { (c, r, uc, ur, first_wins[i]) };
            s.data.push(a, b, a_wins as u8 as f32, 1.0);
            s.utility.push((ua, ub));
            s.group.push(text_hash(&pairs[i].prompt));
        }
        s
    };
    Ok(Prepared { labelled: split(&labelled), pool: split(&pool), test: split(&test) })
}

/// What a model scores on the test pairs.
#[derive(Clone, Copy, Debug)]
struct Scores {
    accuracy: f64,
    ece: f64,
    /// Spearman correlation of learned and hidden rewards over the test responses.
    utility_correlation: Option<f64>,
}

fn score(model: &RewardNet, test: &Split, synthetic: bool, device: &Device) -> Result<Scores, StudyError> {
    let p = probabilities(model, &test.data, device)?;
    let utility_correlation = if synthetic {
        let ra = bradley_terry::rewards(model, &test.data.a, test.data.dim, device)?;
        let rb = bradley_terry::rewards(model, &test.data.b, test.data.dim, device)?;
        let learned: Vec<f64> = ra.iter().chain(&rb).map(|&r| r as f64).collect();
        let hidden: Vec<f64> = test.utility.iter().map(|u| u.0).chain(test.utility.iter().map(|u| u.1)).collect();
        Some(spearman(&learned, &hidden))
    } else {
        None
    };
    Ok(Scores { accuracy: accuracy(&p, &test.data.target), ece: ece(&p, &test.data.target, 10), utility_correlation })
}

/// The pool's pseudo-labels: hard labels of the pairs whose confidence exceeds `threshold`,
/// with the indices kept (to check them against the truth).
pub fn pseudo_label(p: &[f64], threshold: f64) -> Vec<(usize, f32)> {
    p.iter().enumerate().filter(|(_, p)| p.max(1.0 - **p) > threshold).map(|(i, p)| (i, (*p > 0.5) as u8 as f32)).collect()
}

/// Hard pseudo-labels of the `share` most confident pool pairs (ties by position).
pub fn most_confident(p: &[f64], share: f64) -> Vec<(usize, f32)> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].max(1.0 - p[b]).total_cmp(&p[a].max(1.0 - p[a])).then(a.cmp(&b)));
    let n = ((p.len() as f64) * share.clamp(0.0, 1.0)).round() as usize;
    let mut kept: Vec<(usize, f32)> = order[..n].iter().map(|&i| (i, (p[i] > 0.5) as u8 as f32)).collect();
    kept.sort_by_key(|k| k.0);
    kept
}

impl Study for Ssrm {
    type Params = SsrmParams;

    fn name(&self) -> &'static str {
        "ssrm"
    }

    fn title(&self) -> &'static str {
        "Semi-supervised reward modelling (He et al., 2024)"
    }

    fn description(&self) -> &'static str {
        "A Bradley-Terry reward model on MiniLM embeddings learns from a few labelled preference \
         pairs, pseudo-labels an unlabelled pool, keeps the confident labels and retrains. On real \
         hh-rlhf or FineGrained pairs, or on the controlled benchmark whose labels come from a hidden \
         utility. Paper's finding: SSRM beats labelled-only training and approaches the oracle."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        let d = SsrmParams::default();
        vec![
            ChartSpec::new(ChartKind::Curves, "test_accuracy")
                .with_filter("labeled_fraction", d.labeled_fraction)
                .with_filter("threshold", d.threshold)
                .with_title("Test accuracy per self-training round (10% labelled, threshold 0.8)"),
            ChartSpec {
                better: Some(Better::Higher),
                ..ChartSpec::new(ChartKind::MetricVsParam, "test_accuracy")
                    .with_x("labeled_fraction")
                    .with_filter("threshold", d.threshold)
                    .with_title("Test accuracy against the labelled fraction (threshold 0.8)")
            },
            ChartSpec::new(ChartKind::MetricVsParam, "test_accuracy")
                .with_x("labeled_fraction")
                .with_filter("threshold", d.threshold)
                .paired_against("method", "supervised", &["labeled_fraction"])
                .with_title("Gain over labelled-only training, same seed, against the labelled fraction (threshold 0.8)"),
            ChartSpec::new(ChartKind::MetricVsParam, "pseudo_label_accuracy")
                .with_x("threshold")
                .with_group("labeled_fraction")
                .with_filter("method", "ssrm")
                .with_title("SSRM: accuracy of the kept pseudo-labels against the threshold, per labelled fraction (last round)"),
            ChartSpec::new(ChartKind::Curves, "ece")
                .with_filter("labeled_fraction", d.labeled_fraction)
                .with_filter("threshold", d.threshold)
                .with_title("Expected calibration error per round"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &SsrmParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let data = prepare(ctx, p)?;
        let synthetic = p.labels == Labels::Synthetic;
        ctx.info(format!(
            "{} labelled pairs, {} in the unlabelled pool, {} test pairs ({} features)",
            data.labelled.data.len(),
            data.pool.data.len(),
            data.test.data.len(),
            data.labelled.data.dim
        ));
        let cancelled = || ctx.is_cancelled();
        let options = BtOptions { steps: p.steps, lr: p.lr, l2: p.l2 };
        let choose_l2 = |data: &Comparisons, group: &[u64], who: &str| -> Result<f64, StudyError> {
            if p.regularisation == Regularisation::Fixed {
                return Ok(p.l2);
            }
            let (l2, scores) = cross_validate_l2(data, group, p.head, &options, ctx.seed(), &device, &cancelled)?;
            let listed: Vec<String> = L2_GRID.iter().zip(&scores).map(|(c, s)| format!("{c}: {s:.4}")).collect();
            ctx.info(format!(
                "L2 penalty {l2}, by {FOLDS}-fold cross-validation on {} {who} pairs (held-out log-likelihood {})",
                data.len(),
                listed.join(", ")
            ));
            Ok(l2)
        };
        let labelled_l2 = choose_l2(&data.labelled.data, &data.labelled.group, "labelled")?;
        // Each training starts afresh from its own seeded initialisation (stream 85 + round);
        // with the linear head the objective is convex, so the start does not matter.
        let fit_with = |train: &Comparisons, round: u32, l2: f64| -> Result<RewardNet, StudyError> {
            let options = BtOptions { l2, ..options };
            bradley_terry::train(train, p.head, &options, &mut benchtop_data::rng(ctx.seed(), 85 + round as u64), &device, &cancelled)
        };
        // SSRM keeps the penalty chosen on its labelled pairs in every round.
        let fit = |train: &Comparisons, round: u32| fit_with(train, round, labelled_l2);
        let log = |round: u32, s: &Scores| {
            ctx.log_metric("test_accuracy", round as u64, s.accuracy);
            ctx.log_metric("ece", round as u64, s.ece);
            if let Some(c) = s.utility_correlation {
                ctx.log_metric("utility_correlation", round as u64, c);
            }
        };
        let rounds = p.rounds;
        let total = rounds as u64 + 1;
        let mut model = fit(&data.labelled.data, 0)?;
        let start = score(&model, &data.test, synthetic, &device)?;
        ctx.progress(1, total);
        log(0, &start);
        ctx.info(format!("labelled only: test accuracy {:.3}, ECE {:.3}", start.accuracy, start.ece));
        let mut summary = Summary::new();
        let mut last = start;
        match p.method {
            SsrmMethod::Supervised => {}
            SsrmMethod::Oracle => {
                let mut all = data.labelled.data.clone();
                all.extend(&data.pool.data);
                let groups: Vec<u64> = data.labelled.group.iter().chain(&data.pool.group).copied().collect();
                let l2 = choose_l2(&all, &groups, "labelled and pool")?;
                summary.insert("l2_chosen".into(), l2);
                model = fit_with(&all, 1, l2)?;
                last = score(&model, &data.test, synthetic, &device)?;
            }
            SsrmMethod::Ssrm | SsrmMethod::Curriculum => {
                for round in 1..=rounds {
                    let probs = probabilities(&model, &data.pool.data, &device)?;
                    let kept = if p.method == SsrmMethod::Ssrm {
                        pseudo_label(&probs, p.threshold)
                    } else {
                        most_confident(&probs, round as f64 / (rounds as f64 + 1.0))
                    };
                    let right = kept.iter().filter(|(i, y)| (*y > 0.5) == (data.pool.data.target[*i] > 0.5)).count();
                    let kept_accuracy = if kept.is_empty() { f64::NAN } else { right as f64 / kept.len() as f64 };
                    let mut train = data.labelled.data.clone();
                    for &(i, y) in &kept {
                        train.push(data.pool.data.row_a(i), data.pool.data.row_b(i), y, 1.0);
                    }
                    model = fit(&train, round)?;
                    last = score(&model, &data.test, synthetic, &device)?;
                    ctx.log_metric("pseudo_labels_kept", round as u64, kept.len() as f64);
                    if kept_accuracy.is_finite() {
                        ctx.log_metric("pseudo_label_accuracy", round as u64, kept_accuracy);
                    }
                    let right_share =
                        if kept.is_empty() { "none to check".to_owned() } else { format!("{:.1}% right", 100.0 * kept_accuracy) };
                    ctx.info(format!(
                        "round {round}: kept {} of {} pseudo-labels ({right_share}); test accuracy {:.3}, ECE {:.3}",
                        kept.len(),
                        data.pool.data.len(),
                        last.accuracy,
                        last.ece
                    ));
                    log(round, &last);
                    ctx.progress(round as u64 + 1, total);
                    summary.insert("pseudo_labels_kept".into(), kept.len() as f64);
                    if kept_accuracy.is_finite() {
                        summary.insert("pseudo_label_accuracy".into(), kept_accuracy);
                    } else {
                        summary.remove("pseudo_label_accuracy");
                    }
                }
            }
        }
        if matches!(p.method, SsrmMethod::Supervised | SsrmMethod::Oracle) {
            // Flat lines over the rounds, so per-round charts show the references.
            for round in 1..=rounds {
                log(round, &last);
            }
            ctx.progress(total, total);
        }
        summary.insert("test_accuracy".into(), last.accuracy);
        summary.insert("ece".into(), last.ece);
        summary.insert("labelled_only_accuracy".into(), start.accuracy);
        summary.entry("l2_chosen".into()).or_insert(labelled_l2);
        if let Some(c) = last.utility_correlation {
            summary.insert("utility_correlation".into(), c);
        }
        if synthetic {
            // The ceiling: how often the hidden utility itself picks the drawn winner.
            let t = &data.test;
            let right = t.utility.iter().zip(&t.data.target).filter(|((ua, ub), y)| (ua > ub) == (**y > 0.5)).count();
            summary.insert("truth_accuracy".into(), right as f64 / t.utility.len().max(1) as f64);
        }
        summary.insert("labelled_pairs".into(), data.labelled.data.len() as f64);
        summary.insert("pool_pairs".into(), data.pool.data.len() as f64);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
