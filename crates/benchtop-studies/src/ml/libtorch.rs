//! Where burn's LibTorch backend leaves LibTorch's speed unused in training, taken over in the
//! `libtorch` build (docs/performance.md measures each):
//!
//! - **The convolution's backward.** burn-tch inherits burn's generic backward: a transposed
//!   convolution for the input's gradient and, for the weights', a convolution whose kernel
//!   is the whole output gradient. [`conv2d`] records its own autodiff step instead, which
//!   calls LibTorch's `convolution_backward` (oneDNN's backward kernels, as PyTorch does)
//!   through a C++ function in `libtorch_ops.cpp`.
//! - **Softmax, log-softmax and layer norm.** Under autodiff burn composes each from five to
//!   ten tensor ops, every one a pass over the tensor and a node to differentiate.
//!   [`softmax`], [`log_softmax`] and [`layer_norm`] record LibTorch's fused kernels and
//!   their backward passes as one step each, as PyTorch's autograd does.
//! - **Adam's step.** burn's Adam is a dozen out-of-place tensor ops per parameter. [`adam`]
//!   runs the fused pass burn-flex's parameters get (`benchtop_kernels::adam`) in place on
//!   LibTorch's buffers, which live in host memory like burn-flex's.
//!
//! Each runs only on LibTorch's tracked tensors (Adam: on its CPU buffers, copying one that
//! another tensor shares) and leaves burn's own path to every other device, to a padding
//! LibTorch cannot express and to a convolution LibTorch refuses. They change speed and the
//! last bits of rounding, not what is computed: `tests/libtorch.rs` holds each to burn's
//! values and gradients.

// burn 0.22 marks burn-tch deprecated (ml/device.rs says why it is still used); this module is
// all about its types.
#![allow(deprecated)]

use std::ffi::{c_int, c_void};

use benchtop_kernels::adam::Step;
use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::libtorch::{LibTorch, TchTensor};
use burn::backend::ops::ModuleOps;
use burn::nn::conv::Conv2d;
use burn::nn::{LayerNorm, PaddingConfig2d};
use burn::optim::AdaptiveMomentumState;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// LibTorch's autodiff backend as the dispatch layer builds it for `Device::autodiff()`.
type Tracked = Autodiff<LibTorch, NoCheckpointing>;

fn device() -> Device {
    Device::libtorch()
}

unsafe extern "C" {
    /// libtorch_ops.cpp: the gradients `wanted` (input, weight, bias) of a 2-D convolution,
    /// as new tch handles in `grads`; 0, or 1 if LibTorch threw.
    fn benchtop_conv2d_backward(
        grad_output: *const c_void,
        input: *const c_void,
        weight: *const c_void,
        stride: *const i64,
        padding: *const i64,
        dilation: *const i64,
        groups: i64,
        with_bias: c_int,
        wanted: *const c_int,
        grads: *mut *mut c_void,
    ) -> c_int;

    /// libtorch_ops.cpp: the gradients `wanted` (input, weight, bias) of a layer norm over the
    /// last `normalized` values; `bias` may be null.
    fn benchtop_layer_norm_backward(
        grad_output: *const c_void,
        input: *const c_void,
        normalized: i64,
        mean: *const c_void,
        rstd: *const c_void,
        weight: *const c_void,
        bias: *const c_void,
        wanted: *const c_int,
        grads: *mut *mut c_void,
    ) -> c_int;
}

/// `layer` applied to `input` with LibTorch's convolution backward recorded for it, when
/// `input` is tracked on LibTorch; `None` otherwise (the caller runs burn's `forward`).
pub fn conv2d(layer: &Conv2d, input: &Tensor<4>) -> Option<Tensor<4>> {
    if input.device() != device().autodiff() {
        return None;
    }
    let [_, _, height, width] = input.dims();
    let (rows, cols) = padding(&layer.padding, [height, width], layer.kernel_size, layer.stride);
    // LibTorch's convolution pads symmetrically; burn pads an asymmetric `same` by hand.
    if rows.0 != rows.1 || cols.0 != cols.1 {
        return None;
    }
    let options = ConvOptions::new(layer.stride, [rows.0, cols.0], layer.dilation, layer.groups);
    let (x, x_node) = tracked(input.clone())?;
    let (weight, weight_node) = tracked(layer.weight.val())?;
    let bias = match &layer.bias {
        Some(b) => Some(tracked(b.val())?),
        None => None,
    };
    let output = LibTorch::conv2d(x.clone(), weight.clone(), bias.as_ref().map(|(b, _)| b.clone()), options.clone());
    let saved = Saved { x, weight, bias: bias.as_ref().map(|(b, _)| b.clone()), options };
    Some(match bias {
        Some((_, bias_node)) => record(NativeConv2d, [x_node, weight_node, bias_node], saved, output),
        None => record(NativeConv2d, [x_node, weight_node], saved, output),
    })
}

/// `output`, computed from the tensors of `nodes`, with `step` recorded as its autodiff step
/// (keeping `state` for the backward pass only when some input wants a gradient).
fn record<S: Backward<LibTorch, N>, const N: usize, const D: usize>(
    step: S,
    nodes: [NodeGuard; N],
    state: S::State,
    output: TchTensor,
) -> Tensor<D> {
    let output = match step.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Tensor::from_primitive::<Tracked>(output)
}

/// Each gradient `computed` to its parent's node (`parents`' ids, in order), where both are
/// there.
fn register(parents: impl Iterator<Item = Option<NodeId>>, computed: [Option<TchTensor>; 3], grads: &mut Gradients) {
    for (parent, gradient) in parents.zip(computed) {
        if let (Some(id), Some(gradient)) = (parent, gradient) {
            grads.register::<LibTorch>(id, gradient);
        }
    }
}

/// The C++ side's results as tensors tch owns (and frees).
///
/// # Safety
/// Each pointer is null or a new `at::Tensor` that nothing else owns.
unsafe fn owned(out: [*mut c_void; 3]) -> [Option<TchTensor>; 3] {
    // SAFETY: as the caller promises.
    out.map(|p| (!p.is_null()).then(|| TchTensor::new(unsafe { tch::Tensor::from_ptr(p.cast()) })))
}

/// A tensor tracked on LibTorch: its buffer and its autodiff node.
fn tracked<const D: usize>(t: Tensor<D>) -> Option<(TchTensor, NodeGuard)> {
    t.try_into_primitive::<Tracked>().ok().map(|t| t.into_parts())
}

/// burn-nn's padding for `padding` (its `calculate_padding_2d_pairs`, which it keeps to
/// itself): `((top, bottom), (left, right))`. The tests hold it to `Conv2d::forward`.
fn padding(
    padding: &PaddingConfig2d,
    [height, width]: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
) -> ((usize, usize), (usize, usize)) {
    let same = |k: usize, s: usize, size: usize| {
        let out = size.div_ceil(s);
        let total = if out > 0 { ((out - 1) * s + k).saturating_sub(size) } else { 0 };
        (total / 2, total - total / 2)
    };
    match padding {
        PaddingConfig2d::Valid => ((0, 0), (0, 0)),
        PaddingConfig2d::Same => (same(kernel[0], stride[0], height), same(kernel[1], stride[1], width)),
        PaddingConfig2d::Explicit(top, left, bottom, right) => ((*top, *bottom), (*left, *right)),
    }
}

/// What the backward step needs from the forward: LibTorch tensors share their buffers, so
/// keeping them costs no copy.
#[derive(Clone, Debug)]
struct Saved {
    x: TchTensor,
    weight: TchTensor,
    bias: Option<TchTensor>,
    options: ConvOptions<2>,
}

#[derive(Debug)]
struct NativeConv2d;

/// Parents: input, weight and, for N = 3, bias.
impl<const N: usize> Backward<LibTorch, N> for NativeConv2d {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let Saved { x, weight, bias, options } = ops.state;
        let wanted = [0, 1, 2].map(|i| ops.parents.get(i).is_some_and(Option::is_some));
        let computed = native_backward(&grad, &x, &weight, bias.is_some(), &options, wanted).unwrap_or_else(|| {
            // burn's generic backward, as burn-tch would have run it.
            [
                wanted[0].then(|| LibTorch::conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone())),
                wanted[1].then(|| LibTorch::conv2d_weight_backward(x.clone(), weight.clone(), grad.clone(), options.clone())),
                bias.filter(|_| wanted[2]).map(|b| LibTorch::conv2d_bias_backward(x.clone(), b, grad.clone())),
            ]
        });
        register(ops.parents.iter().map(|p| p.as_ref().map(|node| node.id)), computed, grads);
    }
}

/// LibTorch's `convolution_backward`; `None` if it threw.
fn native_backward(
    grad: &TchTensor,
    x: &TchTensor,
    weight: &TchTensor,
    with_bias: bool,
    options: &ConvOptions<2>,
    wanted: [bool; 3],
) -> Option<[Option<TchTensor>; 3]> {
    let ints = |v: [usize; 2]| v.map(|i| i as i64);
    let (stride, padding, dilation) = (ints(options.stride), ints(options.padding_begin()), ints(options.dilation));
    let wanted = wanted.map(c_int::from);
    let mut out = [std::ptr::null_mut::<c_void>(); 3];
    // SAFETY: the three handles are live tch tensors borrowed for the call; the arrays hold
    // what the C++ side reads (2 ints each, 3 flags) and `out` its 3 results, each a new
    // at::Tensor that tch's `from_ptr` takes ownership of (and frees), or null.
    let status = unsafe {
        benchtop_conv2d_backward(
            grad.tensor.as_ptr().cast(),
            x.tensor.as_ptr().cast(),
            weight.tensor.as_ptr().cast(),
            stride.as_ptr(),
            padding.as_ptr(),
            dilation.as_ptr(),
            options.groups as i64,
            c_int::from(with_bias),
            wanted.as_ptr(),
            out.as_mut_ptr(),
        )
    };
    // SAFETY: see above.
    (status == 0).then(|| unsafe { owned(out) })
}

/// Softmax over `dim`, recorded as LibTorch's fused kernel and its backward when `x` is
/// tracked on LibTorch; `None` otherwise (the caller runs burn's).
pub fn softmax<const D: usize>(x: &Tensor<D>, dim: usize) -> Option<Tensor<D>> {
    normalised_exp(x, dim, false)
}

/// Log-softmax over `dim`, as [`softmax`].
pub fn log_softmax<const D: usize>(x: &Tensor<D>, dim: usize) -> Option<Tensor<D>> {
    normalised_exp(x, dim, true)
}

fn normalised_exp<const D: usize>(x: &Tensor<D>, dim: usize, log: bool) -> Option<Tensor<D>> {
    if x.device() != device().autodiff() || dim >= D {
        return None;
    }
    let (x, node) = tracked(x.clone())?;
    let output = TchTensor::new(match log {
        true => x.tensor.internal_log_softmax(dim as i64, false),
        false => x.tensor.internal_softmax(dim as i64, false),
    });
    Some(record(NativeSoftmax { log }, [node], (output.clone(), dim as i64), output))
}

/// Softmax's backward reads its output only, which it keeps (sharing its buffer: no copy).
#[derive(Debug)]
struct NativeSoftmax {
    log: bool,
}

impl Backward<LibTorch, 1> for NativeSoftmax {
    type State = (TchTensor, i64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let (output, dim) = ops.state;
        if let Some(node) = &ops.parents[0] {
            let gradient = match self.log {
                true => tch::Tensor::internal_log_softmax_backward_data(&grad.tensor, &output.tensor, dim, tch::Kind::Float),
                false => tch::Tensor::internal_softmax_backward_data(&grad.tensor, &output.tensor, dim, tch::Kind::Float),
            };
            grads.register::<LibTorch>(node.id, TchTensor::new(gradient));
        }
    }
}

/// `norm` over `x`'s last dimension with `epsilon` (the one `norm` was configured with: burn
/// keeps it private), recorded as LibTorch's fused layer norm and its backward when `x` is
/// tracked on LibTorch; `None` otherwise (the caller runs `norm.forward`).
pub fn layer_norm<const D: usize>(norm: &LayerNorm, x: &Tensor<D>, epsilon: f64) -> Option<Tensor<D>> {
    if x.device() != device().autodiff() {
        return None;
    }
    let width = x.dims()[D - 1];
    let (input, x_node) = tracked(x.clone())?;
    let (gamma, gamma_node) = tracked(norm.gamma.val())?;
    let beta = match &norm.beta {
        Some(b) => Some(tracked(b.val())?),
        None => None,
    };
    let (output, mean, rstd) =
        input.tensor.native_layer_norm([width as i64], Some(&gamma.tensor), beta.as_ref().map(|(b, _)| &b.tensor), epsilon);
    let output = TchTensor::new(output);
    let saved = SavedNorm {
        input,
        mean: TchTensor::new(mean),
        rstd: TchTensor::new(rstd),
        gamma,
        beta: beta.as_ref().map(|(b, _)| b.clone()),
        width: width as i64,
    };
    Some(match beta {
        Some((_, beta_node)) => record(NativeLayerNorm, [x_node, gamma_node, beta_node], saved, output),
        None => record(NativeLayerNorm, [x_node, gamma_node], saved, output),
    })
}

#[derive(Clone, Debug)]
struct SavedNorm {
    input: TchTensor,
    mean: TchTensor,
    rstd: TchTensor,
    gamma: TchTensor,
    beta: Option<TchTensor>,
    width: i64,
}

#[derive(Debug)]
struct NativeLayerNorm;

/// Parents: input, scale and, for N = 3, shift.
impl<const N: usize> Backward<LibTorch, N> for NativeLayerNorm {
    type State = SavedNorm;

    fn backward(self, ops: Ops<SavedNorm, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<LibTorch>(&ops.node);
        let s = ops.state;
        let wanted = [0, 1, 2].map(|i| c_int::from(ops.parents.get(i).is_some_and(Option::is_some)));
        let mut out = [std::ptr::null_mut::<c_void>(); 3];
        let ptr = |t: &TchTensor| t.tensor.as_ptr().cast::<c_void>();
        // SAFETY: as in `native_backward`: live handles borrowed for the call, 3 flags read,
        // 3 results written, each a new at::Tensor or null.
        let status = unsafe {
            benchtop_layer_norm_backward(
                ptr(&grad),
                ptr(&s.input),
                s.width,
                ptr(&s.mean),
                ptr(&s.rstd),
                ptr(&s.gamma),
                s.beta.as_ref().map_or(std::ptr::null(), ptr),
                wanted.as_ptr(),
                out.as_mut_ptr(),
            )
        };
        // Layer norm has no generic backward in burn to fall back to (it composes the forward
        // from differentiable ops); LibTorch refusing its own op on its own tensors is a bug.
        assert_eq!(status, 0, "LibTorch's layer-norm backward failed");
        // SAFETY: as above.
        register(ops.parents.iter().map(|p| p.as_ref().map(|node| node.id)), unsafe { owned(out) }, grads);
    }
}

/// A float tensor's buffer on LibTorch's CPU device, to be written in place: its own if no
/// other tensor shares it and it is contiguous f32, a copy otherwise.
fn writable(t: TchTensor) -> TchTensor {
    if t.can_mut() && t.tensor.is_contiguous() && t.tensor.kind() == tch::Kind::Float {
        t
    } else {
        TchTensor::new(t.tensor.to_kind(tch::Kind::Float).contiguous().copy())
    }
}

/// One Adam or AdamW step (`step_at` gives the step's scalars from its count) over a parameter
/// on LibTorch's CPU device, in place; the tensors back as they came on any other device.
#[allow(clippy::type_complexity)]
pub fn adam<const D: usize>(
    step_at: impl Fn(usize) -> Step,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdaptiveMomentumState<D>>,
) -> Result<(Tensor<D>, AdaptiveMomentumState<D>), Box<(Tensor<D>, Tensor<D>, Option<AdaptiveMomentumState<D>>)>> {
    let (plain, tracked) = (device(), device().autodiff());
    // burn's optimiser hands over parameters without autodiff, but moves the moments to the
    // parameter's device, which may be the autodiff one.
    let on_libtorch = |t: &Tensor<D>| t.device() == plain || t.device() == tracked;
    if !on_libtorch(&tensor)
        || !on_libtorch(&grad)
        || state.as_ref().is_some_and(|s| !on_libtorch(&s.moment_1) || !on_libtorch(&s.moment_2))
    {
        return Err(Box::new((tensor, grad, state)));
    }
    let dims: Vec<i64> = tensor.dims().iter().map(|&d| d as i64).collect();
    let time = state.as_ref().map_or(1, |s| s.time + 1);
    let primitive = |t: Tensor<D>| match t.device() == plain {
        true => t.try_into_primitive::<LibTorch>().ok(),
        false => t.try_into_primitive::<Tracked>().ok().map(|t| t.into_primitive()),
    };
    let (w, g, moments) =
        (primitive(tensor.clone()), primitive(grad.clone()), state.clone().map(|s| (primitive(s.moment_1), primitive(s.moment_2))));
    let (m, v) = match moments {
        None => (None, None),
        Some((Some(m), Some(v))) => (Some(m), Some(v)),
        Some(_) => return Err(Box::new((tensor, grad, state))),
    };
    let (Some(w), Some(g)) = (w, g) else { return Err(Box::new((tensor, grad, state))) };
    // The caller's handles go first: the buffers here may then be the only holders of their
    // storage, and be written in place rather than copied.
    drop((tensor, grad, state));
    let zeros = || TchTensor::new(tch::Tensor::zeros(dims.as_slice(), (tch::Kind::Float, tch::Device::Cpu)));
    let (w, m, v) = (writable(w), m.map_or_else(zeros, writable), v.map_or_else(zeros, writable));
    let g = if g.tensor.is_contiguous() && g.tensor.kind() == tch::Kind::Float {
        g
    } else {
        TchTensor::new(g.tensor.to_kind(tch::Kind::Float).contiguous())
    };
    let n = w.tensor.numel();
    let pointers = [&w, &g, &m, &v].map(|t| t.tensor.data_ptr() as usize);
    let distinct = (0..4).all(|i| (i + 1..4).all(|j| pointers[i] != pointers[j]));
    if [g.tensor.numel(), m.tensor.numel(), v.tensor.numel()] == [n; 3] && distinct {
        // SAFETY: four distinct contiguous f32 buffers of n elements each on the host (LibTorch's
        // CPU device); w, m and v are held only here (`writable`), so writing them in place
        // changes no other tensor; g is only read.
        unsafe {
            let f = |t: &TchTensor| t.tensor.data_ptr().cast::<f32>();
            benchtop_kernels::adam::step(
                &step_at(time),
                std::slice::from_raw_parts_mut(f(&w), n),
                std::slice::from_raw_parts(f(&g), n),
                std::slice::from_raw_parts_mut(f(&m), n),
                std::slice::from_raw_parts_mut(f(&v), n),
            );
        }
        let back = |t: TchTensor| Tensor::<D>::from_primitive::<LibTorch>(t);
        return Ok((back(w), AdaptiveMomentumState { time, moment_1: back(m), moment_2: back(v), max_moment_2: None }));
    }
    let back = |t: TchTensor| Tensor::<D>::from_primitive::<LibTorch>(t);
    let state = (time > 1).then(|| AdaptiveMomentumState { time: time - 1, moment_1: back(m), moment_2: back(v), max_moment_2: None });
    Err(Box::new((back(w), back(g), state)))
}
