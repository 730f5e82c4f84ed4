//! The study's data, all from the bundled MNIST digits and deterministic from the seed.
//!
//! MNIST's first 10,000 training digits, shuffled per seed, are split three ways: digits for
//! teacher S's scenes, single digits for teacher C (and for the C distillation of the merge),
//! and a validation part (scenes and digits) that chooses task arithmetic's scale. Test
//! scenes and test digits come from MNIST's 10,000 test digits, never seen in training.

use benchtop_core::StudyError;
use benchtop_data::digits::{Digits, Mnist, mnist};
use benchtop_data::scenes::{Scenes, compose};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand_distr::{Distribution, StandardNormal};

use super::MergingParams;
use super::model::{EMBED, encode_prompt};
use crate::ml::nets::tensor;

/// Digits of the training split that make S's scenes.
const S_DIGITS: usize = 4000;
/// The validation part: scenes from its first half, single digits from its second.
const VALIDATION_DIGITS: usize = 2000;
const VALIDATION_SCENES: usize = 150;
const VALIDATION_SINGLES: usize = 500;
/// Test scenes draw on the first half of MNIST's test digits, test singles on the second.
const TEST_SCENE_DIGITS: usize = 5000;
pub const CLASSES: usize = 10;

/// A point prompt: digit `instance` of scene `scene`, clicked at `(row, col)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub scene: usize,
    pub instance: usize,
    pub row: usize,
    pub col: usize,
}

pub struct Data {
    pub side: usize,
    pub s_train: Scenes,
    /// One prompt per digit of S's training scenes, in a seeded order (replay keeps a prefix).
    pub s_samples: Vec<Prompt>,
    pub c_train: Digits,
    pub val_scenes: Scenes,
    pub val_samples: Vec<Prompt>,
    pub val_digits: Digits,
    pub test_scenes: Scenes,
    pub test_samples: Vec<Prompt>,
    pub test_digits: Digits,
    /// `[EMBED, 10]` row-major: unit columns, one per class (CLIP's text side).
    pub prototypes: Vec<f32>,
}

/// One prompt per digit of `scenes`, clicked on a uniformly drawn pixel of it.
pub fn prompts(scenes: &Scenes, rng: &mut benchtop_data::Rng) -> Vec<Prompt> {
    scenes
        .instances()
        .into_iter()
        .filter_map(|(s, k)| scenes.scenes[s].prompt(k, scenes.side, rng).map(|(row, col)| Prompt { scene: s, instance: k, row, col }))
        .collect()
}

/// Ten random unit vectors in `EMBED` dimensions, as `[EMBED, 10]` row-major.
pub fn prototypes(seed: u64) -> Vec<f32> {
    let mut rng = benchtop_data::rng(seed, 79);
    let mut columns: Vec<Vec<f32>> = Vec::new();
    for _ in 0..CLASSES {
        let v: Vec<f32> = (0..EMBED).map(|_| StandardNormal.sample(&mut rng)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        columns.push(v.into_iter().map(|x| x / norm).collect());
    }
    let mut out = vec![0.0; EMBED * CLASSES];
    for (k, col) in columns.iter().enumerate() {
        for (d, v) in col.iter().enumerate() {
            out[d * CLASSES + k] = *v;
        }
    }
    out
}

fn first(d: &Digits, range: std::ops::Range<usize>) -> Digits {
    d.select(&range.filter(|i| *i < d.len()).collect::<Vec<_>>())
}

impl Data {
    pub fn new(p: &MergingParams, seed: u64) -> Result<Data, StudyError> {
        let side = p.canvas as usize;
        let max = p.max_digits as usize;
        let train = mnist(Mnist::TrainFirst10k)?.shuffled(&mut benchtop_data::rng(seed, 70));
        let c_end = S_DIGITS + (p.c_digits as usize).min(train.len() - S_DIGITS - VALIDATION_DIGITS);
        let validation = first(&train, train.len() - VALIDATION_DIGITS..train.len());
        let test = mnist(Mnist::Test)?.shuffled(&mut benchtop_data::rng(seed, 71));

        let s_train = compose(&first(&train, 0..S_DIGITS), side, max, p.s_scenes as usize, &mut benchtop_data::rng(seed, 72));
        let mut s_samples = prompts(&s_train, &mut benchtop_data::rng(seed, 73));
        s_samples.shuffle(&mut benchtop_data::rng(seed, 74));
        let val_scenes =
            compose(&first(&validation, 0..VALIDATION_DIGITS / 2), side, max, VALIDATION_SCENES, &mut benchtop_data::rng(seed, 75));
        let val_samples = prompts(&val_scenes, &mut benchtop_data::rng(seed, 76));
        let test_scenes =
            compose(&first(&test, 0..TEST_SCENE_DIGITS), side, max, p.test_scenes as usize, &mut benchtop_data::rng(seed, 77));
        let test_samples = prompts(&test_scenes, &mut benchtop_data::rng(seed, 78));
        Ok(Data {
            side,
            s_train,
            s_samples,
            c_train: first(&train, S_DIGITS..c_end),
            val_scenes,
            val_samples,
            val_digits: first(&validation, VALIDATION_DIGITS / 2..VALIDATION_DIGITS / 2 + VALIDATION_SINGLES),
            test_scenes,
            test_samples,
            test_digits: first(&test, TEST_SCENE_DIGITS..TEST_SCENE_DIGITS + p.test_digits as usize),
            prototypes: prototypes(seed),
        })
    }

    /// The replay memory for a fraction `rho` of S's training prompts: indices into
    /// `s_samples` (a prefix of their seeded order, so a larger rho keeps a superset). Any
    /// rho above zero keeps at least one prompt: a tiny fraction is a small memory, never
    /// silently none.
    pub fn memory(&self, rho: f64) -> Vec<usize> {
        let n = (rho.clamp(0.0, 1.0) * self.s_samples.len() as f64).ceil() as usize;
        (0..n).collect()
    }

    pub fn prototype_tensor(&self, device: &Device) -> Tensor<2> {
        tensor(self.prototypes.clone(), [EMBED, CLASSES], device)
    }
}

/// Prompted scenes as tensors: images `[b, 1, s, s]`, encoded prompts `[b, 3, s/4, s/4]` and
/// the ground-truth masks `[b, 1, s, s]`.
pub fn scene_batch(scenes: &Scenes, samples: &[Prompt], idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<4>, Tensor<4>) {
    let s = scenes.side;
    let g = s / super::model::STRIDE;
    let (mut images, mut prompts, mut masks) = (Vec::new(), Vec::new(), Vec::new());
    for &i in idx {
        let p = samples[i];
        let scene = &scenes.scenes[p.scene];
        images.extend_from_slice(&scene.image);
        prompts.extend(encode_prompt(p.row, p.col, s));
        masks.extend(scene.instances.iter().map(|&k| if k as usize == p.instance + 1 { 1.0f32 } else { 0.0 }));
    }
    let b = idx.len();
    (tensor(images, [b, 1, s, s], device), tensor(prompts, [b, 3, g, g], device), tensor(masks, [b, 1, s, s], device))
}

/// Single digits `idx` as `[b, 1, 28, 28]`.
pub fn digit_batch(digits: &Digits, idx: &[usize], device: &Device) -> Tensor<4> {
    let mut x = Vec::with_capacity(idx.len() * digits.size());
    for &i in idx {
        x.extend_from_slice(digits.image(i));
    }
    tensor(x, [idx.len(), 1, digits.rows, digits.cols], device)
}
