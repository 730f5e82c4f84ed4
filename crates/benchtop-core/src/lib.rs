//! The vocabulary of Benchtop: experiments and their sweeps, runs, parameters, the
//! [`Study`] trait and the [`RunContext`] a study trains through.
//!
//! This crate knows nothing of storage, threads, burn or the UI: studies and front ends
//! meet here and nowhere else.

pub mod cache;
pub mod chart;
pub mod checkpoint;
pub mod context;
pub mod error;
pub mod experiment;
pub mod params;
pub mod paths;
pub mod query;
pub mod run;
pub mod stats;
pub mod study;
pub mod table;

pub use cache::{ArtifactCache, CacheKey, CacheOutcome};
pub use chart::{Better, ChartKind, ChartLayout, ChartSpec, ChartView, LegendItem, Paired, PlotFrame};
pub use checkpoint::Checkpoint;
pub use context::{LogLevel, RunContext, RunEvent};
pub use error::StudyError;
pub use experiment::{Executor, Experiment, ExperimentDoc, ExperimentError, Report, RunPlan, SeedSpec, SlurmOptions};
pub use params::{ParamInfo, ParamProblem, Params};
pub use query::{Query, QueryError};
pub use run::{Backend, Compute, Provenance, RunId, RunRecord, RunStatus, Summary};
pub use stats::Aggregate;
pub use study::{MethodInfo, Registry, Study, StudyInfo, StudyObject};

/// Benchtop's version, recorded with every run.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
