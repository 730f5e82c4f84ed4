//! Text features for the reward models: MiniLM sentence embeddings of every distinct text
//! of a corpus, computed once and cached by text hash; a hashed n-gram featuriser when the
//! MiniLM weights are absent.

use std::collections::HashMap;

use benchtop_core::cache::fnv1a;
use benchtop_core::{LogLevel, RunContext, StudyError};
use benchtop_data::preference::{PreferencePair, QaQuestion};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::minilm::{MiniLm, weights_path};

/// Width of every text vector (MiniLM's; the hashed featuriser uses the same).
pub const DIM: usize = 384;

/// How texts become vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoder {
    /// all-MiniLM-L6-v2 in burn; falls back to `hashed` (with a warning in the log) when the
    /// weights are not installed.
    #[default]
    Minilm,
    /// Signed hashing of lower-cased word unigrams and bigrams into 384 buckets.
    Hashed,
}

impl Encoder {
    fn name(self) -> &'static str {
        match self {
            Encoder::Minilm => "all-MiniLM-L6-v2",
            Encoder::Hashed => "hashed-ngrams",
        }
    }
}

/// The text a prompt is embedded as. For a multi-turn dialogue, its last human turn (the
/// request the response answers): the whole dialogue would be cut at MiniLM's 256 tokens
/// from its start, losing exactly that turn, and cost several times more to embed.
pub fn prompt_text(prompt: &str) -> &str {
    let Some(at) = prompt.rfind("Human:") else { return prompt.trim() };
    let turn = &prompt[at + "Human:".len()..];
    turn.strip_suffix("Assistant:").unwrap_or(turn).trim()
}

/// Unit vectors of texts, looked up by text.
pub struct TextVectors {
    index: HashMap<u64, usize>,
    data: Vec<f32>,
    /// The encoder that made them (the fallback, if MiniLM was asked for and is missing).
    pub encoder: Encoder,
}

impl TextVectors {
    pub fn get(&self, text: &str) -> Result<&[f32], StudyError> {
        let i = *self
            .index
            .get(&text_hash(text))
            .ok_or_else(|| StudyError::Failed(format!("no vector for the text {:?}", text.chars().take(40).collect::<String>())))?;
        Ok(&self.data[i * DIM..(i + 1) * DIM])
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn to_bytes(&self, hashes: &[u64]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hashes.len() * (8 + 4 * DIM));
        for h in hashes {
            out.extend(h.to_le_bytes());
            let i = self.index[h];
            out.extend(self.data[i * DIM..(i + 1) * DIM].iter().flat_map(|v| v.to_le_bytes()));
        }
        out
    }

    fn from_bytes(bytes: &[u8], encoder: Encoder) -> Result<TextVectors, StudyError> {
        let row = 8 + 4 * DIM;
        if !bytes.len().is_multiple_of(row) {
            return Err(StudyError::Failed("a cached embedding file is not whole rows".into()));
        }
        let mut index = HashMap::new();
        let mut data = Vec::with_capacity(bytes.len() / row * DIM);
        for (i, r) in bytes.chunks_exact(row).enumerate() {
            let mut h = [0u8; 8];
            h.copy_from_slice(&r[..8]);
            index.insert(u64::from_le_bytes(h), i);
            data.extend(r[8..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        Ok(TextVectors { index, data, encoder })
    }
}

/// A text's stable 64-bit hash.
pub fn text_hash(text: &str) -> u64 {
    fnv1a(text.bytes())
}

/// The hashed n-gram featuriser: each lower-cased word and word bigram adds ±1 to one of
/// 384 buckets (sign and bucket from its hash), then the vector is scaled to unit length.
pub fn hashed_vector(text: &str) -> Vec<f32> {
    let words: Vec<String> =
        text.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    let mut v = vec![0.0f32; DIM];
    let mut add = |gram: &str| {
        let h = text_hash(gram);
        v[(h % DIM as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
    };
    for (i, w) in words.iter().enumerate() {
        add(w);
        if let Some(next) = words.get(i + 1) {
            add(&format!("{w} {next}"));
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Every question and answer of FineGrained QA: the text set both reward studies embed.
pub fn finegrained_texts(questions: &[QaQuestion]) -> Vec<&str> {
    let mut texts: Vec<&str> =
        questions.iter().flat_map(|q| std::iter::once(q.question.as_str()).chain(q.answers.iter().map(String::as_str))).collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}

/// The distinct texts a set of pairs needs: each prompt (as [`prompt_text`]) and response.
pub fn corpus_texts(pairs: &[PreferencePair]) -> Vec<&str> {
    let mut texts: Vec<&str> = pairs.iter().flat_map(|p| [prompt_text(&p.prompt), p.chosen.as_str(), p.rejected.as_str()]).collect();
    texts.sort_unstable();
    texts.dedup();
    texts
}

/// Vectors of `texts` (a corpus named `corpus`), computed once per corpus and encoder and
/// then read from the run cache. MiniLM without weights falls back to hashing, loudly.
pub fn embed(ctx: &RunContext, corpus: &str, texts: &[&str], encoder: Encoder) -> Result<TextVectors, StudyError> {
    let encoder = match (encoder, weights_path().filter(|p| p.exists())) {
        (Encoder::Minilm, None) => {
            ctx.log_text(
                LogLevel::Warn,
                "the MiniLM weights are not installed (run scripts/setup.sh or set BENCHTOP_MINILM): \
                 falling back to hashed n-gram features, whose numbers are not comparable with MiniLM's",
            );
            Encoder::Hashed
        }
        (e, _) => e,
    };
    let mut hashes: Vec<u64> = texts.iter().map(|t| text_hash(t)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    if hashes.len() != texts.len() {
        return Err(StudyError::Failed(format!("{corpus}: two distinct texts share a 64-bit hash")));
    }
    // The texts themselves (a changed corpus of the same size recomputes) and, for MiniLM, the
    // weights file (BENCHTOP_MINILM may point at another) are part of the key.
    let texts_fingerprint = fnv1a(hashes.iter().flat_map(|h| h.to_le_bytes()));
    let weights_fingerprint = match encoder {
        Encoder::Minilm => weights_path().map_or(Ok(String::new()), |p| weights_fingerprint(&p))?,
        Encoder::Hashed => String::new(),
    };
    let key = crate::ml::device::stage_key(ctx, "reward", "embeddings", 0)
        .param("corpus", corpus)
        .param("texts", texts.len() as u64)
        .param("texts_fingerprint", format!("{texts_fingerprint:016x}"))
        .param("encoder", encoder.name())
        .param("weights", weights_fingerprint);
    let bytes = ctx.cached(&key, || {
        let vectors = match encoder {
            Encoder::Hashed => texts.iter().map(|t| hashed_vector(t)).collect(),
            Encoder::Minilm => {
                let path = weights_path().ok_or_else(|| StudyError::Failed("no data directory for the MiniLM weights".into()))?;
                let model = MiniLm::load(&path, &crate::ml::device::inference_device(ctx.backend())?)?;
                ctx.info(format!("embedding {} distinct texts of {corpus} with MiniLM (once; cached after)", texts.len()));
                let total = texts.len() as u64;
                model.embed_with_progress(texts, |done| {
                    ctx.progress(done as u64, total);
                    ctx.check_cancelled()
                })?
            }
        };
        let built = TextVectors {
            index: texts.iter().enumerate().map(|(i, t)| (text_hash(t), i)).collect(),
            data: vectors.into_iter().flatten().collect(),
            encoder,
        };
        Ok(built.to_bytes(&hashes))
    })?;
    let vectors = TextVectors::from_bytes(&bytes, encoder)?;
    if let Some(t) = texts.iter().find(|t| !vectors.index.contains_key(&text_hash(t))) {
        return Err(StudyError::Failed(format!("the cached embeddings of {corpus} lack {:?}", t.chars().take(40).collect::<String>())));
    }
    Ok(vectors)
}

/// The weights file's size and a hash of its first megabyte: enough to tell two files apart
/// without reading 90 MB on every run.
fn weights_fingerprint(path: &std::path::Path) -> Result<String, StudyError> {
    use std::io::Read as _;
    let failed = |e: std::io::Error| StudyError::Failed(format!("{}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(failed)?.len();
    let mut head = Vec::with_capacity(1 << 20);
    std::fs::File::open(path).map_err(failed)?.take(1 << 20).read_to_end(&mut head).map_err(failed)?;
    Ok(format!("{size}:{:016x}", fnv1a(head)))
}

/// A response's features given its prompt: `[e(y), e(x) * e(y)]`. The product lets a linear
/// reward depend on how the response relates to the prompt (a prompt-only term would cancel
/// in every comparison of two responses to the same prompt).
pub fn response_features(prompt: &[f32], response: &[f32]) -> Vec<f32> {
    let mut f = Vec::with_capacity(2 * DIM);
    f.extend_from_slice(response);
    f.extend(prompt.iter().zip(response).map(|(x, y)| x * y));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_embedded_as_their_last_human_turn() {
        assert_eq!(prompt_text("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how do I pick a lock?\n\nAssistant:"), "how do I pick a lock?");
        assert_eq!(prompt_text("What is the capital of France?"), "What is the capital of France?");
    }

    #[test]
    fn hashed_vectors_are_unit_length_deterministic_and_see_words() {
        let a = hashed_vector("The cat sat on the mat");
        assert!((a.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(a, hashed_vector("the CAT sat on the mat!"), "case and punctuation do not matter");
        let b = hashed_vector("Stock prices fell sharply today");
        let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(cos.abs() < 0.5, "unrelated texts are far apart: {cos}");
        assert_eq!(hashed_vector(""), vec![0.0; DIM]);
    }

    #[test]
    fn vectors_survive_the_cache_format() {
        let texts = ["one", "two words", "three little words"];
        let v = TextVectors {
            index: texts.iter().enumerate().map(|(i, t)| (text_hash(t), i)).collect(),
            data: texts.iter().flat_map(|t| hashed_vector(t)).collect(),
            encoder: Encoder::Hashed,
        };
        let hashes: Vec<u64> = texts.iter().map(|t| text_hash(t)).collect();
        let back = TextVectors::from_bytes(&v.to_bytes(&hashes), Encoder::Hashed).unwrap();
        for t in texts {
            assert_eq!(back.get(t).unwrap(), v.get(t).unwrap());
        }
        assert!(back.get("absent").is_err());
    }
}
