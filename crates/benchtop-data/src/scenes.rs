//! Scenes of real digits for segmentation: a square canvas with one to a few MNIST digits at
//! random places, with per-pixel ground truth taken from the digits' own pixels (the class
//! and the instance under each pixel), and point prompts (a clicked pixel of one digit).
//!
//! Digits are cropped to their ink and placed without their boxes touching (a 2-pixel
//! margin), so every digit's mask is one region and an instance is well defined.
//! Deterministic from the generator it is given.

use rand::Rng as _;

use crate::digits::Digits;

/// The class of a pixel that belongs to no digit.
pub const BACKGROUND: u8 = 10;
/// A pixel at or above this grey level belongs to its digit (the ground truth's threshold).
pub const INK: f32 = 0.5;
/// Empty pixels kept between two digits' boxes.
const MARGIN: usize = 2;
/// Placement attempts per digit before a scene settles for the digits it already has.
const ATTEMPTS: usize = 50;

/// One canvas and its ground truth.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    /// `side x side` grey levels in [0, 1], row-major.
    pub image: Vec<f32>,
    /// Per pixel: the digit class 0..=9, or [`BACKGROUND`].
    pub classes: Vec<u8>,
    /// Per pixel: 0 for background, `k + 1` for the scene's digit `k`.
    pub instances: Vec<u8>,
    /// The class of each digit placed, in order.
    pub labels: Vec<u8>,
}

impl Scene {
    /// The mask of digit `k`: true where its ink is.
    pub fn mask(&self, k: usize) -> Vec<bool> {
        self.instances.iter().map(|&i| i as usize == k + 1).collect()
    }

    /// The pixels (row-major indices) of digit `k`.
    pub fn pixels_of(&self, k: usize) -> Vec<usize> {
        self.instances.iter().enumerate().filter(|(_, i)| **i as usize == k + 1).map(|(p, _)| p).collect()
    }

    /// A point prompt on digit `k`: one of its pixels drawn uniformly, as `(row, col)`.
    /// `None` if the digit has no pixel (which placement never produces).
    pub fn prompt(&self, k: usize, side: usize, rng: &mut crate::Rng) -> Option<(usize, usize)> {
        let pixels = self.pixels_of(k);
        if pixels.is_empty() {
            return None;
        }
        let p = pixels[rng.random_range(0..pixels.len())];
        Some((p / side, p % side))
    }
}

/// Scenes of one canvas size.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenes {
    pub side: usize,
    pub scenes: Vec<Scene>,
}

impl Scenes {
    pub fn len(&self) -> usize {
        self.scenes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scenes.is_empty()
    }

    /// Every (scene, digit) pair, in order: what point prompts are drawn over.
    pub fn instances(&self) -> Vec<(usize, usize)> {
        self.scenes.iter().enumerate().flat_map(|(s, scene)| (0..scene.labels.len()).map(move |k| (s, k))).collect()
    }
}

/// The box around the ink of an image (pixels at or above [`INK`]): `(top, left, height, width)`.
fn ink_box(pixels: &[f32], rows: usize, cols: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut top, mut left, mut bottom, mut right) = (usize::MAX, usize::MAX, 0, 0);
    for r in 0..rows {
        for c in 0..cols {
            if pixels[r * cols + c] >= INK {
                top = top.min(r);
                left = left.min(c);
                bottom = bottom.max(r);
                right = right.max(c);
            }
        }
    }
    (top != usize::MAX).then(|| (top, left, bottom - top + 1, right - left + 1))
}

/// `n` scenes of `side x side` pixels, each with 1 to `max_digits` digits drawn in turn from
/// `digits` (cycling through them in order, so a split of the digits is a split of the
/// scenes' digits), placed at random where their boxes keep a margin from the others.
pub fn compose(digits: &Digits, side: usize, max_digits: usize, n: usize, rng: &mut crate::Rng) -> Scenes {
    let mut next = 0usize;
    let mut scenes = Vec::with_capacity(n);
    for _ in 0..n {
        let want = rng.random_range(1..=max_digits.max(1));
        let mut scene = Scene {
            image: vec![0.0; side * side],
            classes: vec![BACKGROUND; side * side],
            instances: vec![0; side * side],
            labels: vec![],
        };
        let mut boxes: Vec<(usize, usize, usize, usize)> = Vec::new();
        let mut tries = 0;
        while scene.labels.len() < want && tries < ATTEMPTS * want && !digits.is_empty() {
            tries += 1;
            let i = next % digits.len();
            let img = digits.image(i);
            let Some((top, left, h, w)) = ink_box(img, digits.rows, digits.cols) else {
                next += 1;
                continue;
            };
            if h > side || w > side {
                next += 1;
                continue;
            }
            let (y, x) = (rng.random_range(0..=side - h), rng.random_range(0..=side - w));
            let clear = boxes
                .iter()
                .all(|&(by, bx, bh, bw)| y + h + MARGIN <= by || by + bh + MARGIN <= y || x + w + MARGIN <= bx || bx + bw + MARGIN <= x);
            if !clear {
                continue;
            }
            next += 1;
            let k = scene.labels.len();
            for r in 0..h {
                for c in 0..w {
                    let v = img[(top + r) * digits.cols + left + c];
                    let p = (y + r) * side + x + c;
                    scene.image[p] = v;
                    if v >= INK {
                        scene.classes[p] = digits.labels[i];
                        scene.instances[p] = k as u8 + 1;
                    }
                }
            }
            boxes.push((y, x, h, w));
            scene.labels.push(digits.labels[i]);
        }
        scenes.push(scene);
    }
    Scenes { side, scenes }
}

/// A digit's ink cut out of `image` by `mask` and centred by its box in a `size x size` frame
/// (scaled down to fit if larger): how a crop is shown to a classifier of single digits.
pub fn centred_crop(image: &[f32], mask: &[bool], side: usize, size: usize) -> Vec<f32> {
    let mut out = vec![0.0; size * size];
    let masked: Vec<f32> = image.iter().zip(mask).map(|(v, m)| if *m { *v } else { 0.0 }).collect();
    let Some((top, left, h, w)) = ink_box(&masked, side, side) else {
        return out;
    };
    // Nearest-neighbour scaling when the region is larger than the frame (two digits merged
    // into one mask, say); MNIST's own digits sit in a 20 x 20 box inside 28 x 28.
    let fit = size.saturating_sub(8).max(1) as f32;
    let scale = (h.max(w) as f32 / fit).max(1.0);
    let (sh, sw) = ((h as f32 / scale).round() as usize, (w as f32 / scale).round() as usize);
    let (oy, ox) = ((size - sh) / 2, (size - sw) / 2);
    for r in 0..sh {
        for c in 0..sw {
            let (sr, sc) = (top + ((r as f32 * scale) as usize).min(h - 1), left + ((c as f32 * scale) as usize).min(w - 1));
            out[(oy + r) * size + ox + c] = masked[sr * side + sc];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digits::{Mnist, mnist};

    fn digits() -> Digits {
        let d = mnist(Mnist::Test).unwrap();
        d.select(&(0..200).collect::<Vec<_>>())
    }

    #[test]
    fn scenes_are_deterministic_from_the_seed_and_the_truth_is_the_digits_ink() {
        let d = digits();
        let a = compose(&d, 56, 3, 40, &mut crate::rng(7, 0));
        assert_eq!(a, compose(&d, 56, 3, 40, &mut crate::rng(7, 0)));
        assert_ne!(a, compose(&d, 56, 3, 40, &mut crate::rng(8, 0)));
        let mut counts = [0usize; 4];
        for s in &a.scenes {
            assert!((1..=3).contains(&s.labels.len()));
            counts[s.labels.len()] += 1;
            for p in 0..56 * 56 {
                let ink = s.image[p] >= INK;
                assert_eq!(ink, s.instances[p] > 0, "a pixel is a digit's exactly where it is ink");
                assert_eq!(ink, s.classes[p] != BACKGROUND);
                if ink {
                    assert_eq!(s.classes[p], s.labels[s.instances[p] as usize - 1]);
                }
            }
            for k in 0..s.labels.len() {
                assert!(s.pixels_of(k).len() > 10, "every placed digit shows");
            }
        }
        assert!(counts[1] > 0 && counts[2] > 0 && counts[3] > 0, "1, 2 and 3 digits all occur: {counts:?}");
        // The digits are taken in order: the scenes hold the split's first digits.
        assert_eq!(a.scenes[0].labels[0], d.labels[0]);
    }

    #[test]
    fn a_prompt_falls_on_its_digit() {
        let d = digits();
        let s = compose(&d, 48, 3, 20, &mut crate::rng(1, 0));
        let mut rng = crate::rng(1, 1);
        for (i, k) in s.instances() {
            let (r, c) = s.scenes[i].prompt(k, 48, &mut rng).unwrap();
            assert_eq!(s.scenes[i].instances[r * 48 + c] as usize, k + 1);
        }
    }

    #[test]
    fn a_crop_of_a_placed_digit_is_the_digit_centred() {
        let d = digits();
        let s = compose(&d, 56, 1, 5, &mut crate::rng(2, 0));
        for scene in &s.scenes {
            let crop = centred_crop(&scene.image, &scene.mask(0), 56, 28);
            let ink_in = scene.image.iter().filter(|v| **v >= INK).count();
            let ink_out = crop.iter().filter(|v| **v >= INK).count();
            assert_eq!(ink_in, ink_out, "a digit that fits is copied, not scaled");
            let (top, left, h, w) = ink_box(&crop, 28, 28).unwrap();
            assert!(top.abs_diff(28 - top - h) <= 1 && left.abs_diff(28 - left - w) <= 1, "centred");
        }
    }
}
