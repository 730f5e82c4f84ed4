//! Charts for comparing runs: the store's runs and series as polars frames, aggregated over
//! seeds (mean, std, 95% CI, n), drawn with plotters as SVG (app, reports) or PNG.
//!
//! A chart is described by a [`ChartSpec`] (in benchtop-core, so studies declare their
//! defaults and the app builds its own); [`prepare`] turns a spec and runs into drawable
//! data, [`render_svg`] / [`render_png`] draw it, and [`chart_csv`] writes the numbers drawn.

pub mod data;
pub mod downsample;
mod draw;
pub mod frame;
pub mod importance;
mod prepare;

pub use benchtop_core::{Better, ChartKind, ChartSpec};
pub use data::chart_csv;
pub use draw::{Size, render_png, render_svg, render_svg_view, series_rgb};
pub use prepare::{Chart, Point, Series, curve_lines, pareto_front, prepare, prepare_in};

/// What can go wrong making a chart.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("chart `{title}`: {message}")]
    Spec { title: String, message: String },
    #[error("chart `{title}`: no finished runs have {what}")]
    NoData { title: String, what: String },
    #[error("table: {0}")]
    Frame(#[from] polars::error::PolarsError),
    #[error(transparent)]
    Store(#[from] benchtop_store::StoreError),
    #[error("drawing: {0}")]
    Draw(String),
    #[error("writing {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

pub type Result<T> = std::result::Result<T, ChartError>;
