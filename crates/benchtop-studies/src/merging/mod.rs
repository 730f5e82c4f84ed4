//! Merging two teachers into one backbone (Wang et al., 2024, "SAM-CLIP: Merging vision
//! foundation models towards semantic and spatial understanding"), at laptop scale on real
//! digits.
//!
//! Teacher S (SAM's role) segments the digit under a clicked pixel in a scene of digits;
//! teacher C (CLIP's role) maps a single digit to an embedding matched to fixed class
//! prototypes (zero-shot classification by the nearest prototype). The recipe starts from S,
//! keeps its mask head, adds a light semantic head, then (1) probes: trains the new head
//! alone to reproduce C's embeddings, backbone frozen; and (2) distils both: C on C's data,
//! plus lambda x S (the frozen teacher's masks) on a replayed fraction rho of S's data, with
//! the backbone at a lower learning rate. The merged model should keep S's skill, reach C's,
//! and gain one neither has alone: the semantic head applied to every feature cell labels a
//! scene's pixels (zero-shot semantic segmentation).

mod data;
mod eval;
mod figures;
pub mod model;
mod train;

use benchtop_core::{Better, ChartKind, ChartSpec, ParamProblem, Params, RunContext, Study, StudyError, Summary};
use burn::module::Module;
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::device::training_device;
use crate::ml::nets::{module_values, with_module_values};
use data::Data;
use model::{Heads, Net, TeacherC};

/// The study's registry entry.
pub struct Merging;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergingMethod {
    /// The recipe: start from S, probe the new head, then distil both with replay.
    #[default]
    Merge,
    /// The recipe without replay (rho = 0): C's distillation alone in stage 2.
    MergeNoReplay,
    /// The recipe without stage 1: stage 2 from a fresh head for both stages' steps.
    MergeNoProbe,
    /// Teacher S and a C-task fine-tune of the same initial weights, averaged.
    WeightAverage,
    /// The same two fine-tunes as task vectors added to the initial weights, their scale
    /// chosen on validation data.
    TaskArithmetic,
    /// Both distillations from a random backbone and heads, on all of S's data, for the
    /// merge's number of steps.
    MultitaskScratch,
    /// The two teachers side by side (twice the parameters), and the teacher-only baselines
    /// for zero-shot segmentation.
    Teachers,
}

/// Parameters of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MergingParams {
    pub method: MergingMethod,
    /// Weight of the distillation to S on replayed data in stage 2.
    #[schemars(range(min = 0.0, max = 1000.0))]
    pub lambda: f64,
    /// The fraction of S's training prompts kept for replay in stage 2.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub rho: f64,
    /// The scenes' side in pixels (a multiple of 4).
    #[schemars(range(min = 32, max = 96))]
    pub canvas: u32,
    /// The most digits in a scene (at least one).
    #[schemars(range(min = 1, max = 4))]
    pub max_digits: u32,
    /// Scenes teacher S is trained on (each digit in them gives one prompt).
    #[schemars(range(min = 50, max = 4000))]
    pub s_scenes: u32,
    #[schemars(range(min = 1, max = 50))]
    pub s_epochs: u32,
    /// Single digits teacher C (and stage 1 and 2's C distillation) uses.
    #[schemars(range(min = 100, max = 4000))]
    pub c_digits: u32,
    #[schemars(range(min = 1, max = 50))]
    pub c_epochs: u32,
    /// Stage 1 steps: the new head alone.
    #[schemars(range(min = 0, max = 10000))]
    pub probe_steps: u32,
    /// Stage 2 steps: everything, both distillations.
    #[schemars(range(min = 1, max = 20000))]
    pub merge_steps: u32,
    /// Digits per batch (C's data) and prompts per batch when training teacher S.
    #[schemars(range(min = 2, max = 512))]
    pub batch_size: u32,
    /// Replayed prompts per stage 2 step (S's data; the paper's batches also mix a few
    /// replayed SAM images with many CLIP images).
    #[schemars(range(min = 1, max = 512))]
    pub replay_batch: u32,
    /// Adam's learning rate for the heads (and for every teacher).
    #[schemars(range(min = 0.000001, max = 0.1))]
    pub lr: f64,
    /// The backbone's learning rate in stage 2 as a fraction of the heads'.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub backbone_lr_scale: f64,
    /// Test scenes (every digit in them is prompted once) and test digits.
    #[schemars(range(min = 10, max = 2000))]
    pub test_scenes: u32,
    #[schemars(range(min = 100, max = 5000))]
    pub test_digits: u32,
    /// Stage 2 steps between two points of the curves.
    #[schemars(range(min = 1, max = 10000))]
    pub eval_every: u32,
}

impl Default for MergingParams {
    fn default() -> Self {
        MergingParams {
            method: MergingMethod::Merge,
            lambda: 1.0,
            rho: 0.05,
            canvas: 48,
            max_digits: 3,
            s_scenes: 1500,
            s_epochs: 4,
            c_digits: 4000,
            c_epochs: 8,
            probe_steps: 100,
            merge_steps: 600,
            batch_size: 32,
            replay_batch: 8,
            lr: 1e-3,
            backbone_lr_scale: 0.1,
            test_scenes: 300,
            test_digits: 1000,
            eval_every: 150,
        }
    }
}

impl Params for MergingParams {
    fn check(&self) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        if !self.canvas.is_multiple_of(model::STRIDE as u32) {
            problems.push(ParamProblem::new("canvas", "the canvas must be a multiple of 4 pixels (the feature map's stride)"));
        }
        if self.canvas < 28 + 4 {
            problems.push(ParamProblem::new("canvas", "the canvas must hold a digit with room to move"));
        }
        problems
    }

    fn unused(&self) -> Vec<&'static str> {
        use MergingMethod::*;
        match self.method {
            Merge | MergeNoProbe => vec![],
            MergeNoReplay => vec!["lambda", "rho", "replay_batch"],
            MultitaskScratch => vec!["rho", "backbone_lr_scale"],
            WeightAverage | TaskArithmetic | Teachers => {
                vec!["lambda", "rho", "replay_batch", "probe_steps", "merge_steps", "backbone_lr_scale", "eval_every"]
            }
        }
    }
}

impl Study for Merging {
    type Params = MergingParams;

    fn name(&self) -> &'static str {
        "merging"
    }

    fn title(&self) -> &'static str {
        "Merging two teachers into one backbone (SAM-CLIP, Wang et al., 2024)"
    }

    fn description(&self) -> &'static str {
        "A point-prompted digit segmenter (SAM's role) and a prototype digit embedder (CLIP's role) \
         merged into one backbone: probe a new head, then distil both with a replayed fraction of \
         the segmenter's data. Paper's finding: replay prevents forgetting, the merged model keeps \
         both skills, and zero-shot semantic segmentation emerges."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        let d = MergingParams::default();
        vec![
            ChartSpec {
                better: Some(Better::Higher),
                ..ChartSpec::new(ChartKind::Scatter, "c_ratio")
                    .with_x("s_retention")
                    .with_title("C's skill reached vs S's skill kept (each over its teacher's)")
            },
            ChartSpec::new(ChartKind::Bars, "zs_seg_miou")
                .with_group("method")
                .with_title("Zero-shot semantic segmentation, mIoU over classes"),
            ChartSpec::new(ChartKind::Curves, "s_miou")
                .with_filter("lambda", d.lambda)
                .with_title("Teacher S's skill during stage 2 (point-prompted mIoU): forgetting shows here"),
            ChartSpec::new(ChartKind::Curves, "c_accuracy")
                .with_filter("lambda", d.lambda)
                .with_title("Teacher C's skill during stage 2 (zero-shot accuracy)"),
            ChartSpec::new(ChartKind::MetricVsParam, "s_retention")
                .with_x("rho")
                .with_filter("method", "merge")
                .with_title("S's skill kept vs the replayed fraction rho, one line per lambda")
                .with_group("lambda"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &MergingParams) -> Result<Summary, StudyError> {
        let device = training_device(ctx.backend())?;
        let data = Data::new(p, ctx.seed())?;
        let side = p.canvas as usize;
        ctx.info(format!(
            "{} training scenes ({} prompts), {} C digits, {} test scenes ({} prompts), {} test digits",
            data.s_train.len(),
            data.s_samples.len(),
            data.c_train.len(),
            data.test_scenes.len(),
            data.test_samples.len(),
            data.test_digits.len()
        ));
        let s = train::teacher_s(ctx, p, &data, &device)?;
        let c = train::teacher_c(ctx, p, &data, &device)?;
        let plain = device.clone().inner();
        let (s_eval, c_eval) = (s.valid(), c.valid());
        let teacher_s_miou = eval::prompted_miou(&s_eval, &data.test_scenes, &data.test_samples, &plain)?;
        let teacher_c_accuracy = eval::teacher_accuracy(&c_eval, &data.test_digits, &data.prototypes, &plain)?;
        ctx.info(format!("teacher S: mIoU {teacher_s_miou:.3}; teacher C: accuracy {teacher_c_accuracy:.3}"));
        let teacher_params = (s.num_params() + c.num_params()) as f64;
        let teacher_macs = (s.macs(side) + TeacherC::macs(28)) as f64;

        let mut summary = Summary::new();
        summary.insert("teacher_s_miou".into(), teacher_s_miou);
        summary.insert("teacher_c_accuracy".into(), teacher_c_accuracy);

        let student = match p.method {
            MergingMethod::Teachers => {
                let window_maps = eval::windows_maps(&c_eval, &data.test_scenes, &data.prototypes, &plain)?;
                let mask_maps = eval::masks_maps(&s_eval, &c_eval, &data.test_scenes, &data.prototypes, &plain)?;
                let (windows, masks) = (eval::class_miou(&window_maps, &data.test_scenes), eval::class_miou(&mask_maps, &data.test_scenes));
                ctx.info(format!("teacher-only zero-shot segmentation: C over windows {windows:.3}, S's masks labelled by C {masks:.3}"));
                summary.insert("s_miou".into(), teacher_s_miou);
                summary.insert("c_accuracy".into(), teacher_c_accuracy);
                summary.insert("s_retention".into(), 1.0);
                summary.insert("c_ratio".into(), 1.0);
                summary.insert("zs_seg_miou".into(), masks);
                summary.insert("zs_seg_miou_windows".into(), windows);
                summary.insert("params_ratio".into(), 1.0);
                summary.insert("macs_ratio".into(), 1.0);
                summary.insert("student_steps".into(), 0.0);
                figures::write_samples(ctx, &s_eval, &mask_maps, &data, &plain);
                return Ok(summary);
            }
            MergingMethod::WeightAverage | MergingMethod::TaskArithmetic => {
                let b = train::semantic_finetune(ctx, p, &data, &device)?;
                let scale = if p.method == MergingMethod::WeightAverage {
                    0.5
                } else {
                    train::choose_task_scale(ctx, &s, &b, &c_eval, &data, &device)?
                };
                summary.insert("task_scale".into(), scale);
                summary.insert("student_steps".into(), 0.0);
                train::task_arithmetic(&s, &b, scale, p.seed_streams(), ctx.seed(), &device)?
            }
            MergingMethod::Merge | MergingMethod::MergeNoReplay | MergingMethod::MergeNoProbe | MergingMethod::MultitaskScratch => {
                let (start, steps, memory) = match p.method {
                    MergingMethod::Merge => (train::probed(ctx, p, &s, &c, &data, &device)?, p.merge_steps, p.rho),
                    MergingMethod::MergeNoReplay => (train::probed(ctx, p, &s, &c, &data, &device)?, p.merge_steps, 0.0),
                    MergingMethod::MergeNoProbe => (train::with_new_head(&s, ctx.seed(), &device)?, p.probe_steps + p.merge_steps, p.rho),
                    _ => (
                        Net::new(Heads { mask: true, semantic: true }, ctx.seed(), p.seed_streams(), &device),
                        p.probe_steps + p.merge_steps,
                        1.0,
                    ),
                };
                let backbone_scale = if p.method == MergingMethod::MultitaskScratch { 1.0 } else { p.backbone_lr_scale };
                let stage = train::Stage2 { steps, rho: memory, lambda: p.lambda, backbone_scale };
                summary.insert("replayed_prompts".into(), data.memory(memory).len() as f64);
                summary.insert(
                    "student_steps".into(),
                    (steps + if matches!(p.method, MergingMethod::Merge | MergingMethod::MergeNoReplay) { p.probe_steps } else { 0 })
                        as f64,
                );
                train::distil(ctx, p, &stage, start, &s, &c, &data, &device)?
            }
        };
        let student_eval = student.valid();
        let s_miou = eval::prompted_miou(&student_eval, &data.test_scenes, &data.test_samples, &plain)?;
        let c_accuracy = eval::student_accuracy(&student_eval, &data.test_digits, &data.prototypes, &plain)?;
        let maps = eval::zero_shot_maps(&student_eval, &data.test_scenes, &data.prototypes, &plain)?;
        let zs = eval::class_miou(&maps, &data.test_scenes);
        ctx.info(format!("student: S mIoU {s_miou:.3}, C accuracy {c_accuracy:.3}, zero-shot segmentation mIoU {zs:.3}"));
        summary.insert("s_miou".into(), s_miou);
        summary.insert("c_accuracy".into(), c_accuracy);
        summary.insert("s_retention".into(), s_miou / teacher_s_miou.max(1e-9));
        summary.insert("c_ratio".into(), c_accuracy / teacher_c_accuracy.max(1e-9));
        summary.insert("zs_seg_miou".into(), zs);
        summary.insert("params_ratio".into(), student.num_params() as f64 / teacher_params);
        summary.insert("macs_ratio".into(), student.macs(side) as f64 / teacher_macs);
        figures::write_samples(ctx, &student_eval, &maps, &data, &plain);
        Ok(summary)
    }
}

impl MergingParams {
    /// The generator streams of a fresh network's backbone, mask head and semantic head:
    /// teacher S, the C-task fine-tune and the scratch model all start from this backbone.
    fn seed_streams(&self) -> [u64; 3] {
        [60, 61, 63]
    }
}

/// A network's weights as cache bytes.
fn net_bytes(net: &Net) -> Result<Vec<u8>, StudyError> {
    Ok(crate::ml::nets::float_bytes(&module_values(net)?))
}

/// A network with `heads` loaded from [`net_bytes`].
fn net_from(bytes: &[u8], heads: Heads, seed: u64, device: &Device) -> Result<Net, StudyError> {
    let fresh = Net::new(heads, seed, MergingParams::default().seed_streams(), device);
    with_module_values(fresh, &crate::ml::nets::floats(bytes)?, device, "merging network")
}

#[cfg(test)]
mod tests;
