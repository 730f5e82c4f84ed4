//! What a capture's geometry says before anything is rendered: density as Den-SOFT defines it,
//! spacing, and how many views and which directions see each point of the volume.

use std::f64::consts::PI;

use nalgebra::Vector3;

use super::rigs::Camera;

type V3 = Vector3<f64>;

/// Distances within this relative slack of the radius count as inside: a camera exactly on
/// the sphere is counted (the paper's "within", and the lattice check's "counting the
/// boundary"), whatever the rounding of the coordinates.
const BOUNDARY_SLACK: f64 = 1e-9;

/// Den-SOFT's density around each centre: how many cameras lie within `radius` of it. With
/// `centres_are_cameras` (centre i is camera i) a camera is not its own neighbour, but another
/// camera at the same spot is.
pub fn counts_within(centres: &[V3], cameras: &[V3], radius: f64, centres_are_cameras: bool) -> Vec<usize> {
    let r2 = (radius * (1.0 + BOUNDARY_SLACK)).powi(2);
    centres
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cameras.iter().enumerate().filter(|(j, p)| !(centres_are_cameras && *j == i) && (*p - c).norm_squared() <= r2).count()
        })
        .collect()
}

/// Mean density over `centres` at each of `radii` (ascending): the curve of density over the
/// radius, in one pass over the pairs (`centres_are_cameras` as in [`counts_within`]).
pub fn density_curve(centres: &[V3], cameras: &[V3], radii: &[f64], centres_are_cameras: bool) -> Vec<f64> {
    let limits: Vec<f64> = radii.iter().map(|r| (r * (1.0 + BOUNDARY_SLACK)).powi(2)).collect();
    let mut first_within = vec![0usize; radii.len()];
    for (i, c) in centres.iter().enumerate() {
        for (j, p) in cameras.iter().enumerate() {
            if centres_are_cameras && i == j {
                continue;
            }
            let k = limits.partition_point(|l| *l < (p - c).norm_squared());
            if k < first_within.len() {
                first_within[k] += 1;
            }
        }
    }
    let n = centres.len().max(1) as f64;
    let mut total = 0;
    first_within
        .iter()
        .map(|h| {
            total += h;
            total as f64 / n
        })
        .collect()
}

/// How many of `cameras` see each point of a horizontal slice at height `z` of the box
/// `lo`..`hi`: `rows` x `cols` cell centres, row 0 at `lo.y`.
pub fn views_on_slice(cameras: &[Camera], lo: &V3, hi: &V3, z: f64, rows: usize, cols: usize) -> Vec<Vec<usize>> {
    (0..rows)
        .map(|r| {
            (0..cols)
                .map(|c| {
                    let q = V3::new(
                        lo.x + (c as f64 + 0.5) / cols as f64 * (hi.x - lo.x),
                        lo.y + (r as f64 + 0.5) / rows as f64 * (hi.y - lo.y),
                        z,
                    );
                    cameras.iter().filter(|cam| cam.sees(&q)).count()
                })
                .collect()
        })
        .collect()
}

/// Each camera's distance to its nearest other camera (infinite for a lone camera).
pub fn nearest_spacing(cameras: &[V3]) -> Vec<f64> {
    cameras
        .iter()
        .enumerate()
        .map(|(i, c)| cameras.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| (p - c).norm()).fold(f64::INFINITY, f64::min))
        .collect()
}

/// Equal-area direction bins: `ELEVATION_BANDS` bands of equal area (edges evenly spaced in
/// sin(elevation); an odd count puts the horizon in the middle of one) times `AZIMUTH_BINS`.
pub const ELEVATION_BANDS: usize = 9;
pub const AZIMUTH_BINS: usize = 24;
pub const DIRECTION_BINS: usize = ELEVATION_BANDS * AZIMUTH_BINS;

/// The equal-area bin of a unit direction.
pub fn direction_bin(d: &V3) -> usize {
    let z = d.z.clamp(-1.0, 1.0);
    let band = (((z + 1.0) / 2.0 * ELEVATION_BANDS as f64).floor() as usize).min(ELEVATION_BANDS - 1);
    let az = d.y.atan2(d.x).rem_euclid(2.0 * PI);
    let bin = ((az / (2.0 * PI) * AZIMUTH_BINS as f64).floor() as usize).min(AZIMUTH_BINS - 1);
    band * AZIMUTH_BINS + bin
}

/// Directions that probe the sphere for its largest gap: a Fibonacci lattice plus the six
/// axis directions (so a gap centred on a pole is measured exactly).
pub fn probe_directions(n: usize) -> Vec<V3> {
    let golden = PI * (3.0 - 5f64.sqrt());
    let mut out: Vec<V3> = (0..n)
        .map(|i| {
            let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let a = golden * i as f64;
            V3::new(r * a.cos(), r * a.sin(), z)
        })
        .collect();
    for axis in [V3::x(), V3::y(), V3::z()] {
        out.push(axis);
        out.push(-axis);
    }
    out
}

/// The largest angle (degrees) from any probe direction to its nearest observed direction:
/// the radius of the widest cap of directions nobody captured. 180 with none observed.
pub fn largest_gap_deg(observed: &[V3], probes: &[V3]) -> f64 {
    if observed.is_empty() {
        return 180.0;
    }
    let worst_cos =
        probes.iter().map(|q| observed.iter().map(|d| d.dot(q)).fold(f64::NEG_INFINITY, f64::max)).fold(f64::INFINITY, f64::min);
    worst_cos.clamp(-1.0, 1.0).acos().to_degrees()
}

/// How a point of the volume is seen.
#[derive(Clone, Debug, PartialEq)]
pub struct PointCoverage {
    /// Cameras whose field of view holds the point (occlusion ignored: geometry only).
    pub views: usize,
    /// Share of the equal-area direction bins that hold a direction from the point to a
    /// camera that sees it.
    pub bins_share: f64,
    /// The widest cap of directions with no camera, in degrees.
    pub gap_deg: f64,
}

/// The coverage of `point` by `cameras`.
pub fn coverage(point: &V3, cameras: &[Camera], probes: &[V3]) -> PointCoverage {
    let dirs: Vec<V3> = cameras.iter().filter(|c| c.sees(point)).filter_map(|c| (c.centre() - point).try_normalize(1e-12)).collect();
    let mut bins = [false; DIRECTION_BINS];
    for d in &dirs {
        bins[direction_bin(d)] = true;
    }
    let seen = bins.iter().filter(|b| **b).count();
    PointCoverage { views: dirs.len(), bins_share: seen as f64 / DIRECTION_BINS as f64, gap_deg: largest_gap_deg(&dirs, probes) }
}

/// A histogram of counts: `(lower edge, how many)` per bin of `width`.
pub fn histogram(values: &[usize], width: usize) -> Vec<(usize, usize)> {
    let width = width.max(1);
    let top = values.iter().copied().max().unwrap_or(0);
    let mut bins = vec![0usize; top / width + 1];
    for v in values {
        bins[v / width] += 1;
    }
    bins.into_iter().enumerate().map(|(i, n)| (i * width, n)).collect()
}

/// The median of a non-empty slice (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// The mean of a slice (NaN when empty).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
}
