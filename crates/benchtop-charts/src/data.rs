//! The exact data a chart draws, as CSV: what a paper's own plotting (pgfplots, matplotlib)
//! reads, so a figure can be redrawn from the numbers rather than traced from the picture.
//!
//! One row per drawn point: the series (group), x (and the category for bars), y with its 95%
//! interval half-width, x's half-width for scatter, and how many runs the point averages.
//! Parallel coordinates write one row per run line: its series and its value on each axis,
//! scaled to [0, 1] as drawn, after a row of each axis's range.

use crate::{Chart, ChartKind};

/// The chart's data as CSV text (RFC 4180, with a header row).
pub fn chart_csv(chart: &Chart) -> String {
    let mut out = String::new();
    let mut row = |fields: Vec<String>| {
        let cells: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    let num = |v: f64| if v.is_finite() { format!("{v}") } else { String::new() };
    let opt = |v: Option<f64>| v.map(num).unwrap_or_default();
    match chart.kind {
        ChartKind::Parallel => {
            let mut header = vec!["series".to_owned()];
            header.extend(chart.categories.iter().cloned());
            row(header);
            let mut ranges = vec!["(axis range)".to_owned()];
            ranges.extend(chart.axis_ranges.iter().map(|(lo, hi)| format!("{} to {}", num(*lo), num(*hi))));
            row(ranges);
            for s in &chart.series {
                for line in &s.polylines {
                    let mut r = vec![s.label.clone()];
                    r.extend(line.iter().map(|v| num(*v)));
                    row(r);
                }
            }
        }
        _ => {
            let bars = matches!(chart.kind, ChartKind::Bars | ChartKind::Importance);
            let mut header = vec!["series".to_owned(), x_name(chart)];
            if bars {
                header.push("category".into());
            }
            header.extend([y_name(chart), format!("{}_ci95", y_name(chart)), format!("{}_ci95", x_name(chart)), "n".into()]);
            row(header);
            for s in &chart.series {
                for p in &s.points {
                    let mut r = vec![s.label.clone(), num(p.x)];
                    if bars {
                        r.push(chart.categories.get(p.x.round().max(0.0) as usize).cloned().unwrap_or_default());
                    }
                    r.extend([num(p.y), opt(p.y_ci), opt(p.x_ci), p.n.to_string()]);
                    row(r);
                }
            }
        }
    }
    out
}

/// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
/// (Written here rather than with the csv crate: adding it changed serde's features and would
/// have rebuilt the whole dependency tree for ten lines.)
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) { format!("\"{}\"", field.replace('"', "\"\"")) } else { field.to_owned() }
}

/// A column name from an axis label: its words joined by underscores.
fn column(label: &str, fallback: &str) -> String {
    let words: Vec<&str> = label.split(|c: char| !c.is_alphanumeric() && c != '.' && c != '_').filter(|w| !w.is_empty()).collect();
    if words.is_empty() { fallback.to_owned() } else { words.join("_") }
}

fn x_name(chart: &Chart) -> String {
    column(&chart.x_label, "x")
}

fn y_name(chart: &Chart) -> String {
    column(&chart.y_label, "y")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Point, Series};

    fn chart(kind: ChartKind) -> Chart {
        Chart {
            kind,
            title: "t".into(),
            x_label: "n_envs".into(),
            y_label: "test error".into(),
            series: vec![Series {
                label: "isr, \"mean\"".into(),
                points: vec![
                    Point { x: 2.0, y: 0.25, y_ci: Some(0.05), x_ci: None, n: 5 },
                    Point { x: 6.0, y: 0.125, y_ci: None, x_ci: None, n: 1 },
                ],
                polylines: vec![vec![0.0, 1.0]],
                colour: 0,
                runs: Vec::new(),
            }],
            categories: vec!["lr".into(), "test_error".into()],
            axis_ranges: vec![(0.001, 0.1), (0.1, 0.5)],
            pareto: Vec::new(),
            note: String::new(),
            zero_line: false,
            legend_title: None,
        }
    }

    #[test]
    fn the_csv_holds_every_drawn_point_with_its_interval_and_quotes_labels() {
        let text = chart_csv(&chart(ChartKind::MetricVsParam));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "series,n_envs,test_error,test_error_ci95,n_envs_ci95,n");
        assert_eq!(lines[1], "\"isr, \"\"mean\"\"\",2,0.25,0.05,,5");
        assert_eq!(lines[2], "\"isr, \"\"mean\"\"\",6,0.125,,,1");
        let bars = chart_csv(&Chart {
            categories: vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into(), "f".into(), "g".into()],
            ..chart(ChartKind::Bars)
        });
        assert!(bars.lines().nth(1).unwrap().contains(",2,c,0.25,"), "{bars}");
        let parallel = chart_csv(&chart(ChartKind::Parallel));
        assert_eq!(
            parallel.lines().collect::<Vec<_>>(),
            ["series,lr,test_error", "(axis range),0.001 to 0.1,0.1 to 0.5", "\"isr, \"\"mean\"\"\",0,1"]
        );
    }
}
