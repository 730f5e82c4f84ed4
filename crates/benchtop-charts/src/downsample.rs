//! Downsampling long series before drawing: Largest-Triangle-Three-Buckets (Steinarsson
//! 2013), plus the series' extremes, so peaks and dips survive.

/// Indices (ascending) of at most `threshold` points of `ys` (x = `xs`) that keep the shape:
/// the first and last points, the global minimum and maximum, and LTTB's choice per bucket.
/// Series no longer than `threshold` are kept whole.
pub fn lttb_indices(xs: &[f64], ys: &[f64], threshold: usize) -> Vec<usize> {
    let n = xs.len().min(ys.len());
    if n <= threshold || threshold < 3 {
        return (0..n).collect();
    }
    // Two of the slots go to the extremes.
    let buckets = threshold.saturating_sub(4).max(1);
    let width = (n - 2) as f64 / buckets as f64;
    let mut keep = Vec::with_capacity(threshold);
    keep.push(0);
    let mut a = 0usize;
    for b in 0..buckets {
        let start = 1 + (b as f64 * width) as usize;
        let end = (1 + ((b + 1) as f64 * width) as usize).min(n - 1);
        // The average of the next bucket (or the last point) is the third corner.
        let (next_start, next_end) = (end, (1 + ((b + 2) as f64 * width) as usize).min(n));
        let (cx, cy) = if next_start < next_end {
            let k = (next_end - next_start) as f64;
            (xs[next_start..next_end].iter().sum::<f64>() / k, ys[next_start..next_end].iter().sum::<f64>() / k)
        } else {
            (xs[n - 1], ys[n - 1])
        };
        let mut best = start;
        let mut best_area = -1.0;
        for i in start..end.max(start + 1).min(n - 1) {
            let area = ((xs[a] - cx) * (ys[i] - ys[a]) - (xs[a] - xs[i]) * (cy - ys[a])).abs();
            if area > best_area {
                best_area = area;
                best = i;
            }
        }
        keep.push(best);
        a = best;
    }
    keep.push(n - 1);
    let (imin, imax) = extremes(&ys[..n]);
    keep.push(imin);
    keep.push(imax);
    keep.sort_unstable();
    keep.dedup();
    keep
}

fn extremes(ys: &[f64]) -> (usize, usize) {
    let mut imin = 0;
    let mut imax = 0;
    for (i, y) in ys.iter().enumerate() {
        if *y < ys[imin] {
            imin = i;
        }
        if *y > ys[imax] {
            imax = i;
        }
    }
    (imin, imax)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_series_are_kept_whole() {
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        assert_eq!(lttb_indices(&xs, &xs, 20), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn long_series_keep_first_last_and_extremes_within_the_budget() {
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut ys: Vec<f64> = xs.iter().map(|x| (x / 500.0).sin()).collect();
        ys[31_337] = 50.0; // a lone spike
        ys[77_001] = -40.0; // a lone dip
        let keep = lttb_indices(&xs, &ys, 1000);
        assert!(keep.len() <= 1000, "{}", keep.len());
        assert_eq!(keep[0], 0);
        assert_eq!(*keep.last().unwrap(), n - 1);
        assert!(keep.contains(&31_337) && keep.contains(&77_001));
        assert!(keep.windows(2).all(|w| w[0] < w[1]), "ascending and unique");
    }
}
