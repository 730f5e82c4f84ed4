//! One Adam or AdamW step over a parameter's values, in a single pass.
//!
//! Each element goes through the f32 operations burn 0.22's `Adam` and `AdamW` apply as
//! separate tensor ops (`adam.rs`, `adamw.rs`, `decay.rs` in burn-optim), in the same order
//! and with the scalars rounded as burn rounds them, so the result is the same to the bit
//! (the studies' crate tests it against burn's own). Rust does not fuse a multiply and an add
//! unless told, so wider SIMD changes nothing in the values.

use rayon::prelude::*;

/// Elements per task when a parameter is split across the pool; below two of them, one thread.
const CHUNK: usize = 1 << 15;

/// How a step decays the weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay {
    None,
    /// Adam's L2 term: `grad = w * penalty + grad`.
    Coupled {
        penalty: f32,
    },
    /// AdamW's: `w = w * factor` before the update, with `factor = 1 - lr * weight_decay`.
    Decoupled {
        factor: f32,
    },
}

/// How the moments become the update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// Adam: `(m * combined) / (sqrt(v) + eps)`.
    Adam { combined: f32, eps: f32 },
    /// AdamW: `(m / c1) / (sqrt(v / c2) + eps)`.
    AdamW { c1: f32, c2: f32, eps: f32 },
}

/// The scalars of one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The parameter's first step: the moments start from the gradient alone.
    pub first: bool,
    pub beta_1: f32,
    pub beta_2: f32,
    pub decay: Decay,
    pub rule: Rule,
    pub lr: f32,
}

/// Updates `w`, `m` and `v` in place from `g`. All four have the same length.
pub fn step(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    assert!(w.len() == g.len() && w.len() == m.len() && w.len() == v.len(), "a parameter, its gradient and moments differ in length");
    if w.len() > 2 * CHUNK {
        w.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((w, g), m), v)| dispatch(s, w, g, m, v));
    } else {
        dispatch(s, w, g, m, v);
    }
}

/// The widest vector unit this CPU has: the same operations per lane, so the same values.
fn dispatch(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { run_avx512(s, w, g, m, v) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            return unsafe { run_avx2(s, w, g, m, v) };
        }
    }
    run(s, w, g, m, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    run(s, w, g, m, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    run(s, w, g, m, v)
}

/// The loop, one variant per case so that each body is branch-free and vectorises.
#[inline(always)]
fn run(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    match (s.first, s.decay, s.rule) {
        (true, d, r) => each(w, g, m, v, |w, g, m, v| apply::<true>(s, d, r, w, g, m, v)),
        (false, d, r) => each(w, g, m, v, |w, g, m, v| apply::<false>(s, d, r, w, g, m, v)),
    }
}

#[inline(always)]
fn each(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], f: impl Fn(&mut f32, f32, &mut f32, &mut f32)) {
    for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        f(w, *g, m, v);
    }
}

/// burn's arithmetic for one element, in burn's order.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn apply<const FIRST: bool>(s: &Step, decay: Decay, rule: Rule, w: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
    let g = match decay {
        Decay::Coupled { penalty } => *w * penalty + g,
        _ => g,
    };
    let (f1, f2) = (1.0 - s.beta_1, 1.0 - s.beta_2);
    if FIRST {
        *m = g * f1;
        *v = (g * g) * f2;
    } else {
        *m = *m * s.beta_1 + g * f1;
        *v = *v * s.beta_2 + (g * g) * f2;
    }
    let delta = match rule {
        Rule::Adam { combined, eps } => (*m * combined) / (v.sqrt() + eps),
        Rule::AdamW { c1, c2, eps } => (*m / c1) / ((*v / c2).sqrt() + eps),
    };
    let kept = match decay {
        Decay::Decoupled { factor } => *w * factor,
        _ => *w,
    };
    *w = kept - delta * s.lr;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small LCG: varied signs and magnitudes, zeros included.
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if i % 97 == 0 { 0.0 } else { (x >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0 }
            })
            .collect()
    }

    fn plain(s: &Step, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        for i in 0..w.len() {
            if s.first {
                apply::<true>(s, s.decay, s.rule, &mut w[i], g[i], &mut m[i], &mut v[i]);
            } else {
                apply::<false>(s, s.decay, s.rule, &mut w[i], g[i], &mut m[i], &mut v[i]);
            }
        }
    }

    #[test]
    fn split_and_vectorised_steps_equal_the_scalar_loop_to_the_bit() {
        let rules = [Rule::Adam { combined: 0.3, eps: 1e-5 }, Rule::AdamW { c1: 0.1, c2: 0.001, eps: 1e-5 }];
        let decays = [Decay::None, Decay::Coupled { penalty: 1e-2 }, Decay::Decoupled { factor: 0.999 }];
        for n in [7, 1000, 3 * CHUNK + 5] {
            for first in [true, false] {
                for rule in rules {
                    for decay in decays {
                        let s = Step { first, beta_1: 0.9, beta_2: 0.999, decay, rule, lr: 1e-3 };
                        let (g, w0, m0, v0) = (values(n, 1), values(n, 2), values(n, 3), values(n, 4));
                        let v0: Vec<f32> = v0.iter().map(|x| x.abs()).collect();
                        let (mut w, mut m, mut v) = (w0.clone(), m0.clone(), v0.clone());
                        step(&s, &mut w, &g, &mut m, &mut v);
                        let (mut w2, mut m2, mut v2) = (w0, m0, v0);
                        plain(&s, &mut w2, &g, &mut m2, &mut v2);
                        let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&w), bits(&w2), "{s:?}, n {n}");
                        assert_eq!(bits(&m), bits(&m2));
                        assert_eq!(bits(&v), bits(&v2));
                    }
                }
            }
        }
    }
}
