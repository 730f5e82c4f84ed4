//! GOAT's networks in burn: the authors' convolutional encoder (three 3x3 convolutions of 32
//! channels, `same` padding, no pooling: 32 x 28 x 28 = 25,088 features), a pooled variant
//! (2x2 max-pool after the first two convolutions: 32 x 7 x 7 = 1,568 features), and their
//! MLP head (Linear 128, ReLU, Linear 128, ReLU, BatchNorm, Linear to the classes).
//!
//! Weights come from the run's seeded generator (see [`crate::ml::nets`]). The authors' head also
//! has a 0.5 dropout before the batch norm; it is left out because its mask would come from
//! burn's global generator, which runs training side by side share.

use benchtop_core::StudyError;
use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use rand_chacha::ChaCha8Rng;

use crate::ml::nets::{host, linear, tensor, uniform};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which encoder maps an image to features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EncoderKind {
    /// The authors': three 3x3 convolutions, 32 channels, full 28 x 28 resolution.
    #[default]
    Conv,
    /// The same with 2x2 max-pooling after the first two: 16x fewer features, far faster.
    ConvPooled,
    /// No encoder: the head sees the raw (standardised) inputs, as the authors do on Covertype.
    Identity,
}

fn conv(rng: &mut ChaCha8Rng, c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    let mut layer = Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
    let fan_in = c_in * 9;
    layer.weight = Param::from_tensor(tensor(uniform(rng, c_out * fan_in, fan_in), [c_out, c_in, 3, 3], device));
    layer.bias = Some(Param::from_tensor(tensor(uniform(rng, c_out, fan_in), [c_out], device)));
    layer
}

/// The frozen feature extractor.
#[derive(Module, Debug)]
pub struct Encoder {
    convs: Vec<Conv2d>,
    pool: Option<MaxPool2d>,
}

impl Encoder {
    /// `None` for [`EncoderKind::Identity`] (there is nothing to train or store).
    pub fn new(kind: EncoderKind, rng: &mut ChaCha8Rng, device: &Device) -> Option<Encoder> {
        let pool = match kind {
            EncoderKind::Identity => return None,
            EncoderKind::Conv => None,
            EncoderKind::ConvPooled => Some(MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
        };
        let convs = vec![conv(rng, 1, 32, device), conv(rng, 32, 32, device), conv(rng, 32, 32, device)];
        Some(Encoder { convs, pool })
    }

    /// Features per image of `side x side` pixels.
    pub fn feature_dim(kind: EncoderKind, side: usize, input_dim: usize) -> usize {
        match kind {
            EncoderKind::Identity => input_dim,
            EncoderKind::Conv => 32 * side * side,
            EncoderKind::ConvPooled => 32 * (side / 4) * (side / 4),
        }
    }

    /// `[n, 1, side, side]` images to `[n, features]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for (i, layer) in self.convs.iter().enumerate() {
            x = relu(crate::ml::nets::conv2d(layer, x));
            if let (Some(pool), true) = (&self.pool, i < 2) {
                x = pool.forward(x);
            }
        }
        x.flatten(1, 3)
    }

    fn tensors(&self) -> Vec<Tensor<1>> {
        self.convs
            .iter()
            .flat_map(|c| {
                let mut t = vec![c.weight.val().flatten(0, 3)];
                t.extend(c.bias.as_ref().map(|b| b.val()));
                t
            })
            .collect()
    }

    fn load(&mut self, values: &mut Reader<'_>, device: &Device) -> Result<(), StudyError> {
        for c in &mut self.convs {
            let shape = c.weight.shape();
            let dims: [usize; 4] = shape.dims();
            c.weight = Param::from_tensor(tensor(values.take(dims.iter().product())?, dims, device));
            if let Some(b) = &c.bias {
                let [n] = b.shape().dims();
                c.bias = Some(Param::from_tensor(tensor(values.take(n)?, [n], device)));
            }
        }
        Ok(())
    }
}

/// The classifier on top of the features: the authors' MLP (without its dropout).
#[derive(Module, Debug)]
pub struct Head {
    hidden: Vec<Linear>,
    norm: BatchNorm,
    out: Linear,
}

impl Head {
    /// `depth` hidden layers of `width` (authors: 2 x 128 on digits, 3 x 256 on Covertype).
    pub fn new(d_in: usize, width: usize, depth: usize, classes: usize, rng: &mut ChaCha8Rng, device: &Device) -> Head {
        let mut hidden = Vec::with_capacity(depth);
        let mut d = d_in;
        for _ in 0..depth {
            hidden.push(linear(rng, d, width, device));
            d = width;
        }
        Head { hidden, norm: BatchNormConfig::new(d).init(device), out: linear(rng, d, classes, device) }
    }

    /// Fold the batch norm's last pending update into its running statistics. burn applies
    /// one lazily, and inference reads them as they stand: without this, a head used right
    /// after training would differ from the same head saved and loaded.
    pub fn settle(&self) {
        let _ = self.norm.running_mean.value_sync();
        let _ = self.norm.running_var.value_sync();
    }

    pub fn forward(&self, features: Tensor<2>) -> Tensor<2> {
        let mut x = features;
        for layer in &self.hidden {
            x = relu(layer.forward(x));
        }
        self.out.forward(self.norm.forward(x))
    }

    fn tensors(&self) -> Vec<Tensor<1>> {
        let mut t = Vec::new();
        for l in self.hidden.iter().chain(std::iter::once(&self.out)) {
            t.push(l.weight.val().flatten(0, 1));
            t.extend(l.bias.as_ref().map(|b| b.val()));
        }
        t.extend([self.norm.gamma.val(), self.norm.beta.val(), self.norm.running_mean.value_sync(), self.norm.running_var.value_sync()]);
        t
    }

    fn load(&mut self, values: &mut Reader<'_>, device: &Device) -> Result<(), StudyError> {
        for l in self.hidden.iter_mut().chain(std::iter::once(&mut self.out)) {
            let dims: [usize; 2] = l.weight.shape().dims();
            l.weight = Param::from_tensor(tensor(values.take(dims[0] * dims[1])?, dims, device));
            if l.bias.is_some() {
                l.bias = Some(Param::from_tensor(tensor(values.take(dims[1])?, [dims[1]], device)));
            }
        }
        let [n] = self.norm.gamma.shape().dims();
        self.norm.gamma = Param::from_tensor(tensor(values.take(n)?, [n], device));
        self.norm.beta = Param::from_tensor(tensor(values.take(n)?, [n], device));
        self.norm.running_mean = RunningState::new(tensor(values.take(n)?, [n], device));
        self.norm.running_var = RunningState::new(tensor(values.take(n)?, [n], device));
        Ok(())
    }
}

/// Encoder (if any) and head, as trained on the source.
#[derive(Module, Debug)]
pub struct Classifier {
    pub encoder: Option<Encoder>,
    pub head: Head,
}

/// Values taken in order from a flat list (the cache's payload).
struct Reader<'a> {
    values: &'a [f32],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<Vec<f32>, StudyError> {
        if self.values.len() < n {
            return Err(StudyError::Failed("a cached model is shorter than its architecture".into()));
        }
        let (head, rest) = self.values.split_at(n);
        self.values = rest;
        Ok(head.to_vec())
    }
}

impl Classifier {
    /// Every weight (and the batch norm's running statistics) as little-endian bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, StudyError> {
        let mut tensors = self.encoder.as_ref().map(Encoder::tensors).unwrap_or_default();
        tensors.extend(self.head.tensors());
        let mut values = Vec::new();
        for t in tensors {
            values.extend(host(t)?);
        }
        Ok(crate::ml::nets::float_bytes(&values))
    }

    /// Overwrite this (freshly built) classifier's weights with [`Classifier::to_bytes`]'s.
    pub fn load_bytes(mut self, bytes: &[u8], device: &Device) -> Result<Classifier, StudyError> {
        let values = crate::ml::nets::floats(bytes)?;
        let mut reader = Reader { values: &values };
        if let Some(e) = &mut self.encoder {
            e.load(&mut reader, device)?;
        }
        self.head.load(&mut reader, device)?;
        if !reader.values.is_empty() {
            return Err(StudyError::Failed("a cached model is longer than its architecture".into()));
        }
        Ok(self)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match &self.encoder {
            Some(e) => self.head.forward(e.forward(x)),
            None => self.head.forward(x.flatten(1, 3)),
        }
    }
}
