//! Aggregation over seeds: mean, standard deviation and a 95% confidence interval.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A metric summarised over runs (usually the seeds of one sweep point).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Aggregate {
    #[ts(type = "number")]
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation; `None` for a single value.
    pub std: Option<f64>,
    /// Half-width of the 95% interval for the mean (Student's t); `None` for a single value.
    pub ci95: Option<f64>,
}

impl Aggregate {
    /// Summarise `values`; `None` when there are none (non-finite values are skipped).
    pub fn of(values: &[f64]) -> Option<Aggregate> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len();
        if n == 0 {
            return None;
        }
        let mean = finite.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Some(Aggregate { n, mean, std: None, ci95: None });
        }
        let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        Some(Aggregate { n, mean, std: Some(std), ci95: ci95_half_width(std, n) })
    }

    /// "0.123 ± 0.004" (or just the mean for a single value), with `digits` decimals, except
    /// where decimals would mislead: a mean too small to show in them (a gradient norm of
    /// 1e-5 would read 0.000) is written in scientific notation, and from 1,000 up (step
    /// counts) decimals are dropped. The interval follows the mean's form, so the two compare.
    pub fn display(&self, digits: usize) -> String {
        let tiny = self.mean != 0.0 && self.mean.abs() < 0.5 * 10f64.powi(-(digits as i32));
        let number = |v: f64| {
            if tiny {
                format!("{v:.1e}")
            } else if self.mean.abs() >= 1000.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.digits$}")
            }
        };
        match self.ci95 {
            Some(ci) => format!("{} ± {}", number(self.mean), number(ci)),
            None => number(self.mean),
        }
    }
}

/// Half-width of the 95% interval for a mean of `n` values with sample std `std`
/// (Student's t with n - 1 degrees of freedom); `None` below two values.
pub fn ci95_half_width(std: f64, n: usize) -> Option<f64> {
    if n < 2 || !std.is_finite() {
        return None;
    }
    let t = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?.inverse_cdf(0.975);
    Some(t * std / (n as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_std_and_interval_match_a_hand_computation() {
        // mean 2.5, sample var 5/3, t(0.975, 3) = 3.182446305
        let a = Aggregate::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(a.n, 4);
        assert!((a.mean - 2.5).abs() < 1e-12);
        let std = (5.0f64 / 3.0).sqrt();
        assert!((a.std.unwrap() - std).abs() < 1e-12);
        assert!((a.ci95.unwrap() - 3.182446305 * std / 2.0).abs() < 1e-6);
        assert_eq!(a.display(2), "2.50 ± 2.05");
    }

    #[test]
    fn a_single_value_has_no_interval_and_nothing_has_no_aggregate() {
        let a = Aggregate::of(&[0.5]).unwrap();
        assert_eq!((a.std, a.ci95), (None, None));
        assert_eq!(a.display(3), "0.500");
        assert_eq!(Aggregate::of(&[]), None);
        assert_eq!(Aggregate::of(&[f64::NAN]), None);
    }

    #[test]
    fn values_too_small_or_large_for_the_decimals_keep_their_meaning() {
        let tiny = Aggregate::of(&[9.0e-6, 1.1e-5]).unwrap();
        assert_eq!(tiny.display(3), "1.0e-5 ± 1.3e-5");
        let steps = Aggregate::of(&[10_000.0, 12_000.0]).unwrap();
        assert_eq!(steps.display(3), "11000 ± 12706");
        assert_eq!(Aggregate::of(&[0.0, 0.0]).unwrap().display(3), "0.000 ± 0.000");
    }
}
