use super::*;
use crate::reward::test_context as context;

#[test]
fn the_threshold_keeps_exactly_the_pairs_above_it() {
    let p = [0.5, 0.85, 0.1, 0.8, 0.2, 0.95, 0.79];
    let kept = pseudo_label(&p, 0.8);
    // Confidences 0.5, 0.85, 0.9, 0.8, 0.8, 0.95, 0.79: strictly above 0.8 are 1, 2, 5.
    assert_eq!(kept, vec![(1, 1.0), (2, 0.0), (5, 1.0)]);
    assert!(pseudo_label(&p, 0.99).is_empty());
}

#[test]
fn the_curriculum_admits_the_most_confident_share() {
    let p = [0.5, 0.85, 0.1, 0.8, 0.3, 0.95];
    // Confidences 0.5, 0.85, 0.9, 0.8, 0.7, 0.95: the top half is 5, 2, 1.
    assert_eq!(most_confident(&p, 0.5), vec![(1, 1.0), (2, 0.0), (5, 1.0)]);
    assert_eq!(most_confident(&p, 0.0), vec![]);
    assert_eq!(most_confident(&p, 1.0).len(), 6);
}

/// On the controlled benchmark (20% labelled, the authors' threshold 0.8, one round, seeds
/// 0-3): where the threshold keeps anything (a cross-validated model is sometimes never that
/// confident: seed 1 keeps nothing), the kept pseudo-labels are right more often than the
/// labelled-only model is on the test pairs: the filter selects. (Measured when written:
/// 73.3 / 84.1 / 68.7% kept-right against 62.2 / 64.5 / 65.9% on test for seeds 0, 2, 3.)
/// Whether retraining on them then helps is reported, not asserted: at this scale it does
/// not (docs/studies/ssrm.md).
///
/// Robust on any machine by its mechanism: the reward model is a linear Bradley-Terry model
/// with an L2 term (a strictly convex loss) on fixed sentence embeddings, so another CPU's
/// rounding moves its scores by rounding and flips a kept label only where a confidence sits
/// within rounding of the threshold; it does not redraw the seed.
#[test]
fn the_confidence_filter_keeps_labels_more_accurate_than_the_model() {
    let mut selective = 0;
    for seed in 0..4 {
        let p =
            SsrmParams { method: SsrmMethod::Ssrm, labels: Labels::Synthetic, labeled_fraction: 0.2, rounds: 1, ..SsrmParams::default() };
        let s = Ssrm.run(&context(seed), &p).unwrap();
        eprintln!("seed {seed}: {s:?}");
        assert!(s["truth_accuracy"] > s["test_accuracy"], "the hidden utility is the ceiling");
        if s["pseudo_labels_kept"] > 0.0 {
            selective += 1;
            assert!(s["pseudo_label_accuracy"] > s["labelled_only_accuracy"], "seed {seed}: {s:?}");
        }
    }
    assert!(selective >= 2, "the threshold kept pseudo-labels in {selective} of 4 seeds");
}

/// Pinned to seeds 0-4, where the variant's result was read (on the fresh seeds 5-9 it is
/// +1.9 ± 3.5 points, not distinguishable from zero: docs/studies/ssrm.md). With 5% of
/// hh-rlhf labelled, curriculum labelling beats labelled-only training on average over
/// these seeds. Measured when written: +3.5 ± 5.0 points (4 of 5 seeds; seed 3 loses 2.5),
/// close to the oracle's +4.5.
///
/// Robust on any machine for the same reason as the filter's test above: each round fits a
/// strictly convex model on fixed embeddings, so another CPU changes the numbers by rounding
/// (a seed's result is not redrawn, as it is for the networks of the other studies). The
/// margin over seeds is thin (sd 4 points), which is why the doc gives the interval and the
/// check on unseen seeds 5-9.
#[test]
fn curriculum_labelling_beats_labelled_only_on_hh_with_few_labels() {
    let base = SsrmParams { labeled_fraction: 0.05, ..SsrmParams::default() };
    let mut gains = Vec::new();
    for seed in 0..5 {
        let s = Ssrm.run(&context(seed), &SsrmParams { method: SsrmMethod::Curriculum, ..base.clone() }).unwrap();
        gains.push(s["test_accuracy"] - s["labelled_only_accuracy"]);
    }
    let mean = gains.iter().sum::<f64>() / gains.len() as f64;
    eprintln!("curriculum - labelled only, per seed: {gains:?}");
    assert!(mean > 0.01, "{gains:?}");
    assert!(gains.iter().filter(|g| **g > 0.0).count() >= 3, "{gains:?}");
}

/// The hashed n-gram features (the fallback without MiniLM weights) run the whole loop, and
/// a run reports its labelled, pool and test sizes consistently.
#[test]
fn a_run_on_hashed_features_needs_no_weights() {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(
        benchtop_core::RunId::new(),
        0,
        benchtop_core::Backend::Cpu,
        tempfile::tempdir().unwrap().keep(),
        tx,
        Default::default(),
    );
    let p = SsrmParams {
        method: SsrmMethod::Ssrm,
        data: Corpus::FinegrainedQa,
        encoder: Encoder::Hashed,
        threshold: 0.6,
        rounds: 2,
        steps: 100,
        ..SsrmParams::default()
    };
    let s = Ssrm.run(&ctx, &p).unwrap();
    assert!((0.0..=1.0).contains(&s["test_accuracy"]) && (0.0..=0.5).contains(&s["ece"]), "{s:?}");
    // FineGrained QA has 2,616 strict pairs; about 20% of the 500 questions are test.
    let train = s["labelled_pairs"] + s["pool_pairs"];
    assert!(train > 1900.0 && train < 2300.0, "{s:?}");
    assert!(s["labelled_pairs"] > 0.05 * train && s["labelled_pairs"] < 0.15 * train, "{s:?}");
}
