//! Exact optimal transport between two equally sized point clouds with uniform marginals
//! and squared Euclidean cost, and the intermediate domains GOAT draws along its geodesic.
//!
//! With uniform marginals and n points on each side, an optimal plan is a permutation (the
//! Birkhoff–von Neumann theorem), so exact OT is the assignment problem: solved with the
//! Hungarian algorithm (`pathfinding`'s Kuhn–Munkres, O(n^3)) on costs scaled to integers
//! with 1e-12 relative resolution, far below any difference that matters. Tests check it
//! against brute force.

use pathfinding::kuhn_munkres::kuhn_munkres_min;
use pathfinding::matrix::Matrix;

use crate::{DataError, Result};

/// An optimal plan: source point `i` sends all its mass (1/n) to target `assignment[i]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub assignment: Vec<usize>,
    /// The transport cost: the mean squared distance between matched points.
    pub cost: f64,
}

pub fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// The `n x n` squared Euclidean cost matrix, row-major (a direct loop: for wide features
/// a caller with a matrix-multiply backend computes it faster and calls [`plan_from_costs`]).
pub fn cost_matrix(a: &[f32], b: &[f32], dim: usize) -> Vec<f64> {
    let n = a.len() / dim.max(1);
    (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| sq_dist(&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim])).collect()
}

/// The exact OT plan between `a` and `b` (`n` points of `dim` values each, row-major).
pub fn exact_ot(a: &[f32], b: &[f32], dim: usize) -> Result<Plan> {
    if dim == 0 || !a.len().is_multiple_of(dim) || b.len() != a.len() {
        return Err(DataError::new(
            "optimal transport",
            format!("needs two clouds of equal size: {} and {} values in dimension {dim}", a.len(), b.len()),
        ));
    }
    plan_from_costs(cost_matrix(a, b, dim), a.len() / dim)
}

/// The optimal assignment for an `n x n` row-major cost matrix (any finite costs).
pub fn plan_from_costs(costs: Vec<f64>, n: usize) -> Result<Plan> {
    let err = |m: String| DataError::new("optimal transport", m);
    if costs.len() != n * n {
        return Err(err(format!("a cost matrix of {} values is not {n} x {n}", costs.len())));
    }
    if n == 0 {
        return Ok(Plan { assignment: Vec::new(), cost: 0.0 });
    }
    if let Some(bad) = costs.iter().position(|c| !c.is_finite()) {
        return Err(err(format!("cost ({}, {}) is {}", bad / n, bad % n, costs[bad])));
    }
    let max = costs.iter().copied().fold(0.0, f64::max);
    let scale = if max > 0.0 { 1e12 / max } else { 1.0 };
    let ints: Vec<i64> = costs.iter().map(|c| (c * scale).round() as i64).collect();
    let matrix = Matrix::from_vec(n, n, ints).map_err(|e| err(e.to_string()))?;
    let (_, assignment) = kuhn_munkres_min(&matrix);
    let cost = assignment.iter().enumerate().map(|(i, &j)| costs[i * n + j]).sum::<f64>() / n as f64;
    Ok(Plan { assignment, cost })
}

/// The domain at `t` in [0, 1] along the plan's geodesic: `(1 - t) a_i + t b_plan(i)`, one
/// point per non-zero plan entry (so n points, each of mass 1/n).
pub fn interpolate(a: &[f32], b: &[f32], dim: usize, plan: &Plan, t: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(a.len());
    for (i, &j) in plan.assignment.iter().enumerate() {
        let (x, y) = (&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim]);
        out.extend(x.iter().zip(y).map(|(p, q)| (1.0 - t) * p + t * q));
    }
    out
}

/// GOAT's `g` generated domains between `a` and `b`, at t = k / (g + 1) for k = 1..=g.
pub fn geodesic_domains(a: &[f32], b: &[f32], dim: usize, plan: &Plan, g: usize) -> Vec<Vec<f32>> {
    (1..=g).map(|k| interpolate(a, b, dim, plan, k as f32 / (g + 1) as f32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    fn cloud(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng(seed, 0);
        (0..n * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for p in permutations(n - 1) {
            for k in 0..=p.len() {
                let mut q = p.clone();
                q.insert(k, n - 1);
                out.push(q);
            }
        }
        out
    }

    #[test]
    fn the_plan_cost_equals_brute_force_and_its_marginals_are_uniform() {
        for (case, n) in [3usize, 4, 5, 6, 6, 6].into_iter().enumerate() {
            let dim = 3;
            let (a, b) = (cloud(n, dim, case as u64), cloud(n, dim, 100 + case as u64));
            let plan = exact_ot(&a, &b, dim).unwrap();
            let best = permutations(n)
                .iter()
                .map(|p| {
                    p.iter().enumerate().map(|(i, &j)| sq_dist(&a[i * dim..(i + 1) * dim], &b[j * dim..(j + 1) * dim])).sum::<f64>()
                        / n as f64
                })
                .fold(f64::INFINITY, f64::min);
            assert!((plan.cost - best).abs() < 1e-9 * best.max(1.0), "case {case}: {} vs brute force {best}", plan.cost);
            // Every target receives exactly one source's mass: uniform marginals on both sides.
            let mut seen = plan.assignment.clone();
            seen.sort();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_non_finite_cost_is_a_clear_error() {
        assert!(plan_from_costs(vec![0.0, f64::NAN, 1.0, 2.0], 2).unwrap_err().to_string().contains("(0, 1)"));
        assert!(plan_from_costs(vec![0.0; 3], 2).unwrap_err().to_string().contains("2 x 2"));
    }

    #[test]
    fn generated_domains_lie_on_the_segments_between_matched_points() {
        let dim = 4;
        let (a, b) = (cloud(20, dim, 1), cloud(20, dim, 2));
        let plan = exact_ot(&a, &b, dim).unwrap();
        let domains = geodesic_domains(&a, &b, dim, &plan, 3);
        assert_eq!(domains.len(), 3);
        for (k, d) in domains.iter().enumerate() {
            let t = (k + 1) as f32 / 4.0;
            for (i, &j) in plan.assignment.iter().enumerate() {
                for c in 0..dim {
                    let (p, q, x) = (a[i * dim + c], b[j * dim + c], d[i * dim + c]);
                    assert!((x - (p + t * (q - p))).abs() < 1e-5);
                }
            }
        }
        assert_eq!(interpolate(&a, &b, dim, &plan, 0.0), a, "t = 0 is the source");
    }

    #[test]
    fn clouds_of_different_sizes_are_a_clear_error() {
        let err = exact_ot(&[0.0; 6], &[0.0; 9], 3).unwrap_err().to_string();
        assert!(err.contains("equal size"), "{err}");
    }
}
