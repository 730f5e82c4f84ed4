use super::*;
use benchtop_core::{Backend, RunId};

fn run(p: &IsrParams, seed: u64) -> Summary {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, std::env::temp_dir(), tx, Default::default());
    Isr.run(&ctx, p).unwrap()
}

/// Mean test error over seeds 0..3 at a small but faithful setting (d_inv = d_spu = 5), every
/// fit trained to convergence: the finding must not lean on under-training.
fn mean_test_error(method: IsrMethod, n_envs: u32) -> f64 {
    let p = IsrParams { method, n_envs, samples_per_env: 400, ..IsrParams::default() };
    let errors: Vec<f64> = (0..3)
        .map(|seed| {
            let s = run(&p, seed);
            assert!(s["steps_trained"] < p.steps as f64 && s["grad_norm"] < p.tolerance, "{method:?}, E = {n_envs}: {s:?}");
            s["test_error"]
        })
        .collect();
    errors.iter().sum::<f64>() / 3.0
}

/// The ISR finding, over seeds 0-2. Robust on any machine by its mechanism: every model here
/// is a logistic regression on fixed features (a convex loss, trained full-batch) and ISR-Mean's
/// subspace is an eigen-decomposition in f64, so another CPU's rounding moves the result by
/// rounding, not by a new draw; and each margin (0.03 around the oracle, 0.10 above it) is
/// many times the measured spread over seeds (docs/studies/isr.md).
#[test]
fn isr_mean_matches_the_oracle_from_d_spu_plus_one_environments_and_erm_does_not() {
    let oracle = mean_test_error(IsrMethod::Oracle, 6);
    let isr_enough = mean_test_error(IsrMethod::IsrMean, 6);
    let erm = mean_test_error(IsrMethod::Erm, 6);
    let isr_too_few = mean_test_error(IsrMethod::IsrMean, 4);
    assert!(oracle < 0.05, "the oracle is near the Bayes error (about 0.013): {oracle}");
    assert!((isr_enough - oracle).abs() <= 0.03, "ISR-Mean at E = 6: {isr_enough} vs oracle {oracle}");
    assert!(erm >= oracle + 0.10, "ERM at E = 6: {erm} vs oracle {oracle}");
    assert!(isr_too_few >= oracle + 0.10, "ISR-Mean at E = 4 < d_spu + 1: {isr_too_few} vs oracle {oracle}");
}

fn data(n_envs: usize, spread: f64, scrambled: bool, seed: u64) -> IsrData {
    let config = IsrConfig { n_envs, samples_per_env: 2000, spu_std_spread: spread, scrambled, ..IsrConfig::default() };
    generate(&config, seed)
}

/// Pinned to seed 1: the identification result itself (an eigen-decomposition in f64 of
/// generated data, no training), so another CPU's rounding cannot move the overlap across
/// 0.99 or 0.9.
#[test]
fn isr_mean_recovers_the_invariant_subspace_exactly_when_the_means_span_the_spurious_one() {
    for scrambled in [false, true] {
        let enough = invariant_overlap(&data(6, 0.0, scrambled, 1), &isr_mean_subspace(&data(6, 0.0, scrambled, 1)));
        assert!(enough > 0.99, "E = 6, scrambled = {scrambled}: {enough}");
        let few = data(4, 0.0, scrambled, 1);
        let too_few = invariant_overlap(&few, &isr_mean_subspace(&few));
        assert!(too_few < 0.9, "E = 4, scrambled = {scrambled}: {too_few}");
    }
}

/// Pinned to seed 4, robust for the same reason: linear algebra in f64, no training.
#[test]
fn isr_cov_needs_spurious_scales_that_differ_and_then_two_environments_suffice() {
    let differ = data(2, 2.0, true, 4);
    let overlap = invariant_overlap(&differ, &isr_cov_subspace(&differ));
    assert!(overlap > 0.95, "scales differ: {overlap}");
    let same = data(2, 0.0, true, 4);
    let overlap = invariant_overlap(&same, &isr_cov_subspace(&same));
    assert!(overlap < 0.9, "same scales carry no signal: {overlap}");
}

#[test]
fn the_same_seed_reproduces_a_run_exactly() {
    let p = IsrParams { method: IsrMethod::Irm, samples_per_env: 100, steps: 300, eval_every: 100, n_envs: 3, ..IsrParams::default() };
    assert_eq!(run(&p, 7), run(&p, 7));
}

#[test]
fn irm_anneal_must_leave_steps_for_the_penalty() {
    let p = IsrParams { method: IsrMethod::Irm, steps: 100, irm_anneal_steps: 100, ..IsrParams::default() };
    assert_eq!(p.check()[0].key, "irm_anneal_steps");
}
