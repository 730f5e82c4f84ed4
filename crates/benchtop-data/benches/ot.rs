//! Exact OT time for GOAT's domain sizes: n = 500, 1000, 2000 points of 32 features, beside
//! the time to build the n x n cost matrix alone (what any exact solver must at least pay).
//! Run with `cargo test --workspace --bench ot`.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::time::Instant;

use benchtop_data::ot::{cost_matrix, plan_from_costs};
use rand::Rng as _;

fn main() {
    let dim = 32;
    println!("exact OT (Kuhn-Munkres), squared Euclidean cost, dimension {dim}:");
    for n in [500usize, 1000, 2000] {
        let mut rng = benchtop_data::rng(n as u64, 0);
        let a: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let b: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-0.5f32..1.5)).collect();
        let t = Instant::now();
        let costs = cost_matrix(&a, &b, dim);
        let matrix = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let plan = plan_from_costs(costs, n).expect("plan");
        let solve = t.elapsed().as_secs_f64();
        println!("  n = {n:>4}: {solve:>7.2} s  ({:.1}x the cost matrix alone, {matrix:.2} s; plan cost {:.3})", solve / matrix, plan.cost);
    }
}
