//! CG-digits: a compositional-generalisation benchmark on real digits. Classes are the ten
//! digits; domains are visual styles made by the transforms (plain, rotated, inverted,
//! thickened, noisy). A seeded mask says which (class, domain) pairs appear in training;
//! every class and every domain is seen somewhere, and the pairs left out are the test of
//! composition: a model must recognise a 7 in a style it has seen, just never on a 7.

use rand::Rng as _;
use rand::seq::SliceRandom;

use crate::digits::Digits;
use crate::transforms::{blur, invert, noise, rotate, thicken};

/// One visual style (a domain).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    /// Rotated 90 degrees counter-clockwise.
    Rotated,
    /// White on black becomes black on white.
    Inverted,
    /// Strokes thickened by a 3x3 max filter.
    Thick,
    /// Gaussian pixel noise (std 0.3), clamped to [0, 1].
    Noisy,
    /// A 3x3 mean filter (not among CG-digits' domains; the forgetting study uses it).
    Blurred,
}

/// The domains, in mask column order.
pub const STYLES: [Style; 5] = [Style::Plain, Style::Rotated, Style::Inverted, Style::Thick, Style::Noisy];

impl Style {
    pub fn name(self) -> &'static str {
        match self {
            Style::Plain => "plain",
            Style::Rotated => "rotated",
            Style::Inverted => "inverted",
            Style::Thick => "thick",
            Style::Noisy => "noisy",
            Style::Blurred => "blurred",
        }
    }

    /// This style applied to one `rows x cols` image (`rng` for the noisy style).
    pub fn apply(self, img: &[f32], rows: usize, cols: usize, rng: &mut crate::Rng) -> Vec<f32> {
        match self {
            Style::Plain => img.to_vec(),
            Style::Rotated => rotate(img, rows, cols, 90.0),
            Style::Inverted => invert(img),
            Style::Thick => thicken(img, rows, cols),
            Style::Noisy => noise(img, 0.3, rng),
            Style::Blurred => blur(img, rows, cols),
        }
    }
}

/// Which (class, domain) pairs appear in training, row-major `classes x domains`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    pub classes: usize,
    pub domains: usize,
    pub seen: Vec<bool>,
}

impl Mask {
    /// About `density` of all pairs seen (at least one per class and per domain, at least one
    /// pair unseen), drawn from `seed` alone: the same seed gives the same mask.
    pub fn random(classes: usize, domains: usize, density: f64, seed: u64) -> Mask {
        let mut rng = crate::rng(seed, 40);
        let total = classes * domains;
        let mut seen = vec![false; total];
        // Cover every class and every domain first: a shuffled diagonal.
        let (mut cs, mut ds): (Vec<usize>, Vec<usize>) = ((0..classes).collect(), (0..domains).collect());
        cs.shuffle(&mut rng);
        ds.shuffle(&mut rng);
        for i in 0..classes.max(domains) {
            seen[cs[i % classes] * domains + ds[i % domains]] = true;
        }
        let target = ((density * total as f64).round() as usize).clamp(classes.max(domains), total.saturating_sub(1));
        let mut rest: Vec<usize> = (0..total).filter(|&i| !seen[i]).collect();
        rest.shuffle(&mut rng);
        let have = seen.iter().filter(|s| **s).count();
        for &i in rest.iter().take(target.saturating_sub(have)) {
            seen[i] = true;
        }
        Mask { classes, domains, seen }
    }

    pub fn is_seen(&self, class: usize, domain: usize) -> bool {
        self.seen[class * self.domains + domain]
    }

    pub fn seen_count(&self) -> usize {
        self.seen.iter().filter(|s| **s).count()
    }

    /// The mask as rows of 1x1 "images" (seen = white), for [`crate::grid::write_grid_png`].
    pub fn cells(&self) -> Vec<Vec<[f32; 1]>> {
        (0..self.classes).map(|c| (0..self.domains).map(|d| [if self.is_seen(c, d) { 1.0 } else { 0.15 }]).collect()).collect()
    }
}

/// Styled digits with their class and domain.
#[derive(Clone, Debug, PartialEq)]
pub struct StyledDigits {
    pub images: Digits,
    pub domains: Vec<u8>,
}

impl StyledDigits {
    pub fn len(&self) -> usize {
        self.domains.len()
    }
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// Each digit of `digits` drawn in one of `styles`, chosen uniformly per digit.
pub fn in_styles(digits: &Digits, styles: &[Style], rng: &mut crate::Rng) -> Digits {
    let mut out = digits.clone();
    out.pixels.clear();
    for i in 0..digits.len() {
        let style = styles[rng.random_range(0..styles.len())];
        out.pixels.extend(style.apply(digits.image(i), digits.rows, digits.cols, rng));
    }
    out
}

/// Each digit of `digits` drawn in every one of `styles`: digit by digit, style by style.
pub fn in_every_style(digits: &Digits, styles: &[Style], rng: &mut crate::Rng) -> Digits {
    let mut out = Digits { rows: digits.rows, cols: digits.cols, pixels: Vec::new(), labels: Vec::new() };
    out.pixels.reserve(digits.pixels.len() * styles.len());
    for i in 0..digits.len() {
        for style in styles {
            out.pixels.extend(style.apply(digits.image(i), digits.rows, digits.cols, rng));
            out.labels.push(digits.labels[i]);
        }
    }
    out
}

/// Each digit of `digits` gets a uniformly drawn domain and is drawn in its style.
/// With `keep`, digits whose pair the mask does not see are dropped (the training set).
pub fn styled(digits: &Digits, mask: &Mask, keep_seen_only: bool, rng: &mut crate::Rng) -> StyledDigits {
    let (rows, cols) = (digits.rows, digits.cols);
    let mut pixels = Vec::with_capacity(digits.pixels.len());
    let (mut labels, mut domains) = (Vec::new(), Vec::new());
    for i in 0..digits.len() {
        let d = rng.random_range(0..mask.domains);
        let c = digits.labels[i] as usize;
        if keep_seen_only && !mask.is_seen(c, d) {
            continue;
        }
        pixels.extend(STYLES[d].apply(digits.image(i), rows, cols, rng));
        labels.push(digits.labels[i]);
        domains.push(d as u8);
    }
    StyledDigits { images: Digits { rows, cols, pixels, labels }, domains }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mask_sees_every_class_and_domain_and_is_reproducible() {
        for seed in 0..20 {
            for density in [0.3, 0.5, 0.8] {
                let m = Mask::random(10, 5, density, seed);
                assert_eq!(m, Mask::random(10, 5, density, seed), "same seed, same mask");
                for c in 0..10 {
                    assert!((0..5).any(|d| m.is_seen(c, d)), "class {c} unseen (seed {seed})");
                }
                for d in 0..5 {
                    assert!((0..10).any(|c| m.is_seen(c, d)), "domain {d} unseen (seed {seed})");
                }
                assert_eq!(m.seen_count(), (density * 50.0).round() as usize);
            }
        }
        assert_ne!(Mask::random(10, 5, 0.5, 0), Mask::random(10, 5, 0.5, 1));
        let dense = Mask::random(10, 5, 1.0, 0);
        assert_eq!(dense.seen_count(), 49, "one pair always stays unseen to test composition");
    }

    #[test]
    fn every_style_gives_each_digit_once_per_style_in_order() {
        let digits = crate::digits::mnist(crate::digits::Mnist::Test).unwrap().select(&[0, 1, 2]);
        let styles = [Style::Plain, Style::Inverted];
        let all = in_every_style(&digits, &styles, &mut crate::rng(0, 1));
        assert_eq!(all.len(), 6);
        assert_eq!(all.labels, [0, 0, 1, 1, 2, 2].map(|i| digits.labels[i]));
        assert_eq!(all.image(0), digits.image(0), "plain is the digit itself");
        assert_ne!(all.image(1), digits.image(0), "the next is the same digit inverted");
    }

    #[test]
    fn training_digits_come_only_from_seen_pairs() {
        let digits = crate::digits::mnist(crate::digits::Mnist::Test).unwrap().select(&(0..500).collect::<Vec<_>>());
        let mask = Mask::random(10, 5, 0.4, 3);
        let train = styled(&digits, &mask, true, &mut crate::rng(0, 1));
        assert!(!train.is_empty() && train.len() < 500);
        for i in 0..train.len() {
            assert!(mask.is_seen(train.images.labels[i] as usize, train.domains[i] as usize));
        }
        let all = styled(&digits, &mask, false, &mut crate::rng(0, 1));
        assert_eq!(all.len(), 500);
        let inverted = all.domains.iter().position(|&d| STYLES[d as usize] == Style::Inverted).unwrap();
        let plain = digits.image(inverted);
        assert_eq!(all.images.image(inverted), invert(plain).as_slice());
    }
}
