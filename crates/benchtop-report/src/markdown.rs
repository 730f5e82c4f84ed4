//! The Markdown report: prose, figures as SVG files beside it, a GFM table.

use std::fmt::Write;

use crate::escape::markdown as esc;
use crate::summary::SummaryTable;
use crate::{Figure, ReportInput, provenance};

pub fn document(input: &ReportInput<'_>, table: &SummaryTable, figures: &[Figure], files: &[String], skipped: &[String]) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# {}\n", esc(&input.title));
    if !input.description.is_empty() {
        let _ = writeln!(m, "{}\n", esc(&input.description));
    }
    for (i, (fig, file)) in figures.iter().zip(files).enumerate() {
        // `<...>` lets the path hold spaces and parentheses (CommonMark link destinations).
        let _ = writeln!(m, "![{}](<{}>)\n", esc(&fig.chart.title), file.replace('<', "%3C").replace('>', "%3E"));
        let _ = writeln!(m, "*Figure {}. {} — {}.*\n", i + 1, esc(&fig.chart.title), esc(&fig.chart.note));
    }
    if !skipped.is_empty() {
        let list: Vec<String> = skipped.iter().map(|s| esc(s)).collect();
        let _ = writeln!(m, "Charts left out: {}.\n", list.join("; "));
    }
    m.push_str("## Summary\n\nMean ± 95% confidence interval over seeds (Student's t); the best value per column is in bold.\n\n");
    let many = table.many_experiments();
    let mut header: Vec<String> = Vec::new();
    if many {
        header.push("experiment".into());
    }
    header.extend(table.keys.iter().map(|k| esc(k)));
    header.push("n".into());
    header.extend(table.metrics.iter().map(|k| esc(k)));
    let _ = writeln!(m, "| {} |", header.join(" | "));
    let lead = usize::from(many) + table.keys.len();
    let aligns: Vec<&str> = (0..header.len()).map(|i| if i < lead { ":---" } else { "---:" }).collect();
    let _ = writeln!(m, "| {} |", aligns.join(" | "));
    for (i, row) in table.rows.iter().enumerate() {
        let mut cells = row.lead_cells(many, esc);
        for (j, cell) in row.cells.iter().enumerate() {
            let text = cell.map(|a| a.display(3)).unwrap_or_default();
            let text = if table.best[j] == Some(i) && !text.is_empty() { format!("**{text}**") } else { text };
            cells.push(text + &row.cell_n_note(j));
        }
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
    let prov = provenance(input.records);
    m.push_str("\n## Parameters\n\n| parameter | value |\n| :--- | :--- |\n");
    for (k, v) in &prov.fixed_params {
        let _ = writeln!(m, "| {} | {} |", esc(k), esc(v));
    }
    if !prov.varying_params.is_empty() {
        let _ = writeln!(m, "| varied | {} |", esc(&prov.varying_params.join(", ")));
    }
    m.push_str("\n## Reproducibility\n\n| | |\n| :--- | :--- |\n");
    for (k, v) in prov.rows() {
        let _ = writeln!(m, "| {} | {} |", esc(k), esc(&v));
    }
    m
}
