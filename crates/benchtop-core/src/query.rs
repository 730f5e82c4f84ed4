//! The run query language: one grammar for the CLI's `--where` and the app's search box.
//!
//! ```text
//! lr < 0.01 AND (method = cfa OR method IN (lp_ft, finetune)) AND NOT tag = draft
//! views BETWEEN 80 AND 320    psnr >= 30    status != done    created > 2026-11-30
//! notes ~ "bad seed"          cifar          (a bare word: text anywhere in the run)
//! ```
//!
//! - **Fields**: `status`, `study`, `experiment`, `id`, `method`, `seed`, `tag` (any of the
//!   run's tags), `notes`, `created` (a date `2026-11-30` or an RFC 3339 time); `param.KEY` or
//!   `metric.KEY` (also `params.`, `metrics.`, `summary.`); any other name is the run's
//!   parameter of that name, else its summary metric.
//! - **Operators**: `=` (`==`), `!=`, `<`, `<=`, `>`, `>=` (numbers by value, dates by time,
//!   text case-insensitively), `~` and `!~` (contains, case-insensitive), `IN (a, b)`,
//!   `BETWEEN lo AND hi` (inclusive).
//! - **Logic**: `AND` (or nothing: terms side by side must all hold), `OR`, `NOT`, parentheses.
//!   Keywords are upper case, so `and` stays a word to search for.
//! - **Values**: numbers, `true`/`false`, bare words, or text in single or double quotes.
//! - A field the run lacks matches nothing, except through `!=` and `!~`.
//!
//! Parsed with winnow (already in the build through the TOML parser); every syntax error and
//! every unknown field is reported with the column it starts at.

use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use winnow::ascii::{multispace0, multispace1};
use winnow::combinator::{alt, cut_err, delimited, eof, not, peek, preceded, repeat, separated, terminated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::stream::LocatingSlice;
use winnow::token::{one_of, take_till, take_while};

use crate::run::RunRecord;

type Input<'a> = LocatingSlice<&'a str>;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
    NotContains,
    In,
    Between,
}

/// A field named in a query, with where it stands (byte offsets) for errors.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub span: Range<usize>,
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// A bare word or quoted text: found anywhere in the run's id, experiment, study,
    /// method, status, tags, notes or parameter values (`at`: its byte offset, for errors).
    Text {
        word: String,
        at: usize,
        quoted: bool,
    },
    /// `field op value`; `IN` has the list, `BETWEEN` the two bounds.
    Cmp {
        field: Field,
        op: Op,
        values: Vec<String>,
    },
}

/// A query that does not parse, or names a field no run has.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

/// A parsed query; the empty query matches every run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Query {
    expr: Option<Expr>,
    text: String,
}

const KEYWORDS: [&str; 5] = ["AND", "OR", "NOT", "IN", "BETWEEN"];
const RESERVED: [&str; 10] = ["status", "study", "experiment", "id", "method", "seed", "tag", "tags", "notes", "created"];

fn column(text: &str, byte: usize) -> usize {
    text.get(..byte.min(text.len())).map_or(byte, |s| s.chars().count()) + 1
}

impl Query {
    /// Parse `text`; blank text is the query that matches everything.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        // Any Unicode space (a pasted non-breaking one) separates like a plain one; one
        // character for one, so columns are the same in both.
        let text: String = text.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect();
        let text = text.as_str();
        if text.trim().is_empty() {
            return Ok(Query::default());
        }
        limits(text)?;
        let expr =
            delimited(multispace0, or_expr, (multispace0, eof.context(label("the end of the query")))).parse(LocatingSlice::new(text));
        match expr {
            Ok(expr) => {
                check_terms(&expr, text)?;
                Ok(Query { expr: Some(expr), text: text.to_owned() })
            }
            Err(e) => {
                let mut message = e.inner().to_string().replace('\n', "; ");
                if message.is_empty() {
                    message = "the query does not parse here".into();
                }
                let found = text.get(e.offset()..).and_then(|rest| rest.split_whitespace().next());
                if let Some(tok) = found {
                    message = format!("{message} (found `{tok}`)");
                }
                Err(QueryError { column: column(text, e.offset()), message })
            }
        }
    }

    /// What a search box types: a query, or, when the text is no query and holds no
    /// operator (`didn't`, `a,b`), its words, each to be found somewhere in the run.
    pub fn parse_search(text: &str) -> Result<Query, QueryError> {
        match Query::parse(text) {
            Ok(q) => Ok(q),
            Err(e) => {
                let operators = text.contains(['=', '<', '>', '~', '(', ')']);
                let keywords = text.split_whitespace().any(|w| KEYWORDS.contains(&w) || ["and", "or", "not"].contains(&w));
                if operators || keywords {
                    return Err(e);
                }
                let words = text.split_whitespace().map(|w| Expr::Text { word: w.to_owned(), at: 0, quoted: true });
                let expr = words.reduce(|a, b| Expr::And(Box::new(a), Box::new(b)));
                Ok(Query { expr, text: text.to_owned() })
            }
        }
    }

    /// Whether the query is the empty one.
    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// Whether `r` matches.
    pub fn matches(&self, r: &RunRecord) -> bool {
        self.expr.as_ref().is_none_or(|e| eval(e, r))
    }

    /// The first field that no run of `records` has (a typo matches nothing silently
    /// otherwise), as an error at its column; `None` when every field is known or there are
    /// no runs to know them from.
    pub fn unknown_field(&self, records: &[RunRecord]) -> Option<QueryError> {
        if records.is_empty() {
            return None;
        }
        let mut cmps = Vec::new();
        if let Some(e) = &self.expr {
            collect_cmps(e, &mut cmps);
        }
        let fields: Vec<&Field> = cmps.into_iter().map(|(f, _, _)| f).collect();
        if let Some(e) = self.not_a_number(records) {
            return Some(e);
        }
        fields.into_iter().find(|f| !records.iter().any(|r| field(r, &f.name).is_some()) && !is_reserved(&f.name)).map(|f| {
            let mut known: Vec<String> = records.iter().flat_map(|r| r.params.keys().chain(r.summary.keys()).cloned()).collect();
            known.sort();
            known.dedup();
            let shown: Vec<&str> = known.iter().take(12).map(String::as_str).collect();
            let more = if known.len() > 12 { ", ..." } else { "" };
            QueryError {
                column: column(&self.text, f.span.start),
                message: format!("no run has a field `{}`; parameters and metrics here: {}{more}", f.name, shown.join(", ")),
            }
        })
    }
}

/// The most characters, nested parentheses and NOTs a query may have: parsing and evaluating
/// recurse, and a thread's stack is not the place to find the limit.
const MAX_LENGTH: usize = 2000;
const MAX_DEPTH: usize = 32;

fn limits(text: &str) -> Result<(), QueryError> {
    if text.chars().count() > MAX_LENGTH {
        return Err(QueryError { column: MAX_LENGTH + 1, message: format!("a query may have at most {MAX_LENGTH} characters") });
    }
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        depth = match c {
            '(' => depth + 1,
            ')' => depth.saturating_sub(1),
            _ => depth,
        };
        if depth > MAX_DEPTH {
            return Err(QueryError { column: column(text, i), message: format!("parentheses nest at most {MAX_DEPTH} deep") });
        }
    }
    if let Some((i, _)) = text.match_indices("NOT").nth(MAX_DEPTH) {
        return Err(QueryError { column: column(text, i), message: format!("at most {MAX_DEPTH} NOTs") });
    }
    Ok(())
}

/// Mistakes a grammar accepts: `and` / `or` / `not` in lower case between terms (searched as
/// words, which is never what was meant), and a date for `created` that is no date.
fn check_terms(e: &Expr, text: &str) -> Result<(), QueryError> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            check_terms(a, text)?;
            check_terms(b, text)
        }
        Expr::Not(a) => check_terms(a, text),
        Expr::Text { word, at, quoted: false } if ["and", "or", "not"].contains(&word.to_lowercase().as_str()) => Err(QueryError {
            column: column(text, *at),
            message: format!("`{word}` would be searched as a word; write {} (upper case) for the logic, or quote it", word.to_uppercase()),
        }),
        Expr::Text { .. } => Ok(()),
        Expr::Cmp { field, op, values } => {
            if field.name == "created"
                && !matches!(op, Op::Contains | Op::NotContains)
                && let Some(bad) = values.iter().find(|v| when(v).is_none())
            {
                return Err(QueryError {
                    column: column(text, field.span.start),
                    message: format!("`{bad}` is not a date: write 2026-11-30 or an RFC 3339 time such as 2026-11-30T12:00:00Z"),
                });
            }
            Ok(())
        }
    }
}

impl Query {
    /// An ordering comparison of a field that holds numbers with a value that is no number
    /// (`steps > 10k`): it could match nothing, so it is a mistake at the field.
    fn not_a_number(&self, records: &[RunRecord]) -> Option<QueryError> {
        let mut cmps = Vec::new();
        if let Some(e) = &self.expr {
            collect_cmps(e, &mut cmps);
        }
        cmps.into_iter().find_map(|(f, op, values)| {
            let ordering = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Between);
            if !ordering || f.name == "created" {
                return None;
            }
            let bad = values.iter().find(|v| v.parse::<f64>().is_err())?;
            let numeric = records.iter().any(|r| matches!(field(r, &f.name), Some(Value::Number(_))));
            numeric.then(|| QueryError {
                column: column(&self.text, f.span.start),
                message: format!("`{bad}` is not a number, and `{}` holds numbers", f.name),
            })
        })
    }
}

fn collect_cmps<'a>(e: &'a Expr, out: &mut Vec<(&'a Field, Op, &'a [String])>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            collect_cmps(a, out);
            collect_cmps(b, out);
        }
        Expr::Not(a) => collect_cmps(a, out),
        Expr::Text { .. } => {}
        Expr::Cmp { field, op, values } => out.push((field, *op, values)),
    }
}

/// Whether `name` is one of the built-in fields (not a parameter or metric).
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

fn label(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

/// A keyword ends at a space, an opening parenthesis or the end (`IN-1k`, `OR-tools` are words).
fn keyword<'a>(word: &'static str) -> impl Parser<Input<'a>, &'a str, ErrMode<ContextError>> {
    terminated(word, not(one_of(|c: char| !c.is_whitespace() && c != '(')))
}

fn or_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let first = and_expr.parse_next(i)?;
    let rest: Vec<Expr> =
        repeat(0.., preceded((multispace1, keyword("OR")), cut_err(preceded(multispace0, and_expr)).context(label("a term after OR"))))
            .parse_next(i)?;
    Ok(rest.into_iter().fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))))
}

fn and_expr(i: &mut Input<'_>) -> ModalResult<Expr> {
    let first = unary.parse_next(i)?;
    // Terms side by side are ANDed; an explicit AND commits to a term after it.
    let next = alt((
        preceded((multispace1, keyword("AND")), cut_err(preceded(multispace0, unary)).context(label("a term after AND"))),
        preceded((multispace1, not(keyword("OR"))), unary),
    ));
    let rest: Vec<Expr> = repeat(0.., next).parse_next(i)?;
    Ok(rest.into_iter().fold(first, |a, b| Expr::And(Box::new(a), Box::new(b))))
}

fn unary(i: &mut Input<'_>) -> ModalResult<Expr> {
    alt((
        preceded(keyword("NOT"), cut_err(preceded(multispace0, unary)).context(label("a term after NOT"))).map(|e| Expr::Not(Box::new(e))),
        atom,
    ))
    .parse_next(i)
}

fn atom(i: &mut Input<'_>) -> ModalResult<Expr> {
    alt((
        delimited(
            ('(', multispace0),
            cut_err(or_expr).context(label("a query inside the parentheses")),
            cut_err((multispace0, ')')).context(label("a closing parenthesis")),
        ),
        comparison,
        text_term,
    ))
    .parse_next(i)
}

fn field_name(i: &mut Input<'_>) -> ModalResult<Field> {
    (
        take_while(1, |c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
    )
        .take()
        .with_span()
        .map(|(name, span): (&str, Range<usize>)| Field { name: name.to_owned(), span })
        .parse_next(i)
}

fn op(i: &mut Input<'_>) -> ModalResult<Op> {
    alt((
        "<=".value(Op::Le),
        ">=".value(Op::Ge),
        "!=".value(Op::Ne),
        "!~".value(Op::NotContains),
        "==".value(Op::Eq),
        "=".value(Op::Eq),
        "<".value(Op::Lt),
        ">".value(Op::Gt),
        "~".value(Op::Contains),
    ))
    .parse_next(i)
}

fn comparison(i: &mut Input<'_>) -> ModalResult<Expr> {
    let f = field_name.parse_next(i)?;
    if KEYWORDS.contains(&f.name.as_str()) {
        return Err(ErrMode::Backtrack(ContextError::new()));
    }
    // `field op value` (spaces optional around the operator), `field IN (...)`,
    // `field BETWEEN lo AND hi`; anything else is not a comparison (a bare word, then).
    let symbolic = preceded(multispace0, op);
    let named = preceded(multispace1, alt((keyword("IN").value(Op::In), keyword("BETWEEN").value(Op::Between))));
    let operator = alt((symbolic, named)).parse_next(i)?;
    let values = match operator {
        Op::In => cut_err(preceded(
            multispace0,
            alt((
                delimited(('(', multispace0), separated(1.., value, (multispace0, ',', multispace0)), (multispace0, ')')),
                delimited(('[', multispace0), separated(1.., value, (multispace0, ',', multispace0)), (multispace0, ']')),
            )),
        ))
        .context(label("a list of values in parentheses after IN, e.g. IN (a, b)"))
        .parse_next(i)?,
        Op::Between => {
            let (lo, _, hi) = cut_err((preceded(multispace1, value), (multispace1, keyword("AND"), multispace1), value))
                .context(label("two bounds after BETWEEN, e.g. BETWEEN 1 AND 5"))
                .parse_next(i)?;
            vec![lo, hi]
        }
        _ => vec![
            cut_err(preceded(multispace0, value))
                .context(label("a value after the operator (a number, a word or quoted text)"))
                .parse_next(i)?,
        ],
    };
    Ok(Expr::Cmp { field: f, op: operator, values })
}

fn quoted(i: &mut Input<'_>) -> ModalResult<String> {
    alt((
        delimited('"', take_till(0.., '"'), cut_err('"').context(label("a closing double quote"))),
        delimited('\'', take_till(0.., '\''), cut_err('\'').context(label("a closing single quote"))),
    ))
    .map(str::to_owned)
    .parse_next(i)
}

fn bare(i: &mut Input<'_>) -> ModalResult<String> {
    take_while(1.., |c: char| !c.is_whitespace() && !"()[],'\"=<>!~".contains(c)).map(str::to_owned).parse_next(i)
}

fn value(i: &mut Input<'_>) -> ModalResult<String> {
    alt((quoted, bare)).parse_next(i)
}

fn text_term(i: &mut Input<'_>) -> ModalResult<Expr> {
    // A keyword where a term belongs is a mistake, not a word to search for.
    peek(not(alt((keyword("AND"), keyword("OR"), keyword("IN"), keyword("BETWEEN"))))).context(label("a term")).parse_next(i)?;
    alt((quoted.map(|w| (w, true)), bare.map(|w| (w, false))))
        .with_span()
        .map(|((word, quoted), span): ((String, bool), Range<usize>)| Expr::Text { word, at: span.start, quoted })
        .context(label("a term: a word, quoted text or field op value"))
        .parse_next(i)
}

/// The value of field `name` in `r`, as JSON (`None` when the run has no such field): the
/// query language's fields, also what runs are grouped by.
pub fn field(r: &RunRecord, name: &str) -> Option<Value> {
    match name {
        "status" => Some(Value::from(r.status.to_string())),
        "study" => Some(Value::from(r.study.clone())),
        "experiment" => Some(Value::from(r.experiment.clone())),
        "id" => Some(Value::from(r.id.to_string())),
        "method" => r.method.clone().map(Value::from).or_else(|| r.params.get("method").cloned()),
        "seed" => Some(Value::from(r.seed)),
        "tag" | "tags" => Some(Value::from(r.tags.clone())),
        "notes" => Some(Value::from(r.notes.clone())),
        "created" => Some(Value::from(r.created_at.to_rfc3339())),
        other => {
            let param = ["param.", "params."].iter().find_map(|p| other.strip_prefix(p));
            let metric = ["metric.", "metrics.", "summary."].iter().find_map(|p| other.strip_prefix(p));
            match (param, metric) {
                (Some(k), _) => r.params.get(k).cloned(),
                (_, Some(k)) => r.summary.get(k).map(|v| Value::from(*v)),
                _ => r.params.get(other).cloned().or_else(|| r.summary.get(other).map(|v| Value::from(*v))),
            }
        }
    }
}

fn eval(e: &Expr, r: &RunRecord) -> bool {
    match e {
        Expr::And(a, b) => eval(a, r) && eval(b, r),
        Expr::Or(a, b) => eval(a, r) || eval(b, r),
        Expr::Not(a) => !eval(a, r),
        Expr::Text { word, .. } => haystack(r).contains(&word.to_lowercase()),
        Expr::Cmp { field, op, values } => {
            let negated = matches!(op, Op::Ne | Op::NotContains);
            let Some(have) = self::field(r, &field.name) else { return negated };
            let when = field.name == "created";
            match (&have, op) {
                // A run's tags: a comparison holds for the list when it holds for any tag
                // (and `!=` / `!~` when it holds for none).
                (Value::Array(items), _) => {
                    let positive = match op {
                        Op::Ne => Op::Eq,
                        Op::NotContains => Op::Contains,
                        other => *other,
                    };
                    let any = items.iter().any(|t| holds(t, positive, values, false));
                    if negated { !any } else { any }
                }
                _ => holds(&have, *op, values, when),
            }
        }
    }
}

fn haystack(r: &RunRecord) -> String {
    let mut hay = format!(
        "{} {} {} {} {} {} {}",
        r.id,
        r.experiment,
        r.study,
        r.method.as_deref().unwrap_or(""),
        r.status,
        r.tags.join(" "),
        r.notes
    );
    for v in r.params.values() {
        hay.push(' ');
        match v {
            Value::String(s) => hay.push_str(s),
            Value::Null => {}
            other => hay.push_str(&other.to_string()),
        }
    }
    hay.to_lowercase()
}

/// An RFC 3339 time, or a date (its midnight, UTC); `true` for a date, which stands for its
/// whole (UTC) day.
fn when(text: &str) -> Option<(DateTime<Utc>, bool)> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| (t.with_timezone(&Utc), false))
        .ok()
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| (t.and_utc(), true)))
}

/// How `have` orders against `want`: by value for numbers, by time for dates, by text
/// (case-insensitive) otherwise; `None` when they cannot be compared (a NaN metric).
fn order(have: &Value, want: &str, is_date: bool) -> Option<std::cmp::Ordering> {
    if is_date {
        let (h, _) = have.as_str().and_then(when)?;
        let (w, whole_day) = when(want)?;
        // A date stands for its whole day: equal when the time falls on it.
        if whole_day {
            return Some(h.date_naive().cmp(&w.date_naive()));
        }
        return Some(h.cmp(&w));
    }
    match have {
        Value::Number(n) => {
            let (h, w) = (n.as_f64()?, want.parse::<f64>().ok()?);
            h.partial_cmp(&w)
        }
        Value::Bool(b) => match want.to_ascii_lowercase().as_str() {
            "true" => Some(b.cmp(&true)),
            "false" => Some(b.cmp(&false)),
            _ => None,
        },
        Value::String(s) => Some(s.to_lowercase().cmp(&want.to_lowercase())),
        _ => None,
    }
}

fn holds(have: &Value, op: Op, values: &[String], is_date: bool) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let first = values.first().map(String::as_str).unwrap_or_default();
    let text = || match have {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    };
    match op {
        Op::Eq => order(have, first, is_date) == Some(Equal),
        Op::Ne => order(have, first, is_date) != Some(Equal),
        Op::Lt => order(have, first, is_date) == Some(Less),
        Op::Le => matches!(order(have, first, is_date), Some(Less | Equal)),
        Op::Gt => order(have, first, is_date) == Some(Greater),
        Op::Ge => matches!(order(have, first, is_date), Some(Greater | Equal)),
        Op::Contains => text().contains(&first.to_lowercase()),
        Op::NotContains => !text().contains(&first.to_lowercase()),
        Op::In => values.iter().any(|v| order(have, v, is_date) == Some(Equal)),
        Op::Between => {
            let hi = values.get(1).map(String::as_str).unwrap_or_default();
            matches!(order(have, first, is_date), Some(Greater | Equal)) && matches!(order(have, hi, is_date), Some(Less | Equal))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::RunPlan;
    use crate::run::{Backend, Provenance, RunStatus};
    use serde_json::json;

    fn run(method: &str, lr: f64, acc: f64, tags: &[&str]) -> RunRecord {
        let plan = RunPlan {
            experiment: "exp-a".into(),
            description: String::new(),
            study: "isr".into(),
            method: Some(method.into()),
            seed: 3,
            backend: Backend::Cpu,
            params: json!({"method": method, "lr": lr, "scrambled": false}).as_object().cloned().unwrap(),
            sweep_point: Default::default(),
            experiment_file: None,
        };
        let mut r = plan.to_record(Provenance::default());
        r.summary.insert("test_acc".into(), acc);
        r.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        r.status = RunStatus::Done;
        r
    }

    fn hits(q: &str, runs: &[RunRecord]) -> Vec<usize> {
        let q = Query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        runs.iter().enumerate().filter(|(_, r)| q.matches(r)).map(|(i, _)| i).collect()
    }

    #[test]
    fn comparisons_logic_lists_and_ranges_select_the_right_runs() {
        let runs = [run("erm", 0.1, 0.5, &["draft"]), run("irm", 0.01, 0.7, &[]), run("isr_mean", 0.001, 0.9, &["paper", "best"])];
        assert_eq!(hits("", &runs), [0, 1, 2]);
        assert_eq!(hits("lr < 0.05", &runs), [1, 2]);
        assert_eq!(hits("lr<0.05", &runs), [1, 2]);
        assert_eq!(hits("param.lr >= 0.01 AND metric.test_acc > 0.6", &runs), [1]);
        assert_eq!(hits("method = erm OR method = isr_mean", &runs), [0, 2]);
        assert_eq!(hits("method IN (erm, irm)", &runs), [0, 1]);
        assert_eq!(hits("method IN [irm]", &runs), [1]);
        assert_eq!(hits("test_acc BETWEEN 0.5 AND 0.7", &runs), [0, 1]);
        assert_eq!(hits("NOT tag = draft", &runs), [1, 2]);
        assert_eq!(hits("tag = paper", &runs), [2]);
        assert_eq!(hits("tag != paper", &runs), [0, 1]);
        assert_eq!(hits("(method = erm OR lr < 0.005) AND NOT tag ~ dra", &runs), [2]);
        assert_eq!(hits("method ~ ISR", &runs), [2]);
        assert_eq!(hits("scrambled = false AND seed = 3 AND status = done AND study = isr", &runs), [0, 1, 2]);
        // Bare words search everywhere; side by side they must all hold; `and` is a word.
        assert_eq!(hits("irm", &runs), [1]);
        assert_eq!(hits("exp-a paper", &runs), [2]);
        assert_eq!(hits("\"isr_mean\" OR erm", &runs), [0, 2]);
        // A field a run lacks matches nothing, except through != and !~.
        assert_eq!(hits("param.missing = 1", &runs), Vec::<usize>::new());
        assert_eq!(hits("param.missing != 1", &runs), [0, 1, 2]);
    }

    #[test]
    fn dates_compare_by_day_or_by_time() {
        let mut a = run("erm", 0.1, 0.5, &[]);
        a.created_at = "2026-11-30T10:00:00Z".parse().unwrap();
        let mut b = run("erm", 0.1, 0.5, &[]);
        b.created_at = "2026-12-01T09:00:00Z".parse().unwrap();
        let runs = [a, b];
        assert_eq!(hits("created = 2026-11-30", &runs), [0]);
        assert_eq!(hits("created > 2026-11-30", &runs), [1]);
        assert_eq!(hits("created >= 2026-11-30", &runs), [0, 1]);
        assert_eq!(hits("created < 2026-11-30T12:00:00Z", &runs), [0]);
    }

    #[test]
    fn review_cases_keywords_words_dates_and_spaces() {
        let runs = [run("erm", 0.1, 0.5, &["x"]), run("irm", 0.01, 0.7, &[])];
        // A keyword ends at a space or a parenthesis: these are words.
        assert!(Query::parse("IN-1k").is_ok() && Query::parse("OR-tools").is_ok());
        // Lower-case logic is a mistake, said at its column; quoted it is a word.
        let e = Query::parse("method = erm or method = irm").unwrap_err();
        assert_eq!(e.column, 14, "{e}");
        assert!(e.message.contains("write OR"), "{e}");
        assert!(Query::parse("\"or\"").is_ok());
        // A date that is no date, and a number field against no number.
        assert!(Query::parse("created > yesterday").unwrap_err().message.contains("not a date"));
        let q = Query::parse("lr > 10k").unwrap();
        assert!(q.unknown_field(&runs).unwrap().message.contains("not a number"));
        // A non-breaking space separates like a space.
        assert_eq!(hits("method\u{a0}=\u{a0}erm", &runs), [0]);
        // The search box falls back to words for text that is no query.
        assert!(Query::parse("didn't").is_err());
        assert!(!Query::parse_search("didn't").unwrap().matches(&runs[0]), "a word no run holds");
        assert!(Query::parse_search("erm,").is_ok());
        assert!(Query::parse_search("lr <").is_err(), "with an operator it stays a query and its error");
        // Limits instead of a deep stack.
        assert!(Query::parse(&"(".repeat(40)).unwrap_err().message.contains("nest"));
        assert!(Query::parse(&"NOT ".repeat(40)).unwrap_err().message.contains("NOTs"));
    }

    #[test]
    fn a_nan_metric_matches_no_comparison() {
        let runs = [run("erm", 0.1, f64::NAN, &[])];
        assert!(hits("test_acc > 0", &runs).is_empty() && hits("test_acc <= 0", &runs).is_empty());
    }

    #[test]
    fn syntax_errors_point_at_their_column() {
        for (q, col, want) in [
            ("lr <", 5, "a value after the operator"),
            ("lr < 0.1 AND", 13, "a term after AND"),
            ("(lr < 0.1", 10, "a closing parenthesis"),
            ("method IN erm", 11, "IN (a, b)"),
            ("x BETWEEN 1", 12, "BETWEEN 1 AND 5"),
            ("notes ~ \"open", 14, "closing double quote"),
            ("lr < 1 OR", 10, "a term after OR"),
            ("lr < 1 )", 8, "the end of the query"),
            ("NOT", 4, "a term after NOT"),
            ("AND lr", 1, ""),
        ] {
            let e = Query::parse(q).unwrap_err();
            assert_eq!(e.column, col, "{q}: {e}");
            assert!(e.message.contains(want), "{q}: {e}");
            assert!(!e.message.contains('\n'));
        }
    }

    #[test]
    fn a_field_no_run_has_is_named_at_its_column() {
        let runs = [run("erm", 0.1, 0.5, &[])];
        let q = Query::parse("lr < 1 AND lrr > 2").unwrap();
        let e = q.unknown_field(&runs).unwrap();
        assert_eq!(e.column, 12);
        assert!(e.message.contains("`lrr`") && e.message.contains("lr, method, scrambled, test_acc"), "{e}");
        assert!(Query::parse("status = done AND metric.test_acc > 0").unwrap().unknown_field(&runs).is_none());
        assert!(q.unknown_field(&[]).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Any text parses or fails with a column inside it; nothing panics, and a parsed
        /// query evaluates.
        #[test]
        fn arbitrary_queries_never_panic(q in "[a-z_ .()=<>!~\"',0-9A-Z\\[\\]é\u{a0}中-]{0,40}") {
            let runs = [run("erm", 0.1, 0.5, &["x"])];
            match Query::parse(&q) {
                Ok(parsed) => { let _ = parsed.matches(&runs[0]); let _ = parsed.unknown_field(&runs); }
                Err(e) => proptest::prop_assert!(e.column >= 1 && e.column <= q.chars().count() + 1, "{q}: {e}"),
            }
        }
    }
}
