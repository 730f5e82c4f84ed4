//! [`Checkpoint`]: a run's state at a boundary of its training (an epoch, a stage, an
//! iteration), from which a resumed run goes on instead of starting again.
//!
//! A study fills it with named parts (a model, its optimizer's state, a random generator,
//! plain values) and hands it to [`RunContext::checkpoint`](crate::RunContext::checkpoint).
//! The runner writes it after everything the run logged before it, so a run resumed from it
//! has every point up to that boundary and re-logs the same steps after it (a series keeps
//! one value per step, so nothing is counted twice). The bytes carry a checksum and the
//! Benchtop version that wrote them: a damaged file is refused with a reason, never
//! half-read, and the runner sets aside one from another version.

use std::collections::BTreeMap;

use crate::cache::fnv1a;
use crate::error::StudyError;

const MAGIC: &[u8] = b"BENCHTOP-CHECKPOINT\n";
const FORMAT: u32 = 1;

/// A run's saved state after `stage` (the study's own words, e.g. "iteration 3 of 6").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Where the run was when it saved this, for the log and for the study to check.
    pub stage: String,
    /// The Benchtop version that wrote it: a study may have changed since.
    pub version: String,
    parts: BTreeMap<String, Vec<u8>>,
}

impl Checkpoint {
    /// An empty checkpoint of this build at `stage`.
    pub fn new(stage: impl Into<String>) -> Self {
        Checkpoint { stage: stage.into(), version: crate::VERSION.to_owned(), parts: BTreeMap::new() }
    }

    /// Add (or replace) a named part (builder style).
    pub fn with(mut self, name: &str, bytes: Vec<u8>) -> Self {
        self.parts.insert(name.to_owned(), bytes);
        self
    }

    /// Add a plain value as a part (counters, small vectors, evaluations), in CBOR: it keeps
    /// NaN and infinities, which JSON would turn into null.
    pub fn with_value<T: serde::Serialize>(self, name: &str, value: &T) -> Result<Self, StudyError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(|e| StudyError::Failed(format!("checkpoint part `{name}`: {e}")))?;
        Ok(self.with(name, bytes))
    }

    /// A part's bytes; an error names the part when the checkpoint lacks it.
    pub fn part(&self, name: &str) -> Result<&[u8], StudyError> {
        self.parts.get(name).map(Vec::as_slice).ok_or_else(|| {
            StudyError::Failed(format!("the checkpoint at {} has no part `{name}` (written by another version of the study?)", self.stage))
        })
    }

    /// A value written with [`Checkpoint::with_value`].
    pub fn value<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, StudyError> {
        ciborium::from_reader(self.part(name)?).map_err(|e| StudyError::Failed(format!("checkpoint part `{name}`: {e}")))
    }

    /// The names of its parts, sorted.
    pub fn part_names(&self) -> impl Iterator<Item = &str> {
        self.parts.keys().map(String::as_str)
    }

    /// Its size in bytes, parts together.
    pub fn len(&self) -> usize {
        self.parts.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The file's bytes: magic, format, checksum of the body, then the body (version, stage,
    /// parts), every length written before its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.len() + 256);
        put(&mut body, self.version.as_bytes());
        put(&mut body, self.stage.as_bytes());
        body.extend_from_slice(&(self.parts.len() as u64).to_le_bytes());
        for (name, bytes) in &self.parts {
            put(&mut body, name.as_bytes());
            put(&mut body, bytes);
        }
        let mut out = Vec::with_capacity(body.len() + MAGIC.len() + 12);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&fnv1a(body.iter().copied()).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Read [`Checkpoint::encode`]'s bytes back; any damage is an error saying what.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        let rest = bytes.strip_prefix(MAGIC).ok_or("not a Benchtop checkpoint (no magic)")?;
        let mut reader = Reader(rest);
        let format = u32::from_le_bytes(reader.array()?);
        if format != FORMAT {
            return Err(format!("checkpoint format {format}, this build reads {FORMAT}"));
        }
        let sum = u64::from_le_bytes(reader.array()?);
        if fnv1a(reader.0.iter().copied()) != sum {
            return Err("the checksum does not match (a damaged or partial file)".into());
        }
        let version = reader.text()?;
        let stage = reader.text()?;
        let count = u64::from_le_bytes(reader.array()?);
        let mut parts = BTreeMap::new();
        for _ in 0..count {
            let name = reader.text()?;
            // Written in name order, each once: anything else is not a file this wrote.
            if parts.keys().next_back().is_some_and(|last: &String| *last >= name) {
                return Err(format!("the part `{name}` is out of order or repeated"));
            }
            let value = reader.bytes()?.to_vec();
            parts.insert(name, value);
        }
        if !reader.0.is_empty() {
            return Err(format!("{} bytes after the last part", reader.0.len()));
        }
        Ok(Checkpoint { stage, version, parts })
    }
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Reads the body front to back; every read checks the length left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err(format!("cut short: {n} bytes wanted, {} left", self.0.len()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let head = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = u64::from_le_bytes(self.array()?);
        self.take(usize::try_from(len).map_err(|_| format!("a length of {len} bytes"))?)
    }

    fn text(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|e| format!("text that is not UTF-8: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Checkpoint {
        Checkpoint::new("iteration 2 of 3")
            .with("model", vec![1, 2, 3, 255])
            .with("empty", vec![])
            .with_value("counts", &vec![3usize, 4])
            .unwrap()
            .with_value("nan", &f64::NAN)
            .unwrap()
    }

    #[test]
    fn a_checkpoint_reads_back_as_written() {
        let cp = sample();
        let back = Checkpoint::decode(&cp.encode()).unwrap();
        assert_eq!(back, cp);
        assert_eq!(back.value::<Vec<usize>>("counts").unwrap(), vec![3, 4]);
        assert!(back.value::<f64>("nan").unwrap().is_nan(), "NaN survives (JSON would make it null)");
        assert_eq!(back.part_names().collect::<Vec<_>>(), vec!["counts", "empty", "model", "nan"]);
        assert!(back.part("optimizer").unwrap_err().to_string().contains("no part `optimizer`"));
    }

    #[test]
    fn a_repeated_part_is_refused() {
        let mut body = Vec::new();
        put(&mut body, b"0.1.0");
        put(&mut body, b"stage");
        body.extend_from_slice(&2u64.to_le_bytes());
        for _ in 0..2 {
            put(&mut body, b"model");
            put(&mut body, b"x");
        }
        let bytes = [MAGIC, &FORMAT.to_le_bytes(), &fnv1a(body.iter().copied()).to_le_bytes(), &body].concat();
        assert!(Checkpoint::decode(&bytes).unwrap_err().contains("repeated"));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(Checkpoint::decode(&bytes[..cut]).is_err(), "cut at {cut} was accepted");
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(Checkpoint::decode(&damaged).is_err(), "a flip at byte {i} was accepted");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), keep_magic in any::<bool>()) {
            let input = if keep_magic { [MAGIC, &bytes].concat() } else { bytes };
            let _ = Checkpoint::decode(&input);
        }
    }
}
