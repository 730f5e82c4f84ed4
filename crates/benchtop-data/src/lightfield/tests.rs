//! Known answers for the light-field machinery.

use std::f64::consts::TAU;

use nalgebra::Vector3;
use rand::SeedableRng;

use super::metrics::{self, AZIMUTH_BINS, DIRECTION_BINS};
use super::poses::{Lens, Pose};
use super::render::{self, Scene, Shape};
use super::rigs::{self, Camera};
use crate::Rng;

type V3 = Vector3<f64>;

fn lens() -> Lens {
    Lens::from_fov(80f64.to_radians(), 4.0 / 3.0)
}

#[test]
fn a_cubic_lattice_of_spacing_half_has_32_neighbours_within_radius_one() {
    // Offsets (i, j, k) / 2 with i^2 + j^2 + k^2 <= 4: 6 + 12 + 8 + 6 = 32 besides the centre,
    // the last 6 exactly on the sphere (counted).
    let mut lattice = Vec::new();
    for i in -4..=4 {
        for j in -4..=4 {
            for k in -4..=4 {
                lattice.push(V3::new(i as f64, j as f64, k as f64) * 0.5);
            }
        }
    }
    let counts = metrics::counts_within(&lattice, &lattice, 1.0, true);
    for (p, n) in lattice.iter().zip(&counts) {
        if p.amax() <= 1.0 {
            assert_eq!(*n, 32, "interior point {p:?}");
        }
    }
    // A corner of the lattice has only the octant inside: 3 + 3 + 1 + 3 = 10.
    let corner = lattice.iter().position(|p| *p == V3::repeat(-2.0)).unwrap();
    assert_eq!(counts[corner], 10);
    // Two cameras at one spot are each other's neighbours; a sample point on a camera counts it.
    let twins = [V3::zeros(), V3::zeros()];
    assert_eq!(metrics::counts_within(&twins, &twins, 1.0, true), [1, 1]);
    assert_eq!(metrics::counts_within(&[V3::zeros()], &twins, 1.0, false), [2]);
    // Nearest-neighbour spacing is the lattice's.
    assert!(metrics::nearest_spacing(&lattice).iter().all(|s| (s - 0.5).abs() < 1e-12));
}

#[test]
fn the_density_curve_counts_what_each_radius_holds() {
    let mut r = Rng::seed_from_u64(3);
    let cams: Vec<V3> = rigs::hemisphere(300, lens(), &mut r).iter().map(Camera::centre).collect();
    let radii = [0.25, 0.5, 1.0, 2.0, 8.0];
    let curve = metrics::density_curve(&cams, &cams, &radii, true);
    for (r, mean) in radii.iter().zip(&curve) {
        let counts = metrics::counts_within(&cams, &cams, *r, true);
        assert!((mean - counts.iter().sum::<usize>() as f64 / 300.0).abs() < 1e-12, "radius {r}");
    }
    // A sphere wider than the hemisphere (diameter 8) holds every other camera.
    assert_eq!(curve[4], 299.0);
}

/// A ring of `n` cameras of radius 2 at height 0 looking at its centre.
fn inward_ring(n: usize) -> Vec<Camera> {
    (0..n)
        .map(|i| {
            let a = TAU * (i as f64 + 0.5) / n as f64;
            let c = 2.0 * V3::new(a.cos(), a.sin(), 0.0);
            Camera { pose: Pose::look_at(format!("{i}"), c, V3::zeros(), V3::z()), lens: lens() }
        })
        .collect()
}

#[test]
fn a_ring_of_cameras_covers_its_centre_as_computed_by_hand() {
    let probes = metrics::probe_directions(1000);
    for n in [4, 8, 24] {
        let c = metrics::coverage(&V3::zeros(), &inward_ring(n), &probes);
        // Every camera sees the centre; the directions lie on the horizon, one per azimuth
        // bin (24 bins, cameras at bin centres); the widest empty cap is centred on a pole.
        assert_eq!(c.views, n);
        assert!((c.bins_share - n as f64 / DIRECTION_BINS as f64).abs() < 1e-12, "{n}: {}", c.bins_share);
        assert!((c.gap_deg - 90.0).abs() < 1e-9, "{n}: {}", c.gap_deg);
        assert_eq!(AZIMUTH_BINS % n, 0);
    }
    // A point behind every camera of an outward ring is seen by none.
    let outward: Vec<Camera> = rigs::dense_rig(8, 1, 0.3, rigs::RigPath::Line, 1.0, lens());
    let c = metrics::coverage(&V3::new(0.0, 0.0, rigs::EYE_HEIGHT), &outward, &probes);
    assert_eq!((c.views, c.bins_share, c.gap_deg), (0, 0.0, 180.0));
}

#[test]
fn projection_inverts_the_pixel_ray() {
    let cam = Camera { pose: Pose::look_at("c".into(), V3::new(1.0, 2.0, 3.0), V3::new(-2.0, 0.5, 1.0), V3::z()), lens: lens() };
    for (u, v) in [(0.5, 0.5), (31.2, 7.9), (47.5, 35.5)] {
        let p = cam.centre() + 3.7 * cam.ray(u, v, 48, 36);
        let (pu, pv, depth) = cam.project(&p, 48, 36).unwrap();
        assert!((pu - u).abs() < 1e-9 && (pv - v).abs() < 1e-9, "({u}, {v}) came back as ({pu}, {pv})");
        assert!(depth > 0.0 && cam.sees(&p));
    }
    assert!(cam.project(&(cam.centre() - cam.pose.forward()), 48, 36).is_none());
}

#[test]
fn the_ray_caster_draws_a_known_view() {
    // A grey room [-1, 1]^3 lit from the camera's position: straight ahead the wall is 1 away,
    // faces the light head-on (full diffuse) and shows its own grey.
    let scene = Scene::empty_room(V3::repeat(-1.0), V3::repeat(1.0), V3::zeros());
    let cam = Camera { pose: Pose::look_at("c".into(), V3::zeros(), V3::new(0.0, 0.0, -1.0), V3::y()), lens: lens() };
    let (w, h) = (33, 25);
    let img = render::render(&scene, &cam, w, h, 1);
    let mid = (h / 2) * w + w / 2;
    assert!((img.depth[mid] - 1.0).abs() < 1e-9, "depth {}", img.depth[mid]);
    for k in 0..3 {
        assert!((img.rgb[mid][k] - 0.5).abs() < 1e-9, "{:?}", img.rgb[mid]);
    }
    // Off-centre pixels see the same wall farther away, along their ray's z component.
    let d = cam.ray(0.5, 0.5, w, h);
    assert!((img.depth[0] - 1.0 / d.z.abs()).abs() < 1e-9);
    // A red sphere of radius 0.25 at 0.6 in front: its nearest point is 0.35 away.
    let scene = scene.with_shape(Shape::Sphere { centre: V3::new(0.0, 0.0, -0.6), radius: 0.25 }, [1.0, 0.0, 0.0]);
    let img = render::render(&scene, &cam, w, h, 1);
    assert!((img.depth[mid] - 0.35).abs() < 1e-9, "depth {}", img.depth[mid]);
    assert!((img.rgb[mid][0] - 1.0).abs() < 1e-9 && img.rgb[mid][1] == 0.0, "{:?}", img.rgb[mid]);
}

#[test]
fn a_target_that_coincides_with_a_captured_view_is_reproduced_exactly() {
    let mut r = Rng::seed_from_u64(7);
    let cams = rigs::hemisphere(3, lens(), &mut r);
    let centres: Vec<V3> = cams.iter().map(Camera::centre).collect();
    let scene = Scene::generate(&centres, Some((V3::zeros(), 1.0)), 12, &mut r);
    let (w, h) = (40, 30);
    let truth = render::render(&scene, &cams[0], w, h, 2);
    let synth = render::synthesise(&cams[0], &[(&cams[0], &truth)], w, h);
    assert_eq!(synth.holes, 0.0, "{:?}", truth.depth.iter().filter(|d| !d.is_finite()).count());
    assert!(render::psnr(&truth, &synth.image) > 100.0);
    assert!((render::ssim(&truth, &synth.image) - 1.0).abs() < 1e-9);
}

#[test]
fn psnr_and_ssim_fall_as_an_image_is_disturbed() {
    let img = render::Image {
        w: 16,
        h: 16,
        rgb: (0..256).map(|i| [(i % 7) as f64 / 7.0, 0.5, (i % 3) as f64 / 3.0]).collect(),
        depth: vec![1.0; 256],
    };
    let mut noisy = img.clone();
    for (i, c) in noisy.rgb.iter_mut().enumerate() {
        c[0] = (c[0] + if i % 2 == 0 { 0.1 } else { -0.1 }).clamp(0.0, 1.0);
    }
    // Every red value moves by 0.1 or less (clamped): the MSE is at most 0.01 / 3.
    let p = render::psnr(&img, &noisy);
    assert!(p >= 10.0 * 300f64.log10() - 1e-9 && p < 40.0, "{p}");
    assert!(render::ssim(&img, &noisy) < 0.99);
}
