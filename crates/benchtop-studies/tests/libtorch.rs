//! The LibTorch backend must compute what burn-flex computes: the same forward passes of the
//! convolutional and transformer models (the ones it is chosen for), and the same ISR run;
//! and what this build adds to it (ml/libtorch.rs) must compute what burn's own path does:
//! LibTorch's convolution backward, and the fused Adam step in place on its buffers.
//! Built only with the opt-in `libtorch` feature, under scripts/with-libtorch.sh:
//! `scripts/with-libtorch.sh cargo test --workspace --features benchtop-studies/libtorch --test libtorch`.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message
#![cfg(feature = "libtorch")]

use benchtop_core::{Backend, RunContext, RunId, Study, Summary};
use benchtop_studies::alignment::policy::Policy;
use benchtop_studies::goat::model::{Classifier, Encoder, EncoderKind, Head};
use benchtop_studies::isr::{Isr, IsrMethod, IsrParams};
use benchtop_studies::ml::device::{compute, inference_device, kernels, training_device};
use benchtop_studies::ml::nets::host;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

fn devices() -> [Device; 2] {
    [inference_device(Backend::Cpu).unwrap(), inference_device(Backend::Libtorch).unwrap()]
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    host(t).unwrap()
}

/// The largest difference between two outputs, relative to the largest magnitude.
fn max_relative_gap(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Every parameter's gradient in `grads`, in `module`'s visiting order (empty where none).
fn gradients<M: Module>(module: &M, grads: &burn::tensor::Gradients) -> Vec<Vec<f32>> {
    struct Collect<'a>(&'a burn::tensor::Gradients, Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            self.1.push(param.val().grad(self.0).map(values).unwrap_or_default());
        }
    }
    let mut c = Collect(grads, Vec::new());
    module.visit(&mut c);
    c.1
}

/// The same seed draws the same weights on either device.
fn classifier(kind: EncoderKind, device: &Device) -> Classifier {
    let mut rng = benchtop_data::rng(0, 1);
    Classifier {
        encoder: Encoder::new(kind, &mut rng, device),
        head: Head::new(Encoder::feature_dim(kind, 28, 784), 128, 2, 10, &mut rng, device),
    }
}

/// `n` images of seeded random pixels in [0, 1). Not a repeating pattern: its equal pixels
/// made exact ties for max-pooling, which either backend's rounding broke its own way, and
/// a few training steps turned into different gradients.
fn images(n: usize) -> Vec<f32> {
    use rand::Rng as _;
    let mut rng = benchtop_data::rng(7, n as u64);
    (0..n * 784).map(|_| rng.random::<f32>()).collect()
}

#[test]
fn the_goat_classifier_gives_the_same_logits_on_both_cpu_backends() {
    for kind in [EncoderKind::Conv, EncoderKind::ConvPooled] {
        let logits = devices().map(|device| {
            let x = Tensor::<4>::from_data(TensorData::new(images(16), [16, 1, 28, 28]), &device);
            values(classifier(kind, &device).forward(x))
        });
        let gap = max_relative_gap(&logits[0], &logits[1]);
        assert!(gap < 1e-4, "{kind:?}: burn-flex and LibTorch logits differ by {gap} (relative)");
    }
}

#[test]
fn the_policy_transformer_gives_the_same_logits_on_both_cpu_backends() {
    let ids: Vec<i64> = (0..4 * 24).map(|i| 2 + (i * 31) % 60).collect();
    let logits = devices().map(|device| {
        let policy = Policy::new(64, &mut benchtop_data::rng(0, 6), &device);
        values(policy.forward(Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [4, 24]), &device)))
    });
    let gap = max_relative_gap(&logits[0], &logits[1]);
    assert!(gap < 1e-4, "burn-flex and LibTorch logits differ by {gap} (relative)");
}

#[test]
fn the_goat_classifier_gets_the_same_gradients_through_either_backend() {
    // Each backend's backward pass: burn-flex's convolution backward against LibTorch's own
    // (ml/libtorch.rs), the pooling's, the head's. The gradients, not a few trained steps, are
    // compared: Adam divides each weight's step by its gradient's size, so where a gradient
    // is near zero its rounding decides the step's sign, and four steps moved the pooled
    // classifier's logits apart by 0.69 (relative) on either LibTorch path, burn's or ours.
    for kind in [EncoderKind::Conv, EncoderKind::ConvPooled] {
        let [flex, torch] = [Backend::Cpu, Backend::Libtorch].map(|backend| {
            let device = training_device(backend).unwrap();
            let model = classifier(kind, &device);
            let x = Tensor::<4>::from_data(TensorData::new(images(16), [16, 1, 28, 28]), &device);
            let labels = Tensor::<1, Int>::from_data(TensorData::new((0..16).map(|i| i % 10).collect::<Vec<i64>>(), [16]), &device);
            let loss = burn::nn::loss::CrossEntropyLossConfig::new().init(&device).forward(model.forward(x), labels);
            gradients(&model, &loss.backward())
        });
        // 3 convolutions, 2 hidden layers, the norm's scale and shift, the output layer.
        let trained = |g: &[Vec<f32>]| g.iter().filter(|g| !g.is_empty()).count();
        assert_eq!((flex.len(), trained(&flex), trained(&torch)), (torch.len(), 14, 14), "{kind:?}: parameters with a gradient");
        for (i, (f, t)) in flex.iter().zip(&torch).enumerate() {
            let gap = max_relative_gap(f, t);
            assert!(gap < 1e-4, "{kind:?}: parameter {i}'s gradient differs by {gap} (relative) between burn-flex and LibTorch");
        }
    }
}

fn isr(backend: Backend, method: IsrMethod) -> Summary {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(RunId::new(), 3, backend, std::env::temp_dir(), tx, Default::default());
    let p = IsrParams { method, n_envs: 6, samples_per_env: 300, steps: 300, eval_every: 100, ..IsrParams::default() };
    Isr.run(&ctx, &p).expect("the run must succeed on this backend")
}

#[test]
fn an_isr_run_through_libtorch_agrees_with_the_burn_flex_run() {
    for method in [IsrMethod::Erm, IsrMethod::IsrMean] {
        let (flex, torch) = (isr(Backend::Cpu, method), isr(Backend::Libtorch, method));
        for metric in ["test_error", "train_error"] {
            let (f, t) = (flex[metric], torch[metric]);
            assert!((f - t).abs() <= 0.01, "{method:?} {metric}: burn-flex {f} vs LibTorch {t}");
        }
        let (f, t) = (flex["train_loss"], torch["train_loss"]);
        assert!((f - t).abs() <= 1e-3 * f.abs().max(1.0), "{method:?} train_loss: burn-flex {f} vs LibTorch {t}");
        // Deterministic on one machine, as every backend's runs must be.
        assert_eq!(isr(Backend::Libtorch, method), torch, "{method:?}: a LibTorch rerun differs");
    }
}

#[test]
fn a_libtorch_run_records_its_own_kernels() {
    // Its cached stages are kept apart from burn-flex's, and its provenance says LibTorch.
    assert!(kernels(Backend::Libtorch).starts_with("libtorch "));
    let c = compute(Backend::Libtorch);
    assert!(c.simd.starts_with("LibTorch ") && c.threads >= 1 && c.gpu.is_none(), "{c:?}");
}

#[test]
fn libtorchs_convolution_backward_gives_the_gradients_of_burns_generic_one() {
    let device = training_device(Backend::Libtorch).unwrap();
    // (channels in, out, kernel, stride, dilation, padding, whether LibTorch's pass applies):
    // the studies' 3x3 `same` layers, strided and dilated ones as the merging study has, and
    // an even kernel's asymmetric `same`, which stays on burn's path.
    let cases = [
        (1, 8, 3, 1, 1, PaddingConfig2d::Same, true),
        (8, 8, 3, 1, 1, PaddingConfig2d::Same, true),
        (4, 6, 3, 2, 1, PaddingConfig2d::Explicit(1, 1, 1, 1), true),
        (3, 5, 3, 1, 2, PaddingConfig2d::Valid, true),
        (2, 4, 4, 1, 1, PaddingConfig2d::Same, false),
    ];
    for (c_in, c_out, k, stride, dilation, padding, native) in cases {
        let case = format!("{c_in}->{c_out}, {k}x{k}, stride {stride}, dilation {dilation}, {padding:?}");
        let layer = Conv2dConfig::new([c_in, c_out], [k, k])
            .with_stride([stride; 2])
            .with_dilation([dilation; 2])
            .with_padding(padding)
            .init(&device);
        for tracked_input in [true, false] {
            let x = Tensor::<4>::from_data(
                TensorData::new(images(2 * c_in * 196 / 784 + 1)[..2 * c_in * 196].to_vec(), [2, c_in, 14, 14]),
                &device,
            );
            let x = if tracked_input { x.require_grad() } else { x };
            let run = |ours: bool| {
                let y = ours.then(|| benchtop_studies::ml::libtorch::conv2d(&layer, &x)).flatten();
                assert_eq!(ours && native, y.is_some(), "{case}: LibTorch's pass taken: {}", y.is_some());
                let y = y.unwrap_or_else(|| layer.forward(x.clone()));
                // A loss whose gradient differs per output element.
                let weights = Tensor::<4>::from_data(
                    TensorData::new(images(y.shape().num_elements() / 784 + 1)[..y.shape().num_elements()].to_vec(), y.shape()),
                    &device,
                );
                let grads = (y.clone() * weights).sum().backward();
                let grad = |t: Tensor<4>| t.grad(&grads).map(values).unwrap_or_default();
                let bias = layer.bias.as_ref().map(|b| values(b.val().grad(&grads).unwrap())).unwrap();
                [values(y), grad(x.clone()), grad(layer.weight.val()), bias]
            };
            let (ours, burns) = (run(true), run(false));
            for (name, (a, b)) in ["output", "input's gradient", "weights' gradient", "bias's gradient"].iter().zip(ours.iter().zip(&burns))
            {
                let gap = max_relative_gap(a, b);
                assert!(gap < 1e-5, "{case}: {name} differs by {gap} (relative)");
            }
        }
    }
}

#[derive(Module, Debug)]
struct Mlp {
    a: burn::nn::Linear,
    b: burn::nn::Linear,
}

/// A two-layer net on `backend`, trained 6 steps on fixed data by `optimizer`: every weight.
fn adam_trained(mut optimizer: ModuleOptimizer, backend: Backend) -> Vec<Vec<f32>> {
    let device = training_device(backend).unwrap();
    let mut rng = benchtop_data::rng(3, 0);
    let linear = |rng: &mut _, i, o| benchtop_studies::ml::nets::linear(rng, i, o, &device);
    let mut net = Mlp { a: linear(&mut rng, 40, 2000), b: linear(&mut rng, 2000, 3) };
    let x = benchtop_studies::ml::nets::tensor(benchtop_studies::ml::nets::uniform(&mut rng, 32 * 40, 40), [32, 40], &device);
    for step in 0..6 {
        let out = net.b.forward(burn::tensor::activation::relu(net.a.forward(x.clone())));
        let loss = (out.clone() * out).mean().mul_scalar(1.0 + step as f64) - net.a.weight.val().sum().mul_scalar(0.01);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optimizer.step(1e-2, net, grads);
    }
    vec![values(net.a.weight.val()), values(net.a.bias.unwrap().val()), values(net.b.weight.val()), values(net.b.bias.unwrap().val())]
}

#[test]
fn adam_on_libtorch_matches_burns_own_step_there() {
    // Burn's step through LibTorch's kernels against the fused pass on LibTorch's buffers
    // (the first layer's 80,000 weights are split across the pool): the same f32 operations.
    let ours = adam_trained(benchtop_studies::ml::adam::adam(Some(1e-2)), Backend::Libtorch);
    let config = AdamConfig::new().with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(1e-2)));
    let burns = adam_trained(config.init(), Backend::Libtorch);
    for (layer, (a, b)) in ours.iter().zip(&burns).enumerate() {
        let gap = max_relative_gap(a, b);
        assert!(gap < 1e-6, "parameter {layer}: ours and burn's Adam differ by {gap} (relative)");
    }
}

#[test]
fn the_fused_adam_step_runs_on_libtorch_tensors_and_leaves_shared_buffers_alone() {
    use benchtop_kernels::adam::{Decay, Rule, Step};
    let step = |_| Step {
        first: true,
        beta_1: 0.9,
        beta_2: 0.999,
        decay: Decay::None,
        rule: Rule::AdamW { c1: 0.1, c2: 0.001, eps: 1e-5 },
        lr: 0.1,
    };
    let plain = inference_device(Backend::Libtorch).unwrap();
    for device in [plain.clone(), training_device(Backend::Libtorch).unwrap()] {
        let t = |v: f32| Tensor::<2>::from_data(TensorData::new(vec![v; 6], [2, 3]), &plain).to_device(&device);
        let (w, g) = (t(1.0), t(0.5));
        let kept = w.clone();
        let (w, state) =
            benchtop_studies::ml::libtorch::adam(step, w, g, None).unwrap_or_else(|_| panic!("fell back to burn's step on {device:?}"));
        let (m, v) = (0.5 * (1.0 - 0.9f32), (0.5f32 * 0.5) * (1.0 - 0.999f32));
        let expected = 1.0 - ((m / 0.1) / ((v / 0.001).sqrt() + 1e-5)) * 0.1;
        assert_eq!(values(w), vec![expected; 6]);
        assert_eq!(values(kept), vec![1.0; 6], "a tensor sharing the weights' buffer was written");
        assert_eq!(state.time, 1);
        // The second step reads the moments back, from either device.
        let moments = burn::optim::AdaptiveMomentumState {
            moment_1: state.moment_1.to_device(&device),
            moment_2: state.moment_2.to_device(&device),
            ..state
        };
        assert!(benchtop_studies::ml::libtorch::adam(step, t(1.0), t(0.5), Some(moments)).is_ok(), "second step fell back on {device:?}");
    }
}

/// Output and input gradient of `f` on a tracked `[3, 5, 7]` tensor, under a loss whose
/// gradient differs per element, plus the gradients of `params` (a layer norm's).
fn with_gradients(f: impl Fn(Tensor<3>) -> Tensor<3>, params: &[Tensor<1>], device: &Device) -> Vec<Vec<f32>> {
    let x = Tensor::<3>::from_data(TensorData::new(images(1)[..105].iter().map(|v| 4.0 * v - 2.0).collect::<Vec<_>>(), [3, 5, 7]), device)
        .require_grad();
    let y = f(x.clone());
    let weights = Tensor::<3>::from_data(TensorData::new(images(1)[200..305].to_vec(), [3, 5, 7]), device);
    let grads = (y.clone() * weights).sum().backward();
    let mut out = vec![values(y), values(x.grad(&grads).unwrap())];
    out.extend(params.iter().map(|p| values(p.grad(&grads).unwrap())));
    out
}

fn assert_close(ours: &[Vec<f32>], burns: &[Vec<f32>], what: &str) {
    for (i, (a, b)) in ours.iter().zip(burns).enumerate() {
        let gap = max_relative_gap(a, b);
        assert!(gap < 1e-5, "{what}: value {i} (output, input's gradient, parameters') differs by {gap} (relative)");
    }
}

#[test]
fn libtorchs_fused_softmax_and_log_softmax_give_burns_values_and_gradients() {
    use benchtop_studies::ml::libtorch;
    let device = training_device(Backend::Libtorch).unwrap();
    for dim in [1, 2] {
        for log in [false, true] {
            let ours = with_gradients(
                |x| match log {
                    true => libtorch::log_softmax(&x, dim).expect("LibTorch's log-softmax on a tracked LibTorch tensor"),
                    false => libtorch::softmax(&x, dim).expect("LibTorch's softmax on a tracked LibTorch tensor"),
                },
                &[],
                &device,
            );
            let burns = with_gradients(
                |x| match log {
                    true => burn::tensor::activation::log_softmax(x, dim),
                    false => burn::tensor::activation::softmax(x, dim),
                },
                &[],
                &device,
            );
            assert_close(&ours, &burns, &format!("log {log}, dim {dim}"));
        }
    }
    // Off LibTorch's autodiff, burn's own path runs.
    let plain = Tensor::<2>::zeros([2, 3], &inference_device(Backend::Libtorch).unwrap());
    assert!(libtorch::softmax(&plain, 1).is_none());
}

#[test]
fn libtorchs_fused_layer_norm_gives_burns_values_and_gradients() {
    let device = training_device(Backend::Libtorch).unwrap();
    for bias in [true, false] {
        let mut norm = burn::nn::LayerNormConfig::new(7).with_epsilon(1e-3).with_bias(bias).init(&device);
        // Scale and shift away from 1 and 0, so their gradients' use shows.
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(images(1)[300..307].to_vec(), [7]), &device));
        if bias {
            norm.beta =
                Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(images(1)[400..407].to_vec(), [7]), &device)));
        }
        let params: Vec<Tensor<1>> = std::iter::once(norm.gamma.val()).chain(norm.beta.as_ref().map(|b| b.val())).collect();
        let ours = with_gradients(
            |x| benchtop_studies::ml::libtorch::layer_norm(&norm, &x, 1e-3).expect("LibTorch's layer norm on a tracked LibTorch tensor"),
            &params,
            &device,
        );
        let burns = with_gradients(|x| norm.forward(x), &params, &device);
        assert_eq!(ours.len(), 3 + usize::from(bias));
        assert_close(&ours, &burns, &format!("layer norm, bias {bias}"));
    }
}

#[test]
fn the_policy_gets_the_same_gradients_through_either_backend() {
    // SFT's loss through the transformer: LibTorch's fused layer norm, softmax and
    // log-softmax (ml/libtorch.rs) against burn-flex's composed ones.
    use benchtop_studies::alignment::policy::{TokenBatch, Weighting};
    let prompts: Vec<Vec<u32>> = (0..4).map(|r| (0..6).map(|i| 2 + ((r * 7 + i * 13) % 60) as u32).collect()).collect();
    let responses: Vec<Vec<u32>> = (0..4).map(|r| (0..5 + r).map(|i| 2 + ((r * 11 + i * 5) % 60) as u32).collect()).collect();
    let pairs: Vec<(&[u32], &[u32])> = prompts.iter().zip(&responses).map(|(p, r)| (p.as_slice(), r.as_slice())).collect();
    let batch = TokenBatch::new(&pairs);
    let [flex, torch] = [Backend::Cpu, Backend::Libtorch].map(|backend| {
        let device = training_device(backend).unwrap();
        let policy = Policy::new(64, &mut benchtop_data::rng(0, 6), &device);
        gradients(&policy, &policy.sft_loss(&batch, Weighting::PerToken, &device).backward())
    });
    assert_eq!(flex.len(), torch.len());
    assert!(flex.iter().all(|g| !g.is_empty()) && torch.iter().all(|g| !g.is_empty()), "a parameter without a gradient");
    for (i, (f, t)) in flex.iter().zip(&torch).enumerate() {
        let gap = max_relative_gap(f, t);
        assert!(gap < 1e-4, "parameter {i}'s gradient differs by {gap} (relative) between burn-flex and LibTorch");
    }
}
