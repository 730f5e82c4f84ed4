use super::*;
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
}

#[test]
fn balanced_weights_give_every_present_value_the_same_total() {
    let w = balanced_weights([0usize, 0, 0, 1].into_iter(), 3);
    assert_eq!(w, vec![4.0 / 6.0, 2.0, 0.0]);
}

/// The finding where it holds, at the preset's setting (mask density 0.3, fixed seeds 0-2):
/// At mask density 0.3, seeds 0-2: CFA beats plain fine-tuning on unseen pairs on average,
/// keeps seen-pair accuracy near LP-FT's, and ends with nearly orthogonal heads. Measured when
/// written (5 seeds): +4.0 ± 2.7 points over fine-tuning (5/5; sd 2.2), seen accuracy 0.929
/// against LP-FT's 0.918. Not asserted because it does not hold here: CFA over LP-FT
/// (-0.9 ± 2.9) or over the linear probe on unseen pairs (see docs/studies/cfa.md).
///
/// Robust on any machine: another CPU's rounding makes each seed a fresh draw, so the test
/// asserts means over the three seeds, not every seed (a mean of three from that spread is
/// under 0 with probability about 7·10⁻⁴); orthogonality is the mechanism the loss enforces
/// (a penalty driven to near zero), so it is checked per seed.
#[test]
fn cfa_beats_fine_tuning_on_unseen_pairs_and_keeps_seen_accuracy() {
    let cache = tempfile::tempdir().unwrap();
    let base = CfaParams { mask_density: 0.3, ..CfaParams::default() };
    let run = |method: CfaMethod, seed: u64| {
        let (tx, _rx) = std::sync::mpsc::channel();
        let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
            .with_cache(ArtifactCache::new(cache.path()));
        let summary = Cfa.run(&ctx, &CfaParams { method, ..base.clone() }).unwrap();
        assert!(ctx.artifacts_dir().join("mask.png").exists(), "each run shows its mask");
        summary
    };
    let (mut gains, mut seen_gaps) = (Vec::new(), Vec::new());
    for seed in 0..3 {
        let [cfa, ft, lpft] = [CfaMethod::Cfa, CfaMethod::Finetune, CfaMethod::LpFt].map(|m| run(m, seed));
        gains.push(cfa["unseen_accuracy"] - ft["unseen_accuracy"]);
        seen_gaps.push(cfa["seen_accuracy"] - lpft["seen_accuracy"]);
        assert!(cfa["orthogonality"] < 0.1, "seed {seed}: the heads end nearly orthogonal: {}", cfa["orthogonality"]);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!("CFA - fine-tuning, unseen pairs: {gains:?}; CFA - LP-FT, seen pairs: {seen_gaps:?}");
    assert!(mean(&gains) > 0.0, "CFA beats fine-tuning on unseen pairs on average: {gains:?}");
    assert!(mean(&seen_gaps) > -0.04, "CFA keeps seen accuracy within 4 points of LP-FT's on average: {seen_gaps:?}");
}
