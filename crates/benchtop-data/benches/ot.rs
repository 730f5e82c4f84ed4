//! Exact OT time for GOAT's domain sizes: n = 500, 1000, 2000 points of 32 features (the
//! size of an encoder's pooled output), beside the time to build the n x n cost matrix alone
//! (the reference: what any exact solver must at least pay). Run with
//! `cargo test --workspace --bench ot`.

use std::time::Instant;

use benchtop_data::ot::exact_ot;
use rand::Rng as _;

fn main() {
    let dim = 32;
    println!("exact OT (Kuhn-Munkres), squared Euclidean cost, dimension {dim}:");
    for n in [500usize, 1000, 2000] {
        let mut rng = benchtop_data::rng(n as u64, 0);
        let a: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let b: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-0.5f32..1.5)).collect();
        let t = Instant::now();
        let mut sum = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                sum += a[i * dim..(i + 1) * dim].iter().zip(&b[j * dim..(j + 1) * dim]).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
            }
        }
        let matrix = t.elapsed();
        let t = Instant::now();
        let plan = exact_ot(&a, &b, dim).expect("plan");
        let solve = t.elapsed();
        println!(
            "  n = {n:>4}: {:>8.2} s  ({:.1}x the cost matrix alone, {:.2} s; plan cost {:.3}, mean pair cost {:.3})",
            solve.as_secs_f64(),
            solve.as_secs_f64() / matrix.as_secs_f64(),
            matrix.as_secs_f64(),
            plan.cost,
            sum / (n * n) as f64
        );
    }
}
