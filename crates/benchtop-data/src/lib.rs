//! Data for the studies: bundled real data sets and synthetic generators.
//!
//! Every generator is deterministic from its seed (ChaCha8, portable across platforms).

pub mod isr;

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
