//! The same ISR run on the GPU path (burn-wgpu) and on the CPU must agree.
//! Built with the `gpu` feature; CI runs it against Mesa's CPU Vulkan driver (lavapipe).

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message
#![cfg(feature = "gpu")]

use benchtop_core::{Backend, RunContext, RunId, Study, Summary};
use benchtop_studies::isr::{Isr, IsrMethod, IsrParams};

fn run(backend: Backend, method: IsrMethod) -> Summary {
    let (tx, _rx) = std::sync::mpsc::channel();
    let ctx = RunContext::new(RunId::new(), 3, backend, std::env::temp_dir(), tx, Default::default());
    let p = IsrParams { method, n_envs: 6, samples_per_env: 300, steps: 300, eval_every: 100, ..IsrParams::default() };
    Isr.run(&ctx, &p).expect("the run must succeed on this backend")
}

#[test]
fn an_isr_run_on_the_gpu_agrees_with_the_cpu_run() {
    for method in [IsrMethod::Erm, IsrMethod::IsrMean] {
        let (cpu, gpu) = (run(Backend::Cpu, method), run(Backend::Gpu, method));
        for metric in ["test_error", "train_error"] {
            let (c, g) = (cpu[metric], gpu[metric]);
            assert!((c - g).abs() <= 0.01, "{method:?} {metric}: cpu {c} vs gpu {g}");
        }
        let (c, g) = (cpu["train_loss"], gpu["train_loss"]);
        assert!((c - g).abs() <= 1e-3 * c.abs().max(1.0), "{method:?} train_loss: cpu {c} vs gpu {g}");
    }
}
