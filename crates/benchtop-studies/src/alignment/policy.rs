//! A tiny autoregressive transformer policy over the quiz testbed's words: GPT-style
//! (pre-layer-norm blocks, causal self-attention, learned positions), 2 layers of width 64.
//! Written by hand, as `minilm.rs` is, so every weight comes from the run's seeded generator
//! (burn's own transformer draws from a global one: runs side by side would not repeat).
//!
//! Sequences are `<bos> [prefix] question <sep> response <eos>`, right-padded with `<pad>`.
//! Causal attention means padding after a position never changes it, so batches need no
//! padding mask and sampling can read each row's logits at its own last position.

use benchtop_core::StudyError;
use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::gelu;
use rand::Rng as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ml::nets::{host, layer_norm, linear, log_softmax, softmax, tensor};

pub const WIDTH: usize = 64;
pub const HEADS: usize = 4;
pub const LAYERS: usize = 2;
pub const FEED_FORWARD: usize = 128;
/// The layer norms' epsilon (burn's default), named: the LibTorch build's fused layer norm
/// needs it passed (ml::nets::layer_norm).
const NORM_EPSILON: f64 = 1e-5;
/// The longest sequence (prompt and response together) the policy reads.
pub const MAX_LEN: usize = 64;
/// Id of `<pad>` (the testbed vocabulary puts the specials first).
pub const PAD: u32 = 0;

/// How a fine-tuning batch's token losses are averaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Over every response token of the batch (the usual): a 30-word answer weighs 15 times
    /// a 2-token one.
    #[default]
    PerToken,
    /// Over each response's tokens first, then over responses: every kept answer weighs the
    /// same, however long.
    PerResponse,
}

#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    up: Linear,
    down: Linear,
}

#[derive(Module, Debug)]
pub struct Policy {
    token: Param<Tensor<2>>,
    position: Param<Tensor<2>>,
    blocks: Vec<Block>,
    norm: LayerNorm,
    out: Linear,
}

/// Token rows, right-padded, and the weight of each next-token target (1 on the response's
/// tokens and its `<eos>`, 0 on the prompt and padding): what log-probabilities sum over.
#[derive(Clone, Debug, Default)]
pub struct TokenBatch {
    pub rows: usize,
    pub len: usize,
    pub ids: Vec<i64>,
    /// `rows * (len - 1)`: the weight of predicting token j + 1 from position j.
    pub weight: Vec<f32>,
}

impl TokenBatch {
    /// `pairs` of (prompt ids ending in `<sep>`, response ids ending in `<eos>`), truncated to
    /// [`MAX_LEN`].
    pub fn new(pairs: &[(&[u32], &[u32])]) -> TokenBatch {
        let len = pairs.iter().map(|(p, r)| (p.len() + r.len()).min(MAX_LEN)).max().unwrap_or(0).max(2);
        let mut ids = Vec::with_capacity(pairs.len() * len);
        let mut weight = Vec::with_capacity(pairs.len() * (len - 1));
        for (p, r) in pairs {
            let row: Vec<u32> = p.iter().chain(r.iter()).copied().take(len).collect();
            ids.extend(row.iter().map(|&i| i as i64).chain(std::iter::repeat_n(PAD as i64, len - row.len())));
            // Target j + 1 counts when it is a response token.
            weight.extend((1..len).map(|j| if j >= p.len() && j < row.len() { 1.0 } else { 0.0 }));
        }
        TokenBatch { rows: pairs.len(), len, ids, weight }
    }
}

impl Policy {
    pub fn new(vocab: usize, rng: &mut benchtop_data::Rng, device: &Device) -> Policy {
        // Embeddings ~ N(0, 0.02²)-like scale (GPT-2), drawn uniformly with the same spread.
        let small = |rng: &mut benchtop_data::Rng, n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-0.035f32..0.035)).collect() };
        let token = Param::from_tensor(tensor(small(rng, vocab * WIDTH), [vocab, WIDTH], device));
        let position = Param::from_tensor(tensor(small(rng, MAX_LEN * WIDTH), [MAX_LEN, WIDTH], device));
        let blocks = (0..LAYERS)
            .map(|_| Block {
                norm1: LayerNormConfig::new(WIDTH).with_epsilon(NORM_EPSILON).init(device),
                qkv: linear(rng, WIDTH, 3 * WIDTH, device),
                proj: linear(rng, WIDTH, WIDTH, device),
                norm2: LayerNormConfig::new(WIDTH).with_epsilon(NORM_EPSILON).init(device),
                up: linear(rng, WIDTH, FEED_FORWARD, device),
                down: linear(rng, FEED_FORWARD, WIDTH, device),
            })
            .collect();
        Policy {
            token,
            position,
            blocks,
            norm: LayerNormConfig::new(WIDTH).with_epsilon(NORM_EPSILON).init(device),
            out: linear(rng, WIDTH, vocab, device),
        }
    }

    pub fn vocab(&self) -> usize {
        self.token.val().dims()[0]
    }

    /// Next-token logits `[b, n, vocab]` of token rows `[b, n]`.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [b, n] = ids.dims();
        let device = ids.device();
        let x = self.token.val().select(0, ids.reshape([b * n]));
        let position = self.position.val().slice([0..n, 0..WIDTH]).repeat_dim(0, b);
        let mut x = x + position; // [b * n, WIDTH]
        let head = WIDTH / HEADS;
        // 0 on and below the diagonal, -1e4 above it: a position never sees later ones.
        let causal: Vec<f32> = (0..n * n).map(|k| if k % n > k / n { -1e4 } else { 0.0 }).collect();
        let causal = tensor(causal, [1, 1, n, n], &device);
        for block in &self.blocks {
            let qkv = block.qkv.forward(layer_norm(&block.norm1, x.clone(), NORM_EPSILON));
            let part = |k: usize| qkv.clone().slice([0..b * n, k * WIDTH..(k + 1) * WIDTH]).reshape([b, n, HEADS, head]).swap_dims(1, 2);
            let (q, k, v) = (part(0), part(1), part(2));
            let scores = q.matmul(k.swap_dims(2, 3)).div_scalar((head as f64).sqrt()) + causal.clone();
            let context = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([b * n, WIDTH]);
            x = x + block.proj.forward(context);
            x = x.clone() + block.down.forward(gelu(block.up.forward(layer_norm(&block.norm2, x, NORM_EPSILON))));
        }
        let vocab = self.vocab();
        self.out.forward(layer_norm(&self.norm, x, NORM_EPSILON)).reshape([b, n, vocab])
    }

    /// The log-probability of each row's response (its weighted next-token targets), `[b]`.
    pub fn sequence_logprob(&self, batch: &TokenBatch, device: &Device) -> Tensor<1> {
        let (b, n) = (batch.rows, batch.len);
        let ids = Tensor::<2, Int>::from_data(TensorData::new(batch.ids.clone(), [b, n]), device);
        let inputs = ids.clone().slice([0..b, 0..n - 1]);
        let targets = ids.slice([0..b, 1..n]).reshape([b, n - 1, 1]);
        let logp = log_softmax(self.forward(inputs), 2).gather(2, targets).reshape([b, n - 1]);
        let weight = tensor(batch.weight.clone(), [b, n - 1], device);
        (logp * weight).sum_dim(1).reshape([b])
    }

    /// Supervised fine-tuning's loss: next-token cross-entropy on the response tokens, averaged
    /// over all tokens of the batch or per response first (see [`Weighting`]).
    pub fn sft_loss(&self, batch: &TokenBatch, weighting: Weighting, device: &Device) -> Tensor<1> {
        let logp = self.sequence_logprob(batch, device);
        match weighting {
            Weighting::PerToken => {
                let tokens: f32 = batch.weight.iter().sum();
                logp.sum().neg().div_scalar(tokens.max(1.0))
            }
            Weighting::PerResponse => {
                let per_row: Vec<f32> = batch.weight.chunks(batch.len - 1).map(|w| 1.0 / w.iter().sum::<f32>().max(1.0)).collect();
                (logp * tensor(per_row, [batch.rows], device)).mean().neg()
            }
        }
    }

    /// Every weight, in the module's visiting order.
    pub fn values(&self) -> Result<Vec<f32>, StudyError> {
        crate::ml::nets::module_values(self)
    }

    /// This (fresh) policy with [`Policy::values`]'s weights.
    pub fn with_values(self, values: &[f32], device: &Device) -> Result<Policy, StudyError> {
        crate::ml::nets::with_module_values(self, values, device, "policy")
    }

    /// Continue each prompt (ids ending in `<sep>`) by sampling at `temperature` until `<eos>`
    /// or [`MAX_LEN`]; returns the response ids without `<eos>`. Runs on the plain device;
    /// rows are drawn in order from `rng`, so a seed gives the same responses.
    pub fn sample(
        &self,
        prompts: &[Vec<u32>],
        eos: u32,
        temperature: f64,
        rng: &mut benchtop_data::Rng,
    ) -> Result<Vec<Vec<u32>>, StudyError> {
        const CHUNK: usize = 256;
        let inference = self.valid();
        let mut out = Vec::with_capacity(prompts.len());
        for chunk in prompts.chunks(CHUNK) {
            out.extend(inference.sample_chunk(chunk, eos, temperature, rng)?);
        }
        Ok(out)
    }

    fn sample_chunk(
        &self,
        prompts: &[Vec<u32>],
        eos: u32,
        temperature: f64,
        rng: &mut benchtop_data::Rng,
    ) -> Result<Vec<Vec<u32>>, StudyError> {
        let device = self.token.val().device();
        let vocab = self.vocab();
        let mut rows: Vec<Vec<u32>> = prompts.iter().map(|p| p.iter().copied().take(MAX_LEN - 1).collect()).collect();
        let starts: Vec<usize> = rows.iter().map(Vec::len).collect();
        let mut done = vec![false; rows.len()];
        while done.iter().any(|d| !d) {
            let live: Vec<usize> = (0..rows.len()).filter(|&i| !done[i]).collect();
            let n = live.iter().map(|&i| rows[i].len()).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(live.len() * n);
            let mut last = Vec::with_capacity(live.len() * vocab);
            for &i in &live {
                ids.extend(rows[i].iter().map(|&t| t as i64).chain(std::iter::repeat_n(PAD as i64, n - rows[i].len())));
                last.extend(std::iter::repeat_n((rows[i].len() - 1) as i64, vocab));
            }
            let b = live.len();
            let logits = self.forward(Tensor::<2, Int>::from_data(TensorData::new(ids, [b, n]), &device));
            let at = Tensor::<3, Int>::from_data(TensorData::new(last, [b, 1, vocab]), &device);
            let next = host(logits.gather(1, at).reshape([b, vocab]))?;
            for (r, &i) in live.iter().enumerate() {
                let token = draw(&next[r * vocab..(r + 1) * vocab], temperature, rng);
                if token == eos || rows[i].len() + 1 >= MAX_LEN {
                    done[i] = true;
                }
                if token != eos {
                    rows[i].push(token);
                }
            }
        }
        Ok(rows.into_iter().zip(starts).map(|(r, s)| r[s..].to_vec()).collect())
    }
}

/// A token from `logits` at `temperature` (0: the most likely one). Padding and `<bos>` are
/// never drawn.
fn draw(logits: &[f32], temperature: f64, rng: &mut benchtop_data::Rng) -> u32 {
    let usable = |i: usize| i != PAD as usize && i != 1;
    if temperature <= 0.0 {
        return (0..logits.len()).filter(|&i| usable(i)).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap_or(0) as u32;
    }
    let top = (0..logits.len()).filter(|&i| usable(i)).map(|i| logits[i] as f64).fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> =
        (0..logits.len()).map(|i| if usable(i) { ((logits[i] as f64 - top) / temperature).exp() } else { 0.0 }).collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i as u32;
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0) as u32
}
