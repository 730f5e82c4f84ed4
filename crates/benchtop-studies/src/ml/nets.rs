//! What every burn study here shares: host-side seeded initialisation, host batches, a
//! minibatch Adam(W) loop and batched inference.
//!
//! Weights are drawn from the run's own seeded generator on the host (PyTorch's default
//! uniform(+-1/sqrt(fan_in))), not from the backend's global generator, so two runs training
//! side by side stay reproducible.

use benchtop_core::StudyError;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::Rng as _;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Host-side seeded initialisation: uniform(+-1/sqrt(fan_in)), as PyTorch's default.
pub fn uniform(rng: &mut ChaCha8Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    (0..len).map(|_| rng.random_range(-bound..bound)).collect()
}

pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A tensor's values back on the host as f32.
pub fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, StudyError> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| StudyError::Failed(format!("reading a tensor back: {e:?}")))
}

/// The share of rows of `logits` (`classes` per row) whose largest logit is their label.
pub fn logit_accuracy(logits: &[f32], classes: usize, labels: &[u8]) -> f64 {
    let right = logits.chunks_exact(classes).zip(labels).filter(|(row, y)| argmax(row) == Some(**y as usize)).count();
    right as f64 / labels.len().max(1) as f64
}

/// Little-endian f32 values from a cached or saved model's bytes.
pub fn floats(bytes: &[u8]) -> Result<Vec<f32>, StudyError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StudyError::Failed("a saved model's length is not a whole number of floats".into()));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Index of the largest value, the last of equal ones (`None` when empty). Floats compare by
/// IEEE total order, so a NaN cannot make the answer depend on the order of comparisons.
pub fn argmax<T: TotalOrder>(values: &[T]) -> Option<usize> {
    values.iter().enumerate().max_by(|a, b| a.1.total_order(b.1)).map(|(i, _)| i)
}

/// Floats ordered totally, for [`argmax`].
pub trait TotalOrder {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering;
}

impl TotalOrder for f32 {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

impl TotalOrder for f64 {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

/// Little-endian bytes of f32 values, as a cached or saved model stores them ([`floats`] reads them).
pub fn float_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn linear(rng: &mut ChaCha8Rng, d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(d_in, d_out).init(device);
    layer.weight = Param::from_tensor(tensor(uniform(rng, d_in * d_out, d_in), [d_in, d_out], device));
    layer.bias = Some(Param::from_tensor(tensor(uniform(rng, d_out, d_in), [d_out], device)));
    layer
}

/// `layer` over `x`: burn's `Conv2d::forward`, except when training on LibTorch, where the
/// step records LibTorch's own convolution backward (ml/libtorch.rs; the same gradients,
/// from oneDNN's backward kernels rather than burn's generic ones).
pub fn conv2d(layer: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    #[cfg(feature = "libtorch")]
    if let Some(y) = crate::ml::libtorch::conv2d(layer, &x) {
        return y;
    }
    layer.forward(x)
}

/// Softmax over `dim`: burn's, except when training on LibTorch, where the step records
/// LibTorch's fused kernel and its backward (ml/libtorch.rs).
pub fn softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "libtorch")]
    if let Some(y) = crate::ml::libtorch::softmax(&x, dim) {
        return y;
    }
    burn::tensor::activation::softmax(x, dim)
}

/// Log-softmax over `dim`, as [`softmax`].
pub fn log_softmax<const D: usize>(x: Tensor<D>, dim: usize) -> Tensor<D> {
    #[cfg(feature = "libtorch")]
    if let Some(y) = crate::ml::libtorch::log_softmax(&x, dim) {
        return y;
    }
    burn::tensor::activation::log_softmax(x, dim)
}

/// Mean cross-entropy of `logits` `[b, classes]` against `targets` `[b]`: burn's
/// `CrossEntropyLoss` without weights or padding, op for op (so the same values on
/// burn-flex), through [`log_softmax`] (so LibTorch's fused kernel when training on it).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
    let [b] = targets.dims();
    log_softmax(logits, 1).gather(1, targets.reshape([b, 1])).reshape([b]).mean().neg()
}

/// `norm` over `x`'s last dimension: `norm.forward`, except when training on LibTorch (as
/// [`softmax`]). `epsilon` must be the one `norm` was configured with (burn keeps it private).
pub fn layer_norm<const D: usize>(norm: &burn::nn::LayerNorm, x: Tensor<D>, epsilon: f64) -> Tensor<D> {
    #[cfg(feature = "libtorch")]
    if let Some(y) = crate::ml::libtorch::layer_norm(norm, &x, epsilon) {
        return y;
    }
    let _ = epsilon;
    norm.forward(x)
}

/// Inputs on the host: `n` rows of `shape` values, and their labels.
#[derive(Clone, Debug)]
pub struct Batchable<'a> {
    pub x: &'a [f32],
    pub labels: &'a [u8],
    /// The shape of one input: `[1, side, side]` for images, `[1, 1, d]` for vectors.
    pub shape: [usize; 3],
}

impl Batchable<'_> {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    fn row_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Rows `idx` as a `[b, c, h, w]` batch and their labels.
    pub fn batch(&self, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
        let d = self.row_len();
        let mut x = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            x.extend_from_slice(&self.x[i * d..(i + 1) * d]);
        }
        let [c, h, w] = self.shape;
        let labels: Vec<i64> = idx.iter().map(|&i| self.labels[i] as i64).collect();
        (tensor(x, [idx.len(), c, h, w], device), Tensor::from_data(TensorData::new(labels, [idx.len()]), device))
    }
}

/// Minibatch Adam over a seeded order (GOAT's authors: lr 1e-4, weight decay 1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrainOptions {
    pub epochs: u32,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f32,
    /// AdamW (decoupled weight decay) instead of Adam with an L2 term.
    pub decoupled: bool,
}

/// Train any module by minibatches of row indices `0..n`: `loss(model, batch)` builds the
/// batch's tensors and returns its scalar loss; `on_epoch(epoch, mean_loss, &model)` after each
/// epoch logs and may stop training by returning an error (cancellation).
pub fn fit<M, L>(
    model: M,
    loss: L,
    n: usize,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    mut on_epoch: impl FnMut(u32, f64, &M) -> Result<(), StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    L: Fn(&M, &[usize]) -> Tensor<1>,
{
    fit_until(model, loss, n, options, rng, |epoch, mean, model| on_epoch(epoch, mean, model).map(|()| Epochs::Continue))
}

/// What to do after an epoch: go on, or stop with the model as it is (early stopping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epochs {
    Continue,
    Stop,
}

/// [`fit`] that stops early when `on_epoch` says so; `options.epochs` is then the most.
pub fn fit_until<M, L>(
    model: M,
    loss: L,
    n: usize,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    mut on_epoch: impl FnMut(u32, f64, &M) -> Result<Epochs, StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    L: Fn(&M, &[usize]) -> Tensor<1>,
{
    fit_from(model, None, loss, n, options, rng, |epoch, mean, model, _, _| on_epoch(epoch, mean, model))
}

/// The optimizer [`fit`] trains with: Adam with an L2 term, or AdamW; burn's arithmetic in
/// one pass per parameter on the CPU ([`crate::ml::adam`]).
pub fn optimizer(options: &TrainOptions) -> ModuleOptimizer {
    if options.decoupled { crate::ml::adam::adamw(options.weight_decay) } else { crate::ml::adam::adam(Some(options.weight_decay)) }
}

/// The state of [`fit_from`]'s loop between epochs, besides the model and the generator:
/// what a checkpoint must keep for a resumed loop to go on exactly as it would have.
pub struct FitState {
    /// The epoch to run next.
    pub epoch: u32,
    pub optimizer: ModuleOptimizer,
    /// The sample order, reshuffled in place each epoch.
    pub order: Vec<usize>,
}

/// The loop under [`fit`]: from epoch 0 with a fresh optimizer, or from a checkpoint's
/// [`FitState`]. `on_epoch` also sees the loop's state and the generator, to checkpoint them
/// with the model.
pub fn fit_from<M, L>(
    mut model: M,
    resume: Option<FitState>,
    loss: L,
    n: usize,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    mut on_epoch: impl FnMut(u32, f64, &M, &FitState, &ChaCha8Rng) -> Result<Epochs, StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    L: Fn(&M, &[usize]) -> Tensor<1>,
{
    let mut state = resume.unwrap_or_else(|| FitState { epoch: 0, optimizer: optimizer(options), order: (0..n).collect() });
    if state.order.len() != n {
        return Err(StudyError::Failed(format!("a resumed training loop has {} samples in its order, not {n}", state.order.len())));
    }
    while state.epoch < options.epochs {
        let epoch = state.epoch;
        state.order.shuffle(rng);
        let (mut total, mut batches) = (0.0, 0usize);
        // A last batch of one sample would break batch-norm statistics: drop it.
        for idx in state.order.chunks(options.batch_size.max(2)).filter(|c| c.len() > 1) {
            let value = loss(&model, idx);
            total += host(value.clone())?.first().copied().unwrap_or(f32::NAN) as f64;
            batches += 1;
            let grads = GradientsParams::from_grads(value.backward(), &model);
            model = state.optimizer.step(options.lr, model, grads);
        }
        let mean = total / batches.max(1) as f64;
        if !mean.is_finite() {
            return Err(StudyError::Failed(format!("the training loss diverged in epoch {epoch}")));
        }
        state.epoch += 1;
        if on_epoch(epoch, mean, &model, &state, rng)? == Epochs::Stop {
            break;
        }
    }
    Ok(model)
}

/// [`fit`] with cross-entropy of `forward`'s logits against `data`'s labels.
pub fn train<M, F>(
    model: M,
    forward: F,
    data: &Batchable<'_>,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    device: &Device,
    mut on_epoch: impl FnMut(u32, f64, &M) -> Result<(), StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    train_until(model, forward, data, options, rng, device, |epoch, mean, model| on_epoch(epoch, mean, model).map(|()| Epochs::Continue))
}

/// [`train`] that stops early when `on_epoch` says so.
pub fn train_until<M, F>(
    model: M,
    forward: F,
    data: &Batchable<'_>,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    device: &Device,
    on_epoch: impl FnMut(u32, f64, &M) -> Result<Epochs, StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    let loss = |m: &M, idx: &[usize]| {
        let (x, y) = data.batch(idx, device);
        cross_entropy(forward(m, x), y)
    };
    fit_until(model, loss, data.len(), options, rng, on_epoch)
}

/// Logits of every row, in batches, without building a graph.
pub fn predict<M: Module, F>(model: &M, forward: F, data: &Batchable<'_>, device: &Device) -> Result<Vec<f32>, StudyError>
where
    F: Fn(&M, Tensor<4>) -> Tensor<2>,
{
    let inference = model.valid();
    let plain = device.clone().inner();
    let mut out = Vec::new();
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(256) {
        let (x, _) = data.batch(chunk, &plain);
        out.extend(host(forward(&inference, x))?);
    }
    Ok(out)
}

/// Every weight of `module`, in its visiting order (a cache entry's layout; the module's own
/// structure says where each value goes, so no per-model byte layout is written by hand).
pub fn module_values<M: Module>(module: &M) -> Result<Vec<f32>, StudyError> {
    struct Collect {
        out: Vec<f32>,
        error: Option<StudyError>,
    }
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            match host(param.val()) {
                Ok(v) => self.out.extend(v),
                Err(e) => self.error = Some(e),
            }
        }
    }
    let mut c = Collect { out: Vec::new(), error: None };
    module.visit(&mut c);
    match c.error {
        Some(e) => Err(e),
        None => Ok(c.out),
    }
}

/// `module` (a fresh one of the right shape) with [`module_values`]'s weights; `what` names
/// the model in the error when the number of values does not match.
pub fn with_module_values<M: Module>(module: M, values: &[f32], device: &Device, what: &str) -> Result<M, StudyError> {
    struct Load<'a> {
        values: &'a [f32],
        at: usize,
        short: bool,
        device: Device,
    }
    impl ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let shape: [usize; D] = param.val().dims();
            let n: usize = shape.iter().product();
            if self.at + n > self.values.len() {
                self.short = true;
                return param;
            }
            let t = tensor(self.values[self.at..self.at + n].to_vec(), shape, &self.device);
            self.at += n;
            Param::from_tensor(t)
        }
    }
    let mut load = Load { values, at: 0, short: false, device: device.clone() };
    let module = module.map(&mut load);
    if load.short || load.at != values.len() {
        return Err(StudyError::Failed(format!("a saved {what} has {} weights; this {what} has a different number", values.len())));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::loss::CrossEntropyLossConfig;

    /// The studies' loss replaced burn's `CrossEntropyLoss` (so that LibTorch's fused
    /// log-softmax can stand in): on burn-flex it must give the same value and gradient.
    #[test]
    fn cross_entropy_is_burns_to_the_bit() {
        let device = Device::flex().autodiff();
        let mut rng = benchtop_data::rng(5, 0);
        let logits = || tensor(uniform(&mut benchtop_data::rng(5, 1), 12 * 7, 1), [12, 7], &device).mul_scalar(9.0).require_grad();
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new((0..12).map(|_| rng.random_range(0..7i64)).collect::<Vec<_>>(), [12]), &device);
        let run = |ours: bool| {
            let x = logits();
            let loss = match ours {
                true => cross_entropy(x.clone(), targets.clone()),
                false => CrossEntropyLossConfig::new().init(&device).forward(x.clone(), targets.clone()),
            };
            let grads = loss.backward();
            let bits = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap_or_default().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            (loss.into_scalar::<f32>().to_bits(), x.grad(&grads).map(bits))
        };
        let ours = run(true);
        assert!(ours.1.as_ref().is_some_and(|g| g.len() == 84), "no gradient reached the logits");
        assert_eq!(ours, run(false));
    }
}
