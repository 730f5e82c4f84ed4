//! Adam and AdamW with burn's arithmetic, in one pass over each parameter on the CPU.
//!
//! burn's Adam updates a parameter through about a dozen tensor ops (scale the moments, add,
//! square, divide, take the root...), each a full pass over the parameter, and burn-flex runs
//! its ops with a scalar operand one element at a time on one core. For GOAT's head on the
//! authors' 25,088 features (3.2M weights in its first layer, updated every batch of 128) the
//! optimiser's passes took about as long as the matrix products (docs/performance.md).
//!
//! Here each element goes through the same f32 operations in the same order as burn's
//! `Adam`/`AdamW` (burn 0.22: `adam.rs`, `adamw.rs`, `decay.rs`), so the result is the same
//! to the bit (tested against burn's own), in one pass over contiguous memory, vectorised and
//! split across the pool for large parameters (`benchtop_kernels::adam`). The state is burn's own (`AdamState`, `AdamWState`), so a
//! checkpointed optimiser reads back either way. LibTorch's CPU tensors get the same pass, in
//! place on their buffers (ml/libtorch.rs). On the GPU a step is burn's own: reading the
//! tensors back to the host would cost more than it saves.

use benchtop_kernels::adam::{Decay, Rule, Step};
use burn::optim::{AdamState, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;

/// burn's defaults (`AdamConfig`, `AdamWConfig`): the studies' optimisers use these.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Adam with L2 weight decay added to the gradient (burn's `Adam` with `WeightDecayConfig`).
#[derive(Clone, Debug)]
pub struct Adam {
    /// The L2 penalty, if any.
    pub weight_decay: Option<f32>,
}

/// AdamW: weight decay applied to the weights, apart from the gradient (burn's `AdamW`).
#[derive(Clone, Debug)]
pub struct AdamW {
    pub weight_decay: f32,
}

/// Adam over a whole module (`weight_decay`: the L2 penalty, if any).
pub fn adam(weight_decay: Option<f32>) -> burn::optim::ModuleOptimizer {
    burn::optim::ModuleOptimizer::from(Adam { weight_decay })
}

/// AdamW over a whole module.
pub fn adamw(weight_decay: f32) -> burn::optim::ModuleOptimizer {
    burn::optim::ModuleOptimizer::from(AdamW { weight_decay })
}

/// One parameter's step, on host memory where the tensors live on the CPU backend: the
/// tensors handed back as they came otherwise (the caller runs burn's own step).
#[allow(clippy::type_complexity)]
fn fused<const D: usize>(
    step_at: impl Fn(usize) -> Step,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdaptiveMomentumState<D>>,
) -> Result<(Tensor<D>, AdaptiveMomentumState<D>), Box<(Tensor<D>, Tensor<D>, Option<AdaptiveMomentumState<D>>)>> {
    let f32s = |t: &Tensor<D>| t.dtype() == burn::tensor::DType::F32;
    // AMSGrad keeps a third moment; the studies do not use it.
    if !f32s(&tensor) || !f32s(&grad) || state.as_ref().is_some_and(|s| s.max_moment_2.is_some()) {
        return Err(Box::new((tensor, grad, state)));
    }
    // LibTorch's CPU buffers are host memory too: the same pass, in place (ml/libtorch.rs).
    #[cfg(feature = "libtorch")]
    let (tensor, grad, state) = match crate::ml::libtorch::adam(&step_at, tensor, grad, state) {
        Ok(done) => return Ok(done),
        Err(back) => *back,
    };
    if tensor.device().inner() != Device::flex() {
        return Err(Box::new((tensor, grad, state)));
    }
    let (device, shape) = (tensor.device(), tensor.shape());
    let n = shape.num_elements();
    let time = state.as_ref().map_or(1, |s| s.time + 1);
    // Moved, not cloned: burn-flex hands a tensor's buffer over without a copy when nothing
    // else holds it.
    let (mut w, g) = (tensor.into_data(), grad.into_data());
    let (mut m, mut v) = match state {
        Some(st) => (st.moment_1.into_data(), st.moment_2.into_data()),
        None => (TensorData::new(vec![0f32; n], shape.clone()), TensorData::new(vec![0f32; n], shape.clone())),
    };
    let done = match (w.as_mut_slice::<f32>(), g.as_slice::<f32>(), m.as_mut_slice::<f32>(), v.as_mut_slice::<f32>()) {
        (Ok(ws), Ok(gs), Ok(ms), Ok(vs)) if [gs.len(), ms.len(), vs.len()] == [ws.len(); 3] => {
            benchtop_kernels::adam::step(&step_at(time), ws, gs, ms, vs);
            true
        }
        _ => false,
    };
    let back = |d: TensorData| Tensor::<D>::from_data(d, &device);
    if !done {
        let state = (time > 1).then(|| AdaptiveMomentumState { time: time - 1, moment_1: back(m), moment_2: back(v), max_moment_2: None });
        return Err(Box::new((back(w), back(g), state)));
    }
    Ok((back(w), AdaptiveMomentumState { time, moment_1: back(m), moment_2: back(v), max_moment_2: None }))
}

/// [`fused`], or burn's own step (`burns`) where the fused pass does not apply.
fn fused_or<const D: usize>(
    step_at: impl Fn(usize) -> Step,
    tensor: Tensor<D>,
    grad: Tensor<D>,
    state: Option<AdaptiveMomentumState<D>>,
    burns: impl FnOnce(Tensor<D>, Tensor<D>, Option<AdaptiveMomentumState<D>>) -> (Tensor<D>, Option<AdaptiveMomentumState<D>>),
) -> (Tensor<D>, Option<AdaptiveMomentumState<D>>) {
    match fused(step_at, tensor, grad, state) {
        Ok((tensor, momentum)) => (tensor, Some(momentum)),
        Err(back) => {
            let (tensor, grad, momentum) = *back;
            burns(tensor, grad, momentum)
        }
    }
}

impl Optimizer for Adam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let step_at = |time: usize| {
            let t = time as i32;
            let bias_correction2_sqrt = (1.0 - BETA_2.powi(t)).sqrt();
            Step {
                first: time == 1,
                beta_1: BETA_1,
                beta_2: BETA_2,
                decay: self.weight_decay.map_or(Decay::None, |penalty| Decay::Coupled { penalty }),
                rule: Rule::Adam { combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(t)), eps: EPSILON * bias_correction2_sqrt },
                lr: lr as f32,
            }
        };
        let (tensor, momentum) = fused_or(step_at, tensor, grad, state.map(|s| s.momentum), |tensor, grad, momentum| {
            let mut config = burn::optim::AdamConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON);
            if let Some(penalty) = self.weight_decay {
                config = config.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(penalty)));
            }
            let (tensor, state) = config.build().step(lr, tensor, grad, momentum.map(|momentum| AdamState { momentum }));
            (tensor, state.map(|s| s.momentum))
        });
        (tensor, momentum.map(|momentum| AdamState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamState { momentum: state.momentum.to_device(device) }
    }
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let decay_rate = lr * self.weight_decay as f64;
        let step_at = |time: usize| {
            let t = time as i32;
            Step {
                first: time == 1,
                beta_1: BETA_1,
                beta_2: BETA_2,
                // burn leaves the weights alone at a zero rate, else scales them by the
                // factor rounded to f32 as its scalar op does.
                decay: if decay_rate == 0.0 { Decay::None } else { Decay::Decoupled { factor: (1.0 - decay_rate) as f32 } },
                rule: Rule::AdamW { c1: 1f32 - BETA_1.powi(t), c2: 1f32 - BETA_2.powi(t), eps: EPSILON },
                lr: lr as f32,
            }
        };
        let (tensor, momentum) = fused_or(step_at, tensor, grad, state.map(|s| s.momentum), |tensor, grad, momentum| {
            let config = burn::optim::AdamWConfig::new().with_beta_1(BETA_1).with_beta_2(BETA_2).with_epsilon(EPSILON);
            let (tensor, state) = config.with_weight_decay(self.weight_decay).build().step(
                lr,
                tensor,
                grad,
                momentum.map(|momentum| AdamWState { momentum }),
            );
            (tensor, state.map(|s| s.momentum))
        });
        (tensor, momentum.map(|momentum| AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamWState { momentum: state.momentum.to_device(device) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
    use burn::tensor::activation::relu;

    /// A two-layer net, trained for `steps` on fixed random data by `optimizer`: every weight.
    fn train(mut optimizer: ModuleOptimizer, steps: usize, width: usize) -> Vec<Vec<f32>> {
        let device = Device::flex().autodiff();
        let mut rng = benchtop_data::rng(3, 0);
        let mut net =
            Net { a: crate::ml::nets::linear(&mut rng, 40, width, &device), b: crate::ml::nets::linear(&mut rng, width, 3, &device) };
        let x = crate::ml::nets::tensor(crate::ml::nets::uniform(&mut rng, 32 * 40, 40), [32, 40], &device);
        for step in 0..steps {
            let out = net.b.forward(relu(net.a.forward(x.clone())));
            // A loss whose gradient changes size between steps.
            let loss = (out.clone() * out).mean().mul_scalar(1.0 + step as f64) - net.a.weight.val().sum().mul_scalar(0.01);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optimizer.step(1e-2, net, grads);
        }
        let host = |p: &Param<Tensor<2>>| p.val().into_data().try_to_vec::<f32>().unwrap_or_default();
        let host1 = |p: &Option<Param<Tensor<1>>>| {
            p.as_ref().map(|b| b.val().into_data().try_to_vec::<f32>().unwrap_or_default()).unwrap_or_default()
        };
        vec![host(&net.a.weight), host1(&net.a.bias), host(&net.b.weight), host1(&net.b.bias)]
    }

    #[derive(burn::module::Module, Debug)]
    struct Net {
        a: Linear,
        b: Linear,
    }

    fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
        v.iter().map(|t| t.iter().map(|x| x.to_bits()).collect()).collect()
    }

    #[test]
    fn adam_matches_burns_to_the_bit_with_and_without_decay_on_small_and_split_parameters() {
        // Width 2,000: the first layer has 80,000 weights, above the size split across the pool.
        for width in [16, 2000] {
            for decay in [None, Some(1e-2f32)] {
                let mut burn = AdamConfig::new();
                if let Some(p) = decay {
                    burn = burn.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(p)));
                }
                let ours = train(ModuleOptimizer::from(Adam { weight_decay: decay }), 6, width);
                let theirs = train(burn.init(), 6, width);
                assert_eq!(bits(&ours), bits(&theirs), "Adam, width {width}, decay {decay:?}");
            }
        }
    }

    /// The bit-for-bit tests above would also pass on burn's own step, which the optimisers
    /// fall back to off the CPU: this one checks the fused pass is what runs on the CPU.
    #[test]
    fn the_fused_pass_is_what_runs_on_the_cpu_with_or_without_autodiff() {
        let step = |_| Step {
            first: true,
            beta_1: BETA_1,
            beta_2: BETA_2,
            decay: Decay::None,
            rule: Rule::AdamW { c1: 0.1, c2: 0.001, eps: EPSILON },
            lr: 0.1,
        };
        for device in [Device::flex(), Device::flex().autodiff()] {
            let t = |v: f32| Tensor::<2>::from_data(TensorData::new(vec![v; 6], [2, 3]), &device);
            let (w, state) = fused(step, t(1.0), t(0.5), None).unwrap_or_else(|_| panic!("fell back to burn's step on {device:?}"));
            assert_eq!(state.time, 1);
            // First AdamW step by hand, in f32 as burn computes it: m = g (1 - b1), v = g^2 (1 - b2).
            let (m, v) = (0.5 * (1.0 - BETA_1), (0.5f32 * 0.5) * (1.0 - BETA_2));
            let expected = 1.0 - ((m / 0.1) / ((v / 0.001).sqrt() + EPSILON)) * 0.1;
            assert_eq!(w.into_data().try_to_vec::<f32>().unwrap(), vec![expected; 6]);
        }
    }

    #[test]
    fn adamw_matches_burns_to_the_bit_with_and_without_decay() {
        for width in [16, 2000] {
            for decay in [0.0f32, 1e-2] {
                let ours = train(ModuleOptimizer::from(AdamW { weight_decay: decay }), 6, width);
                let theirs = train(AdamWConfig::new().with_weight_decay(decay).init(), 6, width);
                assert_eq!(bits(&ours), bits(&theirs), "AdamW, width {width}, decay {decay}");
            }
        }
    }
}
