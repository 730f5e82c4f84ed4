//! Human preference data for reward modelling: Anthropic's hh-rlhf harmless pairs and the
//! FineGrained QA feedback (pairwise preferences between four answers per question, and
//! human error spans on the first answer), embedded in the binary and checked as parsed.

use std::collections::BTreeMap;
use std::io::Read;

use rand::seq::SliceRandom;
use serde::Deserialize;

use crate::{DataError, Result};

/// One preference: two responses to the same prompt, the first preferred by a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreferencePair {
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
}

const HH: &[u8] = include_bytes!("../../../assets/data/preference/hh-rlhf-harmless-base-test.jsonl.gz");
const FINEGRAINED: &[u8] = include_bytes!("../../../assets/data/preference/finegrained-qa-feedback-dev.json.gz");
const ASSISTANT: &str = "\n\nAssistant:";

fn gunzip(name: &str, bytes: &[u8]) -> Result<String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .take(1 << 30)
        .read_to_string(&mut text)
        .map_err(|e| DataError::new(name, format!("cannot decompress: {e}")))?;
    Ok(text)
}

/// A dialogue cut before its last assistant turn: (prompt ending in "Assistant:", response).
pub fn split_dialogue(text: &str) -> Option<(&str, &str)> {
    let at = text.rfind(ASSISTANT)? + ASSISTANT.len();
    Some((&text[..at], text[at..].trim()))
}

/// The 2,312 hh-rlhf harmless-base test pairs, split into a shared prompt and two responses.
/// None of them has identical responses (a pair that had would be dropped: a coin flip for
/// every method); 3 differ only in punctuation and 4 have an empty response, kept as the
/// people who labelled them judged them.
pub fn hh_rlhf_harmless() -> Result<Vec<PreferencePair>> {
    let name = "hh-rlhf-harmless-base-test.jsonl.gz";
    parse_hh(name, &gunzip(name, HH)?)
}

#[derive(Deserialize)]
struct HhLine {
    chosen: String,
    rejected: String,
}

/// The longest common prefix of `a` and `b`, on a character boundary.
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let end = a.char_indices().zip(b.chars()).find(|((_, x), y)| x != y).map_or(a.len().min(b.len()), |((i, _), _)| i);
    &a[..end]
}

fn parse_hh(name: &str, text: &str) -> Result<Vec<PreferencePair>> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |m: String| DataError::new(&format!("{name}:{}", i + 1), m);
        let row: HhLine = serde_json::from_str(line).map_err(|e| at(format!("not a {{chosen, rejected}} object: {e}")))?;
        // The prompt is the shared dialogue up to its last assistant turn; in a few pairs the
        // responses themselves run on for more turns, so cut within the common prefix.
        let common = common_prefix(&row.chosen, &row.rejected);
        let Some((prompt, _)) = split_dialogue(common) else {
            return Err(at("chosen and rejected share no dialogue up to an \"Assistant:\" turn".into()));
        };
        let (chosen, rejected) = (row.chosen[prompt.len()..].trim(), row.rejected[prompt.len()..].trim());
        if chosen == rejected {
            // No preference to learn: every model scores both sides alike.
            continue;
        }
        pairs.push(PreferencePair { prompt: prompt.to_owned(), chosen: chosen.to_owned(), rejected: rejected.to_owned() });
    }
    Ok(pairs)
}

/// Per-answer objective scores from the human error spans (FineGrained RLHF's three
/// categories), each in [0, 1], 1 = no error of that kind.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObjectiveScores {
    /// 1 − the share of characters marked irrelevant, redundant or incoherent.
    pub relevance: f64,
    /// 1 − the share of characters marked wrong-grounding or unverifiable.
    pub factuality: f64,
    /// 1 / (1 + the number of missing-information items).
    pub completeness: f64,
}

/// How a person compared two answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preferred {
    First,
    Second,
    Tie,
}

/// One FineGrained QA question with its four answers.
#[derive(Clone, Debug, PartialEq)]
pub struct QaQuestion {
    pub question: String,
    pub answers: [String; 4],
    /// Scores of answer 1 (the one the error spans annotate).
    pub scores: ObjectiveScores,
    /// (a, b, which) for the pairs 1v2, 1v3, 1v4, 2v3, 2v4, 3v4 (0-based answer indices).
    pub preferences: Vec<(usize, usize, Preferred)>,
}

impl QaQuestion {
    /// Verbosity of an answer: its number of words.
    pub fn verbosity(&self, answer: usize) -> usize {
        self.answers[answer].split_whitespace().count()
    }
}

#[derive(Deserialize)]
struct RawQa {
    question: String,
    #[serde(rename = "prediction 1")]
    p1: String,
    #[serde(rename = "prediction 2")]
    p2: String,
    #[serde(rename = "prediction 3")]
    p3: String,
    #[serde(rename = "prediction 4")]
    p4: String,
    feedback: RawFeedback,
    preference: Vec<u8>,
}

#[derive(Deserialize)]
struct RawFeedback {
    errors: Vec<RawSpan>,
    #[serde(rename = "missing-info")]
    missing: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawSpan {
    #[serde(rename = "error type")]
    kind: String,
    start: usize,
    end: usize,
}

/// The pairs each question's six preferences compare, in file order.
pub const QA_PAIRS: [(usize, usize); 6] = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)];

/// The 500 FineGrained QA dev questions.
pub fn finegrained_qa() -> Result<Vec<QaQuestion>> {
    let name = "finegrained-qa-feedback-dev.json.gz";
    parse_finegrained(name, &gunzip(name, FINEGRAINED)?)
}

fn parse_finegrained(name: &str, text: &str) -> Result<Vec<QaQuestion>> {
    let raw: Vec<RawQa> = serde_json::from_str(text).map_err(|e| DataError::new(name, format!("not the FineGrained QA format: {e}")))?;
    raw.into_iter()
        .enumerate()
        .map(|(i, q)| {
            let at = |m: String| DataError::new(&format!("{name}: question {}", i + 1), m);
            if q.preference.len() != QA_PAIRS.len() {
                return Err(at(format!("preference: {} values, not 6", q.preference.len())));
            }
            let preferences = QA_PAIRS
                .iter()
                .zip(&q.preference)
                .map(|(&(a, b), &v)| match v {
                    0 => Ok((a, b, Preferred::Tie)),
                    1 => Ok((a, b, Preferred::First)),
                    2 => Ok((a, b, Preferred::Second)),
                    other => Err(at(format!("preference: {other} is not 0 (tie), 1 or 2"))),
                })
                .collect::<Result<Vec<_>>>()?;
            // Span offsets count characters (the file was written from Python strings).
            let len = q.p1.chars().count();
            let mut flagged: BTreeMap<&str, Vec<bool>> = BTreeMap::new();
            for span in &q.feedback.errors {
                if span.start > span.end || span.end > len {
                    return Err(at(format!("error span {}..{} is outside answer 1 ({len} characters)", span.start, span.end)));
                }
                let group = match span.kind.as_str() {
                    "Irrelevant" | "Redundant" | "Incoherent" => "relevance",
                    "Wrong-Grounding" | "Unverifiable" => "factuality",
                    other => return Err(at(format!("unknown error type `{other}`"))),
                };
                let marks = flagged.entry(group).or_insert_with(|| vec![false; len]);
                marks[span.start..span.end].iter_mut().for_each(|m| *m = true);
            }
            let clean = |group: &str| flagged.get(group).map_or(1.0, |m| 1.0 - m.iter().filter(|x| **x).count() as f64 / len.max(1) as f64);
            Ok(QaQuestion {
                question: q.question,
                scores: ObjectiveScores {
                    relevance: clean("relevance"),
                    factuality: clean("factuality"),
                    completeness: 1.0 / (1.0 + q.feedback.missing.len() as f64),
                },
                answers: [q.p1, q.p2, q.p3, q.p4],
                preferences,
            })
        })
        .collect()
}

/// The strict preferences of `questions` as pairs (prompt = the question), and apart from
/// them the ties (a tie says nothing about which answer is better).
pub fn qa_pairs(questions: &[QaQuestion]) -> (Vec<PreferencePair>, Vec<(String, String, String)>) {
    let (mut pairs, mut ties) = (Vec::new(), Vec::new());
    for q in questions {
        for &(a, b, which) in &q.preferences {
            let (x, y) = (q.answers[a].clone(), q.answers[b].clone());
            match which {
                Preferred::First => pairs.push(PreferencePair { prompt: q.question.clone(), chosen: x, rejected: y }),
                Preferred::Second => pairs.push(PreferencePair { prompt: q.question.clone(), chosen: y, rejected: x }),
                Preferred::Tie => ties.push((q.question.clone(), x, y)),
            }
        }
    }
    (pairs, ties)
}

/// A seeded split of pair indices by prompt: every pair of a prompt lands on the same side,
/// so no prompt is in both training and test. About `test_fraction` of the prompts are test.
pub fn split_by_prompt(pairs: &[PreferencePair], test_fraction: f64, rng: &mut crate::Rng) -> (Vec<usize>, Vec<usize>) {
    let mut prompts: Vec<&str> = pairs.iter().map(|p| p.prompt.as_str()).collect();
    prompts.sort_unstable();
    prompts.dedup();
    prompts.shuffle(rng);
    let n_test = ((prompts.len() as f64) * test_fraction).round() as usize;
    let test: std::collections::HashSet<&str> = prompts[..n_test.min(prompts.len())].iter().copied().collect();
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (i, p) in pairs.iter().enumerate() {
        if test.contains(p.prompt.as_str()) { held.push(i) } else { train.push(i) }
    }
    (train, held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_rlhf_pairs_share_their_prompt_and_differ_in_the_last_turn() {
        let pairs = hh_rlhf_harmless().unwrap();
        assert_eq!(pairs.len(), 2312);
        for p in &pairs {
            assert!(p.prompt.starts_with("\n\nHuman:") && p.prompt.ends_with("Assistant:"), "{:?}", &p.prompt[..40.min(p.prompt.len())]);
        }
        // A response is one assistant turn, but for 5 pairs whose responses run on.
        assert_eq!(pairs.iter().filter(|p| p.chosen.contains(ASSISTANT) || p.rejected.contains(ASSISTANT)).count(), 5);
        // No pair was dropped as identical: every line of the file is a pair.
        assert!(pairs.iter().all(|p| p.chosen != p.rejected));
        assert_eq!(split_dialogue("\n\nHuman: hi\n\nAssistant: hello"), Some(("\n\nHuman: hi\n\nAssistant:", "hello")));
    }

    #[test]
    fn a_pair_with_identical_responses_is_dropped() {
        let line = |a: &str, b: &str| {
            format!("{{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: {a}\", \"rejected\": \"\\n\\nHuman: q\\n\\nAssistant: {b}\"}}")
        };
        let text = [line("yes", "no"), line("same", "same "), line("a", "b")].join("\n");
        let pairs = parse_hh("x.jsonl", &text).unwrap();
        assert_eq!(pairs.iter().map(|p| p.chosen.as_str()).collect::<Vec<_>>(), ["yes", "a"]);
    }

    #[test]
    fn a_broken_line_names_the_file_and_line() {
        let err = parse_hh(
            "x.jsonl",
            "{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: b\", \"rejected\": \"\\n\\nHuman: a\\n\\nAssistant: c\"}\n{\"chosen\": 3}",
        )
        .unwrap_err();
        assert!(err.to_string().contains("x.jsonl:2"), "{err}");
    }

    #[test]
    fn finegrained_questions_have_four_answers_six_preferences_and_scores_in_range() {
        let qs = finegrained_qa().unwrap();
        assert_eq!(qs.len(), 500);
        let (pairs, ties) = qa_pairs(&qs);
        assert_eq!(pairs.len() + ties.len(), 3000);
        assert_eq!(ties.len(), 384, "ties are kept apart");
        for q in &qs {
            for s in [q.scores.relevance, q.scores.factuality, q.scores.completeness] {
                assert!((0.0..=1.0).contains(&s));
            }
        }
        // The first question: three irrelevant spans, no factual error, nothing missing.
        let s = qs[0].scores;
        assert!(s.relevance < 0.8 && s.factuality == 1.0 && s.completeness == 1.0, "{s:?}");
        assert!(qs[0].verbosity(0) > 50);
    }

    #[test]
    fn splits_by_prompt_never_share_a_prompt() {
        let (pairs, _) = qa_pairs(&finegrained_qa().unwrap());
        let (train, test) = split_by_prompt(&pairs, 0.2, &mut crate::rng(0, 0));
        assert_eq!(train.len() + test.len(), pairs.len());
        let test_prompts: std::collections::HashSet<&str> = test.iter().map(|&i| pairs[i].prompt.as_str()).collect();
        assert!(train.iter().all(|&i| !test_prompts.contains(pairs[i].prompt.as_str())));
        assert!((90..=110).contains(&test_prompts.len()), "about 20% of 500 questions: {}", test_prompts.len());
        assert_eq!(split_by_prompt(&pairs, 0.2, &mut crate::rng(0, 0)), (train, test), "seeded");
    }
}
