//! The sequences of domains GOAT adapts along: rotating digits (source upright, target at
//! `rotation_deg`, given intermediate domains at evenly spaced angles, each domain its own
//! digits) and Covertype sorted by distance to water.
//!
//! Which digits go where depends only on the seed and the domain size, never on the number of
//! given domains: the source and target of a run with 4 given domains are the same images as
//! those of a run with none, so methods and settings compare on the same target.

use benchtop_core::StudyError;
use benchtop_data::digits::{Digits, mnist_all};
use benchtop_data::tabular::{Covertype, covertype};
use benchtop_data::transforms::rotate;
use rand::seq::SliceRandom;

/// Inputs of one domain on the host, row-major, with their true labels (used only to score).
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    /// A stable name (the cache key of its features): e.g. `rot22.5@1`.
    pub name: String,
    pub x: Vec<f32>,
    pub labels: Vec<u8>,
}

impl Domain {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Everything one run adapts across.
#[derive(Clone, Debug)]
pub struct Setting {
    /// One input's shape, `[channels, height, width]` (`[1, 1, d]` for a table row).
    pub shape: [usize; 3],
    pub classes: usize,
    pub source: Domain,
    /// Held-out source data: the source accuracy of the trained model.
    pub source_test: Domain,
    pub given: Vec<Domain>,
    /// The unlabelled target the methods adapt to.
    pub target: Domain,
    /// Held-out target data: every method is scored here.
    pub target_test: Domain,
}

impl Setting {
    /// Source, given intermediates, target: the path of real domains.
    pub fn path(&self) -> Vec<&Domain> {
        let mut p = vec![&self.source];
        p.extend(&self.given);
        p.push(&self.target);
        p
    }
}

/// Digits needed for `given` domains of `n` points and a target test set of `test`.
pub fn digits_needed(n: usize, test: usize, given: usize) -> usize {
    (2 + given) * n + test
}

/// Rotating MNIST: source at 0 degrees, target at `degrees`, `given` domains at
/// `degrees * k / (given + 1)`. Each domain has `n` digits of its own.
pub fn rotating_digits(seed: u64, n: usize, test: usize, given: usize, degrees: f64) -> Result<Setting, StudyError> {
    let all = mnist_all()?;
    let needed = digits_needed(n, test, given);
    if needed > all.len() {
        return Err(StudyError::InvalidParams(format!(
            "{given} given domains of {n} digits and a test set of {test} need {needed} digits; {} are bundled",
            all.len()
        )));
    }
    let mut order: Vec<usize> = (0..all.len()).collect();
    order.shuffle(&mut benchtop_data::rng(seed, 10));
    let slice = |from: usize, len: usize| all.select(&order[from..from + len]);
    let rotated = |d: &Digits, deg: f64, name: String| Domain {
        name,
        x: d.map_images(|img| if deg == 0.0 { img.to_vec() } else { rotate(img, d.rows, d.cols, deg) }).pixels,
        labels: d.labels.clone(),
    };
    let source = slice(0, n);
    let target = slice(n, n);
    let test = slice(2 * n, test);
    let given = (1..=given)
        .map(|k| {
            let deg = degrees * k as f64 / (given + 1) as f64;
            rotated(&slice(2 * n + test.len() + (k - 1) * n, n), deg, format!("rot{deg:.2}@{k}"))
        })
        .collect();
    Ok(Setting {
        shape: [1, all.rows, all.cols],
        classes: 10,
        source: rotated(&source, 0.0, "rot0".into()),
        source_test: rotated(&test, 0.0, "rot0-test".into()),
        given,
        target: rotated(&target, degrees, format!("rot{degrees:.2}")),
        target_test: rotated(&test, degrees, format!("rot{degrees:.2}-test")),
    })
}

/// The numeric column Covertype's domains are sorted by (the authors' choice).
pub const WATER_COLUMN: usize = 3;

/// Covertype sorted by horizontal distance to water: the nearest 20% of rows are the source
/// (its first `n`), the farthest 30% the target (`n` to adapt on, `test` to score), and the
/// middle 50% is cut into `given` contiguous blocks of at most `n` rows each. Numeric columns
/// are standardised with the source's mean and deviation (one-hot columns stay 0/1).
pub fn covertype_by_water(seed: u64, n: usize, test: usize, given: usize) -> Result<Setting, StudyError> {
    let data = covertype()?;
    let rows = data.len();
    let mut order: Vec<usize> = (0..rows).collect();
    // Ties in distance are broken by a seeded shuffle first, so no file order leaks in.
    order.shuffle(&mut benchtop_data::rng(seed, 10));
    order.sort_by(|&a, &b| data.row(a)[WATER_COLUMN].total_cmp(&data.row(b)[WATER_COLUMN]));
    let (src_end, tgt_start) = (rows / 5, rows - rows * 3 / 10);
    let take = |range: &[usize], k: usize, stream: u64| -> Vec<usize> {
        let mut r = range.to_vec();
        r.shuffle(&mut benchtop_data::rng(seed, stream));
        r.truncate(k);
        r
    };
    let source_rows = take(&order[..src_end], n, 11);
    let target_block = take(&order[tgt_start..], usize::MAX, 12);
    if target_block.len() < n + test || source_rows.len() < n.min(src_end) {
        return Err(StudyError::InvalidParams(format!(
            "Covertype's far 30% has {} rows: too few for {n} target rows and {test} test rows",
            target_block.len()
        )));
    }
    let middle = &order[src_end..tgt_start];
    let given_rows: Vec<Vec<usize>> = (0..given)
        .map(|k| {
            let block = &middle[k * middle.len() / given..(k + 1) * middle.len() / given];
            take(block, n, 20 + k as u64)
        })
        .collect();

    let (mean, std) = standardiser(&data, &source_rows);
    let domain = |idx: &[usize], name: String| {
        let mut x = Vec::with_capacity(idx.len() * Covertype::WIDTH);
        for &i in idx {
            x.extend(data.row(i).iter().enumerate().map(|(c, v)| if c < 10 { (v - mean[c]) / std[c] } else { *v }));
        }
        Domain { name, x, labels: idx.iter().map(|&i| data.labels[i]).collect() }
    };
    let distance = |idx: &[usize]| {
        let (lo, hi) = idx.iter().map(|&i| data.row(i)[WATER_COLUMN]).fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        format!("water{lo:.0}-{hi:.0}")
    };
    Ok(Setting {
        shape: [1, 1, Covertype::WIDTH],
        classes: 7,
        source: domain(&source_rows, distance(&source_rows)),
        // The source block's rows beyond the first n, when there are any; else the source
        // itself (at n = 2,000 the block has no spare rows: source accuracy is then training
        // accuracy, and the study's docs say so).
        source_test: {
            let rest = take(&order[..src_end], usize::MAX, 11);
            let held: Vec<usize> = rest[n.min(rest.len())..].to_vec();
            let held = if held.is_empty() { source_rows.clone() } else { held };
            domain(&held, "source-test".into())
        },
        given: given_rows.iter().enumerate().map(|(k, r)| domain(r, format!("{}@{}", distance(r), k + 1))).collect(),
        target: domain(&target_block[..n], distance(&target_block[..n])),
        target_test: domain(&target_block[n..n + test], "target-test".into()),
    })
}

/// Per numeric column: mean and standard deviation over `rows` (1 where a column is constant).
fn standardiser(data: &Covertype, rows: &[usize]) -> ([f32; 10], [f32; 10]) {
    let mut mean = [0f64; 10];
    let mut sq = [0f64; 10];
    for &i in rows {
        for c in 0..10 {
            let v = data.row(i)[c] as f64;
            mean[c] += v;
            sq[c] += v * v;
        }
    }
    let n = rows.len().max(1) as f64;
    let mut m = [0f32; 10];
    let mut s = [1f32; 10];
    for c in 0..10 {
        let mu = mean[c] / n;
        let var = (sq[c] / n - mu * mu).max(0.0);
        m[c] = mu as f32;
        s[c] = if var > 1e-12 { var.sqrt() as f32 } else { 1.0 };
    }
    (m, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotating_digits_keep_source_and_target_whatever_the_given_domains() {
        let none = rotating_digits(3, 50, 20, 0, 45.0).unwrap();
        let four = rotating_digits(3, 50, 20, 4, 45.0).unwrap();
        assert_eq!(none.source, four.source);
        assert_eq!(none.target, four.target);
        assert_eq!(none.target_test, four.target_test);
        assert_eq!(four.given.len(), 4);
        let names: Vec<&str> = four.given.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["rot9.00@1", "rot18.00@2", "rot27.00@3", "rot36.00@4"]);
        // The held-out test digits are the same images upright (source) and rotated (target).
        assert_eq!(none.source_test.labels, none.target_test.labels);
        assert_ne!(none.source_test.x, none.target_test.x);
        assert!(rotating_digits(3, 5000, 1000, 3, 45.0).is_err(), "25,000 digits are more than bundled");
    }

    #[test]
    fn covertype_domains_move_away_from_water() {
        let s = covertype_by_water(0, 500, 200, 2).unwrap();
        let water = |d: &Domain| d.name.clone();
        assert_eq!(s.source.len(), 500);
        assert_eq!(s.given.len(), 2);
        assert_eq!((s.target.len(), s.target_test.len()), (500, 200));
        // Names carry each domain's distance range: they increase along the path.
        let lows: Vec<f32> =
            s.path().iter().map(|d| water(d).trim_start_matches("water").split('-').next().unwrap().parse::<f32>().unwrap()).collect();
        assert!(lows.windows(2).all(|w| w[0] <= w[1]), "{lows:?}");
        // Standardised on the source: its numeric columns have mean about 0.
        let mean0: f32 = s.source.x.chunks(Covertype::WIDTH).map(|r| r[0]).sum::<f32>() / 500.0;
        assert!(mean0.abs() < 1e-3, "{mean0}");
    }
}
