//! Two places where burn's LibTorch backend leaves LibTorch's speed unused in training, taken
//! over in the `libtorch` build (docs/performance.md measures both):
//!
//! - **The convolution's backward.** burn-tch inherits burn's generic backward: a transposed
//!   convolution for the input's gradient and, for the weights', a convolution whose kernel
//!   is the whole output gradient. [`conv2d`] records its own autodiff step instead, which
//!   calls LibTorch's `convolution_backward` (oneDNN's backward kernels, as PyTorch does)
//!   through the one C++ function in `libtorch_conv.cpp`.
//! - **Adam's step.** burn's Adam is a dozen out-of-place tensor ops per parameter. [`adam`]
//!   runs the fused pass burn-flex's parameters get (`benchtop_kernels::adam`) in place on
//!   LibTorch's buffers, which live in host memory like burn-flex's.
//!
//! Both fall back to burn's own path wherever they do not apply (another device, a shared
//! buffer, LibTorch refusing the call), so they change speed, never what is computed.

// burn 0.22 marks burn-tch deprecated (ml/device.rs says why it is still used); this module is
// all about its types.
#![allow(deprecated)]

use std::ffi::{c_int, c_void};

use benchtop_kernels::adam::Step;
use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::libtorch::{LibTorch, TchTensor};
use burn::backend::ops::ModuleOps;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::optim::AdaptiveMomentumState;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// LibTorch's autodiff backend as the dispatch layer builds it for `Device::autodiff()`.
type Tracked = Autodiff<LibTorch, NoCheckpointing>;

fn device() -> Device {
    Device::libtorch()
}

unsafe extern "C" {
    /// libtorch_conv.cpp: the gradients `wanted` (input, weight, bias) of a 2-D convolution,
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
    let output = match bias {
        Some((_, bias_node)) => {
            match NativeConv2d.prepare::<NoCheckpointing>([x_node, weight_node, bias_node]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish(saved, output),
                OpsKind::UnTracked(prep) => prep.finish(output),
            }
        }
        None => match NativeConv2d.prepare::<NoCheckpointing>([x_node, weight_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(saved, output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        },
    };
    Some(Tensor::from_primitive::<Tracked>(output))
}

/// A tensor tracked on LibTorch: its buffer and its autodiff node.
fn tracked<const D: usize>(t: Tensor<D>) -> Option<(TchTensor, burn::backend::autodiff::ops::NodeGuard)> {
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
        for (parent, gradient) in ops.parents.iter().zip(computed) {
            if let (Some(node), Some(gradient)) = (parent, gradient) {
                grads.register::<LibTorch>(node.id, gradient);
            }
        }
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
    // SAFETY: see above; each non-null pointer is owned by nothing else.
    (status == 0).then(|| out.map(|p| (!p.is_null()).then(|| TchTensor::new(unsafe { tch::Tensor::from_ptr(p.cast()) }))))
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
