//! Den-SOFT: capture density and coverage of multi-camera rigs (Yu, Yang, Pan, Han, Wang,
//! Zhang, Yan, Lin, Yang, Yu & Fang, 2024, "Den-SOFT: Dense Space-Oriented Light Field
//! DataseT for 6-DOF Immersive Experience", arXiv 2403.09973).
//!
//! The paper's rig, 40 cameras on a mobile platform, captures "no less than 1000" photos per
//! scene at an "average density (view number within a unit sphere)" of 134.68. A run takes
//! one capture (real poses, or a simulated layout), measures its density and coverage, and
//! measures what the density buys: held-out views of a procedural room synthesised from the
//! captured ones, scored against ray-cast truth.

use std::path::PathBuf;

use benchtop_core::{ChartKind, ChartSpec, LogLevel, ParamProblem, Params, RunContext, Study, StudyError, Summary};
use benchtop_data::lightfield::poses::{Lens, PoseSet};
use benchtop_data::lightfield::rigs::{self, Camera, RigPath, Walk};
use benchtop_data::lightfield::{metrics, render};
use nalgebra::Vector3;
use rand::seq::SliceRandom;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod figures;

type V3 = Vector3<f64>;

/// The study's registry entry.
pub struct Lightfield;

/// Where the cameras come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Den-SOFT's design: a ring of outward-facing cameras on a platform stopping along a path.
    #[default]
    DenseRig,
    /// Object-centric (NeRF synthetic): random views on a hemisphere of radius 4 m, looking at its centre.
    Hemisphere,
    /// Forward-facing (LLFF): a regular grid of cameras 2 m x 1.5 m, all looking the same way.
    ForwardGrid,
    /// A handheld walk: frames evenly along a smooth random path, looking roughly ahead.
    Handheld,
    /// The NeRF-synthetic Lego poses bundled with Benchtop (400 real frames, Blender units).
    Lego,
    /// Your own transforms.json (NeRF / Instant-NGP format), named by `pose_file`.
    File,
}

impl Layout {
    /// The name experiment files use (`dense_rig`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Layout::DenseRig => "dense_rig",
            Layout::Hemisphere => "hemisphere",
            Layout::ForwardGrid => "forward_grid",
            Layout::Handheld => "handheld",
            Layout::Lego => "lego",
            Layout::File => "file",
        }
    }

    fn is_real(self) -> bool {
        matches!(self, Layout::Lego | Layout::File)
    }
}

/// Where density's spheres are centred.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DensityCentre {
    /// Around each camera, averaged over cameras (our reading of the paper: views near a view).
    #[default]
    Cameras,
    /// Around sample points of the volume, averaged over points (views near where a viewer stands).
    Volume,
}

/// Parameters of one capture (defaults: the paper's 40-camera rig, 1,000 views).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LightfieldParams {
    /// The camera layout.
    pub layout: Layout,
    /// file only: the path of a transforms.json (NeRF / Instant-NGP format); a relative path is
    /// taken from the working directory, so the app's chooser gives an absolute one.
    #[schemars(extend("format" = "path"))]
    pub pose_file: String,
    /// Views captured. Rig: cameras x stops (a multiple of rig_cameras); real poses: a seeded
    /// subset of the frames left after the held-out targets (all of them if fewer).
    #[schemars(range(min = 2, max = 20000))]
    pub views: u32,
    /// dense_rig only: cameras on the ring (Den-SOFT: 40 GoPros).
    #[schemars(range(min = 1, max = 400))]
    pub rig_cameras: u32,
    /// dense_rig only: the ring's radius in metres.
    #[schemars(range(min = 0.01, max = 10.0))]
    pub rig_radius: f64,
    /// dense_rig only: the platform's path.
    pub path: RigPath,
    /// dense_rig and handheld: the path's length in metres (the rig's stops spread evenly
    /// over it, so their spacing is length / (stops - 1) on a line). The paper gives neither
    /// its ring's size nor its stops' spacing: 12 m puts 1,000 views' stops 0.5 m apart, where
    /// the rig's density (146) is nearest the paper's 134.68.
    #[schemars(range(min = 0.1, max = 1000.0))]
    pub path_length: f64,
    /// Simulated layouts: the cameras' horizontal field of view in degrees (4:3 images).
    #[schemars(range(min = 10.0, max = 170.0))]
    pub fov_deg: f64,
    /// Density's sphere radius in the poses' units (metres for simulated layouts; the paper's
    /// "unit sphere" is 1).
    #[schemars(range(min = 0.001, max = 1000.0))]
    pub density_radius: f64,
    /// Where density's spheres are centred.
    pub density_centre: DensityCentre,
    /// Sample points of the volume for coverage (views per point, directions).
    #[schemars(range(min = 1, max = 100000))]
    pub coverage_points: u32,
    /// Held-out views synthesised and scored (0: geometry only, no rendering).
    #[schemars(range(min = 0, max = 1000))]
    pub targets: u32,
    /// Captured views blended into each synthesised one.
    #[schemars(range(min = 1, max = 64))]
    pub ibr_views: u32,
    /// Width in pixels of every rendered image (height from the lens).
    #[schemars(range(min = 8, max = 1024))]
    pub image_width: u32,
    /// Textured shapes in the procedural room.
    #[schemars(range(min = 0, max = 200))]
    pub shapes: u32,
}

impl Default for LightfieldParams {
    fn default() -> Self {
        LightfieldParams {
            layout: Layout::DenseRig,
            pose_file: String::new(),
            views: 1000,
            rig_cameras: 40,
            rig_radius: 0.3,
            path: RigPath::Line,
            path_length: 12.0,
            fov_deg: 80.0,
            density_radius: 1.0,
            density_centre: DensityCentre::Cameras,
            coverage_points: 200,
            targets: 12,
            ibr_views: 4,
            image_width: 64,
            shapes: 16,
        }
    }
}

impl Params for LightfieldParams {
    fn check(&self) -> Vec<ParamProblem> {
        let mut problems = Vec::new();
        if self.layout == Layout::File && self.pose_file.trim().is_empty() {
            problems.push(ParamProblem::new("pose_file", "layout = file needs the path of a transforms.json"));
        }
        if self.layout == Layout::DenseRig {
            if !self.views.is_multiple_of(self.rig_cameras) {
                problems
                    .push(ParamProblem::new("views", format!("must be a multiple of rig_cameras ({}) for dense_rig", self.rig_cameras)));
            } else if self.views / self.rig_cameras < 2 && self.path == RigPath::Line {
                problems.push(ParamProblem::new("views", format!("must be at least two stops of rig_cameras ({})", self.rig_cameras)));
            }
        }
        problems
    }

    fn unused(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.layout != Layout::File {
            out.push("pose_file");
        }
        if self.layout != Layout::DenseRig {
            out.extend(["rig_cameras", "rig_radius", "path"]);
        }
        if !matches!(self.layout, Layout::DenseRig | Layout::Handheld) {
            out.push("path_length");
        }
        if self.layout.is_real() {
            out.push("fov_deg");
        }
        if self.targets == 0 {
            out.extend(["ibr_views", "image_width", "shapes"]);
        }
        out
    }
}

/// Random streams of a run, one per purpose, so changing the view count leaves the scene,
/// the held-out targets and a walk's path as they were.
const STREAM_SCENE: u64 = 1;
const STREAM_TARGETS: u64 = 2;
const STREAM_LAYOUT: u64 = 3;
const STREAM_WALK: u64 = 4;
const STREAM_POINTS: u64 = 5;
const STREAM_REGION: u64 = 6;

/// How densely the region a layout may place cameras in is sampled to build the scene around
/// it (see [`Capture::region`]).
const REGION_STOPS: usize = 101;
const REGION_VIEWS: usize = 1000;

/// Images kept for reuse across targets; past this the cache starts afresh, so memory stays
/// bounded whatever `targets` x `ibr_views` is.
const MAX_CACHED_IMAGES: usize = 256;

use benchtop_data::rng;

/// A capture: the views taken and the held-out views to synthesise.
pub struct Capture {
    pub cameras: Vec<Camera>,
    pub targets: Vec<Camera>,
    /// Where the layout may place cameras whatever their number (the rig's path densely, the
    /// whole hemisphere, the grid's rectangle, the walk, every frame of a file): the scene is
    /// built around this and the targets, so a seed's room is the same at every view count
    /// and comparisons across view counts are paired.
    pub region: Vec<Camera>,
    /// The real file's views before subsampling (for the log); the count for simulated ones.
    pub available: usize,
}

/// Lay out the cameras and held-out targets of a run.
pub fn capture(p: &LightfieldParams, seed: u64) -> Result<Capture, StudyError> {
    let lens = Lens::from_fov(p.fov_deg.to_radians(), 4.0 / 3.0);
    let (views, n_targets) = (p.views as usize, p.targets as usize);
    let mut targets_rng = rng(seed, STREAM_TARGETS);
    let mut layout_rng = rng(seed, STREAM_LAYOUT);
    let (cameras, targets, region, available) = match p.layout {
        Layout::DenseRig => {
            let stops = views / p.rig_cameras as usize;
            let rig = |stops| rigs::dense_rig(p.rig_cameras as usize, stops, p.rig_radius, p.path, p.path_length, lens);
            let t = rigs::dense_rig_targets(n_targets, p.rig_radius, p.path, p.path_length, lens, &mut targets_rng);
            (rig(stops), t, rig(REGION_STOPS), views)
        }
        Layout::Hemisphere => (
            rigs::hemisphere(views, lens, &mut layout_rng),
            rigs::hemisphere_targets(n_targets, lens, &mut targets_rng),
            rigs::hemisphere_shell(REGION_VIEWS, lens),
            views,
        ),
        Layout::ForwardGrid => (
            rigs::forward_grid(views, lens),
            rigs::forward_grid_targets(n_targets, lens, &mut targets_rng),
            rigs::forward_grid(REGION_VIEWS, lens),
            views,
        ),
        Layout::Handheld => {
            let walk = Walk::new(p.path_length, &mut rng(seed, STREAM_WALK));
            let region = walk.frames(REGION_VIEWS, lens, &mut rng(seed, STREAM_REGION));
            (walk.frames(views, lens, &mut layout_rng), walk.targets(n_targets, lens, &mut targets_rng), region, views)
        }
        Layout::Lego | Layout::File => {
            let set: PoseSet = if p.layout == Layout::Lego {
                benchtop_data::lightfield::poses::lego()?
            } else {
                benchtop_data::lightfield::poses::read_transforms_file(&PathBuf::from(p.pose_file.trim()))?
            };
            let lens = set.lens;
            let mut frames: Vec<Camera> = set.frames.into_iter().map(|pose| Camera { pose, lens }).collect();
            let available = frames.len();
            let region = frames.clone();
            if n_targets >= available {
                return Err(StudyError::InvalidParams(format!(
                    "targets ({n_targets}) must leave at least one of the file's {available} frames to capture"
                )));
            }
            // Targets first, from their own stream, so they stay the same whatever `views` is.
            frames.shuffle(&mut targets_rng);
            let rest = frames.split_off(n_targets);
            let mut rest = rest;
            rest.shuffle(&mut layout_rng);
            rest.truncate(views);
            (rest, frames, region, available)
        }
    };
    Ok(Capture { cameras, targets, region, available })
}

/// The point the cameras converge on, and how far they stand from it, when they do (an
/// object-centric capture): the least-squares nearest point to every optical axis, accepted
/// when the axes pass within a quarter of the cameras' distance of it.
pub fn focus(cameras: &[Camera]) -> Option<(V3, f64)> {
    let mut a = nalgebra::Matrix3::<f64>::zeros();
    let mut b = V3::zeros();
    for c in cameras {
        let f = c.pose.forward();
        let m = nalgebra::Matrix3::identity() - f * f.transpose();
        a += m;
        b += m * c.centre();
    }
    let point = a.try_inverse()? * b;
    let dist: Vec<f64> = cameras.iter().map(|c| (c.centre() - point).norm()).collect();
    let miss: Vec<f64> = cameras
        .iter()
        .map(|c| {
            let v = point - c.centre();
            (v - c.pose.forward() * v.dot(&c.pose.forward())).norm()
        })
        .collect();
    let (d, m) = (metrics::median(&dist), metrics::median(&miss));
    // Cameras must also face it: a ring facing outward has its axes meet behind them.
    let facing = cameras.iter().filter(|c| c.pose.forward().dot(&(point - c.centre())) > 0.0).count();
    (m < 0.25 * d && facing * 2 > cameras.len()).then_some((point, 0.25 * d))
}

impl Study for Lightfield {
    type Params = LightfieldParams;

    fn name(&self) -> &'static str {
        "lightfield"
    }

    fn title(&self) -> &'static str {
        "Den-SOFT: dense light-field capture (Yu et al., 2024)"
    }

    fn description(&self) -> &'static str {
        "Capture density and coverage of camera layouts: Den-SOFT's mobile ring rig against the \
         object-centric hemisphere, the forward-facing grid, a handheld walk and real NeRF poses. \
         Density is the paper's views within a unit sphere; coverage is how many views, and which \
         directions, see each point of the volume. Held-out views of a procedural room are \
         synthesised from the captured ones (depth-aware reprojection and blending) and scored \
         against ray-cast truth: PSNR against density shows what denser capture buys, and where \
         it saturates."
    }

    fn default_charts(&self) -> Vec<ChartSpec> {
        vec![
            ChartSpec::new(ChartKind::Scatter, "psnr")
                .with_x("density_mean")
                .with_group("layout")
                .with_title("Novel-view PSNR against capture density, per layout"),
            ChartSpec::new(ChartKind::MetricVsParam, "psnr").with_x("views").with_group("layout"),
            ChartSpec::new(ChartKind::MetricVsParam, "density_mean").with_x("views").with_group("layout"),
            ChartSpec::new(ChartKind::MetricVsParam, "direction_coverage").with_x("views").with_group("layout"),
            ChartSpec::new(ChartKind::MetricVsParam, "holes").with_x("views").with_group("layout"),
        ]
    }

    fn run(&self, ctx: &RunContext, p: &LightfieldParams) -> Result<Summary, StudyError> {
        let seed = ctx.seed();
        let cap = capture(p, seed)?;
        let n = cap.cameras.len();
        if p.layout.is_real() && n < p.views as usize {
            ctx.log_text(
                LogLevel::Warn,
                format!(
                    "asked for {} views; the file has {} frames, {} held out, so all {n} others are used",
                    p.views,
                    cap.available,
                    cap.targets.len()
                ),
            );
        }
        ctx.info(format!("{n} views captured, {} held out", cap.targets.len()));
        let total = 3 + cap.targets.len() as u64;
        ctx.progress(0, total);
        let mut summary = Summary::new();
        summary.insert("views".into(), n as f64);

        // Density as the paper defines it, its distribution and its curve over the radius.
        let centres: Vec<V3> = cap.cameras.iter().map(Camera::centre).collect();
        let per_camera = metrics::counts_within(&centres, &centres, p.density_radius, true);
        let mut keep_clear: Vec<V3> = cap.region.iter().map(Camera::centre).collect();
        keep_clear.extend(cap.targets.iter().map(Camera::centre));
        let focus = focus(&cap.region);
        let scene = render::Scene::generate(&keep_clear, focus, p.shapes as usize, &mut rng(seed, STREAM_SCENE));
        let mut points_rng = rng(seed, STREAM_POINTS);
        let points: Vec<V3> = (0..p.coverage_points)
            .map(|_| {
                use rand::Rng as _;
                let u = V3::new(points_rng.random(), points_rng.random(), points_rng.random());
                scene.room_min + (scene.room_max - scene.room_min).component_mul(&u)
            })
            .collect();
        let density = match p.density_centre {
            DensityCentre::Cameras => per_camera.clone(),
            DensityCentre::Volume => metrics::counts_within(&points, &centres, p.density_radius, false),
        };
        let as_f64 = |v: &[usize]| v.iter().map(|x| *x as f64).collect::<Vec<f64>>();
        let d = as_f64(&density);
        summary.insert("density_mean".into(), metrics::mean(&d));
        summary.insert("density_median".into(), metrics::median(&d));
        summary.insert("density_min".into(), d.iter().copied().fold(f64::INFINITY, f64::min));
        summary.insert("density_max".into(), d.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let top = density.iter().copied().max().unwrap_or(0);
        let bin_width = top.div_ceil(30).max(1);
        let hist = metrics::histogram(&density, bin_width);
        for (lo, count) in &hist {
            ctx.log_metric("density_histogram", *lo as u64, *count as f64);
        }
        // The curve over the radius: steps are the radius in hundredths of the density radius.
        let pcts: Vec<u64> = (10..=300).step_by(10).collect();
        let radii: Vec<f64> = pcts.iter().map(|pct| p.density_radius * *pct as f64 / 100.0).collect();
        let curve = match p.density_centre {
            DensityCentre::Cameras => metrics::density_curve(&centres, &centres, &radii, true),
            DensityCentre::Volume => metrics::density_curve(&points, &centres, &radii, false),
        };
        for (pct, mean) in pcts.iter().zip(curve) {
            ctx.log_metric("density_at_radius", *pct, mean);
        }
        let spacing = metrics::nearest_spacing(&centres);
        summary.insert("nn_spacing_mean".into(), metrics::mean(&spacing.iter().copied().filter(|s| s.is_finite()).collect::<Vec<_>>()));
        summary.insert("nn_spacing_median".into(), metrics::median(&spacing));
        if p.layout == Layout::DenseRig {
            let stops = n / p.rig_cameras as usize;
            let gap = match p.path {
                RigPath::Line => p.path_length / (stops - 1).max(1) as f64,
                RigPath::Loop => p.path_length / stops as f64,
            };
            summary.insert("rig_stops".into(), stops as f64);
            summary.insert("rig_spacing".into(), gap);
        }
        ctx.progress(1, total);
        ctx.check_cancelled()?;

        // Coverage of the volume (the procedural room's interior).
        let probes = metrics::probe_directions(1000);
        let mut cover: Vec<metrics::PointCoverage> = Vec::with_capacity(points.len());
        for chunk in points.chunks(64) {
            ctx.check_cancelled()?;
            cover.extend(chunk.iter().map(|q| metrics::coverage(q, &cap.cameras, &probes)));
        }
        let seen: Vec<&metrics::PointCoverage> = cover.iter().filter(|c| c.views > 0).collect();
        let share = |k: usize| cover.iter().filter(|c| c.views >= k).count() as f64 / cover.len().max(1) as f64;
        summary.insert("views_per_point".into(), metrics::mean(&cover.iter().map(|c| c.views as f64).collect::<Vec<_>>()));
        summary.insert("volume_seen".into(), share(1));
        summary.insert("volume_seen_twice".into(), share(2));
        // Over the points some camera sees; with none, nothing is covered: no bins, a 180 gap.
        let (bins, gap) = if seen.is_empty() {
            (0.0, 180.0)
        } else {
            (
                metrics::mean(&seen.iter().map(|c| c.bins_share).collect::<Vec<_>>()),
                metrics::mean(&seen.iter().map(|c| c.gap_deg).collect::<Vec<_>>()),
            )
        };
        summary.insert("direction_coverage".into(), bins);
        summary.insert("largest_gap_deg".into(), gap);
        ctx.progress(2, total);
        ctx.check_cancelled()?;

        // Figures (a figure that cannot be written is a warning, never a failed run).
        let dir = ctx.artifacts_dir().to_path_buf();
        let figure = |name: &str, draw: &dyn Fn(&std::path::Path) -> Result<(), String>| {
            let path = dir.join(name);
            match std::fs::create_dir_all(&dir).map_err(|e| e.to_string()).and_then(|_| draw(&path)) {
                Ok(()) => ctx.record_artifact(name, path),
                Err(e) => ctx.log_text(LogLevel::Warn, format!("could not draw {name}: {e}")),
            }
        };
        let extent = (scene.room_max - scene.room_min).norm();
        figure("cameras.png", &|path| {
            let title = format!("{n} cameras ({}), density radius {}", p.layout.name(), p.density_radius);
            figures::cameras_png(&cap.cameras, &per_camera, 0.02 * extent, &title, path)
        });
        figure("density_histogram.png", &|path| {
            let (title, counted) = match p.density_centre {
                DensityCentre::Cameras => ("Density per camera", "cameras"),
                DensityCentre::Volume => ("Density per sample point of the volume", "sample points"),
            };
            figures::histogram_png(&hist, bin_width, "views within the density radius", title, counted, path)
        });
        figure("coverage.png", &|path| {
            let z = metrics::mean(&centres.iter().map(|c| c.z).collect::<Vec<_>>());
            let (lo, hi) = (scene.room_min, scene.room_max);
            let grid = metrics::views_on_slice(&cap.cameras, &lo, &hi, z, 48, 48);
            figures::coverage_png(&grid, (lo.x, hi.x), (lo.y, hi.y), &cap.cameras, &format!("Views per point at height {z:.2}"), path)
        });

        // What density buys: held-out views synthesised from the captured ones.
        if !cap.targets.is_empty() {
            let (w, lens) = (p.image_width as usize, cap.cameras[0].lens);
            // Square pixels; a file's extreme aspect is held to 1:4..4:1 so an image stays small.
            let h = ((w as f64 / lens.aspect()).round() as usize).clamp(4.min(w), 4 * w);
            let mut sources: std::collections::HashMap<usize, render::Image> = std::collections::HashMap::new();
            let (mut psnrs, mut ssims, mut holes) = (Vec::new(), Vec::new(), Vec::new());
            let mut rendered = 0usize;
            let mut shown = Vec::new();
            for (t, target) in cap.targets.iter().enumerate() {
                ctx.check_cancelled()?;
                let truth = render::render(&scene, target, w, h, 2);
                let near = render::nearest_views(target, &cap.cameras, p.ibr_views as usize, 0.25 * extent);
                if sources.len() + near.len() > MAX_CACHED_IMAGES {
                    sources.clear();
                }
                for i in &near {
                    if !sources.contains_key(i) {
                        sources.insert(*i, render::render(&scene, &cap.cameras[*i], w, h, 2));
                        rendered += 1;
                    }
                }
                let pairs: Vec<(&Camera, &render::Image)> = near.iter().map(|i| (&cap.cameras[*i], &sources[i])).collect();
                let synth = render::synthesise(target, &pairs, w, h);
                let (ps, ss) = (render::psnr(&truth, &synth.image), render::ssim(&truth, &synth.image));
                ctx.log_metric("target_psnr", t as u64, ps);
                ctx.log_metric("target_ssim", t as u64, ss);
                ctx.log_metric("target_holes", t as u64, synth.holes);
                psnrs.push(ps);
                ssims.push(ss);
                holes.push(synth.holes);
                if shown.len() < 4 {
                    shown.push((truth, synth.image));
                }
                ctx.progress(3 + t as u64, total);
            }
            summary.insert("psnr".into(), metrics::mean(&psnrs));
            summary.insert("ssim".into(), metrics::mean(&ssims));
            summary.insert("holes".into(), metrics::mean(&holes));
            summary.insert("rendered_views".into(), rendered as f64);
            figure("views.png", &|path| {
                let rows: Vec<Vec<&render::Image>> = shown.iter().map(|(a, b)| vec![a, b]).collect();
                figures::views_png(&rows, (192 / w).max(1), path)
            });
        }
        ctx.progress(total, total);
        // The store keeps finite values only: say which are left out and why.
        for (k, v) in &summary {
            if !v.is_finite() {
                ctx.log_text(
                    LogLevel::Warn,
                    format!("{k} is undefined for this capture ({v}; e.g. a spacing needs two cameras) and is not recorded"),
                );
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests;
