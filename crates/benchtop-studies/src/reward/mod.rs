//! Reward modelling on human preferences: text features, Bradley–Terry reward
//! models, a controlled benchmark whose truth is known, and two studies — semi-supervised
//! reward modelling (SSRM) and the multi-objective ArmoRM with its gate.

pub mod armorm;
pub mod controlled;
pub mod features;
pub mod ssrm;

use benchtop_core::StudyError;
use benchtop_data::preference::{PreferencePair, finegrained_qa, hh_rlhf_harmless, qa_pairs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which human preference pairs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Corpus {
    /// Anthropic hh-rlhf, harmless-base test split: 2,312 dialogues, one pair each.
    #[default]
    HhHarmless,
    /// FineGrained QA feedback (dev): 500 questions, 2,616 strict pairs among 4 answers each.
    FinegrainedQa,
}

impl Corpus {
    pub fn name(self) -> &'static str {
        match self {
            Corpus::HhHarmless => "hh_harmless",
            Corpus::FinegrainedQa => "finegrained_qa",
        }
    }

    pub fn pairs(self) -> Result<Vec<PreferencePair>, StudyError> {
        match self {
            Corpus::HhHarmless => Ok(hh_rlhf_harmless()?),
            Corpus::FinegrainedQa => Ok(qa_pairs(&finegrained_qa()?).0),
        }
    }
}

/// A run context whose cache outlives the test process: the corpus's MiniLM embeddings are
/// computed once per machine (about 2 minutes for hh-rlhf), then read back.
#[cfg(test)]
pub(crate) fn test_context(seed: u64) -> benchtop_core::RunContext {
    let (tx, _rx) = std::sync::mpsc::channel();
    let cache = benchtop_core::ArtifactCache::new(std::env::temp_dir().join("benchtop-test-embeddings"));
    benchtop_core::RunContext::new(
        benchtop_core::RunId::new(),
        seed,
        benchtop_core::Backend::Cpu,
        tempfile::tempdir().unwrap().keep(),
        tx,
        Default::default(),
    )
    .with_cache(cache)
}
