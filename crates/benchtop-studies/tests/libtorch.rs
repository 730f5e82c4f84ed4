//! The LibTorch backend must compute what burn-flex computes: the same forward passes of the
//! convolutional and transformer models (the ones it is chosen for), and the same ISR run.
//! Built only with the opt-in `libtorch` feature, under scripts/with-libtorch.sh:
//! `scripts/with-libtorch.sh cargo test --workspace --features benchtop-studies/libtorch --test libtorch`.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message
#![cfg(feature = "libtorch")]

use benchtop_core::{Backend, RunContext, RunId, Study, Summary};
use benchtop_studies::alignment::policy::Policy;
use benchtop_studies::goat::model::{Classifier, Encoder, EncoderKind, Head};
use benchtop_studies::isr::{Isr, IsrMethod, IsrParams};
use benchtop_studies::ml::device::{compute, inference_device, kernels, training_device};
use benchtop_studies::ml::nets::{Batchable, TrainOptions, host, train};
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

/// The same seed draws the same weights on either device.
fn classifier(kind: EncoderKind, device: &Device) -> Classifier {
    let mut rng = benchtop_data::rng(0, 1);
    Classifier {
        encoder: Encoder::new(kind, &mut rng, device),
        head: Head::new(Encoder::feature_dim(kind, 28, 784), 128, 2, 10, &mut rng, device),
    }
}

fn images(n: usize) -> Vec<f32> {
    (0..n * 784).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect()
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
fn training_through_either_backend_moves_the_goat_classifier_the_same_way() {
    // burn's autodiff over each backend: the convolutions' and pooling's backward, and Adam.
    // Four steps from the same weights on the same batches; Adam divides by the gradients'
    // size, so rounding differences grow, and the check is that the two backends end far
    // closer to each other than either is to where it started.
    let (n, x) = (64, images(64));
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let data = Batchable { x: &x, labels: &labels, shape: [1, 28, 28] };
    let options = TrainOptions { epochs: 1, batch_size: 16, lr: 1e-3, weight_decay: 0.0, decoupled: false };
    let probe = |device: &Device| Tensor::<4>::from_data(TensorData::new(images(16), [16, 1, 28, 28]), device);
    let [(before, flex), (_, torch)] = [Backend::Cpu, Backend::Libtorch].map(|backend| {
        let device = training_device(backend).unwrap();
        let model = classifier(EncoderKind::ConvPooled, &device);
        let before = values(model.forward(probe(&device)));
        let forward = |m: &Classifier, x: Tensor<4>| m.forward(x);
        let trained = train(model, forward, &data, &options, &mut benchtop_data::rng(0, 2), &device, |_, _, _| Ok(())).unwrap();
        (before, values(trained.forward(probe(&device))))
    });
    let (moved, gap) = (max_relative_gap(&before, &flex), max_relative_gap(&flex, &torch));
    assert!(moved > 0.05, "training barely moved the logits ({moved})");
    assert!(gap < 0.1 * moved, "after training, burn-flex and LibTorch differ by {gap}, training moved them by {moved}");
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
