//! Drawing a prepared [`Chart`] with plotters: SVG for the app and reports, PNG at a DPI.
//!
//! House style: Okabe-Ito colours (safe for colour-blind readers), labelled axes, a legend
//! in its own panel right of the plot (so it never covers data), a caption saying what the
//! error bars are, sizes readable at half a column.

use std::path::Path;
use std::sync::Once;

use benchtop_core::{ChartKind, ChartLayout, ChartView, LegendItem, PlotFrame};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::prepare::{Chart, Point, Series};
use crate::{ChartError, Result};

/// The drawing's size in CSS pixels (96 per inch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub width: u32,
    pub height: u32,
}

impl Default for Size {
    fn default() -> Self {
        Size { width: 720, height: 440 }
    }
}

/// Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(0, 0, 0),       // black
    RGBColor(240, 228, 66),  // yellow (last: weak on white)
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A series' colour as red, green and blue (for exports that draw it elsewhere, such as
/// pgfplots, in the same colours as the app and the reports).
pub fn series_rgb(i: usize) -> (u8, u8, u8) {
    let RGBColor(r, g, b) = colour(i);
    (r, g, b)
}

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Text metrics come from DejaVu Sans, bundled, so layout is the same on every machine.
fn ensure_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // A bundled, known-good font cannot fail to parse.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

fn draw_err<E: std::fmt::Display>(e: E) -> ChartError {
    ChartError::Draw(e.to_string())
}

/// The chart as an SVG document (the same chart always gives the same bytes).
pub fn render_svg(chart: &Chart, size: Size) -> Result<String> {
    render_svg_view(chart, size, &ChartView::default()).map(|(svg, _)| svg)
}

/// The chart as the app shows it: drawn at `view`'s ranges without its hidden series, with
/// where the plot and the legend entries landed (so a pointer reads in data units).
pub fn render_svg_view(chart: &Chart, size: Size, view: &ChartView) -> Result<(String, ChartLayout)> {
    ensure_font();
    let mut out = String::new();
    let layout = {
        let root = SVGBackend::with_string(&mut out, (size.width, size.height)).into_drawing_area();
        let layout = draw(&root, chart, 1.0, view)?;
        root.present().map_err(draw_err)?;
        layout
    };
    Ok((out, layout))
}

/// The chart as a PNG file at `dpi` (96 is the size on screen; 300 for print).
pub fn render_png(chart: &Chart, size: Size, dpi: u32, path: &Path) -> Result<()> {
    ensure_font();
    let scale = dpi.max(24) as f64 / 96.0;
    let px = ((size.width as f64 * scale) as u32, (size.height as f64 * scale) as u32);
    let root = BitMapBackend::new(path, px).into_drawing_area();
    draw(&root, chart, scale, &ChartView::default())?;
    root.present().map_err(|e| ChartError::Write { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) })
}

fn font(size: f64, s: f64) -> TextStyle<'static> {
    ("sans-serif", size * s).into_font().into()
}

/// The frame a cartesian chart drew in.
fn frame<DB: DrawingBackend, X, Y>(ctx: &ChartContext<'_, DB, Cartesian2d<X, Y>>, x: (f64, f64), y: (f64, f64)) -> PlotFrame
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let (px, py) = ctx.plotting_area().get_pixel_range();
    PlotFrame { left: px.start, right: px.end, top: py.start, bottom: py.end, x, y }
}

/// The series a view draws.
fn shown<'a>(chart: &'a Chart, view: &'a ChartView) -> impl Iterator<Item = (usize, &'a Series)> + Clone {
    chart.series.iter().enumerate().filter(|(_, s)| !view.hidden.contains(&s.label))
}

/// A view's range, else one fitted to the data.
fn range(chosen: Option<(f64, f64)>, fitted: std::ops::Range<f64>) -> std::ops::Range<f64> {
    match chosen {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && hi > lo => lo..hi,
        _ => fitted,
    }
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<ChartLayout> {
    root.fill(&WHITE).map_err(draw_err)?;
    let (w, h) = root.dim_in_pixel();
    let body = root.titled(&chart.title, font(17.0, s)).map_err(draw_err)?;
    let (main, footer) = body.split_vertically(h as i32 - (24.0 * s) as i32 - (26.0 * s) as i32);
    footer
        .draw(&Text::new(chart.note.clone(), ((10.0 * s) as i32, (4.0 * s) as i32), font(12.0, s).color(&RGBColor(90, 90, 90))))
        .map_err(draw_err)?;
    let longest = chart
        .series
        .iter()
        .map(|x| x.label.chars().count())
        .chain(chart.legend_title.iter().map(|t| t.chars().count().saturating_sub(3)))
        .max()
        .unwrap_or(4);
    let legend_w = ((longest as f64 * 7.6 + 44.0) * s).clamp(90.0 * s, w as f64 * 0.35) as i32;
    let (plot, legend) = main.split_horizontally(w as i32 - legend_w);
    let plot = match chart.kind {
        ChartKind::Curves | ChartKind::MetricVsParam => Some(lines(&plot, chart, s, view)?),
        ChartKind::Bars | ChartKind::Importance => Some(bars(&plot, chart, s, view)?),
        ChartKind::Scatter => Some(scatter(&plot, chart, s, view)?),
        ChartKind::Parallel => {
            parallel(&plot, chart, s, view)?;
            None
        }
    };
    let legend = draw_legend(&legend, chart, s, view)?;
    Ok(ChartLayout { plot, legend })
}

fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<Vec<LegendItem>> {
    let (origin_x, origin_y) = {
        let (x, y) = area.get_pixel_range();
        (x.start, y.start)
    };
    let mut items = Vec::new();
    let step = (20.0 * s) as i32;
    let mut y = (18.0 * s) as i32;
    if let Some(title) = &chart.legend_title {
        area.draw(&Text::new(title.clone(), ((6.0 * s) as i32, y - (7.0 * s) as i32), font(13.0, s).color(&RGBColor(90, 90, 90))))
            .map_err(draw_err)?;
        y += step;
    }
    for series in chart.series.iter() {
        // A series the view leaves out stays listed, greyed, so a click brings it back.
        let hidden = view.hidden.contains(&series.label);
        let c = if hidden { RGBColor(200, 200, 200) } else { colour(series.colour) };
        let text = if hidden { font(13.0, s).color(&RGBColor(160, 160, 160)) } else { font(13.0, s) };
        let x0 = (6.0 * s) as i32;
        area.draw(&PathElement::new(vec![(x0, y), (x0 + (22.0 * s) as i32, y)], c.stroke_width((3.0 * s) as u32))).map_err(draw_err)?;
        area.draw(&Text::new(series.label.clone(), (x0 + (28.0 * s) as i32, y - (7.0 * s) as i32), text)).map_err(draw_err)?;
        let width = (series.label.chars().count() as f64 * 7.6 * s) as i32 + (34.0 * s) as i32;
        items.push(LegendItem {
            label: series.label.clone(),
            left: origin_x + x0 - 2,
            top: origin_y + y - step / 2,
            right: origin_x + x0 + width,
            bottom: origin_y + y + step / 2,
        });
        y += step;
    }
    if !chart.pareto.is_empty() {
        let x0 = (6.0 * s) as i32;
        area.draw(&PathElement::new(vec![(x0, y), (x0 + (22.0 * s) as i32, y)], BLACK.stroke_width((1.0 * s).max(1.0) as u32)))
            .map_err(draw_err)?;
        area.draw(&Text::new("Pareto front", (x0 + (28.0 * s) as i32, y - (7.0 * s) as i32), font(13.0, s))).map_err(draw_err)?;
    }
    Ok(items)
}

/// A range around `values` with 6% air on each side (and a sane width when they are equal).
fn padded(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) * 0.1 };
    (lo - span * 0.06)..(hi + span * 0.06)
}

fn y_extent(points: &[Point]) -> impl Iterator<Item = f64> + '_ {
    points.iter().flat_map(|p| {
        let e = p.y_ci.unwrap_or(0.0);
        [p.y - e, p.y + e]
    })
}

fn x_extent(points: &[Point]) -> impl Iterator<Item = f64> + '_ {
    points.iter().flat_map(|p| {
        let e = p.x_ci.unwrap_or(0.0);
        [p.x - e, p.x + e]
    })
}

fn short(v: f64) -> String {
    if v == v.round() && v.abs() < 1e6 {
        format!("{v:.0}")
    } else if v.abs() >= 0.01 && v.abs() < 1e4 {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        format!("{v:.2e}")
    }
}

fn lines<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<PlotFrame> {
    let xr = range(view.x, padded(shown(chart, view).flat_map(|(_, x)| x.points.iter().map(|p| p.x))));
    let xr_width = xr.end - xr.start;
    // A parameter like the number of environments takes whole values: no ticks between them.
    let integer_x = chart.series.iter().flat_map(|x| x.points.iter()).all(|p| p.x.fract() == 0.0);
    let zero = chart.zero_line.then_some(0.0);
    let yr = range(view.y, padded(shown(chart, view).flat_map(|(_, x)| y_extent(&x.points)).chain(zero)));
    let x_span = (xr.start, xr.end);
    let y_span = (yr.start, yr.end);
    let mut ctx = ChartBuilder::on(area)
        .margin((10.0 * s) as u32)
        .x_label_area_size((40.0 * s) as u32)
        .y_label_area_size((62.0 * s) as u32)
        .build_cartesian_2d(xr, yr)
        .map_err(draw_err)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(font(12.0, s))
        .axis_desc_style(font(14.0, s))
        .x_label_formatter(&|v| if integer_x && (v - v.round()).abs() > 1e-9 { String::new() } else { short(*v) })
        .y_label_formatter(&|v| short(*v))
        .light_line_style(RGBColor(244, 244, 244))
        .draw()
        .map_err(draw_err)?;
    if chart.zero_line {
        // No difference from the baseline: points above it beat it.
        ctx.draw_series(std::iter::once(PathElement::new(
            vec![(x_span.0, 0.0), (x_span.1, 0.0)],
            RGBColor(120, 120, 120).stroke_width((1.5 * s) as u32),
        )))
        .map_err(draw_err)?;
    }
    let curves = chart.kind == ChartKind::Curves;
    // Methods measured at the same parameter values are dodged a little sideways, so
    // their error bars do not hide each other.
    let dodge = if curves { 0.0 } else { 0.012 * (xr_width) };
    let mid = (chart.series.len() as f64 - 1.0) / 2.0;
    for (i, series) in shown(chart, view) {
        let c = colour(series.colour);
        let dx = dodge * (i as f64 - mid);
        if curves {
            if series.points.iter().any(|p| p.y_ci.is_some()) {
                let upper = series.points.iter().map(|p| (p.x, p.y + p.y_ci.unwrap_or(0.0)));
                let lower = series.points.iter().rev().map(|p| (p.x, p.y - p.y_ci.unwrap_or(0.0)));
                let band: Vec<(f64, f64)> = upper.chain(lower).collect();
                ctx.draw_series(std::iter::once(Polygon::new(band, c.mix(0.18).filled()))).map_err(draw_err)?;
            }
        } else {
            let bars = series.points.iter().filter_map(|p| p.y_ci.map(|e| (p, e)));
            ctx.draw_series(
                bars.map(|(p, e)| PathElement::new(vec![(p.x + dx, p.y - e), (p.x + dx, p.y + e)], c.stroke_width((1.5 * s) as u32))),
            )
            .map_err(draw_err)?;
            ctx.draw_series(series.points.iter().map(|p| Circle::new((p.x + dx, p.y), (3.5 * s) as u32, c.filled()))).map_err(draw_err)?;
        }
        ctx.draw_series(LineSeries::new(series.points.iter().map(|p| (p.x + dx, p.y)), c.stroke_width((2.0 * s) as u32)))
            .map_err(draw_err)?;
    }
    Ok(frame(&ctx, x_span, y_span))
}

fn bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<PlotFrame> {
    let n = chart.categories.len().max(1);
    let top = padded(shown(chart, view).flat_map(|(_, x)| y_extent(&x.points)).chain(std::iter::once(0.0))).end;
    let bottom = shown(chart, view).flat_map(|(_, x)| y_extent(&x.points)).fold(0.0f64, f64::min);
    // Bars keep their categories: a box zooms only the values.
    let yr = range(view.y, bottom..top);
    let (bottom, top) = (yr.start, yr.end);
    // Category labels cut where they would run into a neighbour's.
    let plot_width = f64::from(area.dim_in_pixel().0) - (62.0 + 2.0 * 10.0) * s;
    let categories = fitted_labels(&chart.categories, plot_width / n as f64 - 8.0 * s, |t| {
        area.estimate_text_size(t, &font(12.0, s)).map_or(0.0, |(w, _)| f64::from(w))
    });
    let mut ctx = ChartBuilder::on(area)
        .margin((10.0 * s) as u32)
        .x_label_area_size((40.0 * s) as u32)
        .y_label_area_size((62.0 * s) as u32)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), bottom..top)
        .map_err(draw_err)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 { categories.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .y_label_formatter(&|v| short(*v))
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(font(12.0, s))
        .axis_desc_style(font(14.0, s))
        .light_line_style(RGBColor(244, 244, 244))
        .draw()
        .map_err(draw_err)?;
    for (_, series) in shown(chart, view) {
        let c = colour(series.colour);
        for p in &series.points {
            ctx.draw_series(std::iter::once(Rectangle::new([(p.x - 0.32, 0.0), (p.x + 0.32, p.y)], c.mix(0.85).filled())))
                .map_err(draw_err)?;
            if let Some(e) = p.y_ci {
                let stroke = BLACK.stroke_width((1.5 * s) as u32);
                ctx.draw_series([
                    PathElement::new(vec![(p.x, p.y - e), (p.x, p.y + e)], stroke),
                    PathElement::new(vec![(p.x - 0.08, p.y - e), (p.x + 0.08, p.y - e)], stroke),
                    PathElement::new(vec![(p.x - 0.08, p.y + e), (p.x + 0.08, p.y + e)], stroke),
                ])
                .map_err(draw_err)?;
            }
        }
    }
    Ok(frame(&ctx, (-0.5, n as f64 - 0.5), (bottom, top)))
}

/// `labels`, centred `room` pixels (a slot less a gap) apart, cut so that no two neighbours
/// overlap by `width` (a text's drawn width): a label may spread over what its neighbours
/// leave of their room (a long name between short ones is kept whole), and one that must be
/// cut keeps its start and end around an ellipsis, since labels of one chart often differ
/// only at the end (`goat, G = 1`, `goat, G = 2`). The ends count as neighbours using all
/// their room.
fn fitted_labels(labels: &[String], room: f64, width: impl Fn(&str) -> f64) -> Vec<String> {
    // Two neighbours overlap when half of each is wider than the room between their centres:
    // each label gets twice the room less its wider neighbour (counted at most at the room),
    // so any two neighbours keep to 2 x room between them.
    let used: Vec<f64> = labels.iter().map(|l| width(l).min(room)).collect();
    let neighbour = |j: Option<usize>| j.and_then(|j| used.get(j)).copied().unwrap_or(room);
    labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let allowed = 2.0 * room - neighbour(i.checked_sub(1)).max(neighbour(Some(i + 1)));
            if width(label) <= allowed {
                return label.clone();
            }
            let chars: Vec<char> = label.chars().collect();
            let cut = |keep: usize| -> String {
                let tail = keep / 2;
                let head = keep - tail;
                chars[..head].iter().chain(std::iter::once(&'…')).chain(&chars[chars.len() - tail..]).collect()
            };
            // The most characters kept that still fit (at least one, even in a tiny slot).
            let keep = (1..chars.len()).rev().find(|&k| width(&cut(k)) <= allowed).unwrap_or(1);
            cut(keep)
        })
        .collect()
}

fn scatter<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<PlotFrame> {
    let xr = range(view.x, padded(shown(chart, view).flat_map(|(_, x)| x_extent(&x.points))));
    let yr = range(view.y, padded(shown(chart, view).flat_map(|(_, x)| y_extent(&x.points))));
    let spans = ((xr.start, xr.end), (yr.start, yr.end));
    let mut ctx = ChartBuilder::on(area)
        .margin((10.0 * s) as u32)
        .x_label_area_size((40.0 * s) as u32)
        .y_label_area_size((62.0 * s) as u32)
        .build_cartesian_2d(xr, yr)
        .map_err(draw_err)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style(font(12.0, s))
        .axis_desc_style(font(14.0, s))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .light_line_style(RGBColor(244, 244, 244))
        .draw()
        .map_err(draw_err)?;
    if chart.pareto.len() > 1 {
        ctx.draw_series(LineSeries::new(chart.pareto.iter().copied(), BLACK.stroke_width((1.0 * s).max(1.0) as u32))).map_err(draw_err)?;
    }
    for (_, series) in shown(chart, view) {
        let c = colour(series.colour);
        let stroke = c.stroke_width((1.5 * s) as u32);
        for p in &series.points {
            if let Some(e) = p.y_ci {
                ctx.draw_series(std::iter::once(PathElement::new(vec![(p.x, p.y - e), (p.x, p.y + e)], stroke))).map_err(draw_err)?;
            }
            if let Some(e) = p.x_ci {
                ctx.draw_series(std::iter::once(PathElement::new(vec![(p.x - e, p.y), (p.x + e, p.y)], stroke))).map_err(draw_err)?;
            }
        }
        ctx.draw_series(series.points.iter().map(|p| Circle::new((p.x, p.y), (4.0 * s) as u32, c.filled()))).map_err(draw_err)?;
    }
    ctx.draw_series(
        chart.pareto.iter().map(|&(x, y)| Circle::new((x, y), (7.0 * s) as u32, BLACK.stroke_width((1.0 * s).max(1.0) as u32))),
    )
    .map_err(draw_err)?;
    Ok(frame(&ctx, spans.0, spans.1))
}

fn parallel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, chart: &Chart, s: f64, view: &ChartView) -> Result<()> {
    let k = chart.categories.len().max(2);
    let names = chart.categories.clone();
    let mut ctx = ChartBuilder::on(area)
        .margin((14.0 * s) as u32)
        .x_label_area_size((40.0 * s) as u32)
        .y_label_area_size((10.0 * s) as u32)
        .build_cartesian_2d(-0.15f64..(k as f64 - 0.85), -0.08f64..1.08)
        .map_err(draw_err)?;
    ctx.configure_mesh()
        .disable_mesh()
        .disable_y_axis()
        .x_labels(k)
        .x_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .label_style(font(12.0, s))
        .draw()
        .map_err(draw_err)?;
    for (_, series) in shown(chart, view) {
        let c = colour(series.colour).mix(0.55).stroke_width((1.2 * s).max(1.0) as u32);
        ctx.draw_series(
            series
                .polylines
                .iter()
                .map(|line| PathElement::new(line.iter().enumerate().map(|(a, v)| (a as f64, *v)).collect::<Vec<_>>(), c)),
        )
        .map_err(draw_err)?;
    }
    let grey = RGBColor(120, 120, 120);
    for (a, (lo, hi)) in chart.axis_ranges.iter().enumerate() {
        let x = a as f64;
        ctx.draw_series(std::iter::once(PathElement::new(vec![(x, 0.0), (x, 1.0)], grey.stroke_width((1.0 * s).max(1.0) as u32))))
            .map_err(draw_err)?;
        ctx.draw_series([Text::new(short(*hi), (x + 0.02, 1.05), font(11.0, s)), Text::new(short(*lo), (x + 0.02, -0.01), font(11.0, s))])
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Series;

    fn two_lines() -> Chart {
        let line = |label: &str, colour: usize, slope: f64| Series {
            label: label.into(),
            points: (0..50).map(|i| Point { x: i as f64, y: slope * i as f64, y_ci: None, x_ci: None, n: 1 }).collect(),
            colour,
            ..Series::default()
        };
        Chart {
            kind: ChartKind::Curves,
            title: "t".into(),
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![line("a", 0, 1.0), line("b", 1, 2.0)],
            categories: Vec::new(),
            axis_ranges: Vec::new(),
            pareto: Vec::new(),
            note: String::new(),
            zero_line: false,
            legend_title: None,
        }
    }

    #[test]
    fn bar_labels_spread_into_room_their_neighbours_leave_and_are_cut_at_the_middle_otherwise() {
        // A monospace stand-in for the font: 7 pixels a character; labels 100 pixels apart.
        let width = |t: &str| 7.0 * t.chars().count() as f64;
        let labels: Vec<String> =
            ["erm", "gradual_repeated", "irm", "gradual_repeated, given 4, G = 1", "gradual_repeated, given 4, G = 2", "x"]
                .map(String::from)
                .to_vec();
        let fitted = fitted_labels(&labels, 100.0, width);
        assert_eq!(fitted[..3], labels[..3], "a label that fits, or a long one between short ones, is left whole");
        for (f, l) in fitted[3..5].iter().zip(&labels[3..5]) {
            let (head, tail) = f.split_once('…').unwrap_or_default();
            assert!(l.starts_with(head) && l.ends_with(tail) && !tail.is_empty(), "{f:?} from {l:?}");
        }
        assert_ne!(fitted[3], fitted[4], "labels that differ at the end still differ");
        for pair in fitted.windows(2) {
            assert!(width(&pair[0]) + width(&pair[1]) <= 200.0, "{pair:?} overlap");
        }
        assert_eq!(fitted_labels(&labels[3..4], 1.0, width)[0].chars().count(), 2, "a tiny slot keeps one character and the ellipsis");
    }

    #[test]
    fn a_view_zooms_hides_and_says_where_the_plot_and_legend_are() {
        let chart = two_lines();
        let size = Size { width: 720, height: 440 };
        let (svg, layout) = render_svg_view(&chart, size, &ChartView::default()).expect("drawn");
        assert_eq!(svg, render_svg(&chart, size).expect("drawn"), "the default view is the reports' picture");
        let plot = layout.plot.expect("a cartesian chart has a frame");
        assert!(plot.left > 0 && plot.right < 720 && plot.top > 0 && plot.bottom < 440 && plot.left < plot.right && plot.top < plot.bottom);
        assert!(plot.x.0 < 0.0 && plot.x.1 > 49.0 && plot.y.1 > 98.0, "fitted with air: {plot:?}");
        assert_eq!(layout.legend.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(layout.legend[0].bottom <= layout.legend[1].top + 1 && layout.legend[0].left > plot.right, "{:?}", layout.legend);
        let vermillion = "#D55E00";
        assert!(svg.to_uppercase().contains(vermillion), "b is drawn in its colour");

        let view = ChartView { x: Some((10.0, 20.0)), y: Some((5.0, 30.0)), hidden: vec!["b".into()] };
        let (zoomed, layout) = render_svg_view(&chart, size, &view).expect("drawn");
        let plot = layout.plot.expect("frame");
        assert_eq!((plot.x, plot.y), ((10.0, 20.0), (5.0, 30.0)), "drawn at the view's ranges");
        assert!(!zoomed.to_uppercase().contains(vermillion), "a hidden series is not drawn, and its legend entry is grey");
        assert_eq!(layout.legend.len(), 2, "the legend still lists it, so a click brings it back");
    }
}
