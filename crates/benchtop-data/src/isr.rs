//! The linear model of Rosenfeld et al. (2021) in the "Example 3" form of the linear unit
//! tests (Aubin et al. 2021) used by the ISR paper (Wang et al. 2022).
//!
//! Each sample has a binary label `y` (half 0, half 1 per environment), an invariant part
//! `z_inv ~ N(+mu, s^2 I)` for `y = 0` and `N(-mu, s^2 I)` for `y = 1`, the same in every
//! environment, and a spurious part `z_spu ~ N(+v_e, s_e^2 I)` for `y = 0` and
//! `N(-v_e, s_e^2 I)` for `y = 1`, where `v_e ~ N(0, I)` is drawn once per environment.
//! `x = R [z_inv; z_spu]`, with `R` the identity or, when scrambled, a random orthogonal
//! matrix. Test samples come from the same environments with the spurious block permuted
//! across samples, which breaks its link to the label.

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, Normal, StandardNormal};

/// The generator's knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct IsrConfig {
    pub n_envs: usize,
    pub d_inv: usize,
    pub d_spu: usize,
    pub samples_per_env: usize,
    pub scrambled: bool,
    /// Invariant class mean per coordinate (`mu`); Example 3 uses 0.1.
    pub inv_mean: f64,
    /// Invariant and (base) spurious standard deviation; Example 3 uses 0.1.
    pub noise_std: f64,
    /// Spurious std of environment e is `noise_std * (1 + spread * e / (E - 1))`: 0 is
    /// Example 3 (the same scale everywhere); ISR-Cov needs scales that differ.
    pub spu_std_spread: f64,
}

impl Default for IsrConfig {
    fn default() -> Self {
        IsrConfig {
            n_envs: 6,
            d_inv: 5,
            d_spu: 5,
            samples_per_env: 1000,
            scrambled: false,
            inv_mean: 0.1,
            noise_std: 0.1,
            spu_std_spread: 0.0,
        }
    }
}

/// Samples of one environment: `x` is row-major `n x (d_inv + d_spu)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    pub x: Vec<f32>,
    /// Labels as 0.0 / 1.0.
    pub y: Vec<f32>,
    /// The invariant latent block alone (`n x d_inv`), for the oracle.
    pub z_inv: Vec<f32>,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Concatenate several sample sets.
    pub fn concat(parts: &[Samples]) -> Samples {
        Samples {
            x: parts.iter().flat_map(|p| p.x.iter().copied()).collect(),
            y: parts.iter().flat_map(|p| p.y.iter().copied()).collect(),
            z_inv: parts.iter().flat_map(|p| p.z_inv.iter().copied()).collect(),
        }
    }
}

/// One draw of the whole data set.
#[derive(Clone, Debug)]
pub struct IsrData {
    pub config: IsrConfig,
    /// Training samples, one entry per environment.
    pub train: Vec<Samples>,
    /// Test samples from the same environments, spurious block permuted; pooled.
    pub test: Samples,
    /// `R`: columns `0..d_inv` span the invariant subspace in x-space.
    pub mixing: DMatrix<f64>,
}

impl IsrData {
    /// The input dimension `d_inv + d_spu`.
    pub fn dim(&self) -> usize {
        self.config.d_inv + self.config.d_spu
    }
}

/// Draw a data set from `seed` (train and test from independent streams).
pub fn generate(config: &IsrConfig, seed: u64) -> IsrData {
    let d = config.d_inv + config.d_spu;
    let mut env_rng = crate::rng(seed, 0);
    let means: Vec<Vec<f64>> =
        (0..config.n_envs).map(|_| (0..config.d_spu).map(|_| StandardNormal.sample(&mut env_rng)).collect()).collect();
    let mixing = if config.scrambled { random_orthogonal(d, &mut crate::rng(seed, 1)) } else { DMatrix::identity(d, d) };
    let spu_std = |e: usize| {
        let t = if config.n_envs > 1 { e as f64 / (config.n_envs - 1) as f64 } else { 0.0 };
        config.noise_std * (1.0 + config.spu_std_spread * t)
    };

    let mut train_rng = crate::rng(seed, 2);
    let train = (0..config.n_envs)
        .map(|e| {
            let (latent, y, z_inv) = draw_latent(config, &means[e], spu_std(e), &mut train_rng);
            Samples { x: mix_rows(&latent, d, &mixing), y, z_inv }
        })
        .collect();

    let mut test_rng = crate::rng(seed, 3);
    let (mut latent, mut y, mut z_inv) = (Vec::new(), Vec::new(), Vec::new());
    for (e, mean) in means.iter().enumerate() {
        let (l, ys, zs) = draw_latent(config, mean, spu_std(e), &mut test_rng);
        latent.extend(l);
        y.extend(ys);
        z_inv.extend(zs);
    }
    permute_spurious(&mut latent, d, config.d_inv, &mut test_rng);
    let test = Samples { x: mix_rows(&latent, d, &mixing), y, z_inv };
    IsrData { config: config.clone(), train, test, mixing }
}

/// One environment's latent rows `[z_inv; z_spu]`, labels and invariant block.
fn draw_latent(config: &IsrConfig, spu_mean: &[f64], spu_std: f64, rng: &mut crate::Rng) -> (Vec<f64>, Vec<f32>, Vec<f32>) {
    let n = config.samples_per_env;
    let d = config.d_inv + config.d_spu;
    let inv_noise = Normal::new(0.0, config.noise_std).expect("finite std");
    let spu_noise = Normal::new(0.0, spu_std).expect("finite std");
    let mut latent = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    let mut z_inv = Vec::with_capacity(n * config.d_inv);
    for i in 0..n {
        let label = if i < n / 2 { 0.0 } else { 1.0 };
        let sign = if label == 0.0 { 1.0 } else { -1.0 };
        for _ in 0..config.d_inv {
            let v = sign * config.inv_mean + inv_noise.sample(rng);
            latent.push(v);
            z_inv.push(v as f32);
        }
        for m in spu_mean {
            latent.push(sign * m + spu_noise.sample(rng));
        }
        y.push(label);
    }
    (latent, y, z_inv)
}

/// Shuffle the spurious columns of the latent rows across samples, as one block per row.
fn permute_spurious(latent: &mut [f64], d: usize, d_inv: usize, rng: &mut crate::Rng) {
    let n = latent.len() / d;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let spurious: Vec<Vec<f64>> = (0..n).map(|i| latent[i * d + d_inv..(i + 1) * d].to_vec()).collect();
    for (i, &j) in order.iter().enumerate() {
        latent[i * d + d_inv..(i + 1) * d].copy_from_slice(&spurious[j]);
    }
}

/// `x_i = R z_i` for each row `z_i`.
fn mix_rows(latent: &[f64], d: usize, mixing: &DMatrix<f64>) -> Vec<f32> {
    let n = latent.len() / d;
    let z = DMatrix::from_row_slice(n, d, latent);
    let x = z * mixing.transpose();
    let mut out = Vec::with_capacity(n * d);
    for i in 0..n {
        out.extend(x.row(i).iter().map(|&v| v as f32));
    }
    out
}

/// A Haar-random orthogonal matrix: QR of a Gaussian matrix, signs fixed by R's diagonal.
fn random_orthogonal(d: usize, rng: &mut crate::Rng) -> DMatrix<f64> {
    let g = DMatrix::from_fn(d, d, |_, _| StandardNormal.sample(rng));
    let qr = g.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_of(rows: &[f32], d: usize, col: usize, pick: impl Fn(usize) -> bool) -> f64 {
        let n = rows.len() / d;
        let vals: Vec<f64> = (0..n).filter(|&i| pick(i)).map(|i| rows[i * d + col] as f64).collect();
        vals.iter().sum::<f64>() / vals.len() as f64
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_does_not() {
        let cfg = IsrConfig { samples_per_env: 50, n_envs: 3, ..Default::default() };
        let (a, b, c) = (generate(&cfg, 1), generate(&cfg, 1), generate(&cfg, 2));
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
        assert_ne!(a.train, c.train);
    }

    #[test]
    fn shapes_and_labels_follow_the_config() {
        let cfg = IsrConfig { samples_per_env: 40, n_envs: 4, d_inv: 3, d_spu: 2, ..Default::default() };
        let data = generate(&cfg, 0);
        assert_eq!(data.train.len(), 4);
        for env in &data.train {
            assert_eq!((env.len(), env.x.len(), env.z_inv.len()), (40, 40 * 5, 40 * 3));
            assert_eq!(env.y.iter().filter(|&&y| y == 1.0).count(), 20);
        }
        assert_eq!(data.test.len(), 160);
    }

    #[test]
    fn invariant_means_are_shared_and_spurious_means_differ_per_environment() {
        let cfg = IsrConfig { samples_per_env: 4000, n_envs: 2, d_inv: 1, d_spu: 1, ..Default::default() };
        let data = generate(&cfg, 5);
        let (e0, e1) = (&data.train[0], &data.train[1]);
        let y0 = |env: &Samples, col| mean_of(&env.x, 2, col, |i| env.y[i] == 0.0);
        let inv = (y0(e0, 0), y0(e1, 0));
        assert!((inv.0 - 0.1).abs() < 0.01 && (inv.1 - 0.1).abs() < 0.01, "{inv:?}");
        let spu = (y0(e0, 1), y0(e1, 1));
        assert!((spu.0 - spu.1).abs() > 0.05, "environments draw their own spurious mean: {spu:?}");
    }

    #[test]
    fn permuting_the_test_spurious_block_breaks_its_link_to_the_label() {
        let cfg = IsrConfig { samples_per_env: 4000, n_envs: 1, d_inv: 1, d_spu: 1, ..Default::default() };
        let data = generate(&cfg, 3);
        let t = &data.test;
        let gap = |col| mean_of(&t.x, 2, col, |i| t.y[i] == 0.0) - mean_of(&t.x, 2, col, |i| t.y[i] == 1.0);
        assert!((gap(0) - 0.2).abs() < 0.02, "the invariant gap stays: {}", gap(0));
        assert!(gap(1).abs() < 0.1, "the spurious gap is gone: {}", gap(1));
    }

    #[test]
    fn scrambling_is_an_orthogonal_mix_that_keeps_norms() {
        let cfg = IsrConfig { samples_per_env: 10, n_envs: 2, scrambled: true, ..Default::default() };
        let data = generate(&cfg, 9);
        let r = &data.mixing;
        let eye = r.transpose() * r;
        assert!((eye - DMatrix::<f64>::identity(10, 10)).norm() < 1e-9);
        let plain = generate(&IsrConfig { scrambled: false, ..cfg }, 9);
        let norm = |x: &[f32]| x[..10].iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        assert!((norm(&data.train[0].x) - norm(&plain.train[0].x)).abs() < 1e-4);
    }
}
