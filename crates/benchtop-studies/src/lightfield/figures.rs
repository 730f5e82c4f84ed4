//! The run's own figures, drawn with plotters as PNG artifacts (the app shows them in the run
//! view): the cameras in 3D coloured by local density, the density histogram, a coverage map
//! of the volume, and truth beside synthesis for a few held-out views.
//!
//! These depend on one run's geometry, which no chart over runs' metrics describes, so they
//! are drawn here rather than through a `ChartSpec`.

use std::path::Path;
use std::sync::Once;

use nalgebra::Vector3;
use plotters::prelude::*;

use benchtop_data::lightfield::render::Image;
use benchtop_data::lightfield::rigs::Camera;

type V3 = Vector3<f64>;

static FONT: &[u8] = include_bytes!("../../../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Text metrics come from the bundled DejaVu Sans, as in every chart Benchtop draws.
fn ensure_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // A bundled, known-good font cannot fail to parse.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

fn fail<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Viridis-like ramp from dark blue (0) to yellow (1).
fn ramp(t: f64) -> RGBColor {
    let stops = [(68.0, 1.0, 84.0), (59.0, 82.0, 139.0), (33.0, 145.0, 140.0), (94.0, 201.0, 98.0), (253.0, 231.0, 37.0)];
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(mix(stops[i].0, stops[i + 1].0), mix(stops[i].1, stops[i + 1].1), mix(stops[i].2, stops[i + 1].2))
}

/// The cameras in 3D: centres coloured by how many neighbours they have within the density
/// radius, and each camera's frustum drawn to a depth of `frustum` (world units). World z is
/// drawn upward.
pub fn cameras_png(cameras: &[Camera], density: &[usize], frustum: f64, title: &str, path: &Path) -> Result<(), String> {
    ensure_font();
    let canvas = BitMapBackend::new(path, (900, 740)).into_drawing_area();
    canvas.fill(&WHITE).map_err(fail)?;
    let (root, legend) = canvas.split_vertically(705);
    let (mut lo, mut hi) = (V3::repeat(f64::INFINITY), V3::repeat(f64::NEG_INFINITY));
    for c in cameras {
        lo = lo.inf(&c.centre());
        hi = hi.sup(&c.centre());
    }
    // Equal scales on all axes, so a ring looks round.
    let half = ((hi - lo).max() / 2.0 + frustum).max(0.5);
    let mid = (lo + hi) / 2.0;
    let range = |k: usize| (mid[k] - half)..(mid[k] + half);
    let top = density.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .build_cartesian_3d(range(0), range(2), range(1))
        .map_err(fail)?;
    chart.with_projection(|mut p| {
        p.yaw = 0.6;
        p.pitch = 0.35;
        p.scale = 0.85;
        p.into_matrix()
    });
    chart.configure_axes().light_grid_style(BLACK.mix(0.08)).max_light_lines(3).draw().map_err(fail)?;
    let at = |p: V3| (p.x, p.z, p.y);
    // Frusta under the centres, thin, so a dense capture stays readable.
    let mut lines = Vec::with_capacity(cameras.len() * 8);
    for (c, n) in cameras.iter().zip(density) {
        let colour = ramp(*n as f64 / top).mix(0.35);
        let corners: Vec<V3> = [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
            .iter()
            .map(|(sx, sy)| c.centre() + c.pose.rotation * (V3::new(sx * c.lens.tan_half_x, sy * c.lens.tan_half_y, -1.0) * frustum))
            .collect();
        for k in 0..4 {
            lines.push(PathElement::new(vec![at(c.centre()), at(corners[k])], colour));
            lines.push(PathElement::new(vec![at(corners[k]), at(corners[(k + 1) % 4])], colour));
        }
    }
    chart.draw_series(lines).map_err(fail)?;
    chart
        .draw_series(cameras.iter().zip(density).map(|(c, n)| Circle::new(at(c.centre()), 3, ramp(*n as f64 / top).filled())))
        .map_err(fail)?;
    legend
        .draw(&Text::new(format!("colour: neighbours within the density radius (0 to {top:.0})"), (20, 8), ("sans-serif", 15)))
        .map_err(fail)?;
    canvas.present().map_err(fail)
}

/// A histogram: `(lower edge, count)` bars of `width`.
pub fn histogram_png(bins: &[(usize, usize)], width: usize, x_label: &str, title: &str, counted: &str, path: &Path) -> Result<(), String> {
    ensure_font();
    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    let x_max = bins.last().map(|b| b.0 + width).unwrap_or(1) as f64;
    let y_max = bins.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(fail)?;
    chart.configure_mesh().x_desc(x_label).y_desc(counted).light_line_style(BLACK.mix(0.06)).draw().map_err(fail)?;
    chart
        .draw_series(
            bins.iter().map(|(lo, n)| {
                Rectangle::new([(*lo as f64, 0.0), ((lo + width) as f64, *n as f64)], RGBColor(0, 114, 178).mix(0.8).filled())
            }),
        )
        .map_err(fail)?;
    root.present().map_err(fail)
}

/// A top-down map of how many views see each point of a horizontal slice of the volume.
pub fn coverage_png(grid: &[Vec<usize>], x: (f64, f64), y: (f64, f64), cameras: &[Camera], title: &str, path: &Path) -> Result<(), String> {
    ensure_font();
    let canvas = BitMapBackend::new(path, (820, 730)).into_drawing_area();
    canvas.fill(&WHITE).map_err(fail)?;
    let (root, legend) = canvas.split_vertically(695);
    let top = grid.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x.0..x.1, y.0..y.1)
        .map_err(fail)?;
    chart.configure_mesh().x_desc("x").y_desc("y").disable_mesh().draw().map_err(fail)?;
    let (rows, cols) = (grid.len(), grid.first().map_or(0, Vec::len));
    let (dx, dy) = ((x.1 - x.0) / cols.max(1) as f64, (y.1 - y.0) / rows.max(1) as f64);
    chart
        .draw_series(grid.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, n)| {
                let (x0, y0) = (x.0 + c as f64 * dx, y.0 + r as f64 * dy);
                let colour = if *n == 0 { RGBColor(235, 235, 235) } else { ramp(*n as f64 / top) };
                Rectangle::new([(x0, y0), (x0 + dx, y0 + dy)], colour.filled())
            })
        }))
        .map_err(fail)?;
    chart.draw_series(cameras.iter().map(|c| Circle::new((c.centre().x, c.centre().y), 2, RED.filled()))).map_err(fail)?;
    legend
        .draw(&Text::new(
            format!("colour: views that see the point (grey: none; yellow: {top:.0}); red: cameras"),
            (20, 8),
            ("sans-serif", 15),
        ))
        .map_err(fail)?;
    canvas.present().map_err(fail)
}

/// Rows of images side by side (truth, synthesis), each scaled up `zoom` times.
pub fn views_png(rows: &[Vec<&Image>], zoom: usize, path: &Path) -> Result<(), String> {
    let gap = 4;
    let (w, h) = rows.first().and_then(|r| r.first()).map_or((1, 1), |i| (i.w, i.h));
    let per_row = rows.iter().map(Vec::len).max().unwrap_or(1);
    let width = (gap + per_row * (w * zoom + gap)) as u32;
    let height = (gap + rows.len() * (h * zoom + gap)) as u32;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    for (r, images) in rows.iter().enumerate() {
        for (c, img) in images.iter().enumerate() {
            let (ox, oy) = (gap + c * (w * zoom + gap), gap + r * (h * zoom + gap));
            for y in 0..img.h * zoom {
                for x in 0..img.w * zoom {
                    let p = img.rgb[(y / zoom) * img.w + x / zoom];
                    let to = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    root.draw_pixel(((ox + x) as i32, (oy + y) as i32), &RGBColor(to(p[0]), to(p[1]), to(p[2]))).map_err(fail)?;
                }
            }
        }
    }
    root.present().map_err(fail)
}
