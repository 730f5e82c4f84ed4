//! Metric series in blocks: each key of the `blocks` tree holds up to [`BLOCK`] points of one
//! series, sorted by step, keyed by the series and its first step. One 10k-point series is
//! then about twenty reads instead of ten thousand (sled costs about a microsecond a key),
//! and a batch of points is a few inserts.
//!
//! A point is still kept by its step: writing a step again replaces its value (a resumed run
//! logs the steps after its checkpoint again; a worker may send a batch twice).

use std::collections::BTreeMap;

/// Points per block, at most: 8 KiB, so appending a few points rewrites little.
pub const BLOCK: usize = 512;

/// Bytes per encoded point: step (u64) and value (f64), little-endian.
const POINT: usize = 16;

pub fn encode(points: &[(u64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(points.len() * POINT);
    for (step, value) in points {
        out.extend_from_slice(&step.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// `None` when the bytes are not whole points.
pub fn decode(bytes: &[u8]) -> Option<Vec<(u64, f64)>> {
    let mut points = Vec::with_capacity(bytes.len() / POINT);
    decode_into(bytes, &mut points).then_some(points)
}

/// Append a block's points to `out` (a series read whole copies each point once); false,
/// appending nothing, when the bytes are not whole points.
pub fn decode_into(bytes: &[u8], out: &mut Vec<(u64, f64)>) -> bool {
    if !bytes.len().is_multiple_of(POINT) {
        return false;
    }
    out.reserve(bytes.len() / POINT);
    for c in bytes.chunks_exact(POINT) {
        let (step, value) = c.split_at(8);
        let (Ok(step), Ok(value)) = (<[u8; 8]>::try_from(step), <[u8; 8]>::try_from(value)) else { return false };
        out.push((u64::from_le_bytes(step), f64::from_le_bytes(value)));
    }
    true
}

/// Blocks of one series: each block's first step and its points.
pub type Blocks = Vec<(u64, Vec<(u64, f64)>)>;

/// Where a series' points go: the blocks to write (by first step) and the first steps of
/// the blocks they replace, given the series' blocks that the new points touch and the new
/// points (in any order; a repeated step keeps its last value).
pub fn merge(touched: Blocks, new: &[(u64, f64)]) -> (Blocks, Vec<u64>) {
    let removed: Vec<u64> = touched.iter().map(|(first, _)| *first).collect();
    let mut all: BTreeMap<u64, f64> = touched.into_iter().flat_map(|(_, points)| points).collect();
    for (step, value) in new {
        all.insert(*step, *value);
    }
    let points: Vec<(u64, f64)> = all.into_iter().collect();
    let blocks = points.chunks(BLOCK).map(|c| (c[0].0, c.to_vec())).collect();
    (blocks, removed)
}
