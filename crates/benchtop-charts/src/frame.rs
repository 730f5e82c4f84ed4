//! Runs and series as polars frames, and aggregation over seeds.

use benchtop_core::RunRecord;
use benchtop_core::stats::ci95_half_width;
use benchtop_core::table::RunTable;
use polars::prelude::*;
use serde_json::Value;

/// One row per run: `run_id, experiment, study, method, seed, status, duration_s`, then
/// `param.<name>` and `metric.<name>` columns, typed from their values (integers, floats,
/// booleans, else text).
pub fn runs_frame(records: &[RunRecord]) -> PolarsResult<DataFrame> {
    let table = RunTable::from_records(records);
    let columns: Vec<Column> =
        table.columns.iter().enumerate().map(|(i, name)| typed_column(name, table.rows.iter().map(|row| &row[i]))).collect();
    DataFrame::new(records.len(), columns)
}

/// A column from JSON values: the narrowest of Int64, Float64, Boolean or String that holds
/// every non-null value.
pub fn typed_column<'a>(name: &str, values: impl Iterator<Item = &'a Value> + Clone) -> Column {
    let non_null = || values.clone().filter(|v| !v.is_null());
    let name = PlSmallStr::from(name);
    if non_null().all(|v| v.as_i64().is_some()) {
        let data: Vec<Option<i64>> = values.map(Value::as_i64).collect();
        Column::new(name, data)
    } else if non_null().all(|v| v.as_u64().is_some()) {
        // Seeds above i64::MAX stay exact (a float would lose their low digits).
        let data: Vec<Option<u64>> = values.map(Value::as_u64).collect();
        Column::new(name, data)
    } else if non_null().all(Value::is_number) {
        let data: Vec<Option<f64>> = values.map(Value::as_f64).collect();
        Column::new(name, data)
    } else if non_null().all(Value::is_boolean) {
        let data: Vec<Option<bool>> = values.map(Value::as_bool).collect();
        Column::new(name, data)
    } else {
        let data: Vec<Option<String>> = values
            .map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect();
        Column::new(name, data)
    }
}

/// Group `frame` by `by` and summarise `value` per group: `n`, `mean`, `std`, `ci95` (the
/// half-width of the 95% interval for the mean, Student's t), sorted by the group keys.
/// Null and NaN values are left out.
pub fn aggregate(frame: &DataFrame, by: &[&str], value: &str) -> PolarsResult<DataFrame> {
    let keys: Vec<Expr> = by.iter().map(|k| col(*k)).collect();
    let v = col(value);
    let mut out = frame
        .clone()
        .lazy()
        .filter(v.clone().is_not_null().and(v.clone().is_not_nan()))
        .group_by(keys)
        .agg([v.clone().count().cast(DataType::UInt32).alias("n"), v.clone().mean().alias("mean"), v.std(1).alias("std")])
        .sort(by.iter().map(|s| PlSmallStr::from(*s)).collect::<Vec<_>>(), SortMultipleOptions::default())
        .collect()?;
    let n = out.column("n")?.u32()?.clone();
    let std = out.column("std")?.f64()?.clone();
    let ci: Vec<Option<f64>> = n
        .iter()
        .zip(std.iter())
        .map(|(n, s)| match (n, s) {
            (Some(n), Some(s)) => ci95_half_width(s, n as usize),
            _ => None,
        })
        .collect();
    out.with_column(Column::new("ci95".into(), ci))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_matches_a_hand_computation() {
        let frame = df!(
            "method" => ["a", "a", "a", "a", "b", "b"],
            "x" => [1.0, 2.0, 3.0, 4.0, 10.0, f64::NAN],
        )
        .unwrap();
        let agg = aggregate(&frame, &["method"], "x").unwrap();
        assert_eq!(agg.height(), 2);
        let n: Vec<u32> = agg.column("n").unwrap().u32().unwrap().into_no_null_iter().collect();
        assert_eq!(n, [4, 1], "NaN is left out");
        let mean = agg.column("mean").unwrap().f64().unwrap().get(0).unwrap();
        let std = agg.column("std").unwrap().f64().unwrap().get(0).unwrap();
        let ci = agg.column("ci95").unwrap().f64().unwrap().get(0).unwrap();
        assert!((mean - 2.5).abs() < 1e-12);
        assert!((std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // t(0.975, 3) = 3.182446305
        assert!((ci - 3.182446305 * std / 2.0).abs() < 1e-6);
        assert_eq!(agg.column("ci95").unwrap().f64().unwrap().get(1), None, "one value, no interval");
    }

    #[test]
    fn columns_take_the_narrowest_type_that_fits() {
        let ints = [Value::from(1), Value::Null, Value::from(3)];
        assert_eq!(typed_column("a", ints.iter()).dtype(), &DataType::Int64);
        let floats = [Value::from(1), Value::from(2.5)];
        assert_eq!(typed_column("b", floats.iter()).dtype(), &DataType::Float64);
        let mixed = [Value::from("x"), Value::from(2)];
        assert_eq!(typed_column("c", mixed.iter()).dtype(), &DataType::String);
    }
}
