//! Training: the two teachers, the C-task fine-tune that weight merging needs, stage 1 (head
//! probing) and stage 2 (multi-task distillation with replay), and weight merging itself.
//! Teachers, the fine-tune and stage 1 are cached per seed and settings, so a sweep over
//! lambda, rho and the methods trains each once.

use benchtop_core::{Checkpoint, RunContext, StudyError};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::SliceRandom;

use super::data::{Data, digit_batch, scene_batch};
use super::eval;
use super::model::{Backbone, EMBED, Heads, Net, SemanticHead, TeacherC, cosine_distillation, mask_loss, prototype_logits};
use super::{MergingParams, net_bytes, net_from};
use crate::ml::checkpoint::{load_module, load_optimizer, load_rng, module_bytes, optimizer_bytes, rng_bytes};
use crate::ml::device::stage_key;
use crate::ml::nets::{TrainOptions, cross_entropy, fit, floats, host, module_values, tensor, with_module_values};

/// CLIP's temperature for the prototype logits the teachers are trained with.
const TEMPERATURE: f64 = 0.1;
const ONLY_MASK: Heads = Heads { mask: true, semantic: false };
const ONLY_SEMANTIC: Heads = Heads { mask: false, semantic: true };
const BOTH: Heads = Heads { mask: true, semantic: true };

impl Net {
    fn mask_head(&self) -> &super::model::MaskHead {
        self.mask.as_ref().expect("the study builds this network with a mask head")
    }

    fn semantic_head(&self) -> &SemanticHead {
        self.semantic.as_ref().expect("the study builds this network with a semantic head")
    }

    /// Mask logits `[n, 1, s, s]` for prompted images.
    pub fn mask_logits(&self, images: Tensor<4>, prompts: Tensor<4>) -> Tensor<4> {
        let features = self.backbone.forward(images.clone());
        self.mask_head().forward(features, prompts, images)
    }

    /// Image embeddings `[n, EMBED]`.
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        self.semantic_head().forward(self.backbone.forward(images))
    }

    /// Embeddings of every feature cell `[n, EMBED, s/4, s/4]`, each pooled over a single
    /// digit's extent around it (see [`SemanticHead::windowed`]).
    pub fn embed_dense(&self, images: Tensor<4>) -> Tensor<4> {
        self.semantic_head().windowed(self.backbone.forward(images), 28 / super::model::STRIDE)
    }
}

fn options(p: &MergingParams, epochs: u32) -> TrainOptions {
    TrainOptions { epochs, batch_size: p.batch_size as usize, lr: p.lr, weight_decay: 0.0, decoupled: true }
}

/// The settings every teacher's cache key carries (the data they are trained on).
fn data_key(ctx: &RunContext, stage: &str, p: &MergingParams) -> benchtop_core::CacheKey {
    stage_key(ctx, "merging", stage, ctx.seed())
        .param("canvas", p.canvas)
        .param("max_digits", p.max_digits)
        .param("s_scenes", p.s_scenes)
        .param("s_epochs", p.s_epochs)
        .param("c_digits", p.c_digits)
        .param("c_epochs", p.c_epochs)
        .param("batch_size", p.batch_size)
        .param("lr", p.lr)
}

/// Teacher S: backbone and mask head from the shared initial weights, trained on the
/// ground-truth masks of S's prompts.
pub fn teacher_s(ctx: &RunContext, p: &MergingParams, data: &Data, device: &Device) -> Result<Net, StudyError> {
    let bytes = ctx.cached(&data_key(ctx, "teacher-s", p), || {
        ctx.info("training teacher S (point-prompted segmentation)");
        let net = Net::new(ONLY_MASK, ctx.seed(), p.seed_streams(), device);
        let loss = |m: &Net, idx: &[usize]| {
            let (images, prompts, masks) = scene_batch(&data.s_train, &data.s_samples, idx, device);
            mask_loss(m.mask_logits(images, prompts), masks)
        };
        let mut rng = benchtop_data::rng(ctx.seed(), 80);
        let trained = fit(net, loss, data.s_samples.len(), &options(p, p.s_epochs), &mut rng, |epoch, mean, m| {
            let miou = eval::prompted_miou(&m.valid(), &data.val_scenes, &data.val_samples, &device.clone().inner())?;
            ctx.log_metric("teacher_s_loss", epoch as u64 + 1, mean);
            ctx.log_metric("teacher_s_val_miou", epoch as u64 + 1, miou);
            ctx.info(format!("teacher S epoch {}: loss {mean:.4}, validation mIoU {miou:.3}", epoch + 1));
            ctx.check_cancelled()
        })?;
        net_bytes(&trained)
    })?;
    net_from(&bytes, ONLY_MASK, ctx.seed(), device)
}

/// Teacher C: its own network, trained so that a digit's embedding is nearest its class's
/// prototype (cross-entropy over cosine logits, as CLIP's zero-shot classifier reads them).
pub fn teacher_c(ctx: &RunContext, p: &MergingParams, data: &Data, device: &Device) -> Result<TeacherC, StudyError> {
    let fresh = || TeacherC::new(&mut benchtop_data::rng(ctx.seed(), 64), device);
    let bytes = ctx.cached(&data_key(ctx, "teacher-c", p), || {
        ctx.info("training teacher C (prototype embeddings)");
        let trained = train_embedder(ctx, p, data, fresh(), TeacherC::forward, device, "teacher_c")?;
        Ok(crate::ml::nets::float_bytes(&module_values(&trained)?))
    })?;
    with_module_values(fresh(), &floats(&bytes)?, device, "teacher C")
}

/// Cross-entropy over prototype logits on C's digits, with validation accuracy per epoch.
fn train_embedder<M: Module>(
    ctx: &RunContext,
    p: &MergingParams,
    data: &Data,
    model: M,
    forward: fn(&M, Tensor<4>) -> Tensor<2>,
    device: &Device,
    name: &str,
) -> Result<M, StudyError> {
    let prototypes = data.prototype_tensor(device);
    let loss = |m: &M, idx: &[usize]| {
        let x = digit_batch(&data.c_train, idx, device);
        let labels: Vec<i64> = idx.iter().map(|&i| data.c_train.labels[i] as i64).collect();
        let y = Tensor::from_data(TensorData::new(labels, [idx.len()]), device);
        cross_entropy(prototype_logits(forward(m, x), prototypes.clone(), TEMPERATURE), y)
    };
    let mut rng = benchtop_data::rng(ctx.seed(), 81);
    fit(model, loss, data.c_train.len(), &options(p, p.c_epochs), &mut rng, |epoch, mean, m| {
        let embeddings = embeddings_of(m, forward, &data.val_digits, device)?;
        let accuracy = eval::nearest_prototype_accuracy(&embeddings, &data.prototypes, &data.val_digits.labels);
        ctx.log_metric(&format!("{name}_loss"), epoch as u64 + 1, mean);
        ctx.log_metric(&format!("{name}_val_accuracy"), epoch as u64 + 1, accuracy);
        ctx.info(format!("{name} epoch {}: loss {mean:.4}, validation accuracy {accuracy:.3}", epoch + 1));
        ctx.check_cancelled()
    })
}

/// Embeddings of every digit (host, `n x EMBED`) through `forward`, without a graph.
fn embeddings_of<M: Module>(
    m: &M,
    forward: fn(&M, Tensor<4>) -> Tensor<2>,
    digits: &benchtop_data::digits::Digits,
    device: &Device,
) -> Result<Vec<f32>, StudyError> {
    crate::ml::nets::predict(
        m,
        forward,
        &crate::ml::nets::Batchable { x: &digits.pixels, labels: &digits.labels, shape: [1, digits.rows, digits.cols] },
        device,
    )
}

/// The C-task fine-tune of the shared initial weights (backbone and semantic head, trained
/// on C's labels against the prototypes): weight merging's second model.
pub fn semantic_finetune(ctx: &RunContext, p: &MergingParams, data: &Data, device: &Device) -> Result<Net, StudyError> {
    let bytes = ctx.cached(&data_key(ctx, "c-task-finetune", p), || {
        ctx.info("fine-tuning the shared initial weights on C's task (for weight merging)");
        let net = Net::new(ONLY_SEMANTIC, ctx.seed(), p.seed_streams(), device);
        let trained = train_embedder(ctx, p, data, net, Net::embed, device, "c_task_finetune")?;
        net_bytes(&trained)
    })?;
    net_from(&bytes, ONLY_SEMANTIC, ctx.seed(), device)
}

/// Teacher S's backbone and mask head with a fresh semantic head.
pub fn with_new_head(s: &Net, seed: u64, device: &Device) -> Result<Net, StudyError> {
    let streams = MergingParams::default().seed_streams();
    Ok(Net {
        backbone: s.backbone.clone(),
        mask: s.mask.clone(),
        semantic: Some(SemanticHead::new(&mut benchtop_data::rng(seed, streams[2]), device)),
    })
}

/// Teacher C's embedding of every digit of C's training set (the distillation targets).
fn c_targets(c: &TeacherC, data: &Data, device: &Device) -> Result<Vec<f32>, StudyError> {
    let inference = c.valid();
    let plain = device.clone().inner();
    let mut out = Vec::with_capacity(data.c_train.len() * EMBED);
    let idx: Vec<usize> = (0..data.c_train.len()).collect();
    for chunk in idx.chunks(256) {
        out.extend(host(inference.forward(digit_batch(&data.c_train, chunk, &plain)))?);
    }
    Ok(out)
}

/// Rows `idx` of a host matrix with `width` columns, as a tensor.
fn rows(values: &[f32], width: usize, idx: &[usize], device: &Device) -> Tensor<2> {
    let mut out = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        out.extend_from_slice(&values[i * width..(i + 1) * width]);
    }
    tensor(out, [idx.len(), width], device)
}

/// Endless seeded minibatches over `0..n`: each pass a fresh shuffle.
pub(super) struct Batches {
    order: Vec<usize>,
    at: usize,
    size: usize,
    rng: benchtop_data::Rng,
}

impl Batches {
    pub(super) fn new(n: usize, size: usize, rng: benchtop_data::Rng) -> Batches {
        Batches { order: (0..n).collect(), at: n, size: size.min(n).max(1), rng }
    }

    pub(super) fn next(&mut self) -> Vec<usize> {
        if self.at + self.size > self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.at = 0;
        }
        let out = self.order[self.at..self.at + self.size].to_vec();
        self.at += self.size;
        out
    }

    /// `checkpoint` with this stream's position under `name`.
    fn save(&self, checkpoint: Checkpoint, name: &str) -> Result<Checkpoint, StudyError> {
        Ok(checkpoint
            .with_value(&format!("{name}.order"), &self.order)?
            .with_value(&format!("{name}.at"), &self.at)?
            .with(&format!("{name}.rng"), rng_bytes(&self.rng)))
    }

    /// This stream moved to the position [`Batches::save`] kept under `name`.
    fn restore(&mut self, checkpoint: &Checkpoint, name: &str) -> Result<(), StudyError> {
        let order: Vec<usize> = checkpoint.value(&format!("{name}.order"))?;
        let at: usize = checkpoint.value(&format!("{name}.at"))?;
        if order.len() != self.order.len() || at > order.len() {
            return Err(StudyError::Failed(format!("the checkpoint's {name} does not fit this run's data")));
        }
        (self.order, self.at, self.rng) = (order, at, load_rng(checkpoint.part(&format!("{name}.rng"))?)?);
        Ok(())
    }
}

/// Stage 1, head probing: the new semantic head alone learns C's embeddings (cosine
/// distillation on C's digits, no labels); backbone and mask head stay teacher S's.
/// Cached: merge and merge without replay start from the same probed model.
pub fn probed(ctx: &RunContext, p: &MergingParams, s: &Net, c: &TeacherC, data: &Data, device: &Device) -> Result<Net, StudyError> {
    let key = data_key(ctx, "probed", p).param("probe_steps", p.probe_steps);
    let bytes = ctx.cached(&key, || {
        ctx.info(format!("stage 1: probing the new head for {} steps, backbone frozen", p.probe_steps));
        let targets = c_targets(c, data, device)?;
        let mut net = with_new_head(s, ctx.seed(), device)?;
        let mut optimizer: ModuleOptimizer = crate::ml::adam::adam(None);
        let mut batches = Batches::new(data.c_train.len(), p.batch_size as usize, benchtop_data::rng(ctx.seed(), 82));
        let mut window = 0.0;
        for step in 0..p.probe_steps {
            let idx = batches.next();
            let features = net.backbone.forward(digit_batch(&data.c_train, &idx, device)).detach();
            let loss = cosine_distillation(net.semantic_head().forward(features), rows(&targets, EMBED, &idx, device));
            window += host(loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
            let mut grads = loss.backward();
            let head = GradientsParams::from_module(&mut grads, &net.semantic);
            net = optimizer.step(p.lr, net, head);
            if (step + 1) % p.eval_every == 0 || step + 1 == p.probe_steps {
                let n = (step % p.eval_every) + 1;
                ctx.log_metric("probe_distillation", step as u64 + 1, window / n as f64);
                window = 0.0;
                ctx.check_cancelled()?;
            }
        }
        net_bytes(&net)
    })?;
    net_from(&bytes, BOTH, ctx.seed(), device)
}

/// Stage 2's settings for one method.
pub struct Stage2 {
    pub steps: u32,
    /// The replayed fraction of S's prompts (0: no S distillation at all).
    pub rho: f64,
    pub lambda: f64,
    /// The backbone's learning rate as a fraction of the heads'.
    pub backbone_scale: f64,
}

/// Teacher S's masks for the replayed prompts (1 inside, 0 outside), in memory order: the
/// targets the student's mask head is distilled to, with S's own loss (SAM distils to the
/// teacher's masks as it trains on true ones).
fn s_targets(s: &Net, data: &Data, memory: &[usize], device: &Device) -> Result<Vec<u8>, StudyError> {
    let inference = s.valid();
    let plain = device.clone().inner();
    let mut out = Vec::with_capacity(memory.len() * data.side * data.side);
    for chunk in memory.chunks(128) {
        let (images, prompts, _) = scene_batch(&data.s_train, &data.s_samples, chunk, &plain);
        out.extend(host(inference.mask_logits(images, prompts))?.into_iter().map(|v| u8::from(v > 0.0)));
    }
    Ok(out)
}

/// Stage 2, multi-task distillation: C's embeddings on C's digits, plus lambda x S's masks on
/// the replayed prompts; the backbone at `backbone_scale` of the heads' learning rate. Logs
/// S's and C's skill on the test sets every `eval_every` steps (the forgetting curves).
#[allow(clippy::too_many_arguments)]
pub fn distil(
    ctx: &RunContext,
    p: &MergingParams,
    stage: &Stage2,
    mut net: Net,
    s: &Net,
    c: &TeacherC,
    data: &Data,
    device: &Device,
) -> Result<Net, StudyError> {
    let memory = data.memory(stage.rho);
    ctx.info(format!(
        "stage 2: {} steps, {} replayed prompts of {}, lambda {}, backbone at {} x the heads' rate",
        stage.steps,
        memory.len(),
        data.s_samples.len(),
        stage.lambda,
        stage.backbone_scale
    ));
    let c_goal = c_targets(c, data, device)?;
    let s_goal = s_targets(s, data, &memory, device)?;
    let pixels = data.side * data.side;
    let replay = !memory.is_empty() && stage.lambda > 0.0;
    let mut optimizer: ModuleOptimizer = crate::ml::adam::adam(None);
    let mut c_batches = Batches::new(data.c_train.len(), p.batch_size as usize, benchtop_data::rng(ctx.seed(), 83));
    let mut s_batches = Batches::new(memory.len().max(1), p.replay_batch as usize, benchtop_data::rng(ctx.seed(), 84));
    let plain = device.clone().inner();
    let curves = |step: u32, net: &Net| -> Result<(), StudyError> {
        let m = net.valid();
        ctx.log_metric("s_miou", step as u64, eval::prompted_miou(&m, &data.test_scenes, &data.test_samples, &plain)?);
        ctx.log_metric("c_accuracy", step as u64, eval::student_accuracy(&m, &data.test_digits, &data.prototypes, &plain)?);
        Ok(())
    };
    // A resumed run goes on after the last evaluation its checkpoint covers (whose points,
    // step 0's included, are stored already).
    let mut first = 0;
    match ctx.resumed() {
        Some(cp) => {
            first = cp.value("distil.steps")?;
            if first > stage.steps {
                return Err(StudyError::Failed(format!("the checkpoint at {} is past stage 2's {} steps", cp.stage, stage.steps)));
            }
            net = load_module(net, cp.part("distil.net")?, "student")?;
            optimizer = load_optimizer(optimizer, cp.part("distil.optimizer")?)?;
            c_batches.restore(cp, "distil.c_batches")?;
            s_batches.restore(cp, "distil.s_batches")?;
        }
        None => curves(0, &net)?,
    }
    let (mut c_window, mut s_window, mut n_window) = (0.0, 0.0, 0usize);
    for step in first..stage.steps {
        let idx = c_batches.next();
        let c_loss = cosine_distillation(net.embed(digit_batch(&data.c_train, &idx, device)), rows(&c_goal, EMBED, &idx, device));
        c_window += host(c_loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
        let loss = if !replay {
            c_loss
        } else {
            let picks = s_batches.next();
            let samples: Vec<usize> = picks.iter().map(|&k| memory[k]).collect();
            let (images, prompts, _) = scene_batch(&data.s_train, &data.s_samples, &samples, device);
            let goal = tensor(
                picks.iter().flat_map(|&k| s_goal[k * pixels..(k + 1) * pixels].iter().map(|&v| f32::from(v))).collect(),
                [picks.len(), 1, data.side, data.side],
                device,
            );
            let s_loss = mask_loss(net.mask_logits(images, prompts), goal);
            s_window += host(s_loss.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
            c_loss + s_loss.mul_scalar(stage.lambda)
        };
        n_window += 1;
        let mut grads = loss.backward();
        let backbone = GradientsParams::from_module(&mut grads, &net.backbone);
        let heads = GradientsParams::from_module(&mut grads, &net);
        if stage.backbone_scale > 0.0 {
            net = optimizer.step(p.lr * stage.backbone_scale, net, backbone);
        }
        net = optimizer.step(p.lr, net, heads);
        ctx.progress(step as u64 + 1, stage.steps as u64);
        if (step + 1) % p.eval_every == 0 || step + 1 == stage.steps {
            let n = n_window.max(1) as f64;
            if !(c_window / n).is_finite() || !(s_window / n).is_finite() {
                return Err(StudyError::Failed(format!("stage 2's loss diverged by step {}", step + 1)));
            }
            ctx.log_metric("c_distillation", step as u64 + 1, c_window / n);
            if replay {
                ctx.log_metric("s_distillation", step as u64 + 1, s_window / n);
            }
            (c_window, s_window, n_window) = (0.0, 0.0, 0);
            curves(step + 1, &net)?;
            let cp = Checkpoint::new(format!("stage 2 step {} of {}", step + 1, stage.steps))
                .with_value("distil.steps", &(step + 1))?
                .with("distil.net", module_bytes(&net)?)
                .with("distil.optimizer", optimizer_bytes(&optimizer)?);
            ctx.checkpoint(s_batches.save(c_batches.save(cp, "distil.c_batches")?, "distil.s_batches")?);
            ctx.check_cancelled()?;
        }
    }
    Ok(net)
}

/// Weight merging: `theta0 + scale * ((S - theta0) + (B - theta0))` for the backbone, S's mask
/// head and B's semantic head. At scale 0.5 this is the plain average of S and B.
pub fn task_arithmetic(s: &Net, b: &Net, scale: f64, streams: [u64; 3], seed: u64, device: &Device) -> Result<Net, StudyError> {
    let init = module_values(&Backbone::new(&mut benchtop_data::rng(seed, streams[0]), device))?;
    let (vs, vb) = (module_values(&s.backbone)?, module_values(&b.backbone)?);
    let t = scale as f32;
    let merged: Vec<f32> = init.iter().zip(vs.iter().zip(&vb)).map(|(i, (s, b))| i + t * ((s - i) + (b - i))).collect();
    let backbone = with_module_values(Backbone::new(&mut benchtop_data::rng(seed, streams[0]), device), &merged, device, "backbone")?;
    Ok(Net { backbone, mask: s.mask.clone(), semantic: b.semantic.clone() })
}

/// Task arithmetic's scale, chosen on the validation scenes and digits (never the test sets):
/// the best mean of S's and C's skills, each relative to its teacher.
pub fn choose_task_scale(ctx: &RunContext, s: &Net, b: &Net, c: &TeacherC, data: &Data, device: &Device) -> Result<f64, StudyError> {
    let plain = device.clone().inner();
    let s_ref = eval::prompted_miou(&s.valid(), &data.val_scenes, &data.val_samples, &plain)?.max(1e-9);
    let c_ref = eval::teacher_accuracy(c, &data.val_digits, &data.prototypes, &plain)?.max(1e-9);
    let mut best = (f64::NEG_INFINITY, 0.5);
    for scale in TASK_SCALES {
        let m = task_arithmetic(s, b, scale, MergingParams::default().seed_streams(), ctx.seed(), device)?.valid();
        let s_skill = eval::prompted_miou(&m, &data.val_scenes, &data.val_samples, &plain)? / s_ref;
        let c_skill = eval::student_accuracy(&m, &data.val_digits, &data.prototypes, &plain)? / c_ref;
        let score = (s_skill + c_skill) / 2.0;
        ctx.info(format!("task arithmetic at scale {scale}: validation S {s_skill:.3}, C {c_skill:.3} of the teachers'"));
        if score > best.0 {
            best = (score, scale);
        }
    }
    Ok(best.1)
}

/// The scales task arithmetic tries (0.5 is the plain average).
pub const TASK_SCALES: [f64; 5] = [0.25, 0.5, 0.75, 1.0, 1.25];
