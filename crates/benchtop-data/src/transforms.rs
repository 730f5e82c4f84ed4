//! Image transforms that turn digits into domains: rotation by any angle (bilinear),
//! intensity shift, inversion, blur, thickening and noise. All take and return one
//! `rows x cols` image with pixels in [0, 1].

use rand_distr::{Distribution, Normal};

/// Rotate by `degrees` (counter-clockwise) about the image centre, bilinear, black outside.
/// For square images, multiples of 90 degrees move pixel centres onto pixel centres exactly.
pub fn rotate(img: &[f32], rows: usize, cols: usize, degrees: f64) -> Vec<f32> {
    let (s, c) = degrees.to_radians().sin_cos();
    // Snap the tiny sin/cos of exact right angles so 90-degree turns stay exact.
    let snap = |v: f64| {
        if v.abs() < 1e-12 {
            0.0
        } else if (v.abs() - 1.0).abs() < 1e-12 {
            v.signum()
        } else {
            v
        }
    };
    let (s, c) = (snap(s), snap(c));
    let (cy, cx) = ((rows as f64 - 1.0) / 2.0, (cols as f64 - 1.0) / 2.0);
    let at = |y: isize, x: isize| -> f64 {
        if y < 0 || x < 0 || y >= rows as isize || x >= cols as isize { 0.0 } else { img[y as usize * cols + x as usize] as f64 }
    };
    let mut out = vec![0.0f32; rows * cols];
    for y in 0..rows {
        for x in 0..cols {
            // Where this output pixel comes from: the inverse rotation.
            let (dy, dx) = (y as f64 - cy, x as f64 - cx);
            let sx = c * dx - s * dy + cx;
            let sy = s * dx + c * dy + cy;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let v = at(y0, x0) * (1.0 - fx) * (1.0 - fy)
                + at(y0, x0 + 1) * fx * (1.0 - fy)
                + at(y0 + 1, x0) * (1.0 - fx) * fy
                + at(y0 + 1, x0 + 1) * fx * fy;
            out[y * cols + x] = v as f32;
        }
    }
    out
}

/// `scale * p + shift`, clamped to [0, 1]: a colour/intensity shift.
pub fn intensity(img: &[f32], scale: f32, shift: f32) -> Vec<f32> {
    img.iter().map(|p| (scale * p + shift).clamp(0.0, 1.0)).collect()
}

/// `1 - p`: white digits become black on white.
pub fn invert(img: &[f32]) -> Vec<f32> {
    img.iter().map(|p| 1.0 - p).collect()
}

fn neighbourhood(img: &[f32], rows: usize, cols: usize, f: impl Fn(&mut dyn Iterator<Item = f32>) -> f32) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for y in 0..rows {
        for x in 0..cols {
            let mut it = (y.saturating_sub(1)..(y + 2).min(rows))
                .flat_map(|yy| (x.saturating_sub(1)..(x + 2).min(cols)).map(move |xx| (yy, xx)))
                .map(|(yy, xx)| img[yy * cols + xx]);
            out[y * cols + x] = f(&mut it);
        }
    }
    out
}

/// A 3x3 box blur (edges average what lies inside the image).
pub fn blur(img: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    neighbourhood(img, rows, cols, |it: &mut dyn Iterator<Item = f32>| {
        let (sum, n) = it.fold((0.0, 0.0), |(s, n), p| (s + p, n + 1.0));
        sum / n
    })
}

/// Thicker strokes: a 3x3 maximum (grey-level dilation).
pub fn thicken(img: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    neighbourhood(img, rows, cols, |it: &mut dyn Iterator<Item = f32>| it.fold(0.0, f32::max))
}

/// Gaussian pixel noise of standard deviation `std`, clamped to [0, 1].
pub fn noise(img: &[f32], std: f32, rng: &mut crate::Rng) -> Vec<f32> {
    let normal = Normal::new(0.0f32, std.max(0.0)).unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("zero std is valid"));
    img.iter().map(|p| (p + normal.sample(rng)).clamp(0.0, 1.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digits::{Mnist, mnist};

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
    }

    #[test]
    fn rotating_by_zero_is_the_identity_and_four_quarter_turns_return_the_image() {
        let d = mnist(Mnist::Test).unwrap();
        for i in 0..20 {
            let img = d.image(i);
            assert!(close(&rotate(img, 28, 28, 0.0), img));
            let mut r = img.to_vec();
            for _ in 0..4 {
                r = rotate(&r, 28, 28, 90.0);
            }
            assert!(close(&r, img), "image {i}");
            assert!(!close(&rotate(img, 28, 28, 90.0), img), "a quarter turn changes a digit");
        }
    }

    #[test]
    fn a_quarter_turn_moves_a_pixel_where_expected() {
        // Counter-clockwise: the top-right corner goes to the top-left.
        let mut img = vec![0.0f32; 4 * 4];
        img[3] = 1.0; // row 0, column 3
        let r = rotate(&img, 4, 4, 90.0);
        assert_eq!(r[0], 1.0, "{r:?}");
        assert_eq!(r.iter().sum::<f32>(), 1.0);
    }

    #[test]
    fn the_other_transforms_keep_pixels_in_range_and_do_what_they_say() {
        let d = mnist(Mnist::Test).unwrap();
        let img = d.image(0);
        assert!(close(&invert(&invert(img)), img));
        let ink = |v: &[f32]| v.iter().sum::<f32>();
        assert!(ink(&thicken(img, 28, 28)) > ink(img), "thicker strokes carry more ink");
        let b = blur(img, 28, 28);
        assert!((ink(&b) - ink(img)).abs() / ink(img) < 0.1, "a blur moves ink, it hardly adds any");
        let n = noise(img, 0.2, &mut crate::rng(1, 0));
        assert!(n.iter().all(|p| (0.0..=1.0).contains(p)));
        assert_eq!(n, noise(img, 0.2, &mut crate::rng(1, 0)), "seeded");
        assert!(intensity(img, 0.5, 0.25).iter().all(|p| (0.25..=0.75).contains(p)));
    }
}
