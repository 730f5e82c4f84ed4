//! Escaping user text for the format it lands in.

/// Text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for Markdown (CommonMark/GFM) prose and table cells: punctuation that could start
/// markup is backslash-escaped, angle brackets become entities (no raw HTML gets through),
/// and newlines become spaces (a cell is one line).
pub fn markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.' | '!' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text for LaTeX (text mode).
pub fn latex(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\textbackslash{}"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '$' => out.push_str("\\$"),
            '&' => out.push_str("\\&"),
            '#' => out.push_str("\\#"),
            '%' => out.push_str("\\%"),
            '_' => out.push_str("\\_"),
            '^' => out.push_str("\\textasciicircum{}"),
            '~' => out.push_str("\\textasciitilde{}"),
            '<' => out.push_str("\\textless{}"),
            '>' => out.push_str("\\textgreater{}"),
            // pdflatex has no glyph for U+2212 (the charts' "score − baseline"): math minus.
            '−' => out.push_str("$-$"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NASTY: &str = "<script>alert(1)</script> & \"q\" 'a' $x_1^2 {b} #5 100% ~ \\ *em* [l](u) | pipe";

    #[test]
    fn html_escaping_leaves_no_markup() {
        let e = html(NASTY);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
        assert!(e.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp;"));
    }

    #[test]
    fn markdown_escaping_leaves_no_markup_or_html() {
        let e = markdown(NASTY);
        assert!(!e.contains('<'), "{e}");
        assert!(e.contains("\\*em\\*") && e.contains("\\[l\\]\\(u\\)") && e.contains("\\| pipe"), "{e}");
    }

    #[test]
    fn latex_escaping_covers_every_special_character() {
        let e = latex(NASTY);
        for special in ["\\$", "\\_", "\\textasciicircum{}", "\\{", "\\}", "\\#", "\\%", "\\textasciitilde{}", "\\textbackslash{}", "\\&"] {
            assert!(e.contains(special), "{special} in {e}");
        }
        // No unescaped specials remain once the escapes are removed.
        let stripped = e
            .replace("\\textbackslash{}", "")
            .replace("\\textasciicircum{}", "")
            .replace("\\textasciitilde{}", "")
            .replace("\\textless{}", "")
            .replace("\\textgreater{}", "");
        let mut prev = ' ';
        for c in stripped.chars() {
            if "$&#%_{}".contains(c) {
                assert_eq!(prev, '\\', "unescaped {c} in {e}");
            }
            prev = c;
        }
    }
}
