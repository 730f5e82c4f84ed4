//! A chart as a pgfplots picture: the numbers the chart drew (means, 95% intervals, the
//! Pareto front), typeset by the paper's own LaTeX in its fonts, instead of an image. The
//! snippet is a `tikzpicture` that compiles as is in any document loading pgfplots.

use std::fmt::Write;

use benchtop_charts::{Chart, ChartKind, series_rgb};

use crate::escape::latex as esc;

/// What a document needs to load before the snippet.
pub const PREAMBLE: &str = "\\usepackage{pgfplots}\n\\pgfplotsset{compat=1.16}\n";

/// Text for a `%` comment line: every control character (TeX ends a line at `\r` too) a space.
pub(crate) fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A number as pgfplots reads it (`nan` for a missing one, which pgfplots skips).
fn num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "nan".into() }
}

/// The chart as a `tikzpicture` with one `axis`; every series one `\addplot` of its points
/// with their 95% intervals as explicit error bars.
pub fn chart_pgfplots(chart: &Chart) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "% {} (Benchtop). Needs, in the preamble:", comment(&chart.title));
    for line in PREAMBLE.lines() {
        let _ = writeln!(t, "%   {line}");
    }
    t.push_str("\\begin{tikzpicture}\n\\begin{axis}[\n");
    let mut options = vec![
        format!("title={{{}}}", esc(&chart.title)),
        format!("xlabel={{{}}}", esc(&chart.x_label)),
        format!("ylabel={{{}}}", esc(&chart.y_label)),
        "width=0.9\\linewidth".to_owned(),
        "height=0.55\\linewidth".to_owned(),
        "legend pos=outer north east".to_owned(),
        "legend cell align=left".to_owned(),
        "title style={font=\\small, text width=0.9\\linewidth, align=center}".to_owned(),
    ];
    match chart.kind {
        ChartKind::Bars | ChartKind::Importance => {
            options.push("ybar".into());
            // Each series is one group's bar at its own category (as plotters draws them):
            // centred on its tick, not shifted aside for the other series; room at both ends.
            options.push("enlarge x limits={abs=0.5}".into());
            options.push("bar width=0.6".into());
            options.push("bar shift=0pt".into());
            options.push(format!("xtick={{{}}}", (0..chart.categories.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(",")));
            options.push(format!(
                "xticklabels={{{}}}",
                chart.categories.iter().map(|c| format!("{{{}}}", esc(c))).collect::<Vec<_>>().join(",")
            ));
            options.push("x tick label style={rotate=30, anchor=east, font=\\small}".into());
        }
        ChartKind::Parallel => {
            options.push(format!("xtick={{{}}}", (0..chart.categories.len()).map(|i| i.to_string()).collect::<Vec<_>>().join(",")));
            options.push(format!(
                "xticklabels={{{}}}",
                chart.categories.iter().map(|c| format!("{{{}}}", esc(c))).collect::<Vec<_>>().join(",")
            ));
            options.push("ymin=0, ymax=1".into());
        }
        _ => {}
    }
    if chart.zero_line {
        // y = 0 drawn as a grid line: above it, the runs beat their baseline.
        options.push("extra y ticks={0}, extra y tick labels={}, extra y tick style={grid=major, major grid style={black}}".into());
    }
    let _ = writeln!(t, "  {}\n]", options.join(",\n  "));
    if let Some(title) = &chart.legend_title {
        // The legend's heading: an entry without a picture.
        let _ = writeln!(t, "\\addlegendimage{{empty legend}}\n\\addlegendentry{{\\textbf{{{}}}}}", esc(title));
    }
    for s in &chart.series {
        let (r, g, b) = series_rgb(s.colour);
        let colour = format!("color={{rgb,255:red,{r};green,{g};blue,{b}}}");
        match chart.kind {
            ChartKind::Parallel => {
                if s.polylines.is_empty() {
                    continue;
                }
                for (i, line) in s.polylines.iter().enumerate() {
                    let coords: Vec<String> = line.iter().enumerate().map(|(x, y)| format!("({x},{})", num(*y))).collect();
                    let legend = if i == 0 { "" } else { ", forget plot" };
                    let _ = writeln!(t, "\\addplot[{colour}, mark=none{legend}] coordinates {{{}}};", coords.join(" "));
                }
            }
            _ => {
                let style = match chart.kind {
                    ChartKind::Scatter => {
                        format!("{colour}, mark=*, only marks, error bars/.cd, x dir=both, x explicit, y dir=both, y explicit")
                    }
                    ChartKind::Bars | ChartKind::Importance => {
                        format!("{colour}, fill={{rgb,255:red,{r};green,{g};blue,{b}}}, error bars/.cd, y dir=both, y explicit")
                    }
                    // A long curve as a line; a few points marked.
                    _ if s.points.len() > 30 => format!("{colour}, mark=none, error bars/.cd, y dir=both, y explicit"),
                    _ => format!("{colour}, mark=*, error bars/.cd, y dir=both, y explicit"),
                };
                if s.points.is_empty() {
                    continue;
                }
                let coords: Vec<String> = s
                    .points
                    .iter()
                    .map(|p| format!("({},{}) +- ({},{})", num(p.x), num(p.y), num(p.x_ci.unwrap_or(0.0)), num(p.y_ci.unwrap_or(0.0))))
                    .collect();
                let _ = writeln!(t, "\\addplot[{style}] coordinates {{{}}};", coords.join(" "));
            }
        }
        let _ = writeln!(t, "\\addlegendentry{{{}}}", esc(&s.label));
    }
    if chart.kind == ChartKind::Scatter && !chart.pareto.is_empty() {
        let coords: Vec<String> = chart.pareto.iter().map(|(x, y)| format!("({},{})", num(*x), num(*y))).collect();
        let _ = writeln!(t, "\\addplot[black, dashed, mark=none] coordinates {{{}}};\n\\addlegendentry{{Pareto front}}", coords.join(" "));
    }
    t.push_str("\\end{axis}\n\\end{tikzpicture}\n");
    if !chart.note.is_empty() {
        let _ = writeln!(t, "% {}", comment(&chart.note));
    }
    t
}

/// The numbers a chart draws, written to `path` in the form its extension names: `.csv`
/// (a table) or `.tex` (a pgfplots picture). The app's "Save data" and `benchtop compare`
/// share it, so both write the same files.
pub fn write_chart_data(chart: &Chart, path: &std::path::Path) -> Result<(), String> {
    let text = match path.extension().and_then(|e| e.to_str()) {
        Some("csv") => benchtop_charts::chart_csv(chart),
        Some("tex") => chart_pgfplots(chart),
        _ => return Err(format!("{}: a chart's data is written as .csv or .tex (pgfplots)", path.display())),
    };
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use benchtop_charts::{Point, Series};

    /// A TeX engine with pgfplots, or `None` (said on stderr) where this machine has none:
    /// `scripts/test.sh` installs both, so the suite compiles what it writes.
    pub(crate) fn tex_engine() -> Option<&'static str> {
        let engine = ["pdflatex", "xelatex", "lualatex"]
            .into_iter()
            .find(|e| std::process::Command::new(e).arg("--version").output().is_ok_and(|o| o.status.success()));
        let Some(engine) = engine else {
            eprintln!("no TeX engine installed: skipped compiling the LaTeX");
            return None;
        };
        let pgfplots =
            std::process::Command::new("kpsewhich").arg("pgfplots.sty").output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
        if !pgfplots {
            eprintln!("pgfplots is not installed (Debian: texlive-pictures): skipped compiling the LaTeX");
            return None;
        }
        Some(engine)
    }

    fn chart(kind: ChartKind) -> Chart {
        Chart {
            kind,
            title: "Test error & 50% of \\it".into(),
            x_label: "n_envs".into(),
            y_label: "test error − baseline".into(),
            series: vec![
                Series {
                    label: "isr_mean {x}".into(),
                    points: vec![
                        Point { x: 0.0, y: 0.25, y_ci: Some(0.05), x_ci: Some(0.01), n: 5 },
                        Point { x: 1.0, y: 0.125, y_ci: None, x_ci: None, n: 1 },
                    ],
                    polylines: vec![vec![0.0, 1.0], vec![0.5, 0.25]],
                    colour: 0,
                    runs: Vec::new(),
                },
                Series {
                    label: "erm".into(),
                    points: vec![
                        Point { x: 0.0, y: 0.5, y_ci: Some(0.1), x_ci: None, n: 5 },
                        Point { x: 1.0, y: f64::NAN, y_ci: None, x_ci: None, n: 0 },
                    ],
                    polylines: vec![vec![0.2, 0.8]],
                    colour: 1,
                    runs: Vec::new(),
                },
            ],
            categories: vec!["lr".into(), "test_error".into()],
            axis_ranges: vec![(0.001, 0.1), (0.1, 0.5)],
            pareto: vec![(0.0, 0.5), (1.0, 0.125)],
            note: "Error bars: 95% CI".into(),
            zero_line: kind == ChartKind::Bars,
            legend_title: Some("method".into()),
        }
    }

    #[test]
    fn every_kind_of_chart_becomes_a_picture_of_its_numbers_that_compiles() {
        let kinds =
            [ChartKind::Curves, ChartKind::MetricVsParam, ChartKind::Bars, ChartKind::Scatter, ChartKind::Parallel, ChartKind::Importance];
        let mut body = String::new();
        for kind in kinds {
            let tex = chart_pgfplots(&chart(kind));
            assert!(tex.contains("Test error \\& 50\\% of \\textbackslash{}it"), "the title is escaped: {tex}");
            assert!(tex.contains("\\addlegendentry{isr\\_mean \\{x\\}}"));
            if kind != ChartKind::Parallel {
                assert!(tex.contains("(0,0.25) +- (0.01,0.05)"), "a point with its intervals: {tex}");
                assert!(tex.contains("(1,nan) +- (0,0)"), "a missing mean is skipped, not drawn at 0");
            }
            assert_eq!(kind == ChartKind::Scatter, tex.contains("Pareto front"));
            assert!(tex.contains("\\addlegendimage{empty legend}\n\\addlegendentry{\\textbf{method}}"), "the legend's heading");
            assert!(tex.contains("test error $-$ baseline"), "a minus pdflatex can set");
            body.push_str(&tex);
            body.push_str("\n\\clearpage\n");
        }
        let Some(engine) = tex_engine() else { return };
        let dir = tempfile::tempdir().unwrap();
        let doc = format!("\\documentclass{{article}}\n{PREAMBLE}\\begin{{document}}\n{body}\\end{{document}}\n");
        std::fs::write(dir.path().join("charts.tex"), doc).unwrap();
        let out = std::process::Command::new(engine)
            .args(["-interaction=nonstopmode", "-halt-on-error", "charts.tex"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }

    #[test]
    fn chart_data_goes_by_the_file_extension() {
        let dir = tempfile::tempdir().unwrap();
        let c = chart(ChartKind::MetricVsParam);
        write_chart_data(&c, &dir.path().join("a.csv")).unwrap();
        write_chart_data(&c, &dir.path().join("a.tex")).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("a.csv")).unwrap().starts_with("series,"));
        assert!(std::fs::read_to_string(dir.path().join("a.tex")).unwrap().contains("\\begin{tikzpicture}"));
        let e = write_chart_data(&c, &dir.path().join("a.pdf")).unwrap_err();
        assert!(e.contains("a.pdf") && e.contains(".tex"), "{e}");
    }
}
