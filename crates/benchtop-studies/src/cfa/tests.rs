use super::*;
use crate::ml::nets::module_values;
use benchtop_core::{ArtifactCache, Backend, RunId};

#[test]
fn the_orthogonality_term_is_zero_for_orthogonal_heads_and_positive_otherwise() {
    let device = Device::flex();
    let rows = |v: Vec<f32>, r: usize| tensor(v, [r, 3], &device);
    // Classes along x and y, domains along z: orthogonal whatever the row lengths.
    let w1 = rows(vec![2.0, 0.0, 0.0, 0.0, 0.5, 0.0], 2);
    let w2 = rows(vec![0.0, 0.0, 3.0], 1);
    assert!(host(orthogonality(w1.clone(), w2)).unwrap()[0].abs() < 1e-12);
    // A domain direction at 45 degrees to the first class: cos^2 = 0.5.
    let w2 = rows(vec![1.0, 0.0, 1.0], 1);
    let o = host(orthogonality(w1, w2)).unwrap()[0];
    assert!((o - 0.5).abs() < 1e-6, "{o}");
}

#[test]
fn scores_split_seen_and_unseen_pairs_and_find_the_worst_style() {
    let mask = Mask { classes: 10, domains: 5, seen: (0..50).map(|i| i % 2 == 0).collect() };
    // Four test digits: (class 0, style 0) seen, (0, 1) unseen, (1, 0) unseen, (1, 1) seen.
    let images = benchtop_data::digits::Digits { rows: 1, cols: 1, pixels: vec![0.0; 4], labels: vec![0, 0, 1, 1] };
    let test = StyledDigits { images, domains: vec![0, 1, 0, 1] };
    let mut logits = vec![0.0f32; 40];
    for (i, pred) in [0usize, 0, 0, 1].into_iter().enumerate() {
        logits[i * 10 + pred] = 1.0;
    }
    let s = score(&logits, &test, &mask);
    assert_eq!((s.seen, s.unseen), (1.0, 0.5));
    assert_eq!(s.worst_domain, 0.5, "style 0: one of two right");
    // With every pair seen, there is no unseen-pair accuracy to report: NaN, not 0.
    let all_seen = Mask { classes: 10, domains: 5, seen: vec![true; 50] };
    assert!(score(&logits, &test, &all_seen).unseen.is_nan());
}

#[test]
fn balanced_weights_give_every_present_value_the_same_total() {
    let w = balanced_weights([0usize, 0, 0, 1].into_iter(), 3);
    assert_eq!(w, vec![4.0 / 6.0, 2.0, 0.0]);
}

fn run_with(cache: &std::path::Path, p: &CfaParams, seed: u64) -> Summary {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
        .with_cache(ArtifactCache::new(cache));
    let summary = Cfa.run(&ctx, p).unwrap();
    assert!(ctx.artifacts_dir().join("mask.png").exists(), "each run shows its mask");
    summary
}

/// Small enough for a unit test: one seed in a few seconds.
fn small() -> CfaParams {
    CfaParams {
        train_points: 1000,
        test_points: 400,
        pretrain_points: 1000,
        pretrain_epochs: 1,
        probe_epochs: 4,
        ft_epochs: 2,
        ..CfaParams::default()
    }
}

#[test]
fn the_validation_split_holds_out_seen_pairs_only_and_never_test_digits() {
    let p = CfaParams { train_points: 2000, test_points: 500, val_share: 0.25, ..CfaParams::default() };
    let t = task(&p, 3).unwrap();
    let seen = t.train.len() + t.val.len();
    assert_eq!(t.val.len(), (seen as f64 * 0.25).round() as usize);
    for part in [&t.train, &t.val] {
        for i in 0..part.len() {
            assert!(t.mask.is_seen(part.images.labels[i] as usize, part.domains[i] as usize), "only seen pairs train or validate");
        }
    }
    // The split is of rows, not a copy: no training image is also a validation image.
    let train: std::collections::HashSet<Vec<u32>> =
        (0..t.train.len()).map(|i| t.train.images.image(i).iter().map(|v| v.to_bits()).collect()).collect();
    let shared =
        (0..t.val.len()).filter(|&i| train.contains(&t.val.images.image(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>())).count();
    assert_eq!(shared, 0, "validation digits are not training digits");
}

#[test]
fn each_stage_keeps_its_best_validation_epoch_and_stops_after_the_patience() {
    let device = Device::flex().autodiff();
    let head = CosineHead::new(CLASSES, &mut benchtop_data::rng(0, 0), &device);
    let loss = |h: &CosineHead, idx: &[usize]| h.w.val().sum().mul_scalar(idx.len() as f64 * 1e-3);
    let options = TrainOptions { epochs: 50, batch_size: 4, lr: 1e-3, weight_decay: 0.0, decoupled: true };
    let scores = [0.5, 0.7, 0.6, 0.7, 0.65, 0.6, 0.69, 0.2, 0.9];
    let mut seen = Vec::new();
    let selected = fit_selected(head, loss, 8, &options, &mut benchtop_data::rng(0, 1), |epoch, h| {
        seen.push(host(h.w.val()).unwrap());
        Ok(scores[epoch as usize - 1])
    })
    .unwrap();
    assert_eq!((selected.epoch, selected.val_accuracy), (2, 0.7), "the earliest of the best");
    assert_eq!(selected.epochs_run, 2 + PATIENCE, "stops {PATIENCE} epochs after the best, before the late 0.9");
    assert_eq!(host(selected.model.w.val()).unwrap(), seen[1], "the model is the one scored at epoch 2");
}

#[test]
fn cfa_fine_tunes_the_encoder_under_a_frozen_class_head() {
    let device = Device::flex().autodiff();
    let mut rng = benchtop_data::rng(0, 0);
    let model = Classifier { encoder: Encoder::new(&mut rng, &device), head: CosineHead::new(CLASSES, &mut rng, &device) };
    let before = (module_values(&model.encoder).unwrap(), host(model.head.w.val()).unwrap());
    let frozen = Classifier { encoder: model.encoder.clone(), head: model.head.clone().no_grad() };
    let pixels: Vec<f32> = (0..8 * 784).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
    let labels: Vec<u8> = (0..8).map(|i| i as u8).collect();
    let data = Batchable { x: &pixels, labels: &labels, shape: [1, 28, 28] };
    let options = TrainOptions { epochs: 2, batch_size: 4, lr: 1e-2, weight_decay: 1e-4, decoupled: true };
    let forward = |m: &Classifier, x: Tensor<4>| m.forward(x, 30.0);
    let trained = |m: Classifier| train(m, forward, &data, &options, &mut benchtop_data::rng(0, 1), &device, |_, _, _| Ok(())).unwrap();
    let (free, frozen) = (trained(model), trained(frozen));
    assert_eq!(host(frozen.head.w.val()).unwrap(), before.1, "the frozen class head does not move");
    assert_ne!(module_values(&frozen.encoder).unwrap(), before.0, "the encoder under it does");
    assert_ne!(host(free.head.w.val()).unwrap(), before.1, "a free head (LP-FT's) moves");
}

/// The control that makes the ablation clean: CFA's first stage with the orthogonality
/// weight at zero is exactly the linear probe (same head, init, data order, loss and epoch
/// selection; the domain head trains beside it without touching it).
#[test]
fn without_orthogonality_cfas_first_stage_is_the_linear_probe() {
    let cache = tempfile::tempdir().unwrap();
    let probe = run_with(cache.path(), &CfaParams { method: CfaMethod::LinearProbe, ..small() }, 0);
    let cfa0 = run_with(cache.path(), &CfaParams { method: CfaMethod::CfaProbe, ortho_weight: 0.0, ..small() }, 0);
    let cfa1 = run_with(cache.path(), &CfaParams { method: CfaMethod::CfaProbe, ..small() }, 0);
    for metric in ["seen_accuracy", "unseen_accuracy", "val_accuracy", "probe_epochs_selected"] {
        assert_eq!(probe[metric], cfa0[metric], "{metric}");
    }
    assert!(
        cfa0["orthogonality"] > 10.0 * cfa1["orthogonality"],
        "the penalty is what makes the heads orthogonal: {} vs {}",
        cfa0["orthogonality"],
        cfa1["orthogonality"]
    );
}

/// The finding, and where the paper's claim stops, at mask density 0.3 on seeds 0-2 (the
/// settings were chosen on seeds 100-102). Measured when written, over seeds 0-4: CFA beats
/// plain fine-tuning on unseen pairs by +23.6 ± 6.9 points (5/5; seeds 0-2: +28, +30, +16)
/// with the same seen-pair accuracy as LP-FT (+0.4 ± 0.5); the frozen linear probe beats
/// CFA on unseen pairs by +30.7 ± 4.8 (5/5), the opposite of the paper's "CFA is best".
/// Not asserted because it is not distinguishable from zero: CFA against LP-FT on unseen
/// pairs (−2.3 ± 4.9; see docs/studies/cfa.md).
///
/// Robust on any machine: another CPU's rounding makes each seed a fresh draw, so the test
/// asserts means over the three seeds with margins of about four standard errors of such a
/// mean (per-seed sd about 5.6 points for the gains, 0.4 for the seen gap); orthogonality is
/// the mechanism the loss enforces, so it is checked per seed.
#[test]
fn cfa_keeps_more_of_unseen_pairs_than_fine_tuning_and_less_than_the_frozen_probe() {
    let cache = tempfile::tempdir().unwrap();
    let base = CfaParams { mask_density: 0.3, ..CfaParams::default() };
    let (mut over_ft, mut seen_gaps, mut probe_over) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..3 {
        let [cfa, ft, lpft, probe] = [CfaMethod::Cfa, CfaMethod::Finetune, CfaMethod::LpFt, CfaMethod::LinearProbe]
            .map(|method| run_with(cache.path(), &CfaParams { method, ..base.clone() }, seed));
        over_ft.push(cfa["unseen_accuracy"] - ft["unseen_accuracy"]);
        seen_gaps.push(cfa["seen_accuracy"] - lpft["seen_accuracy"]);
        probe_over.push(probe["unseen_accuracy"] - cfa["unseen_accuracy"]);
        assert!(cfa["orthogonality"] < 0.05, "seed {seed}: the heads end nearly orthogonal: {}", cfa["orthogonality"]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!("CFA - fine-tuning, unseen: {over_ft:?}; CFA - LP-FT, seen: {seen_gaps:?}; probe - CFA, unseen: {probe_over:?}");
    assert!(mean(&over_ft) > 0.10, "CFA keeps 10+ points more of unseen pairs than fine-tuning: {over_ft:?}");
    assert!(mean(&seen_gaps) > -0.02, "CFA keeps seen accuracy within 2 points of LP-FT's: {seen_gaps:?}");
    assert!(mean(&probe_over) > 0.10, "the frozen probe keeps 10+ points more of unseen pairs than CFA: {probe_over:?}");
}
