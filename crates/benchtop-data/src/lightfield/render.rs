//! What density buys: a procedural room ray-cast from every pose, held-out views synthesised
//! from the captured ones, and the synthesised views scored against the ray-cast truth.
//!
//! The scene is a box room holding textured spheres and boxes, lit by one point light, with
//! a specular highlight so its appearance depends on the viewing direction (a Lambertian
//! scene would let a single view stand for all, which no real capture allows). The
//! synthesis is image-based, in the spirit of unstructured lumigraph rendering: the nearest
//! captured views are reprojected into the target through their own depth maps (as a
//! capture's multi-view stereo would give), a z-buffer keeps the nearest surface, and the
//! views that agree with it are blended with weights that fall with the angle between their
//! ray and the target's. Pixels no view reaches are holes, counted, then filled from their
//! neighbours.

use crate::Rng;
use nalgebra::Vector3;
use rand::Rng as _;

use super::rigs::Camera;

type V3 = Vector3<f64>;

/// How a surface looks: two colours mixed by a smooth periodic pattern, and how shiny it is.
#[derive(Clone, Debug)]
pub struct Material {
    a: [f64; 3],
    b: [f64; 3],
    /// Pattern period in world units.
    period: f64,
    specular: f64,
}

#[derive(Clone, Debug)]
pub enum Shape {
    Sphere { centre: V3, radius: f64 },
    Cuboid { min: V3, max: V3 },
}

impl Shape {
    /// A sphere around the shape, for clearance checks.
    fn bounds(&self) -> (V3, f64) {
        match self {
            Shape::Sphere { centre, radius } => (*centre, *radius),
            Shape::Cuboid { min, max } => ((min + max) / 2.0, (max - min).norm() / 2.0),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scene {
    pub room_min: V3,
    pub room_max: V3,
    walls: Material,
    pub shapes: Vec<(Shape, Material)>,
    light: V3,
}

fn material(rng: &mut Rng, scale: f64) -> Material {
    let mut colour = || [0.15 + 0.8 * rng.random::<f64>(), 0.15 + 0.8 * rng.random::<f64>(), 0.15 + 0.8 * rng.random::<f64>()];
    let (a, b) = (colour(), colour());
    Material { a, b, period: scale * (0.5 + rng.random::<f64>()), specular: 0.2 + 0.5 * rng.random::<f64>() }
}

impl Scene {
    /// A room around `keep_clear` (every place a camera or target may stand) with `n_shapes`
    /// shapes, none closer to any of those places than a clearance. When the cameras converge
    /// on a point (`focus`: an object-centric capture), half the shapes gather around it.
    pub fn generate(keep_clear: &[V3], focus: Option<(V3, f64)>, n_shapes: usize, rng: &mut Rng) -> Scene {
        let (mut lo, mut hi) = (V3::repeat(f64::INFINITY), V3::repeat(f64::NEG_INFINITY));
        for c in keep_clear {
            lo = lo.inf(c);
            hi = hi.sup(c);
        }
        let extent = (hi - lo).norm().max(1.0);
        let margin = (0.3 * extent).max(2.0);
        let (room_min, room_max) = (lo - V3::repeat(margin), hi + V3::repeat(margin));
        let diag = (room_max - room_min).norm();
        let clearance = 0.03 * diag;
        let mut shapes = Vec::with_capacity(n_shapes);
        let mut tries = 0;
        while shapes.len() < n_shapes && tries < 100 * n_shapes.max(1) {
            tries += 1;
            let size = diag * (0.02 + 0.04 * rng.random::<f64>());
            let centre = match focus {
                Some((f, spread)) if shapes.len() < n_shapes / 2 => {
                    f + spread * V3::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5)
                }
                _ => room_min + (room_max - room_min).component_mul(&V3::new(rng.random(), rng.random(), rng.random())),
            };
            let shape = if rng.random::<bool>() {
                Shape::Sphere { centre, radius: size / 2.0 }
            } else {
                let half = V3::new(0.5 + rng.random::<f64>(), 0.5 + rng.random::<f64>(), 0.5 + rng.random::<f64>()) * size / 3.0;
                Shape::Cuboid { min: centre - half, max: centre + half }
            };
            // Every draw of a candidate happens before its test, so the sequence of draws
            // does not depend on which candidates pass.
            let look = material(rng, diag / 30.0);
            let (c, r) = shape.bounds();
            if keep_clear.iter().all(|p| (p - c).norm() > r + clearance) {
                shapes.push((shape, look));
            }
        }
        let walls = material(rng, diag / 8.0);
        let light = V3::new((room_min.x + room_max.x) / 2.0, (room_min.y + room_max.y) / 2.0, room_max.z - 0.1 * (room_max.z - room_min.z));
        Scene { room_min, room_max, walls, shapes, light }
    }

    /// A single-colour room with no shapes (for checks with a known answer).
    pub fn empty_room(room_min: V3, room_max: V3, light: V3) -> Scene {
        let walls = Material { a: [0.5, 0.5, 0.5], b: [0.5, 0.5, 0.5], period: 1.0, specular: 0.0 };
        Scene { room_min, room_max, walls, shapes: Vec::new(), light }
    }

    /// Add a shape (for checks with a known answer).
    pub fn with_shape(mut self, shape: Shape, colour: [f64; 3]) -> Scene {
        self.shapes.push((shape, Material { a: colour, b: colour, period: 1.0, specular: 0.0 }));
        self
    }

    /// The nearest surface along a ray: its distance, normal facing the ray, and material.
    fn hit(&self, o: &V3, d: &V3) -> Option<(f64, V3, &Material)> {
        // The room: the ray leaves the box through the nearest exit plane.
        let mut best: Option<(f64, V3, &Material)> = None;
        for axis in 0..3 {
            if d[axis].abs() < 1e-12 {
                continue;
            }
            let (plane, sign) = if d[axis] > 0.0 { (self.room_max[axis], -1.0) } else { (self.room_min[axis], 1.0) };
            let t = (plane - o[axis]) / d[axis];
            if t > 1e-9 && best.is_none_or(|b| t < b.0) {
                let mut n = V3::zeros();
                n[axis] = sign;
                best = Some((t, n, &self.walls));
            }
        }
        for (shape, m) in &self.shapes {
            let hit = match shape {
                Shape::Sphere { centre, radius } => {
                    let oc = o - centre;
                    let b = oc.dot(d);
                    let disc = b * b - (oc.norm_squared() - radius * radius);
                    if disc < 0.0 {
                        None
                    } else {
                        let s = disc.sqrt();
                        let t = if -b - s > 1e-9 { -b - s } else { -b + s };
                        (t > 1e-9).then(|| (t, (o + t * d - centre) / *radius))
                    }
                }
                Shape::Cuboid { min, max } => {
                    let (mut t0, mut t1, mut axis_in) = (f64::NEG_INFINITY, f64::INFINITY, 0);
                    for a in 0..3 {
                        let inv = 1.0 / d[a];
                        let (mut ta, mut tb) = ((min[a] - o[a]) * inv, (max[a] - o[a]) * inv);
                        if ta > tb {
                            std::mem::swap(&mut ta, &mut tb);
                        }
                        if ta > t0 {
                            t0 = ta;
                            axis_in = a;
                        }
                        t1 = t1.min(tb);
                    }
                    (t0 <= t1 && t0 > 1e-9).then(|| {
                        let mut n = V3::zeros();
                        n[axis_in] = -d[axis_in].signum();
                        (t0, n)
                    })
                }
            };
            if let Some((t, n)) = hit
                && best.is_none_or(|b| t < b.0)
            {
                best = Some((t, n, m));
            }
        }
        best
    }

    /// The colour and distance seen along a ray (background black past everything, which a
    /// closed room never shows).
    pub fn trace(&self, o: &V3, d: &V3) -> ([f64; 3], f64) {
        let Some((t, n, m)) = self.hit(o, d) else { return ([0.0; 3], f64::INFINITY) };
        let p = o + t * d;
        // A smooth pattern of the surface point's two in-plane coordinates (the normal's
        // dominant axis is left out), so textures stay band-limited at low resolution.
        let axis = n.iamax();
        let (u, v) = match axis {
            0 => (p.y, p.z),
            1 => (p.x, p.z),
            _ => (p.x, p.y),
        };
        let w = std::f64::consts::TAU / m.period;
        let mix = 0.5 + 0.5 * (w * u).sin() * (w * v).sin();
        let to_light = (self.light - p).normalize();
        let diffuse = n.dot(&to_light).max(0.0);
        let reflected = 2.0 * n.dot(&to_light) * n - to_light;
        let specular = m.specular * reflected.dot(&-d).max(0.0).powi(16);
        let shade = 0.35 + 0.65 * diffuse;
        let c = std::array::from_fn(|k| ((m.a[k] * (1.0 - mix) + m.b[k] * mix) * shade + specular).clamp(0.0, 1.0));
        (c, t)
    }
}

/// An image with a depth per pixel (distance along the pixel's central ray).
#[derive(Clone, Debug)]
pub struct Image {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<[f64; 3]>,
    pub depth: Vec<f64>,
}

/// Ray-cast `scene` from `cam`, averaging `ss` x `ss` rays per pixel (a real lens integrates
/// over the pixel too); the depth comes from the central ray.
pub fn render(scene: &Scene, cam: &Camera, w: usize, h: usize, ss: usize) -> Image {
    let ss = ss.max(1);
    let mut rgb = Vec::with_capacity(w * h);
    let mut depth = Vec::with_capacity(w * h);
    let o = cam.centre();
    for y in 0..h {
        for x in 0..w {
            let mut acc = [0.0; 3];
            for sy in 0..ss {
                for sx in 0..ss {
                    let (u, v) = (x as f64 + (sx as f64 + 0.5) / ss as f64, y as f64 + (sy as f64 + 0.5) / ss as f64);
                    let (c, _) = scene.trace(&o, &cam.ray(u, v, w, h));
                    for k in 0..3 {
                        acc[k] += c[k];
                    }
                }
            }
            let n = (ss * ss) as f64;
            rgb.push([acc[0] / n, acc[1] / n, acc[2] / n]);
            depth.push(scene.trace(&o, &cam.ray(x as f64 + 0.5, y as f64 + 0.5, w, h)).1);
        }
    }
    Image { w, h, rgb, depth }
}

/// The `k` captured views a target is synthesised from: those facing within 90 degrees of
/// it, nearest first by centre distance plus `turn_cost` per unit of (1 - cos) between the
/// viewing directions.
pub fn nearest_views(target: &Camera, cameras: &[Camera], k: usize, turn_cost: f64) -> Vec<usize> {
    let f = target.pose.forward();
    let mut scored: Vec<(f64, usize)> = cameras
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pose.forward().dot(&f) > 0.0)
        .map(|(i, c)| ((c.centre() - target.centre()).norm() + turn_cost * (1.0 - c.pose.forward().dot(&f)), i))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

/// One source pixel's contribution to one target pixel.
struct Sample {
    pixel: usize,
    /// Which source view it came from.
    view: usize,
    /// Distance from the target's centre to the surface point.
    dist: f64,
    colour: [f64; 3],
    weight: f64,
    /// Angle between the source's ray to the point and the target's.
    angle: f64,
}

/// A synthesised view and the share of its pixels no captured view reached (filled after).
pub struct Synthesis {
    pub image: Image,
    pub holes: f64,
}

/// Reproject `sources` (cameras with their ray-cast images) into `target` at `w` x `h`.
///
/// Each source pixel becomes a world point through its depth and lands at a sub-pixel
/// position of the target, shared among the four nearest pixels by bilinear weights (so the
/// image is not shifted by up to half a pixel); where the source saw the surface from closer,
/// a faint rim as wide as its footprint fills the cracks between its samples. A z-buffer keeps
/// the nearest surface. Per pixel, each view's samples give it a colour and an angle (between
/// its ray to the point and the target's); views are blended by unstructured lumigraph
/// rendering's weights (Buehler et al. 2001): (1 - a / a_max) / a, where a_max is the largest
/// angle among the pixel's views, so the worst view fades out and the blend stays continuous.
pub fn synthesise(target: &Camera, sources: &[(&Camera, &Image)], w: usize, h: usize) -> Synthesis {
    let n = w * h;
    let k = sources.len().max(1);
    let tc = target.centre();
    let splats = |visit: &mut dyn FnMut(&Sample)| {
        for (s, (cam, img)) in sources.iter().enumerate() {
            let sc = cam.centre();
            for y in 0..img.h {
                for x in 0..img.w {
                    let i = y * img.w + x;
                    let t = img.depth[i];
                    if !t.is_finite() {
                        continue;
                    }
                    let p = sc + t * cam.ray(x as f64 + 0.5, y as f64 + 0.5, img.w, img.h);
                    let Some((u, v, _)) = target.project(&p, w, h) else { continue };
                    let dist = (p - tc).norm();
                    let angle = (p - sc).normalize().dot(&(p - tc).normalize()).clamp(-1.0, 1.0).acos();
                    let (gx, gy) = (u - 0.5, v - 0.5);
                    let (x0, y0) = (gx.floor(), gy.floor());
                    let (fx, fy) = (gx - x0, gy - y0);
                    let (x0, y0) = (x0 as i64, y0 as i64);
                    let mut put = |px: i64, py: i64, weight: f64| {
                        if px >= 0 && py >= 0 && px < w as i64 && py < h as i64 && weight > 0.0 {
                            visit(&Sample { pixel: py as usize * w + px as usize, view: s, dist, colour: img.rgb[i], weight, angle });
                        }
                    };
                    put(x0, y0, (1.0 - fx) * (1.0 - fy));
                    put(x0 + 1, y0, fx * (1.0 - fy));
                    put(x0, y0 + 1, (1.0 - fx) * fy);
                    put(x0 + 1, y0 + 1, fx * fy);
                    // The footprint in target pixels; one pixel (up to rounding) needs no rim.
                    let footprint = (t / dist) * (cam.lens.tan_half_x / target.lens.tan_half_x) * (w as f64 / img.w as f64);
                    let radius = ((footprint - 1.0) / 2.0 - 1e-6).ceil().clamp(0.0, 3.0) as i64;
                    let (cx, cy) = (u.floor() as i64, v.floor() as i64);
                    for dy in -radius..=radius {
                        for dx in -radius..=radius {
                            if dx.abs().max(dy.abs()) > 0 {
                                put(cx + dx, cy + dy, 0.02);
                            }
                        }
                    }
                }
            }
        }
    };
    // The nearest surface per pixel, from samples that land near its centre (the largest of a
    // sample's four bilinear weights is at least 1/4): a foreground sample's faint tail must
    // not claim the background pixel beside an edge and push its own samples out.
    let mut zbuf = vec![f64::INFINITY; n];
    splats(&mut |x| {
        if x.weight >= 0.25 {
            zbuf[x.pixel] = zbuf[x.pixel].min(x.dist);
        }
    });
    // Per pixel and view: weighted colour, weight, weighted angle.
    let mut acc = vec![[0.0f64; 5]; n * k];
    splats(&mut |x| {
        // Samples of the nearest surface only (a relative tolerance for the splat's slant).
        if x.dist <= zbuf[x.pixel] * 1.03 + 1e-6 {
            let a = &mut acc[x.pixel * k + x.view];
            for (sum, c) in a.iter_mut().zip(x.colour) {
                *sum += x.weight * c;
            }
            a[3] += x.weight;
            a[4] += x.weight * x.angle;
        }
    });
    let mut rgb: Vec<Option<[f64; 3]>> = (0..n)
        .map(|j| {
            let views: Vec<([f64; 3], f64, f64)> = acc[j * k..(j + 1) * k]
                .iter()
                .filter(|a| a[3] > 0.0)
                .map(|a| ([a[0] / a[3], a[1] / a[3], a[2] / a[3]], a[4] / a[3], a[3].min(1.0)))
                .collect();
            if views.is_empty() {
                return None;
            }
            let a_max = views.iter().map(|v| v.1).fold(0.0, f64::max);
            let mut weights: Vec<f64> = views.iter().map(|(_, a, cover)| cover * (1.0 - a / a_max).max(0.0) / (a + 1e-4)).collect();
            if weights.iter().sum::<f64>() <= 0.0 {
                weights = views.iter().map(|v| v.2).collect();
            }
            let total: f64 = weights.iter().sum();
            let mut c = [0.0; 3];
            for ((colour, _, _), wt) in views.iter().zip(&weights) {
                for ch in 0..3 {
                    c[ch] += wt / total * colour[ch];
                }
            }
            Some(c)
        })
        .collect();
    let holes = rgb.iter().filter(|c| c.is_none()).count() as f64 / n as f64;
    fill_holes(&mut rgb, w, h);
    let rgb = rgb.into_iter().map(|c| c.unwrap_or([0.5; 3])).collect();
    Synthesis { image: Image { w, h, rgb, depth: zbuf }, holes }
}

/// Fill each hole with the mean of its filled neighbours, ring by ring inward.
fn fill_holes(rgb: &mut [Option<[f64; 3]>], w: usize, h: usize) {
    loop {
        let mut next = rgb.to_vec();
        let mut changed = false;
        for y in 0..h {
            for x in 0..w {
                if rgb[y * w + x].is_some() {
                    continue;
                }
                let (mut sum, mut k) = ([0.0; 3], 0.0);
                for (dx, dy) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)] {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    if let Some(c) = rgb[ny as usize * w + nx as usize] {
                        for i in 0..3 {
                            sum[i] += c[i];
                        }
                        k += 1.0;
                    }
                }
                if k > 0.0 {
                    next[y * w + x] = Some([sum[0] / k, sum[1] / k, sum[2] / k]);
                    changed = true;
                }
            }
        }
        rgb.copy_from_slice(&next);
        if !changed {
            return;
        }
    }
}

/// Peak signal-to-noise ratio in dB for colours in [0, 1].
pub fn psnr(a: &Image, b: &Image) -> f64 {
    let n = (a.rgb.len() * 3) as f64;
    let mse: f64 = a.rgb.iter().zip(&b.rgb).map(|(x, y)| (0..3).map(|k| (x[k] - y[k]).powi(2)).sum::<f64>()).sum::<f64>() / n;
    -10.0 * mse.max(1e-12).log10()
}

/// Structural similarity (Wang et al. 2004): an 11x11 Gaussian window (sigma 1.5), the usual
/// constants, averaged over channels and over window positions inside the image.
pub fn ssim(a: &Image, b: &Image) -> f64 {
    let (w, h) = (a.w, a.h);
    let radius = 5usize.min((w.min(h).saturating_sub(1)) / 2);
    let kernel: Vec<f64> = (0..=2 * radius).map(|i| (-((i as f64 - radius as f64).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut total = 0.0;
    let mut count = 0.0;
    for k in 0..3 {
        for y in radius..h - radius {
            for x in radius..w - radius {
                let (mut sw, mut ma, mut mb, mut aa, mut bb, mut ab) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
                for (j, ky) in kernel.iter().enumerate() {
                    for (i, kx) in kernel.iter().enumerate() {
                        let p = (y + j - radius) * w + x + i - radius;
                        let (va, vb, g) = (a.rgb[p][k], b.rgb[p][k], kx * ky);
                        sw += g;
                        ma += g * va;
                        mb += g * vb;
                        aa += g * va * va;
                        bb += g * vb * vb;
                        ab += g * va * vb;
                    }
                }
                let (ma, mb) = (ma / sw, mb / sw);
                let (va, vb, cov) = (aa / sw - ma * ma, bb / sw - mb * mb, ab / sw - ma * mb);
                total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                count += 1.0;
            }
        }
    }
    if count > 0.0 { total / count } else { f64::NAN }
}
