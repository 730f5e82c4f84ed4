use super::*;
use benchtop_core::{ArtifactCache, Backend, RunId};

fn run_with(p: &ForgettingParams, seed: u64, cache: &std::path::Path) -> Summary {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
        .with_cache(ArtifactCache::new(cache));
    Forgetting.run(&ctx, p).unwrap()
}

/// A small setting, shared by the tests below.
fn small() -> ForgettingParams {
    ForgettingParams {
        pretrain_points: 4000,
        pretrain_epochs: 3,
        finetune_points: 1500,
        test_points: 800,
        ft_epochs: 3,
        ..ForgettingParams::default()
    }
}

#[test]
fn wise_ft_at_zero_is_the_pre_trained_model_and_at_one_the_fine_tuned_one() {
    let pre = vec![1.0f32, -2.0, 0.5];
    let ft = vec![3.0f32, 0.0, 0.5];
    assert_eq!(interpolate(&pre, &ft, 0.0), pre);
    assert_eq!(interpolate(&pre, &ft, 1.0), ft);
    assert_eq!(interpolate(&pre, &ft, 0.5), vec![2.0, -1.0, 0.5]);
    // And through the study: alpha = 0 scores exactly as the pre-trained model, alpha = 1
    // exactly as plain fine-tuning.
    let cache = tempfile::tempdir().unwrap();
    let wise0 = run_with(&ForgettingParams { method: ForgettingMethod::WiseFt, alpha: 0.0, ..small() }, 0, cache.path());
    let wise1 = run_with(&ForgettingParams { method: ForgettingMethod::WiseFt, alpha: 1.0, ..small() }, 0, cache.path());
    let ft = run_with(&ForgettingParams { method: ForgettingMethod::Finetune, ..small() }, 0, cache.path());
    assert_eq!((wise0["speciality"], wise0["generality"]), (wise0["speciality_before"], wise0["generality_before"]));
    assert_eq!((wise1["speciality"], wise1["generality"]), (ft["speciality"], ft["generality"]));
}

#[test]
fn an_l2_pull_of_zero_is_plain_fine_tuning() {
    let cache = tempfile::tempdir().unwrap();
    let ft = run_with(&ForgettingParams { method: ForgettingMethod::Finetune, ..small() }, 1, cache.path());
    let l2 = run_with(&ForgettingParams { method: ForgettingMethod::L2Init, lambda: 0.0, ..small() }, 1, cache.path());
    assert_eq!(ft, l2);
}

#[test]
fn a_cached_mlp_round_trips_exactly() {
    let device = Device::flex();
    let m = Mlp::new(&mut benchtop_data::rng(3, 0), &device);
    let values = m.values().unwrap();
    assert_eq!(Mlp::from_values(&values, &device).unwrap().values().unwrap(), values);
    assert!(Mlp::from_values(&values[1..], &device).is_err());
}

/// Pinned to seeds 0 and 1, at the preset's setting (the study's defaults): plain
/// fine-tuning loses generality, and some Wise-FT weight on the preset's grid keeps more of it
/// at no more than 5 points of speciality. (At a smaller setting, 1,500 fine-tuning digits
/// and 3 epochs, seed 1 had no such weight: the claim is checked where it is reported.)
///
/// Robust on any machine although it checks seeds 0 and 1 one by one: every margin is several
/// times the seed-to-seed spread (5 seeds, docs/studies/forgetting.md), so a fresh draw of a
/// seed, which is what another CPU's rounding amounts to, keeps it. Fine-tuning moves
/// speciality from 0.14 to 0.92 (asserted: +0.5) and generality from 0.95 to 0.42 (asserted:
/// -0.2; the fall was 0.47 to 0.62 over 5 seeds); Wise-FT at alpha 0.9 costs 1.4 points of
/// speciality (allowed 5) and keeps 9 more of generality (asserted 5), and alpha 0.8 costs
/// 3.6 ± 1.3 and keeps 19.1 ± 1.0, far past the margin.
#[test]
fn fine_tuning_forgets_and_wise_ft_keeps_generality_at_a_small_cost() {
    let cache = tempfile::tempdir().unwrap();
    for seed in 0..2 {
        let ft = run_with(&ForgettingParams::default(), seed, cache.path());
        assert!(ft["speciality"] > ft["speciality_before"] + 0.5, "fine-tuning learns the speciality: {ft:?}");
        assert!(ft["generality"] < ft["generality_before"] - 0.2, "and forgets: {ft:?}");
        let best = [0.5, 0.6, 0.7, 0.8, 0.9]
            .map(|alpha| {
                run_with(&ForgettingParams { method: ForgettingMethod::WiseFt, alpha, ..ForgettingParams::default() }, seed, cache.path())
            })
            .into_iter()
            .filter(|w| w["speciality"] >= ft["speciality"] - 0.05)
            .map(|w| w["generality"])
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(best > ft["generality"] + 0.05, "seed {seed}: Wise-FT keeps generality: {best} vs {}", ft["generality"]);
    }
}

#[test]
fn pre_training_stops_at_its_best_held_out_epoch_once_generality_is_flat() {
    let cache = tempfile::tempdir().unwrap();
    let p = ForgettingParams { pretrain_points: 1000, pretrain_epochs: 40, pretrain_patience: 2, ..small() };
    let first = run_with(&p, 0, cache.path());
    let (trained, best) = (first["pretrain_epochs_trained"], first["pretrain_best_epoch"]);
    assert!(trained < 40.0, "it stopped before the most epochs: {first:?}");
    assert_eq!(trained - best, 2.0, "two epochs without a rise, then the best epoch's weights");
    // The second run reads pre-training from the cache, curve and best epoch included.
    assert_eq!(run_with(&p, 0, cache.path()), first);
}

/// Fine-tuning killed after an epoch and resumed from its checkpoint ends as uninterrupted:
/// same summary and curve points, for a full fine-tune and for LoRA.
#[test]
fn fine_tuning_resumes_from_an_epoch_to_the_same_numbers() {
    use crate::ml::checkpoint::resume_check::resumes_identically;
    for method in [ForgettingMethod::L2Init, ForgettingMethod::Lora] {
        let stage = resumes_identically(&Forgetting, &ForgettingParams { method, pretrain_epochs: 2, ..small() }, 0, 1);
        assert!(stage.contains("epoch 1 of 3") || stage.contains("epoch 2 of 3"), "{stage}");
    }
}
