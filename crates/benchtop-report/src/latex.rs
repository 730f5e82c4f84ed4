//! The LaTeX output: a booktabs table of the summaries (mean ± CI, best in bold) and the
//! charts as pgfplots pictures of the numbers they drew, wrapped in a minimal document so the
//! file compiles as is; the `table` and `figure` environments paste into a paper.

use std::fmt::Write;

use crate::escape::latex as esc;
use crate::pgfplots::{PREAMBLE, chart_pgfplots, comment};
use crate::summary::SummaryTable;
use crate::{Figure, ReportInput};

pub fn document(input: &ReportInput<'_>, table: &SummaryTable, figures: &[Figure], skipped: &[String]) -> String {
    let mut t = String::new();
    t.push_str("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n");
    if !figures.is_empty() {
        t.push_str(PREAMBLE);
    }
    t.push_str("\\begin{document}\n\n");
    t.push_str("% --- the table: paste from here (needs \\usepackage{booktabs}) ---\n\\begin{table}[t]\n\\centering\n");
    let many = table.many_experiments();
    let lead = usize::from(many) + table.keys.len();
    let cols = format!("{}{}", "l".repeat(lead), "r".repeat(1 + table.metrics.len()));
    let _ = writeln!(
        t,
        "\\resizebox{{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}}{{!}}{{%\n\\begin{{tabular}}{{{cols}}}\n\\toprule"
    );
    let mut header: Vec<String> = Vec::new();
    if many {
        header.push("experiment".into());
    }
    header.extend(table.keys.iter().map(|k| esc(k)));
    header.push("$n$".into());
    header.extend(table.metrics.iter().map(|k| esc(k)));
    // Each row starts with `{}`: after `\\` or `\midrule`, a cell beginning with `[` or `*`
    // would otherwise be read as an optional argument.
    let _ = writeln!(t, "{{}}{} \\\\\n\\midrule", header.join(" & "));
    for (i, row) in table.rows.iter().enumerate() {
        let mut cells = row.lead_cells(many, esc);
        for (j, cell) in row.cells.iter().enumerate() {
            let text = match cell {
                Some(a) => match a.ci95 {
                    Some(ci) => format!("${:.3} \\pm {:.3}$", a.mean, ci),
                    None => format!("${:.3}$", a.mean),
                },
                None => "--".into(),
            };
            let bold = table.best[j] == Some(i) && cell.is_some();
            let text = if bold { format!("$\\mathbf{{{}}}$", text.trim_matches('$')) } else { text };
            cells.push(text + &esc(&row.cell_n_note(j)));
        }
        let _ = writeln!(t, "{{}}{} \\\\", cells.join(" & "));
    }
    t.push_str("\\bottomrule\n\\end{tabular}}\n");
    let _ = writeln!(
        t,
        "\\caption{{{}: mean $\\pm$ 95\\% confidence interval over seeds; best per column in bold.}}\n\\end{{table}}\n% --- to here ---\n",
        esc(&input.title)
    );
    for fig in figures {
        let _ = writeln!(t, "\n% --- a figure: paste from here (needs \\usepackage{{pgfplots}}) ---\n\\begin{{figure}}[t]\n\\centering");
        t.push_str(&chart_pgfplots(&fig.chart));
        let caption = if fig.chart.note.is_empty() { fig.chart.title.clone() } else { format!("{}. {}", fig.chart.title, fig.chart.note) };
        let _ = writeln!(t, "\\caption{{{}}}\n\\end{{figure}}\n% --- to here ---", esc(&caption));
    }
    for why in skipped {
        let _ = writeln!(t, "% chart left out: {}", comment(why));
    }
    t.push_str("\n\\end{document}\n");
    t
}
