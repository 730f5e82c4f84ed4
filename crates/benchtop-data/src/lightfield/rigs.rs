//! Camera layouts: the Den-SOFT rig (a ring of cameras on a platform moved along a path) and
//! the layouts of common datasets (an object-centric hemisphere, a forward-facing grid, a
//! handheld walk), each with a sampler of held-out viewpoints from the same region.
//!
//! Simulated layouts are in metres with z up; cameras use OpenGL's convention like
//! `transforms.json` (see [`super::poses`]).

use std::f64::consts::{PI, TAU};

use super::poses::{Lens, Pose};
use crate::Rng;
use nalgebra::Vector3;
use rand::Rng as _;

/// Eye height of platform and handheld cameras.
pub const EYE_HEIGHT: f64 = 1.6;
/// NeRF-synthetic's camera distance from the object.
pub const HEMISPHERE_RADIUS: f64 = 4.0;
/// The forward-facing grid's extent (LLFF's handheld captures span tens of centimetres to a
/// metre or two).
pub const GRID_WIDTH: f64 = 2.0;
pub const GRID_HEIGHT: f64 = 1.5;

/// A camera: a pose and its lens.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    pub pose: Pose,
    pub lens: Lens,
}

impl Camera {
    pub fn centre(&self) -> Vector3<f64> {
        self.pose.centre
    }

    /// The world point `p` in the camera's frame: x right, y up, z back (visible when z < 0).
    pub fn to_camera(&self, p: &Vector3<f64>) -> Vector3<f64> {
        self.pose.rotation.transpose() * (p - self.pose.centre)
    }

    /// Where `p` falls on an image `w` x `h` (continuous pixel coordinates, pixel centres at
    /// integers + 0.5) and how far it is in front; `None` behind the camera.
    pub fn project(&self, p: &Vector3<f64>, w: usize, h: usize) -> Option<(f64, f64, f64)> {
        let q = self.to_camera(p);
        if q.z > -1e-9 {
            return None;
        }
        let (x, y) = (q.x / -q.z, q.y / -q.z);
        let u = (x / (2.0 * self.lens.tan_half_x) + self.lens.cx_frac) * w as f64;
        let v = (-y / (2.0 * self.lens.tan_half_y) + self.lens.cy_frac) * h as f64;
        Some((u, v, -q.z))
    }

    /// Whether `p` is in front of the camera and inside its field of view.
    pub fn sees(&self, p: &Vector3<f64>) -> bool {
        let q = self.to_camera(p);
        if q.z > -1e-9 {
            return false;
        }
        let (x, y) =
            (q.x / -q.z / (2.0 * self.lens.tan_half_x) + self.lens.cx_frac, -q.y / -q.z / (2.0 * self.lens.tan_half_y) + self.lens.cy_frac);
        (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)
    }

    /// The unit world direction through pixel `(u, v)` (continuous coordinates).
    pub fn ray(&self, u: f64, v: f64, w: usize, h: usize) -> Vector3<f64> {
        let x = (u / w as f64 - self.lens.cx_frac) * 2.0 * self.lens.tan_half_x;
        let y = -(v / h as f64 - self.lens.cy_frac) * 2.0 * self.lens.tan_half_y;
        (self.pose.rotation * Vector3::new(x, y, -1.0)).normalize()
    }
}

/// The path a rig's platform follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RigPath {
    /// A straight line, stops at both ends.
    #[default]
    Line,
    /// A closed circle whose circumference is the path length.
    Loop,
}

fn platform(path: RigPath, length: f64, t: f64) -> Vector3<f64> {
    match path {
        RigPath::Line => Vector3::new(-length / 2.0 + t * length, 0.0, EYE_HEIGHT),
        RigPath::Loop => {
            let r = length / TAU;
            Vector3::new(r * (TAU * t).cos(), r * (TAU * t).sin(), EYE_HEIGHT)
        }
    }
}

fn outward(name: String, centre: Vector3<f64>, yaw: f64) -> Pose {
    let dir = Vector3::new(yaw.cos(), yaw.sin(), 0.0);
    Pose::look_at(name, centre, centre + dir, Vector3::z())
}

/// The Den-SOFT rig: `cameras` facing outward on a horizontal ring of `radius` around a
/// platform that stops `stops` times along `path` (evenly; a line includes both ends).
pub fn dense_rig(cameras: usize, stops: usize, radius: f64, path: RigPath, length: f64, lens: Lens) -> Vec<Camera> {
    let mut out = Vec::with_capacity(cameras * stops);
    for k in 0..stops {
        let t = match path {
            RigPath::Line if stops > 1 => k as f64 / (stops - 1) as f64,
            RigPath::Line => 0.5,
            RigPath::Loop => k as f64 / stops as f64,
        };
        let p = platform(path, length, t);
        for i in 0..cameras {
            let yaw = TAU * (i as f64 + 0.5) / cameras as f64;
            let c = p + radius * Vector3::new(yaw.cos(), yaw.sin(), 0.0);
            out.push(Camera { pose: outward(format!("stop {k} camera {i}"), c, yaw), lens });
        }
    }
    out
}

/// Held-out viewpoints a person standing on the rig's path would take: a random point of
/// the path, a random offset inside the ring, looking level in a random direction.
pub fn dense_rig_targets(n: usize, radius: f64, path: RigPath, length: f64, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
    (0..n)
        .map(|i| {
            let p = platform(path, length, rng.random::<f64>());
            let (r, a) = (0.9 * radius * rng.random::<f64>().sqrt(), TAU * rng.random::<f64>());
            let c = p + r * Vector3::new(a.cos(), a.sin(), 0.0);
            Camera { pose: outward(format!("target {i}"), c, TAU * rng.random::<f64>()), lens }
        })
        .collect()
}

/// A point uniformly on the upper hemisphere of `radius`, looking at the origin (NeRF
/// synthetic's training views).
fn hemisphere_point(name: String, rng: &mut Rng, lens: Lens) -> Camera {
    let z: f64 = rng.random::<f64>();
    let a = TAU * rng.random::<f64>();
    let s = (1.0 - z * z).sqrt();
    let c = HEMISPHERE_RADIUS * Vector3::new(s * a.cos(), s * a.sin(), z);
    Camera { pose: Pose::look_at(name, c, Vector3::zeros(), Vector3::z()), lens }
}

/// Object-centric: `n` cameras uniformly at random on a hemisphere, all looking at its centre.
pub fn hemisphere(n: usize, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
    (0..n).map(|i| hemisphere_point(format!("view {i}"), rng, lens)).collect()
}

/// The whole hemisphere every such capture draws from: `n` cameras evenly spread over it
/// (a Fibonacci lattice), looking at its centre. The scene is built around this, not around
/// one capture, so it is the same whatever the capture's size.
pub fn hemisphere_shell(n: usize, lens: Lens) -> Vec<Camera> {
    let golden = PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|i| {
            let z = (i as f64 + 0.5) / n as f64;
            let s = (1.0 - z * z).sqrt();
            let a = golden * i as f64;
            let c = HEMISPHERE_RADIUS * Vector3::new(s * a.cos(), s * a.sin(), z);
            Camera { pose: Pose::look_at(format!("shell {i}"), c, Vector3::zeros(), Vector3::z()), lens }
        })
        .collect()
}

/// Held-out viewpoints from the same hemisphere.
pub fn hemisphere_targets(n: usize, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
    (0..n).map(|i| hemisphere_point(format!("target {i}"), rng, lens)).collect()
}

fn facing(name: String, x: f64, z: f64, lens: Lens) -> Camera {
    let c = Vector3::new(x, 0.0, z);
    Camera { pose: Pose::look_at(name, c, c + Vector3::y(), Vector3::z()), lens }
}

/// Forward-facing (LLFF): about `n` cameras on a regular grid in a vertical plane, all
/// looking the same way; the grid's shape follows its extent (the count is rows x columns).
pub fn forward_grid(n: usize, lens: Lens) -> Vec<Camera> {
    let cols = ((n as f64 * GRID_WIDTH / GRID_HEIGHT).sqrt().round() as usize).max(1);
    let rows = n.div_ceil(cols).max(1);
    let step = |i: usize, count: usize, extent: f64| if count > 1 { -extent / 2.0 + extent * i as f64 / (count - 1) as f64 } else { 0.0 };
    let mut out = Vec::with_capacity(rows * cols);
    for r in 0..rows {
        for c in 0..cols {
            out.push(facing(format!("row {r} column {c}"), step(c, cols, GRID_WIDTH), EYE_HEIGHT + step(r, rows, GRID_HEIGHT), lens));
        }
    }
    out
}

/// Held-out viewpoints uniformly inside the grid's rectangle.
pub fn forward_grid_targets(n: usize, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
    (0..n)
        .map(|i| {
            let x = GRID_WIDTH * (rng.random::<f64>() - 0.5);
            let z = EYE_HEIGHT + GRID_HEIGHT * (rng.random::<f64>() - 0.5);
            facing(format!("target {i}"), x, z, lens)
        })
        .collect()
}

/// A handheld walk: a smooth random path of `length` (its turns drawn from `walk_rng`, so the
/// same seed walks the same path whatever the frame count), with frames evenly spaced along
/// it looking roughly ahead.
pub struct Walk {
    points: Vec<Vector3<f64>>,
    headings: Vec<f64>,
}

/// Segments the walk is drawn with.
const WALK_SEGMENTS: usize = 400;

impl Walk {
    pub fn new(length: f64, rng: &mut Rng) -> Self {
        let mut heading = TAU * rng.random::<f64>();
        let mut turn = 0.0;
        let step = length / WALK_SEGMENTS as f64;
        let mut p = Vector3::new(0.0, 0.0, EYE_HEIGHT);
        let (mut points, mut headings) = (vec![p], vec![heading]);
        for _ in 0..WALK_SEGMENTS {
            // The turn rate itself wanders (a smooth path, not a jagged one).
            turn = 0.9 * turn + 0.1 * (rng.random::<f64>() - 0.5) * 0.6;
            heading += turn;
            p += step * Vector3::new(heading.cos(), heading.sin(), 0.0);
            points.push(p);
            headings.push(heading);
        }
        Walk { points, headings }
    }

    fn at(&self, t: f64) -> (Vector3<f64>, f64) {
        let x = t.clamp(0.0, 1.0) * WALK_SEGMENTS as f64;
        let i = (x.floor() as usize).min(WALK_SEGMENTS - 1);
        let f = x - i as f64;
        (self.points[i] * (1.0 - f) + self.points[i + 1] * f, self.headings[i] * (1.0 - f) + self.headings[i + 1] * f)
    }

    /// `n` frames evenly along the walk, each turned up to 15 degrees off the heading and
    /// bobbing a few centimetres (drawn from `rng`).
    pub fn frames(&self, n: usize, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
        (0..n)
            .map(|i| {
                let t = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.5 };
                self.frame(format!("frame {i}"), t, 0.0, lens, rng)
            })
            .collect()
    }

    /// Held-out viewpoints: random points of the walk, up to 20 cm to either side.
    pub fn targets(&self, n: usize, lens: Lens, rng: &mut Rng) -> Vec<Camera> {
        (0..n)
            .map(|i| {
                let t = rng.random::<f64>();
                let side = 0.2 * (2.0 * rng.random::<f64>() - 1.0);
                self.frame(format!("target {i}"), t, side, lens, rng)
            })
            .collect()
    }

    fn frame(&self, name: String, t: f64, side: f64, lens: Lens, rng: &mut Rng) -> Camera {
        let (p, heading) = self.at(t);
        let left = Vector3::new(-heading.sin(), heading.cos(), 0.0);
        let bob = Vector3::new(0.0, 0.0, 0.03 * (2.0 * rng.random::<f64>() - 1.0));
        let yaw = heading + (15.0 * PI / 180.0) * (2.0 * rng.random::<f64>() - 1.0);
        Camera { pose: outward(name, p + side * left + bob, yaw), lens }
    }
}
