//! The study both ingest benchmarks train: it logs as fast as it can and times each
//! `log_metric` call (its summary: `p50_ns`, `p99_ns`).

use std::time::Instant;

use benchtop_core::{Params, RunContext, Study, StudyError, Summary};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
pub struct FloodParams {
    pub points: u64,
}
impl Params for FloodParams {}

/// Logs `points` values as fast as it can, timing each call.
pub struct Flood;

impl Study for Flood {
    type Params = FloodParams;
    fn name(&self) -> &'static str {
        "flood"
    }
    fn title(&self) -> &'static str {
        "flood"
    }
    fn description(&self) -> &'static str {
        "benchmark"
    }
    fn run(&self, ctx: &RunContext, p: &FloodParams) -> Result<Summary, StudyError> {
        let mut lat = Vec::with_capacity(p.points as usize);
        for step in 0..p.points {
            let t = Instant::now();
            ctx.log_metric("loss", step, step as f64);
            lat.push(t.elapsed().as_nanos() as f64);
        }
        lat.sort_by(f64::total_cmp);
        let at = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
        Ok(Summary::from([("p50_ns".to_owned(), at(0.5)), ("p99_ns".to_owned(), at(0.99))]))
    }
}
