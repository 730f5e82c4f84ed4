//! The merging study's networks in burn, at laptop scale.
//!
//! - [`Backbone`]: SAM's image encoder in miniature, three 3x3 convolutions to a feature map
//!   at a quarter of the input's resolution. It never sees a prompt, as SAM's encoder does
//!   not, so one backbone can serve a second head.
//! - [`MaskHead`]: SAM's prompt encoder and mask decoder in miniature. The clicked point is
//!   encoded at the feature map's resolution (a Gaussian bump and the offset of every cell
//!   from the click), decoded to coarse mask logits, upsampled and refined at full
//!   resolution with the image (SAM upsamples its masks with transposed convolutions; a
//!   refinement on the image is the cheaper way at 48 pixels).
//! - [`SemanticHead`]: the new light head that learns CLIP's embedding space: a 3x3 and a
//!   1x1 convolution to an embedding per feature cell, mean-pooled for the image. Applied
//!   without the pooling, it labels every cell: the zero-shot segmenter.
//! - [`TeacherC`]: CLIP's role, a separate convolutional network from a single digit to an
//!   embedding, trained against fixed class prototypes (the stand-in for CLIP's text
//!   embeddings).
//!
//! Weights come from the run's seeded generator, as every study's (see [`crate::ml::nets`]).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::AvgPool2dConfig;
use burn::nn::{Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand_chacha::ChaCha8Rng;

use crate::ml::nets::{conv2d, linear, softmax, tensor, uniform};

/// The embedding's dimension (the prototypes', CLIP's text side).
pub const EMBED: usize = 32;
/// The feature map is the input at a quarter of its resolution.
pub const STRIDE: usize = 4;
const FEATURES: usize = 32;
const PROMPT_CHANNELS: usize = 3;

/// A 3x3 (or 1x1) convolution with `same`-style padding, seeded.
fn conv(rng: &mut ChaCha8Rng, c_in: usize, c_out: usize, k: usize, stride: usize, dilation: usize, device: &Device) -> Conv2d {
    let pad = dilation * (k - 1) / 2;
    let mut layer = Conv2dConfig::new([c_in, c_out], [k, k])
        .with_stride([stride, stride])
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .init(device);
    let fan_in = c_in * k * k;
    layer.weight = Param::from_tensor(tensor(uniform(rng, c_out * fan_in, fan_in), [c_out, c_in, k, k], device));
    layer.bias = Some(Param::from_tensor(tensor(uniform(rng, c_out, fan_in), [c_out], device)));
    layer
}

/// Multiply-accumulates of one convolution producing an `out x out` map.
fn conv_macs(out: usize, c_in: usize, c_out: usize, k: usize) -> u64 {
    (out * out * c_in * c_out * k * k) as u64
}

/// The shared image encoder: 1 -> 16 (stride 2) -> 32 (stride 2) -> 32.
#[derive(Module, Debug)]
pub struct Backbone {
    convs: Vec<Conv2d>,
}

impl Backbone {
    pub fn new(rng: &mut ChaCha8Rng, device: &Device) -> Backbone {
        Backbone {
            convs: vec![
                conv(rng, 1, 16, 3, 2, 1, device),
                conv(rng, 16, FEATURES, 3, 2, 1, device),
                conv(rng, FEATURES, FEATURES, 3, 1, 1, device),
            ],
        }
    }

    /// `[n, 1, s, s]` images to `[n, 32, s/4, s/4]` features.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<4> {
        let mut x = images;
        for c in &self.convs {
            x = relu(conv2d(c, x));
        }
        x
    }

    pub fn macs(side: usize) -> u64 {
        conv_macs(side / 2, 1, 16, 3) + conv_macs(side / 4, 16, FEATURES, 3) + conv_macs(side / 4, FEATURES, FEATURES, 3)
    }
}

/// The point prompt at the feature map's resolution, for a click at pixel `(row, col)` of a
/// `side x side` image: a Gaussian bump (one cell wide) and the offset of every cell from
/// the click in units of the map's size. `[3, g, g]` values, `g = side / 4`.
pub fn encode_prompt(row: usize, col: usize, side: usize) -> Vec<f32> {
    let g = side / STRIDE;
    let (py, px) = ((row as f32 + 0.5) / STRIDE as f32, (col as f32 + 0.5) / STRIDE as f32);
    let mut out = vec![0.0; PROMPT_CHANNELS * g * g];
    for y in 0..g {
        for x in 0..g {
            let (dy, dx) = (y as f32 + 0.5 - py, x as f32 + 0.5 - px);
            out[y * g + x] = (-(dy * dy + dx * dx) / 2.0).exp();
            out[g * g + y * g + x] = dy / g as f32;
            out[2 * g * g + y * g + x] = dx / g as f32;
        }
    }
    out
}

/// The prompt encoder and mask decoder.
#[derive(Module, Debug)]
pub struct MaskHead {
    decode: Vec<Conv2d>,
    coarse: Conv2d,
    refine: Vec<Conv2d>,
}

impl MaskHead {
    pub fn new(rng: &mut ChaCha8Rng, device: &Device) -> MaskHead {
        MaskHead {
            decode: vec![conv(rng, FEATURES + PROMPT_CHANNELS, 16, 3, 1, 1, device), conv(rng, 16, 16, 3, 1, 2, device)],
            coarse: conv(rng, 16, 1, 1, 1, 1, device),
            refine: vec![conv(rng, 2, 8, 3, 1, 1, device), conv(rng, 8, 1, 3, 1, 1, device)],
        }
    }

    /// Mask logits `[n, 1, s, s]` from the features, the encoded prompts `[n, 3, g, g]` and
    /// the images `[n, 1, s, s]`.
    pub fn forward(&self, features: Tensor<4>, prompts: Tensor<4>, images: Tensor<4>) -> Tensor<4> {
        let mut h = Tensor::cat(vec![features, prompts], 1);
        for c in &self.decode {
            h = relu(conv2d(c, h));
        }
        let coarse = upsample(conv2d(&self.coarse, h), STRIDE);
        let r = relu(conv2d(&self.refine[0], Tensor::cat(vec![coarse.clone(), images], 1)));
        coarse + conv2d(&self.refine[1], r)
    }

    pub fn macs(side: usize) -> u64 {
        let g = side / STRIDE;
        conv_macs(g, FEATURES + PROMPT_CHANNELS, 16, 3)
            + conv_macs(g, 16, 16, 3)
            + conv_macs(g, 16, 1, 1)
            + conv_macs(side, 2, 8, 3)
            + conv_macs(side, 8, 1, 3)
    }
}

/// Nearest-neighbour upsampling of `[n, c, h, w]` by `k` (each value repeated in a k x k block).
pub fn upsample(x: Tensor<4>, k: usize) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).repeat_dim(3, k).repeat_dim(5, k).reshape([n, c, h * k, w * k])
}

/// Dimension of the attention pooling's keys.
const KEYS: usize = 16;

/// The new CLIP head: a 3x3 convolution, then CLIP's attention pooling (a learned query over
/// every cell's key; the image's embedding is the attention-weighted mean of the cells'
/// values). The values of each cell, without the pooling, are its dense embedding (as
/// MaskCLIP reads a CLIP image encoder densely).
#[derive(Module, Debug)]
pub struct SemanticHead {
    hidden: Conv2d,
    keys: Conv2d,
    values: Conv2d,
    query: Param<Tensor<1>>,
}

impl SemanticHead {
    pub fn new(rng: &mut ChaCha8Rng, device: &Device) -> SemanticHead {
        SemanticHead {
            hidden: conv(rng, FEATURES, FEATURES, 3, 1, 1, device),
            keys: conv(rng, FEATURES, KEYS, 1, 1, 1, device),
            values: conv(rng, FEATURES, EMBED, 1, 1, 1, device),
            query: Param::from_tensor(tensor(uniform(rng, KEYS, KEYS), [KEYS], device)),
        }
    }

    /// `[n, EMBED, g, g]`: each cell's value, its dense embedding.
    pub fn dense(&self, features: Tensor<4>) -> Tensor<4> {
        conv2d(&self.values, relu(conv2d(&self.hidden, features)))
    }

    /// `[n, EMBED]`: the image's embedding, the attention-pooled cells' values.
    pub fn forward(&self, features: Tensor<4>) -> Tensor<2> {
        let h = relu(conv2d(&self.hidden, features));
        let [n, _, gh, gw] = h.dims();
        let keys = conv2d(&self.keys, h.clone()).reshape([n, KEYS, gh * gw]);
        let values = conv2d(&self.values, h).reshape([n, EMBED, gh * gw]);
        let query = self.query.val().reshape([1, 1, KEYS]).expand([n, 1, KEYS]);
        let weights = softmax(query.matmul(keys).div_scalar((KEYS as f64).sqrt()), 2); // [n, 1, cells]
        values.matmul(weights.swap_dims(1, 2)).reshape([n, EMBED])
    }

    /// `[n, EMBED, g, g]`: every cell's embedding as the head pools a `window x window`-cell
    /// neighbourhood around it, the size of the single digits it learned on (28 pixels: 7
    /// cells). The attention pooling of the whole image, slid over the feature map: the
    /// backbone and the head run once per scene, where sliding teacher C runs it per window.
    pub fn windowed(&self, features: Tensor<4>, window: usize) -> Tensor<4> {
        let h = relu(conv2d(&self.hidden, features));
        let [n, _, gh, gw] = h.dims();
        let logits = self.query.val().reshape([1, KEYS, 1, 1]).expand([n, KEYS, gh, gw]).mul(conv2d(&self.keys, h.clone())).sum_dim(1);
        // Attention weights up to a per-image factor, which the ratio below cancels. The
        // exponent is floored so that no window's weights all underflow to zero (a window far
        // below the image's strongest cell then averages its cells evenly).
        let top = logits.clone().max_dim(2).max_dim(3);
        let weights = (logits - top).div_scalar((KEYS as f64).sqrt()).clamp_min(-80.0).exp();
        let pad = window / 2;
        let pool =
            AvgPool2dConfig::new([window, window]).with_strides([1, 1]).with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad)).init();
        let values = conv2d(&self.values, h);
        pool.forward(values * weights.clone()) / pool.forward(weights).clamp_min(1e-12)
    }

    pub fn macs(side: usize) -> u64 {
        let g = side / STRIDE;
        conv_macs(g, FEATURES, FEATURES, 3) + conv_macs(g, FEATURES, EMBED + KEYS, 1)
    }
}

/// A backbone with either head or both: teacher S (mask head), the weight-merging arm's
/// second fine-tune (semantic head), and the merged student (both).
#[derive(Module, Debug)]
pub struct Net {
    pub backbone: Backbone,
    pub mask: Option<MaskHead>,
    pub semantic: Option<SemanticHead>,
}

/// Which heads a [`Net`] has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub mask: bool,
    pub semantic: bool,
}

impl Net {
    /// A fresh network; the backbone, the mask head and the semantic head each from their
    /// own stream, so the same seed gives the same backbone whatever heads it carries.
    pub fn new(heads: Heads, seed: u64, streams: [u64; 3], device: &Device) -> Net {
        Net {
            backbone: Backbone::new(&mut benchtop_data::rng(seed, streams[0]), device),
            mask: heads.mask.then(|| MaskHead::new(&mut benchtop_data::rng(seed, streams[1]), device)),
            semantic: heads.semantic.then(|| SemanticHead::new(&mut benchtop_data::rng(seed, streams[2]), device)),
        }
    }

    /// Multiply-accumulates to answer both tasks once: a prompted mask on a `side x side`
    /// scene and the embedding of a 28 x 28 digit (the backbone runs on each image).
    pub fn macs(&self, side: usize) -> u64 {
        let mask = if self.mask.is_some() { Backbone::macs(side) + MaskHead::macs(side) } else { 0 };
        let semantic = if self.semantic.is_some() { Backbone::macs(28) + SemanticHead::macs(28) } else { 0 };
        mask + semantic
    }
}

/// CLIP's role: 1 -> 16 (stride 2) -> 32 (stride 2) -> 64, mean-pooled, projected.
#[derive(Module, Debug)]
pub struct TeacherC {
    convs: Vec<Conv2d>,
    project: Linear,
}

impl TeacherC {
    pub fn new(rng: &mut ChaCha8Rng, device: &Device) -> TeacherC {
        TeacherC {
            convs: vec![conv(rng, 1, 16, 3, 2, 1, device), conv(rng, 16, 32, 3, 2, 1, device), conv(rng, 32, 64, 3, 1, 1, device)],
            project: linear(rng, 64, EMBED, device),
        }
    }

    /// `[n, 1, 28, 28]` digits to `[n, EMBED]` embeddings.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for c in &self.convs {
            x = relu(conv2d(c, x));
        }
        let [n, c, _, _] = x.dims();
        self.project.forward(x.mean_dim(3).mean_dim(2).reshape([n, c]))
    }

    pub fn macs(side: usize) -> u64 {
        conv_macs(side / 2, 1, 16, 3) + conv_macs(side / 4, 16, 32, 3) + conv_macs(side / 4, 32, 64, 3) + (64 * EMBED) as u64
    }
}

/// Rows scaled to unit length (a small floor keeps a zero row finite).
pub fn normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}

/// Cosine distillation: the mean of `1 - cos(student, teacher)` over rows.
pub fn cosine_distillation(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (normalise(student) * normalise(teacher)).sum_dim(1).neg().add_scalar(1.0).mean()
}

/// SAM's mask loss in miniature: binary cross-entropy plus the dice loss, of mask logits
/// against target probabilities (hard ground truth or a teacher's soft masks). The dice term
/// keeps a small digit from being lost in a canvas that is mostly background.
pub fn mask_loss(logits: Tensor<4>, targets: Tensor<4>) -> Tensor<1> {
    use burn::tensor::activation::{log_sigmoid, sigmoid};
    let pos = log_sigmoid(logits.clone()) * targets.clone();
    let neg = log_sigmoid(logits.clone().neg()) * targets.clone().neg().add_scalar(1.0);
    let bce = (pos + neg).neg().mean();
    let [n, _, _, _] = logits.dims();
    let (p, t) = (sigmoid(logits).reshape([n as i32, -1]), targets.reshape([n as i32, -1]));
    let overlap = (p.clone() * t.clone()).sum_dim(1).mul_scalar(2.0).add_scalar(1.0);
    let total = (p.sum_dim(1) + t.sum_dim(1)).add_scalar(1.0);
    let dice = (overlap / total).neg().add_scalar(1.0).mean();
    bce + dice
}

/// Logits of every class: cosine with each prototype over a temperature (CLIP's zero-shot
/// classifier). `prototypes` is `[EMBED, 10]`, unit columns.
pub fn prototype_logits(embeddings: Tensor<2>, prototypes: Tensor<2>, temperature: f64) -> Tensor<2> {
    normalise(embeddings).matmul(prototypes).div_scalar(temperature)
}
