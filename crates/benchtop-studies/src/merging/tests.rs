use super::data::{Data, prototypes};
use super::eval::{class_miou, iou, nearest_prototype, nearest_prototype_accuracy};
use super::model::{EMBED, SemanticHead, cosine_distillation, encode_prompt, mask_loss, upsample};
use super::train::{Batches, task_arithmetic};
use super::*;
use crate::ml::nets::{host, tensor};
use benchtop_core::{ArtifactCache, Backend, RunEvent, RunId};

/// One run; its log lines go to stderr when `MERGING_LOG` is set (to follow a slow test).
pub(super) fn run_with(p: &MergingParams, seed: u64, cache: &std::path::Path) -> Summary {
    let (tx, rx) = std::sync::mpsc::channel();
    let verbose = std::env::var_os("MERGING_LOG").is_some();
    let t = std::time::Instant::now();
    let printer = std::thread::spawn(move || {
        for e in rx {
            if let (true, RunEvent::Log { text, .. }) = (verbose, e) {
                eprintln!("{:>6.1}s {text}", t.elapsed().as_secs_f64());
            }
        }
    });
    let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
        .with_cache(ArtifactCache::new(cache));
    let out = Merging.run(&ctx, p).unwrap();
    drop(ctx);
    let _ = printer.join();
    out
}

#[test]
fn a_prompt_is_a_bump_at_the_click_and_offsets_from_it() {
    let side = 48;
    let g = side / model::STRIDE;
    let p = encode_prompt(21, 10, side);
    assert_eq!(p.len(), 3 * g * g);
    // The click (21, 10) is in cell (5, 2): the bump is largest there.
    let bump = &p[..g * g];
    let top = bump.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!((top / g, top % g), (5, 2));
    // Offsets grow away from the click, with the sign of the direction.
    let (dy, dx) = (&p[g * g..2 * g * g], &p[2 * g * g..]);
    assert!(dy[0] < 0.0 && dy[(g - 1) * g] > 0.0);
    assert!(dx[0] < 0.0 && dx[g - 1] > 0.0);
    assert!(dy[5 * g + 2].abs() < 0.05 && dx[5 * g + 2].abs() < 0.05);
}

#[test]
fn upsampling_repeats_each_cell_in_a_block() {
    let device = Device::flex();
    let x = tensor(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2], &device);
    let up = host(upsample(x, 2)).unwrap();
    assert_eq!(up, vec![1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]);
}

#[test]
fn the_distillation_losses_are_zero_at_the_teacher_and_grow_away_from_it() {
    let device = Device::flex();
    let a = tensor(vec![1.0, 2.0, -1.0, 0.5, 0.0, 3.0], [2, 3], &device);
    let scalar = |t: Tensor<1>| host(t).unwrap()[0];
    // Cosine distillation: 0 for the same direction at any length, 2 for the opposite one.
    assert!(scalar(cosine_distillation(a.clone(), a.clone().mul_scalar(3.0))).abs() < 1e-6);
    assert!((scalar(cosine_distillation(a.clone(), a.clone().neg())) - 2.0).abs() < 1e-5);
    // The mask loss: confident right logits cost almost nothing, wrong ones a lot, and
    // unsure ones in between; a mask half right costs more than one all right.
    let target = tensor(vec![1.0, 0.0, 0.0, 1.0], [1, 1, 2, 2], &device);
    let right = tensor(vec![8.0, -8.0, -8.0, 8.0], [1, 1, 2, 2], &device);
    let unsure = tensor(vec![0.0; 4], [1, 1, 2, 2], &device);
    let half = tensor(vec![8.0, -8.0, 8.0, -8.0], [1, 1, 2, 2], &device);
    let (r, u, h, w) = (
        scalar(mask_loss(right.clone(), target.clone())),
        scalar(mask_loss(unsure, target.clone())),
        scalar(mask_loss(half, target.clone())),
        scalar(mask_loss(right.neg(), target)),
    );
    assert!(r < 0.01 && r < u && u < w && r < h && w > 5.0, "{r} {u} {h} {w}");
}

#[test]
fn nearest_prototype_classification_reads_the_direction_only() {
    let protos = prototypes(3);
    // Each prototype (at any positive length) is its own class.
    let mut embeddings = Vec::new();
    for k in 0..10 {
        let column: Vec<f32> = (0..EMBED).map(|d| protos[d * 10 + k] * (k as f32 + 0.5)).collect();
        assert_eq!(nearest_prototype(&column, &protos), k);
        embeddings.extend(column);
    }
    let labels: Vec<u8> = (0..10).collect();
    assert_eq!(nearest_prototype_accuracy(&embeddings, &protos, &labels), 1.0);
    let shifted: Vec<u8> = (0..10).map(|k| (k + 1) % 10).collect();
    assert_eq!(nearest_prototype_accuracy(&embeddings, &protos, &shifted), 0.0);
    // The prototypes are unit vectors, and the same for a seed.
    for k in 0..10 {
        let norm: f32 = (0..EMBED).map(|d| protos[d * 10 + k].powi(2)).sum();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_eq!(prototypes(3), protos);
}

#[test]
fn scores_are_one_when_right_and_fall_with_errors() {
    assert_eq!(iou(&[true, true, false], &[true, true, false]), 1.0);
    assert_eq!(iou(&[true, false, false], &[true, true, false]), 0.5);
    assert_eq!(iou(&[false, false], &[false, false]), 1.0);
    let p = MergingParams { s_scenes: 50, test_scenes: 20, ..MergingParams::default() };
    let data = Data::new(&p, 0).unwrap();
    let truth: Vec<Vec<u8>> = data.test_scenes.scenes.iter().map(|s| s.classes.clone()).collect();
    assert_eq!(class_miou(&truth, &data.test_scenes), 1.0);
    // Every digit pixel labelled one class: that class's IoU is its share, the rest 0.
    let ones: Vec<Vec<u8>> = truth.iter().map(|m| m.iter().map(|_| 1).collect()).collect();
    let score = class_miou(&ones, &data.test_scenes);
    assert!(score > 0.0 && score < 0.15, "{score}");
}

#[test]
fn replay_keeps_a_prefix_of_s_prompts_and_batches_visit_every_index() {
    let p = MergingParams { s_scenes: 200, test_scenes: 20, ..MergingParams::default() };
    let data = Data::new(&p, 1).unwrap();
    let n = data.s_samples.len();
    assert!(data.memory(0.0).is_empty());
    assert_eq!(data.memory(1.0).len(), n);
    let (small, large) = (data.memory(0.05), data.memory(0.2));
    assert_eq!(small.len(), (0.05 * n as f64).ceil() as usize);
    assert_eq!(data.memory(1e-9).len(), 1, "a tiny rho is a memory of one, not none");
    assert_eq!(&large[..small.len()], &small[..], "a larger rho replays a superset");
    // The seeded order mixes scenes: the replayed prompts are not one scene's digits.
    let scenes: std::collections::HashSet<usize> = small.iter().map(|&i| data.s_samples[i].scene).collect();
    assert!(scenes.len() > small.len() / 2);
    // Batches: each pass over 10 indices in batches of 5 sees every index once.
    let mut batches = Batches::new(10, 5, benchtop_data::rng(0, 0));
    let mut seen: Vec<usize> = batches.next().into_iter().chain(batches.next()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
}

#[test]
fn the_slid_head_at_a_digits_centre_is_the_head_on_the_digit() {
    // On a single 28 x 28 digit (7 x 7 cells), the head's 7-cell window around the centre
    // cell covers the whole map: the dense embedding there is the image's embedding.
    let device = Device::flex();
    let head = SemanticHead::new(&mut benchtop_data::rng(0, 1), &device);
    let features = tensor((0..2 * 32 * 49).map(|i| (i * 37 % 101) as f32 / 101.0).collect(), [2, 32, 7, 7], &device);
    let pooled = host(head.forward(features.clone())).unwrap();
    let dense = host(head.windowed(features, 7)).unwrap();
    for n in 0..2 {
        for d in 0..EMBED {
            let centre = dense[n * EMBED * 49 + d * 49 + 3 * 7 + 3];
            assert!((centre - pooled[n * EMBED + d]).abs() < 1e-4, "image {n}, dimension {d}");
        }
    }
}

#[test]
fn task_arithmetic_at_half_is_the_average_and_at_zero_the_initial_weights() {
    let device = Device::flex();
    let streams = MergingParams::default().seed_streams();
    let heads = model::Heads { mask: true, semantic: true };
    let s = Net::new(heads, 1, [1, 2, 3], &device);
    let b = Net::new(heads, 2, [4, 5, 6], &device);
    let init = Net::new(heads, 7, streams, &device);
    let values = |n: &Net| crate::ml::nets::module_values(&n.backbone).unwrap();
    let half = task_arithmetic(&s, &b, 0.5, streams, 7, &device).unwrap();
    for ((h, x), y) in values(&half).iter().zip(values(&s)).zip(values(&b)) {
        assert!((h - (x + y) / 2.0).abs() < 1e-6);
    }
    assert_eq!(values(&task_arithmetic(&s, &b, 0.0, streams, 7, &device).unwrap()), values(&init));
    // The heads are the fine-tunes' own.
    let merged = task_arithmetic(&s, &b, 0.75, streams, 7, &device).unwrap();
    assert_eq!(crate::ml::nets::module_values(&merged.mask).unwrap(), crate::ml::nets::module_values(&s.mask).unwrap());
    assert_eq!(crate::ml::nets::module_values(&merged.semantic).unwrap(), crate::ml::nets::module_values(&b.semantic).unwrap());
}

#[test]
fn a_canvas_off_the_feature_grid_is_refused() {
    let problems = MergingParams { canvas: 50, ..MergingParams::default() }.check();
    assert!(problems.iter().any(|p| p.key == "canvas"), "{problems:?}");
    assert!(MergingParams::default().check().is_empty());
}

fn quiet_context(seed: u64, cache: &std::path::Path) -> RunContext {
    let (tx, _rx) = std::sync::mpsc::channel();
    RunContext::new(RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
        .with_cache(ArtifactCache::new(cache))
}

#[test]
fn probing_trains_the_new_head_alone() {
    let cache = tempfile::tempdir().unwrap();
    let ctx = quiet_context(0, cache.path());
    let p = MergingParams { s_scenes: 50, c_digits: 200, probe_steps: 5, eval_every: 5, test_scenes: 10, ..MergingParams::default() };
    let data = Data::new(&p, 0).unwrap();
    let device = crate::ml::device::training_device(Backend::Cpu).unwrap();
    let s = Net::new(model::Heads { mask: true, semantic: false }, 0, p.seed_streams(), &device);
    let c = model::TeacherC::new(&mut benchtop_data::rng(0, 64), &device);
    let probed = train::probed(&ctx, &p, &s, &c, &data, &device).unwrap();
    use crate::ml::nets::module_values as values;
    assert_eq!(values(&probed.backbone).unwrap(), values(&s.backbone).unwrap(), "the backbone is frozen");
    assert_eq!(values(&probed.mask).unwrap(), values(&s.mask).unwrap(), "the mask head is untouched");
    let fresh = train::with_new_head(&s, 0, &device).unwrap();
    assert_ne!(values(&probed.semantic).unwrap(), values(&fresh.semantic).unwrap(), "the new head learned");
}

/// A tiny setting: every stage runs, in seconds.
fn tiny() -> MergingParams {
    MergingParams {
        s_scenes: 60,
        s_epochs: 1,
        c_digits: 200,
        c_epochs: 1,
        probe_steps: 5,
        merge_steps: 10,
        eval_every: 5,
        test_scenes: 15,
        test_digits: 100,
        ..MergingParams::default()
    }
}

#[test]
fn every_method_runs_and_a_seed_repeats_exactly() {
    let cache = tempfile::tempdir().unwrap();
    for method in [
        MergingMethod::Merge,
        MergingMethod::MergeNoReplay,
        MergingMethod::MergeNoProbe,
        MergingMethod::WeightAverage,
        MergingMethod::TaskArithmetic,
        MergingMethod::MultitaskScratch,
        MergingMethod::Teachers,
    ] {
        let s = run_with(&MergingParams { method, ..tiny() }, 3, cache.path());
        for key in ["s_miou", "c_accuracy", "zs_seg_miou", "s_retention", "c_ratio", "params_ratio", "macs_ratio", "student_steps"] {
            assert!(s.get(key).is_some_and(|v| v.is_finite()), "{method:?} reports {key}: {s:?}");
        }
        // One backbone for two heads: fewer parameters than the two teachers.
        if method != MergingMethod::Teachers {
            assert!(s["params_ratio"] < 0.8, "{method:?}: {s:?}");
        }
    }
    // The same seed again, from a fresh cache: the same numbers.
    let again = tempfile::tempdir().unwrap();
    let first = run_with(&tiny(), 4, cache.path());
    assert_eq!(run_with(&tiny(), 4, again.path()), first);
}

/// A merge killed after an evaluation of stage 2 and resumed from its checkpoint ends as the
/// merge uninterrupted: same summary, same curve points. The checkpoint holds the student, the
/// one optimizer both learning rates step, and both batch streams' positions.
#[test]
fn a_merge_resumes_from_stage_2_to_the_same_numbers() {
    let stage = crate::ml::checkpoint::resume_check::resumes_identically(&Merging, &MergingParams { merge_steps: 15, ..tiny() }, 2, 1);
    assert!(stage.starts_with("stage 2 step"), "{stage}");
}

/// The mechanism the paper's replay rests on, at a small setting over seeds 0-4 with the
/// backbone at the heads' learning rate. (At the preset's 0.1x rate the backbone hardly moves
/// in our budget and there is nothing to forget: docs/studies/merging.md.) Distilling C alone
/// pulls the backbone away from S's skill; replaying 5% of S's prompts keeps it.
///
/// Robust on any machine: on this one the gain of replay in S's mIoU was +0.037 to +0.078
/// over the five seeds (mean +0.062, sd 0.016; asserted: a mean above +0.025), the merge kept
/// 0.99 of teacher S's mIoU (asserted 0.95) and C's distillation alone kept 0.88-0.95
/// (mean 0.91; asserted below 0.97).
#[test]
fn replay_keeps_the_skill_that_distilling_c_alone_forgets() {
    let cache = tempfile::tempdir().unwrap();
    let p = MergingParams {
        s_scenes: 600,
        s_epochs: 6,
        c_digits: 1500,
        c_epochs: 6,
        probe_steps: 50,
        merge_steps: 300,
        eval_every: 300,
        test_scenes: 100,
        test_digits: 300,
        backbone_lr_scale: 1.0,
        ..MergingParams::default()
    };
    let (mut gain, mut kept, mut alone_kept) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..5 {
        let merge = run_with(&p, seed, cache.path());
        let alone = run_with(&MergingParams { method: MergingMethod::MergeNoReplay, ..p.clone() }, seed, cache.path());
        gain.push(merge["s_miou"] - alone["s_miou"]);
        kept.push(merge["s_retention"]);
        alone_kept.push(alone["s_retention"]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&gain) > 0.025, "replay's gain in S's mIoU per seed: {gain:?}");
    assert!(mean(&kept) > 0.95, "the merge keeps S's skill: {kept:?}");
    assert!(mean(&alone_kept) < 0.97, "C's distillation alone forgets: {alone_kept:?}");
}
