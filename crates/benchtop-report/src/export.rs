//! Tables of runs in files: one row per run (see [`benchtop_core::table::RunTable`]).

use std::fs::File;
use std::path::Path;

use benchtop_charts::frame::runs_frame;
use benchtop_core::RunRecord;
use benchtop_core::table::RunTable;
use polars::prelude::*;

use crate::{ReportError, Result};

fn create(path: &Path) -> Result<File> {
    File::create(path).map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
}

/// CSV with a header row (written by polars from the same frame as Parquet).
pub fn write_csv(records: &[RunRecord], out: impl std::io::Write) -> Result<()> {
    let mut frame = runs_frame(records)?;
    CsvWriter::new(out).include_header(true).finish(&mut frame)?;
    Ok(())
}

/// Parquet, typed columns (integers, floats, booleans, text).
pub fn write_parquet(records: &[RunRecord], path: &Path) -> Result<()> {
    let mut frame = runs_frame(records)?;
    ParquetWriter::new(create(path)?).finish(&mut frame)?;
    Ok(())
}

/// A JSON array of flat objects, one per run, keys as the CSV header.
pub fn write_json(records: &[RunRecord], out: impl std::io::Write) -> Result<()> {
    let table = RunTable::from_records(records);
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        table.rows.iter().map(|row| table.columns.iter().cloned().zip(row.iter().cloned()).collect()).collect();
    serde_json::to_writer_pretty(out, &rows)?;
    Ok(())
}
