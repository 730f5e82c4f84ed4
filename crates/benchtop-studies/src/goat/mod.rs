//! GOAT: Generative Gradual Domain Adaptation with Optimal Transport (He, Wang, Li & Zhao,
//! 2023), with the gradual self-training it builds on (Kumar, Ma & Liang, ICML 2020).
//!
//! A classifier trained on the source adapts to an unlabelled target by self-training through
//! a path of domains: each step pseudo-labels the next domain with the current model, drops
//! the least confident tenth, and trains a copy of the head on the rest. Real intermediate
//! domains are scarce; GOAT generates more between each consecutive pair along the
//! Wasserstein geodesic of the frozen encoder's features (exact OT, then straight lines
//! between matched points).
//!
//! Shared stages are cached across runs: the source model per seed, each domain's encoded
//! features, and each OT plan, so a sweep over generated domains trains and solves once.

pub mod adapt;
pub mod domains;
pub mod model;

use benchtop_core::{CacheKey, ChartKind, ChartSpec, ParamProblem, Params, RunContext, Study, StudyError, Summary};
use std::rc::Rc;

use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::device::training_device;
use crate::ml::nets::{Batchable, TrainOptions, predict, train};
use adapt::{Features, accuracy, generated_at, ot_plan, self_train_step};
use domains::{Domain, Setting, covertype_by_water, digits_needed, rotating_digits};
use model::{Classifier, Encoder, EncoderKind, Head};

/// The study's registry entry.
pub struct Goat;

/// How the source model reaches the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoatMethod {
    /// No adaptation: the source model scored on the target.
    SourceOnly,
    /// Self-training straight on the target.
    SelfTrain,
    /// Gradual self-training through the given intermediate domains, then the target.
    Gradual,
    /// Gradual self-training through given and generated domains (G per consecutive pair).
    #[default]
    Goat,
    /// A control for GOAT's extra steps, differing from GOAT in the generated domains only:
    /// where GOAT self-trains on G generated domains between two real ones, this self-trains
    /// G times on the very `ot_points` points of the next real domain that GOAT's transport
    /// used (the same subsample, fresh pseudo-labels each time), then on that whole domain as
    /// GOAT does. Same path length, points per step, epochs and gradient steps.
    GradualRepeated,
}

/// Which sequence of domains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoatDataset {
    /// MNIST digits rotated from 0 degrees (source) to `rotation_deg` (target).
    #[default]
    RotatingDigits,
    /// Covertype rows sorted by horizontal distance to water (near: source, far: target).
    Covertype,
}

/// Parameters of one GOAT run (defaults: the authors' rotating-MNIST setting at laptop scale).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GoatParams {
    pub method: GoatMethod,
    pub dataset: GoatDataset,
    /// Real intermediate domains between source and target, evenly spaced.
    #[schemars(range(min = 0, max = 8))]
    pub given_domains: u32,
    /// GOAT only: domains generated between each consecutive pair of real domains.
    #[schemars(range(min = 0, max = 10))]
    pub generated_domains: u32,
    /// Rotating digits: the target's rotation in degrees (the authors: 45).
    #[schemars(range(min = 0.0, max = 180.0))]
    pub rotation_deg: f64,
    /// Rotating digits: the authors' unpooled encoder, or the pooled one (16x fewer features).
    pub encoder: EncoderKind,
    /// Points per domain (source, each intermediate and the target).
    #[schemars(range(min = 50, max = 10000))]
    pub points_per_domain: u32,
    /// GOAT only: points per domain in each exact OT problem (a seeded uniform subsample; the
    /// generated domains have this many). Exact OT is O(n^3): about 3 s at 1,000 and 15 s at
    /// 2,000 points here.
    #[schemars(range(min = 10, max = 5000))]
    pub ot_points: u32,
    /// Held-out target points every method is scored on.
    #[schemars(range(min = 50, max = 5000))]
    pub test_points: u32,
    /// Epochs of source training (encoder and head).
    #[schemars(range(min = 1, max = 100))]
    pub source_epochs: u32,
    /// Epochs of head training on each domain of the path.
    #[schemars(range(min = 1, max = 100))]
    pub adapt_epochs: u32,
    /// Adam's learning rate, for source training and adaptation.
    #[schemars(range(min = 0.000001, max = 0.1))]
    pub lr: f64,
    /// Adam's weight decay.
    #[schemars(range(min = 0.0, max = 0.1))]
    pub weight_decay: f64,
    #[schemars(range(min = 2, max = 4096))]
    pub batch_size: u32,
    /// The least confident share of pseudo-labels dropped at each step (authors: 0.1).
    #[schemars(range(min = 0.0, max = 0.9))]
    pub drop_fraction: f64,
}

impl Default for GoatParams {
    fn default() -> Self {
        GoatParams {
            method: GoatMethod::Goat,
            dataset: GoatDataset::RotatingDigits,
            given_domains: 0,
            generated_domains: 3,
            rotation_deg: 45.0,
            encoder: EncoderKind::Conv,
            points_per_domain: 2000,
            ot_points: 2000,
            test_points: 1000,
            source_epochs: 5,
            adapt_epochs: 5,
            lr: 1e-4,
            weight_decay: 1e-4,
            batch_size: 128,
            drop_fraction: 0.1,
        }
    }
}

impl GoatParams {
    /// The authors' optimiser (Adam with weight decay) for `epochs`.
    fn train_options(&self, epochs: u32) -> TrainOptions {
        TrainOptions { epochs, batch_size: self.batch_size as usize, lr: self.lr, weight_decay: self.weight_decay as f32, decoupled: false }
    }
}

impl Params for GoatParams {
    fn check(&self) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        if self.dataset == GoatDataset::RotatingDigits {
            let needed = digits_needed(self.points_per_domain as usize, self.test_points as usize, self.given_domains as usize);
            if needed > 20_000 {
                problems.push(ParamProblem::new(
                    "given_domains",
                    format!(
                        "{} domains of {} digits and {} test digits need {needed} digits; 20000 are bundled",
                        self.given_domains + 2,
                        self.points_per_domain,
                        self.test_points
                    ),
                ));
            }
            if self.encoder == EncoderKind::Identity {
                problems.push(ParamProblem::new("encoder", "digits need a convolutional encoder: conv or conv_pooled"));
            }
        } else if self.points_per_domain + self.test_points > 3000 {
            problems.push(ParamProblem::new(
                "points_per_domain",
                "Covertype's target block has 3000 rows: points_per_domain + test_points must fit in it",
            ));
        }
        problems
    }

    fn unused(&self) -> Vec<&'static str> {
        let mut unused = match self.method {
            GoatMethod::SourceOnly => vec!["given_domains", "generated_domains", "ot_points", "adapt_epochs", "drop_fraction"],
            GoatMethod::SelfTrain => vec!["given_domains", "generated_domains", "ot_points"],
            GoatMethod::Gradual => vec!["generated_domains", "ot_points"],
            GoatMethod::Goat if self.generated_domains == 0 => vec!["ot_points"],
            GoatMethod::Goat => vec![],
            GoatMethod::GradualRepeated => vec!["ot_points"],
        };
        if self.dataset == GoatDataset::Covertype {
            unused.extend(["rotation_deg", "encoder"]);
        }
        unused
    }
}

impl Study for Goat {
    type Params = GoatParams;

    fn name(&self) -> &'static str {
        "goat"
    }

    fn title(&self) -> &'static str {
        "Generative gradual domain adaptation with optimal transport (He et al., 2023)"
    }

    fn description(&self) -> &'static str {
        "Adapt a source classifier to an unlabelled, shifted target by gradual self-training \
         through intermediate domains. GOAT generates extra domains along the optimal-transport \
         geodesic between consecutive real domains in the frozen encoder's feature space. Paper's \
         finding: with few real intermediates, GOAT beats gradual self-training, which beats \
         direct self-training; the gain shrinks as more real intermediates are given."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        let g = GoatParams::default().generated_domains;
        vec![
            ChartSpec::new(ChartKind::MetricVsParam, "target_accuracy")
                .with_x("generated_domains")
                .with_group("given_domains")
                .with_filter("method", "goat")
                .with_title("GOAT: target accuracy vs generated domains per pair, one line per number of given domains (G = 0 is gradual self-training)"),
            ChartSpec::new(ChartKind::MetricVsParam, "target_accuracy")
                .with_x("generated_domains")
                .with_group("given_domains")
                .with_filter("method", "goat")
                .paired_against("method", "gradual", &["given_domains"])
                .with_title("Where GOAT helps: GOAT minus gradual self-training with the same given domains, paired by seed"),
            ChartSpec::new(ChartKind::MetricVsParam, "target_accuracy")
                .with_x("generated_domains")
                .with_group("given_domains")
                .with_filter("method", "goat")
                .paired_against("method", "gradual_repeated", &["given_domains", "generated_domains"])
                .with_title("Generated domains or extra steps? GOAT minus its step-matched control (real points where GOAT generates)"),
            ChartSpec::new(ChartKind::Bars, "target_accuracy")
                .with_filter("given_domains", 0)
                .with_filter("generated_domains", g)
                .with_title(&format!("Target accuracy by method with no given domains (GOAT with G = {g}; gradual = self-training here)")),
            ChartSpec::new(ChartKind::MetricVsParam, "target_accuracy")
                .with_x("given_domains")
                .with_filter("method", "gradual")
                .paired_against("method", "self_train", &[])
                .with_title("Do real intermediate domains help? Gradual minus direct self-training, paired by seed"),
            ChartSpec::new(ChartKind::Curves, "path_target_accuracy")
                .with_filter("given_domains", 1)
                .with_filter("generated_domains", g)
                .with_title(&format!("Target accuracy after each domain of the path (1 given domain, GOAT with G = {g})")),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &GoatParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let (n, test, given) = (p.points_per_domain as usize, p.test_points as usize, p.given_domains as usize);
        let setting = match p.dataset {
            GoatDataset::RotatingDigits => rotating_digits(ctx.seed(), n, test, given, p.rotation_deg)?,
            GoatDataset::Covertype => covertype_by_water(ctx.seed(), n, test, given)?,
        };
        let encoder = if p.dataset == GoatDataset::Covertype { EncoderKind::Identity } else { p.encoder };
        let names: Vec<&str> = setting.path().iter().map(|d| d.name.as_str()).collect();
        ctx.info(format!("domains: {} ({} points each; encoder {encoder:?})", names.join(" -> "), setting.source.len()));
        write_samples(ctx, &setting);

        let source_key = self.source_key(ctx, p, encoder);
        let model = source_model(ctx, p, &setting, encoder, &source_key, &device)?;
        let mut summary = Summary::new();
        // Which digits a domain holds also depends on the test set's size (the given domains
        // are drawn after it), and its names round the angle: both join the key.
        let data_key = source_key.clone().param("test_points", p.test_points).param("rotation_deg", p.rotation_deg);
        let encode = |d: &Domain| features(ctx, &model, encoder, d, &setting, &data_key, &device);
        let source_test = encode(&setting.source_test)?;
        let target_test = encode(&setting.target_test)?;
        let source_accuracy = accuracy(&model.head, &source_test, &setting.source_test.labels, setting.classes, &device)?;
        let before = accuracy(&model.head, &target_test, &setting.target_test.labels, setting.classes, &device)?;
        ctx.info(format!("source model: {:.3} on held-out source, {before:.3} on the target", source_accuracy));
        summary.insert("source_accuracy".into(), source_accuracy);
        summary.insert("source_only_accuracy".into(), before);

        // The real domains in order; the path adds what each method puts between them.
        let real: Vec<Rc<Features>> = match p.method {
            GoatMethod::SourceOnly => Vec::new(),
            GoatMethod::SelfTrain => vec![Rc::new(encode(&setting.source)?), Rc::new(encode(&setting.target)?)],
            GoatMethod::Gradual | GoatMethod::Goat | GoatMethod::GradualRepeated => {
                setting.path().into_iter().map(|d| encode(d).map(Rc::new)).collect::<Result<_, _>>()?
            }
        };
        let path = adaptation_path(ctx, p, &real, &data_key, &device)?;

        let options = p.train_options(p.adapt_epochs);
        let mut head = model.head;
        ctx.log_metric("path_target_accuracy", 0, before);
        let cancelled = || ctx.is_cancelled();
        for (step, domain) in path.iter().enumerate() {
            ctx.check_cancelled()?;
            let domain = domain.features();
            let mut rng = benchtop_data::rng(ctx.seed(), 1000 + step as u64);
            let (next, report) = self_train_step(head, &domain, setting.classes, p.drop_fraction, &options, &mut rng, &device, &cancelled)?;
            head = next;
            let acc = accuracy(&head, &target_test, &setting.target_test.labels, setting.classes, &device)?;
            ctx.log_metric("path_target_accuracy", step as u64 + 1, acc);
            if let Some(right) = report.kept_right {
                ctx.log_metric("pseudo_label_accuracy", step as u64 + 1, right as f64 / report.kept.max(1) as f64);
            }
            ctx.progress(step as u64 + 1, path.len() as u64);
        }
        let after = accuracy(&head, &target_test, &setting.target_test.labels, setting.classes, &device)?;
        ctx.info(format!("{} domains on the path; target accuracy {before:.3} -> {after:.3}", path.len()));
        summary.insert("target_accuracy".into(), after);
        summary.insert("path_length".into(), path.len() as f64);
        Ok(summary)
    }
}

impl Goat {
    /// Everything the source model depends on.
    fn source_key(&self, ctx: &RunContext, p: &GoatParams, encoder: EncoderKind) -> CacheKey {
        crate::ml::device::stage_key(ctx, "goat", "source_model", ctx.seed())
            .param("dataset", serde_json::to_value(p.dataset).unwrap_or_default())
            .param("encoder", serde_json::to_value(encoder).unwrap_or_default())
            .param("points_per_domain", p.points_per_domain)
            .param("source_epochs", p.source_epochs)
            .param("lr", p.lr)
            .param("weight_decay", p.weight_decay)
            .param("batch_size", p.batch_size)
    }
}

fn fresh_classifier(setting: &Setting, encoder: EncoderKind, seed: u64, device: &Device) -> Classifier {
    let mut rng = benchtop_data::rng(seed, 11);
    let [c, h, w] = setting.shape;
    let enc = Encoder::new(encoder, &mut rng, device);
    let dim = Encoder::feature_dim(encoder, h, c * h * w);
    // The authors' heads: 2 x 128 on digits, 3 x 256 on Covertype.
    let (width, depth) = if encoder == EncoderKind::Identity { (256, 3) } else { (128, 2) };
    Classifier { encoder: enc, head: Head::new(dim, width, depth, setting.classes, &mut rng, device) }
}

/// The source-trained classifier: from the cache, or trained now (and cached).
fn source_model(
    ctx: &RunContext,
    p: &GoatParams,
    setting: &Setting,
    encoder: EncoderKind,
    key: &CacheKey,
    device: &Device,
) -> Result<Classifier, StudyError> {
    let bytes = ctx.cached(key, || {
        let model = fresh_classifier(setting, encoder, ctx.seed(), device);
        let data = Batchable { x: &setting.source.x, labels: &setting.source.labels, shape: setting.shape };
        let options = p.train_options(p.source_epochs);
        let mut rng = benchtop_data::rng(ctx.seed(), 12);
        let trained = train(
            model,
            |m, x| m.forward(x),
            &data,
            &options,
            &mut rng,
            device,
            |epoch, loss, _| {
                ctx.log_metric("source_loss", epoch as u64, loss);
                ctx.info(format!("source epoch {}: loss {loss:.4}", epoch + 1));
                ctx.check_cancelled()
            },
        )?;
        trained.to_bytes()
    })?;
    fresh_classifier(setting, encoder, ctx.seed(), device).load_bytes(&bytes, device)
}

/// Feature sets larger than this are recomputed by each run instead of cached.
const MAX_CACHED_FEATURE_BYTES: usize = 64 << 20;

/// A domain through the frozen encoder (cached per source model and domain).
fn features(
    ctx: &RunContext,
    model: &Classifier,
    encoder_kind: EncoderKind,
    domain: &Domain,
    setting: &Setting,
    data_key: &CacheKey,
    device: &Device,
) -> Result<Features, StudyError> {
    let Some(encoder) = &model.encoder else {
        let dim = setting.shape.iter().product();
        return Ok(Features { name: domain.name.clone(), x: domain.x.clone(), dim, labels: Some(domain.labels.clone()) });
    };
    let encode = || -> Result<Vec<f32>, StudyError> {
        let data = Batchable { x: &domain.x, labels: &domain.labels, shape: setting.shape };
        predict(encoder, |e, x| e.forward(x), &data, device)
    };
    let [c, h, w] = setting.shape;
    let bytes_needed = domain.len() * Encoder::feature_dim(encoder_kind, h, c * h * w) * 4;
    // The unpooled encoder's features are 200 MB per 2,000 digits: recomputing them (seconds)
    // beats filling the user's disk; the pooled encoder's (12.5 MB) are kept.
    let x = if bytes_needed > MAX_CACHED_FEATURE_BYTES {
        encode()?
    } else {
        let key = data_key.clone().param("stage", "features").param("domain", domain.name.as_str()).param("n", domain.len());
        let bytes = ctx.cached(&key, || Ok(crate::ml::nets::float_bytes(&encode()?)))?;
        crate::ml::nets::floats(&bytes)?
    };
    let dim = x.len() / domain.len().max(1);
    Ok(Features { name: domain.name.clone(), x, dim, labels: Some(domain.labels.clone()) })
}

/// The exact OT plan between two equal-size feature clouds (cached per source model and pair).
fn plan_for(
    ctx: &RunContext,
    a: &Features,
    b: &Features,
    data_key: &CacheKey,
    device: &Device,
) -> Result<benchtop_data::ot::Plan, StudyError> {
    let key = data_key.clone().param("stage", "ot_plan").param("from", a.name.as_str()).param("to", b.name.as_str()).param("n", a.len());
    let plain = device.clone().inner();
    let bytes = ctx.cached(&key, || Ok(adapt::plan_to_bytes(&ot_plan(a, b, &plain)?)))?;
    match adapt::plan_from_bytes(&bytes, a.len()) {
        Some(plan) => Ok(plan),
        None => ot_plan(a, b, &plain),
    }
}

/// One domain of the adaptation path: real features, or a domain GOAT generates when its
/// step comes. A generated one keeps only which rows of the two real domains the transport
/// matched and the plan, so a path holds its real domains and at most one generated domain
/// at a time (with the authors' encoder each is 100 MB; 4 given domains and G = 3 make 15).
enum PathDomain {
    Real(Rc<Features>),
    Generated { pair: Rc<Transport>, k: usize, g: usize },
}

/// Two consecutive real domains, the rows of each that the transport matched, and its plan.
struct Transport {
    a: Rc<Features>,
    b: Rc<Features>,
    rows: (Option<Vec<usize>>, Option<Vec<usize>>),
    plan: benchtop_data::ot::Plan,
}

impl PathDomain {
    fn features(&self) -> Rc<Features> {
        match self {
            PathDomain::Real(f) => f.clone(),
            PathDomain::Generated { pair, k, g } => {
                let (a, b) = (adapt::rows(&pair.a, &pair.rows.0), adapt::rows(&pair.b, &pair.rows.1));
                Rc::new(generated_at(&a, &b, &pair.plan, *k, *g))
            }
        }
    }
}

/// The domains the head self-trains through after the source, in order: every real domain
/// past the first, each preceded (GOAT) by G domains generated between it and the one
/// before, or (its control) by G self-training steps on the very subsample of it that the
/// transport used. Shared, not copied: a domain repeated on the path is the same features.
fn adaptation_path(
    ctx: &RunContext,
    p: &GoatParams,
    real: &[Rc<Features>],
    data_key: &CacheKey,
    device: &Device,
) -> Result<Vec<PathDomain>, StudyError> {
    let extra = p.generated_domains as usize;
    let mut path: Vec<PathDomain> = Vec::new();
    for (k, pair) in real.windows(2).enumerate() {
        if matches!(p.method, GoatMethod::Goat | GoatMethod::GradualRepeated) && extra > 0 {
            // The same subsamples for GOAT and its control: the same seeded stream.
            let mut rng = benchtop_data::rng(ctx.seed(), 100 + k as u64);
            let rows = adapt::equalise_rows(pair[0].len(), pair[1].len(), p.ot_points as usize, &mut rng);
            if p.method == GoatMethod::Goat {
                let (a, b) = (adapt::rows(&pair[0], &rows.0), adapt::rows(&pair[1], &rows.1));
                let plan = plan_for(ctx, &a, &b, data_key, device)?;
                ctx.info(format!("OT {} -> {}: {} points, mean squared distance {:.2}", a.name, b.name, a.len(), plan.cost));
                let pair = Rc::new(Transport { a: pair[0].clone(), b: pair[1].clone(), rows, plan });
                path.extend((1..=extra).map(|k| PathDomain::Generated { pair: pair.clone(), k, g: extra }));
            } else {
                let b = Rc::new(adapt::rows(&pair[1], &rows.1).into_owned());
                path.extend((0..extra).map(|_| PathDomain::Real(b.clone())));
            }
        }
        path.push(PathDomain::Real(pair[1].clone()));
    }
    Ok(path)
}

/// A grid of sample images per real domain (rows: source, given..., target), as an artifact.
fn write_samples(ctx: &RunContext, setting: &Setting) {
    let [_, h, w] = setting.shape;
    if h < 2 {
        return; // table rows, not images
    }
    let rows: Vec<Vec<&[f32]>> = setting.path().iter().map(|d| d.x.chunks_exact(h * w).take(12).collect()).collect();
    let path = ctx.artifacts_dir().join("domains.png");
    if std::fs::create_dir_all(ctx.artifacts_dir()).is_ok() && benchtop_data::grid::write_grid_png(&rows, h, w, 2, &path).is_ok() {
        ctx.record_artifact("domains.png", path);
    }
}

#[cfg(test)]
mod tests;
