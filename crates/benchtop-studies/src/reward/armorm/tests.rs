use super::*;

#[test]
fn ridge_recovers_a_linear_rule_and_shrinks_with_alpha() {
    let x: Vec<Vec<f32>> = (0..50).map(|i| vec![i as f32 / 10.0, ((i * 7) % 11) as f32]).collect();
    let y: Vec<f64> = x.iter().map(|r| 2.0 * r[0] as f64 - 0.5 * r[1] as f64 + 3.0).collect();
    let (w, b) = ridge(&x, &y, 1e-9).unwrap();
    assert!((w[0] - 2.0).abs() < 1e-6 && (w[1] + 0.5).abs() < 1e-6 && (b - 3.0).abs() < 1e-5, "{w:?} {b}");
    let (shrunk, _) = ridge(&x, &y, 1e4).unwrap();
    assert!(shrunk[0].abs() < w[0].abs());
}

/// A Gram matrix that rounding has left indefinite is solved, not replaced by zeros.
#[test]
fn a_system_cholesky_refuses_is_solved_by_svd_and_non_finite_input_is_an_error() {
    let a = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
    let b = DMatrix::from_row_slice(2, 1, &[3.0, 0.0]);
    assert!(a.clone().cholesky().is_none(), "indefinite: Cholesky refuses it");
    let x = spd_solve(a.clone(), &b).unwrap();
    assert!((&a * &x - &b).norm() < 1e-9, "{x}");
    let bad = DMatrix::from_row_slice(2, 2, &[1.0, f64::NAN, f64::NAN, 1.0]);
    assert!(spd_solve(bad, &b).is_err());
}

#[test]
fn decorrelation_reaches_its_target_with_the_smallest_lambda() {
    let mut rng = benchtop_data::rng(3, 0);
    let v: Vec<f64> = (0..500).map(|_| StandardNormal.sample(&mut rng)).collect();
    let r: Vec<f64> = v
        .iter()
        .map(|v| {
            let e: f64 = StandardNormal.sample(&mut rng);
            0.8 * v + e
        })
        .collect::<Vec<_>>();
    assert!(spearman(&r, &v) > 0.4);
    let lambda = decorrelate(&r, &v, DECORRELATION_TARGET);
    let adjusted: Vec<f64> = r.iter().zip(&v).map(|(r, v)| r - lambda * v).collect();
    let after = spearman(&adjusted, &v);
    assert!(after <= DECORRELATION_TARGET && after > DECORRELATION_TARGET - 0.01, "reaches the target, not past it: {after}");
    let less: Vec<f64> = r.iter().zip(&v).map(|(r, v)| r - 0.95 * lambda * v).collect();
    assert!(spearman(&less, &v) > DECORRELATION_TARGET, "a smaller lambda misses it");
    assert_eq!(decorrelate(&v.iter().map(|x| -x).collect::<Vec<_>>(), &v, DECORRELATION_TARGET), 0.0, "already uncorrelated");
}

#[test]
fn gate_recovery_is_one_for_the_truth_and_low_for_a_constant_gate() {
    let hidden: Vec<Vec<f64>> = (0..20).map(|i| super::super::controlled::softmax(&[i as f64 / 5.0, 1.0, -(i as f64) / 7.0])).collect();
    let exact: Vec<Vec<f64>> = hidden.clone();
    assert!((gate_recovery(&exact, &hidden) - 1.0).abs() < 1e-12);
    assert!(gate_recovery(&vec![vec![1.0 / 3.0; K]; 20], &hidden).abs() < 1e-9, "a constant gate explains nothing");
}

/// On the controlled benchmark (noise 0.5, seeds 0-2) ArmoRM's gate follows the hidden
/// prompt-dependent mixture: positive correlation in every seed. Measured when written (5
/// seeds): gate recovery 0.41 +- 0.09 (sd). That ArmoRM also beats the plain Bradley-Terry
/// model does not hold here (0.596 vs 0.597 test accuracy), so it is printed, not asserted.
///
/// Robust on any machine: the gate is a small MLP, so another CPU's rounding makes each seed
/// a fresh draw, but a draw from 0.41 ± 0.09 is under 0 with probability about 3·10⁻⁶, and a
/// mean of three under 0.2 with about 3·10⁻⁵.
#[test]
fn the_gate_follows_the_hidden_mixture_on_the_controlled_benchmark() {
    let mut recoveries = Vec::new();
    for seed in 0..3 {
        let ctx = crate::reward::test_context(seed);
        let p = ArmormParams { labels: Labels::Synthetic, method: ArmormMethod::Armorm, ..ArmormParams::default() };
        let armorm = Armorm.run(&ctx, &p).unwrap();
        let plain = Armorm.run(&ctx, &ArmormParams { method: ArmormMethod::BradleyTerry, ..p.clone() }).unwrap();
        eprintln!(
            "seed {seed}: armorm {:.3} vs bradley_terry {:.3}, gate recovery {:.3}",
            armorm["test_accuracy"], plain["test_accuracy"], armorm["gate_recovery"]
        );
        assert!(ctx.artifacts_dir().join("gates.csv").exists(), "per-prompt gate weights are saved");
        recoveries.push(armorm["gate_recovery"]);
    }
    assert!(recoveries.iter().all(|r| *r > 0.0), "{recoveries:?}");
    assert!(recoveries.iter().sum::<f64>() / 3.0 > 0.2, "{recoveries:?}");
}
