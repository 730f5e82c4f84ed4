//! Small statistics on host vectors: feature standardisation and correlations.

/// Per-column mean and standard deviation of feature rows, to put every feature on one scale
/// (MiniLM's coordinates and their products differ by two orders of magnitude).
#[derive(Clone, Debug)]
pub struct Standardiser {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Standardiser {
    /// Fitted on `rows` (`dim` values each).
    pub fn fit(rows: &[f32], dim: usize) -> Standardiser {
        let n = (rows.len() / dim.max(1)).max(1) as f64;
        let mut mean = vec![0.0f64; dim];
        let mut sq = vec![0.0f64; dim];
        for row in rows.chunks_exact(dim) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq.iter().zip(&mean).map(|(s, m)| ((s / n - m * m).max(0.0).sqrt()).max(1e-6) as f32).collect();
        Standardiser { mean: mean.into_iter().map(|m| m as f32).collect(), std }
    }

    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        row.iter().zip(&self.mean).zip(&self.std).map(|((v, m), s)| (v - m) / s).collect()
    }
}

/// Pearson correlation (0 when either side is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx <= 0.0 || syy <= 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// Ranks with ties sharing their mean rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        for k in i..=j {
            r[order[k]] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    // NaN has no rank: sorting would give it the top ones and a finite correlation.
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_value_makes_the_rank_correlation_undefined_not_a_number_that_looks_right() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[2.0, 4.0, 9.0]) - 1.0).abs() < 1e-12);
        assert!(spearman(&[1.0, f64::NAN, 3.0], &[2.0, 4.0, 9.0]).is_nan());
        assert!(crate::ml::bradley_terry::accuracy(&[0.7, f64::NAN], &[1.0, 0.0]).is_nan());
        assert!(crate::ml::bradley_terry::accuracy(&[], &[]).is_nan());
    }

    #[test]
    fn correlations_of_known_cases() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
        // Monotone but not linear: Spearman 1, Pearson below 1.
        let (x, y) = ([1.0, 2.0, 3.0, 4.0], [1.0, 4.0, 9.0, 100.0]);
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-12 && pearson(&x, &y) < 0.99);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![1.5, 0.0, 1.5]);
    }

    #[test]
    fn standardised_columns_have_zero_mean_and_unit_spread() {
        let rows = [1.0f32, 10.0, 3.0, 30.0, 5.0, 50.0];
        let s = Standardiser::fit(&rows, 2);
        let out: Vec<Vec<f32>> = rows.chunks(2).map(|r| s.apply(r)).collect();
        assert!((out[0][0] + out[2][0]).abs() < 1e-6 && out[1][0].abs() < 1e-6);
        assert!((out[0][1] - out[0][0]).abs() < 1e-5, "scale removed");
    }
}
