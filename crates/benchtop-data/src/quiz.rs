//! A small language-policy testbed: short questions with checkable answers,
//! responses that differ in correctness, verbosity and form, and a programmatic gold scorer.
//!
//! Questions: sums and differences of small numbers ("what is 7 plus 5 ?"), and look-ups
//! over a small table of animals ("how many legs does a spider have ?", "what colour is a
//! frog ?"). Text is lower-case words and separate punctuation, so a word-level vocabulary
//! covers every prompt and response the testbed can produce.

use std::collections::HashMap;

use rand::Rng as _;
use rand::seq::IndexedRandom;

/// (animal, legs, colour): the look-up table.
pub const ANIMALS: [(&str, u32, &str); 12] = [
    ("spider", 8, "black"),
    ("ant", 6, "red"),
    ("dog", 4, "brown"),
    ("cat", 4, "grey"),
    ("frog", 4, "green"),
    ("duck", 2, "white"),
    ("crab", 10, "red"),
    ("snake", 0, "green"),
    ("horse", 4, "brown"),
    ("bee", 6, "yellow"),
    ("crow", 2, "black"),
    ("octopus", 8, "orange"),
];

/// The colours answers may name (a colour task's candidate answers).
pub const COLOURS: [&str; 8] = ["black", "red", "brown", "grey", "green", "white", "yellow", "orange"];

/// Operands of the arithmetic questions lie in 0..=MAX_OPERAND.
pub const MAX_OPERAND: u32 = 12;

/// Filler a verbose response opens or closes with; none of it contains a number or a colour,
/// and every closer ends with a full stop.
const OPENERS: [&str; 4] = ["sure !", "let me think about that .", "that is a good question .", "here is what i know ."];
const CLOSERS: [&str; 4] = ["i hope this helps .", "thanks for asking .", "let me know if you need more .", "happy to help ."];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Plus,
    Minus,
    Legs,
    Colour,
}

/// One question and its one right answer (a word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub kind: Kind,
    pub text: String,
    pub answer: String,
}

/// Every question the testbed can ask: 169 sums, 91 differences (no negatives), 12 + 12
/// look-ups. Seeded splits of this list keep test questions unseen.
pub fn all_questions() -> Vec<Question> {
    let mut out = Vec::new();
    for a in 0..=MAX_OPERAND {
        for b in 0..=MAX_OPERAND {
            out.push(Question { kind: Kind::Plus, text: format!("what is {a} plus {b} ?"), answer: (a + b).to_string() });
            if a >= b {
                out.push(Question { kind: Kind::Minus, text: format!("what is {a} minus {b} ?"), answer: (a - b).to_string() });
            }
        }
    }
    for (animal, legs, colour) in ANIMALS {
        out.push(Question { kind: Kind::Legs, text: format!("how many legs does a {animal} have ?"), answer: legs.to_string() });
        out.push(Question { kind: Kind::Colour, text: format!("what colour is a {animal} ?"), answer: colour.to_owned() });
    }
    out
}

/// Lower-case words and punctuation marks, split on white space.
pub fn words(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

fn is_number(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

fn is_punctuation(word: &str) -> bool {
    matches!(word, "." | "?" | "!" | ",")
}

/// The gold scores of a response, per objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gold {
    /// 1 when the right answer is there and no other candidate answer is (a number for
    /// arithmetic and legs, a colour for colours), else 0: hedging between two answers is
    /// not helpful.
    pub helpfulness: f64,
    /// Words, not counting punctuation.
    pub verbosity: f64,
    /// 1 for a well-formed response: it ends with a full stop and never says the same word
    /// three times in a row (the way a degenerate policy babbles), else 0.
    pub format: f64,
}

/// Score `response` to `q`.
pub fn gold(q: &Question, response: &str) -> Gold {
    let w = words(response);
    let candidate = |word: &str| match q.kind {
        Kind::Plus | Kind::Minus | Kind::Legs => is_number(word),
        Kind::Colour => COLOURS.contains(&word),
    };
    let right = w.iter().any(|x| *x == q.answer);
    let wrong = w.iter().any(|x| candidate(x) && *x != q.answer);
    let babbles = w.windows(3).any(|t| t[0] == t[1] && t[1] == t[2]);
    Gold {
        helpfulness: (right && !wrong) as u8 as f64,
        verbosity: w.iter().filter(|x| !is_punctuation(x)).count() as f64,
        format: (w.last() == Some(&".") && !babbles) as u8 as f64,
    }
}

/// How an SFT response is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// "8 ."
    Terse,
    /// "the answer is 8 ."
    Sentence,
    /// The sentence with one to four filler phrases around it.
    Verbose,
}

/// A wrong answer of the question's kind: a near miss for numbers, another colour.
pub fn wrong_answer(q: &Question, rng: &mut crate::Rng) -> String {
    match q.kind {
        Kind::Colour => loop {
            let c = *COLOURS.choose(rng).unwrap_or(&"black");
            if c != q.answer {
                return c.to_owned();
            }
        },
        _ => {
            let right: i64 = q.answer.parse().unwrap_or(0);
            let step = *[-2i64, -1, 1, 2].choose(rng).unwrap_or(&1);
            let wrong = if right + step < 0 { right + step.abs() } else { right + step };
            wrong.to_string()
        }
    }
}

/// A response to `q` in `style`, giving `answer`.
pub fn respond(style: Style, answer: &str, rng: &mut crate::Rng) -> String {
    match style {
        Style::Terse => format!("{answer} ."),
        Style::Sentence => format!("the answer is {answer} ."),
        Style::Verbose => {
            // One to four filler phrases: openers before the answer, closers after it.
            let (mut open, mut close) = (rng.random_range(0..=2usize), rng.random_range(0..=2usize));
            if open + close == 0 {
                open = 1;
            }
            if rng.random::<bool>() && open + close == 1 {
                std::mem::swap(&mut open, &mut close);
            }
            let mut parts: Vec<String> = OPENERS.choose_multiple(rng, open).map(|s| (*s).to_owned()).collect();
            parts.push(format!("the answer is {answer} ."));
            parts.extend(CLOSERS.choose_multiple(rng, close).map(|s| (*s).to_owned()));
            parts.join(" ")
        }
    }
}

/// One SFT example: a question and a response drawn from a broad mix (a third of each
/// style, `correct_share` of them right), so the SFT policy starts anywhere on the
/// helpfulness-verbosity plane.
pub fn sft_example(q: &Question, correct_share: f64, rng: &mut crate::Rng) -> (String, Style, bool) {
    let style = *[Style::Terse, Style::Sentence, Style::Verbose].choose(rng).unwrap_or(&Style::Sentence);
    let correct = rng.random::<f64>() < correct_share;
    let answer = if correct { q.answer.clone() } else { wrong_answer(q, rng) };
    (respond(style, &answer, rng), style, correct)
}

/// A word-level vocabulary with the special tokens a policy needs.
#[derive(Clone, Debug)]
pub struct Vocab {
    words: Vec<String>,
    index: HashMap<String, u32>,
}

/// Padding, start of a sequence, the boundary between prompt and response, end.
pub const SPECIALS: [&str; 4] = ["<pad>", "<bos>", "<sep>", "<eos>"];

impl Vocab {
    /// Every word any testbed prompt or response can contain, plus `extra` (e.g. the tokens
    /// a study uses to condition the policy), after the specials.
    pub fn new(extra: &[&str]) -> Vocab {
        let mut list: Vec<String> = SPECIALS.iter().map(|s| (*s).to_owned()).collect();
        let mut add = |w: &str| {
            if !list.iter().any(|x| x == w) {
                list.push(w.to_owned());
            }
        };
        for q in all_questions() {
            words(&q.text).into_iter().for_each(&mut add);
        }
        for n in 0..=(2 * MAX_OPERAND + 2) {
            add(&n.to_string());
        }
        COLOURS.iter().for_each(|c| add(c));
        for f in OPENERS.iter().chain(&CLOSERS) {
            words(f).into_iter().for_each(&mut add);
        }
        words("the answer is .").into_iter().for_each(&mut add);
        extra.iter().for_each(|w| add(w));
        let index = list.iter().enumerate().map(|(i, w)| (w.clone(), i as u32)).collect();
        Vocab { words: list, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn id(&self, word: &str) -> Option<u32> {
        self.index.get(word).copied()
    }

    /// Ids of `text`'s words; `None` if a word is not in the vocabulary.
    pub fn encode(&self, text: &str) -> Option<Vec<u32>> {
        words(text).into_iter().map(|w| self.id(w)).collect()
    }

    /// Words of `ids`, joined by spaces, stopping at `<eos>`; specials other than that skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut out = Vec::new();
        for &i in ids {
            match self.words.get(i as usize).map(String::as_str) {
                Some("<eos>") => break,
                Some(w) if !SPECIALS.contains(&w) => out.push(w),
                _ => {}
            }
        }
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str) -> Question {
        all_questions().into_iter().find(|q| q.text == text).unwrap()
    }

    #[test]
    fn the_gold_scorer_on_hand_written_responses() {
        let sum = q("what is 7 plus 5 ?");
        assert_eq!(sum.answer, "12");
        let g = gold(&sum, "12 .");
        assert_eq!((g.helpfulness, g.verbosity, g.format), (1.0, 1.0, 1.0));
        assert_eq!(gold(&sum, "the answer is 12 .").verbosity, 4.0);
        assert_eq!(gold(&sum, "the answer is 13 .").helpfulness, 0.0, "wrong");
        assert_eq!(gold(&sum, "it is 12 or 13 .").helpfulness, 0.0, "hedging between two answers");
        assert_eq!(gold(&sum, "sure ! i hope this helps .").helpfulness, 0.0, "no answer");
        assert_eq!(gold(&sum, "the answer is 12").format, 0.0, "no full stop");
        assert_eq!(gold(&sum, "12 12 12 .").format, 0.0, "babbling");
        assert_eq!(gold(&sum, "12 12 .").format, 1.0);
        let colour = q("what colour is a frog ?");
        assert_eq!(gold(&colour, "a frog is green .").helpfulness, 1.0);
        assert_eq!(gold(&colour, "green or brown .").helpfulness, 0.0);
        // A number in a colour answer is not a competing colour.
        assert_eq!(gold(&colour, "green , like 2 leaves .").helpfulness, 1.0);
        let legs = q("how many legs does a snake have ?");
        assert_eq!(gold(&legs, "0 .").helpfulness, 1.0);
    }

    #[test]
    fn questions_cover_the_table_and_never_go_negative() {
        let all = all_questions();
        assert_eq!(all.len(), 169 + 91 + 24);
        assert!(all.iter().filter(|q| q.kind == Kind::Minus).all(|q| !q.answer.starts_with('-')));
        let texts: std::collections::HashSet<&str> = all.iter().map(|q| q.text.as_str()).collect();
        assert_eq!(texts.len(), all.len(), "every question is asked once");
    }

    #[test]
    fn sft_responses_mix_styles_and_correctness_and_score_as_drawn() {
        let mut rng = crate::rng(0, 0);
        let all = all_questions();
        let mut seen = std::collections::HashMap::new();
        for i in 0..600 {
            let q = &all[i % all.len()];
            let (text, style, correct) = sft_example(q, 0.6, &mut rng);
            let g = gold(q, &text);
            assert_eq!(g.helpfulness == 1.0, correct, "{text:?} for {:?}", q.text);
            assert_eq!(g.format, 1.0, "{text:?}");
            *seen.entry((style, correct)).or_insert(0) += 1;
            if style == Style::Verbose {
                assert!(g.verbosity > 4.0, "longer than the plain sentence: {text:?}");
            }
        }
        assert_eq!(seen.len(), 6, "every style, right and wrong: {seen:?}");
    }

    #[test]
    fn the_vocabulary_covers_every_response_and_round_trips() {
        let v = Vocab::new(&["<h0>", "<h1>"]);
        let mut rng = crate::rng(1, 0);
        for q in all_questions() {
            for _ in 0..3 {
                let (text, _, _) = sft_example(&q, 0.5, &mut rng);
                let ids = v.encode(&text).unwrap_or_else(|| panic!("{text:?}"));
                assert_eq!(v.decode(&ids), text);
            }
            assert!(v.encode(&q.text).is_some());
        }
        assert!(v.id("<h1>").is_some() && v.encode("zebra").is_none());
        assert!(v.len() < 200, "a small vocabulary: {}", v.len());
    }
}
