//! Data for the studies: bundled real data sets and synthetic generators.
//!
//! Every generator is deterministic from its seed (ChaCha8, portable across platforms).

pub mod cg_digits;
pub mod digits;
pub mod grid;
pub mod isr;
pub mod lightfield;
pub mod ot;
pub mod preference;
pub mod quiz;
pub mod scenes;
pub mod tabular;
pub mod transforms;

/// A problem with a data file: which file (and line), and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DataError {
    pub file: String,
    pub message: String,
}

impl DataError {
    pub fn new(file: &str, message: String) -> Self {
        DataError { file: file.to_owned(), message }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;

/// A study that cannot load its data fails, naming the file and what is wrong with it.
impl From<DataError> for benchtop_core::StudyError {
    fn from(e: DataError) -> Self {
        benchtop_core::StudyError::Failed(e.to_string())
    }
}

/// The random generator every study derives its streams from.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator for `seed`, on an independent `stream` (data, init, shuffles, ...), so adding
/// draws to one stream never shifts another.
pub fn rng(seed: u64, stream: u64) -> Rng {
    use rand::SeedableRng;
    let mut r = Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}
