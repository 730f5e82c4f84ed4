//! Picking burn's device for a run's [`Backend`].

use benchtop_core::{Backend, CacheKey, Compute, RunContext, StudyError};
use burn::prelude::Device;

/// Whether this build can train on a GPU (the cargo feature `gpu`).
pub const GPU_BUILT: bool = cfg!(feature = "gpu");

/// Whether this build can train through LibTorch (the cargo feature `libtorch`).
pub const LIBTORCH_BUILT: bool = cfg!(feature = "libtorch");

/// The LibTorch release the `libtorch` build links (the one tch 0.22 checks for;
/// scripts/with-libtorch.sh fetches it).
pub const LIBTORCH_VERSION: &str = "2.9.0";

/// The device without autodiff for `backend`'s inference-only work (the sentence encoder):
/// the run's own kernels, except a GPU run's, which embeds on burn-flex.
pub fn inference_device(backend: Backend) -> Result<Device, StudyError> {
    match backend {
        Backend::Cpu | Backend::Gpu => Ok(Device::flex()),
        Backend::Libtorch => libtorch_device(),
    }
}

/// The autodiff device for `backend`; `gpu` or `libtorch` without its feature is a clear error.
pub fn training_device(backend: Backend) -> Result<Device, StudyError> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        Backend::Gpu => gpu_device().map(Device::autodiff),
        Backend::Libtorch => libtorch_device().map(Device::autodiff),
    }
}

/// Whether this build has `backend`'s kernels. Checked when an experiment is launched, so a
/// backend the build lacks is one clear error before anything is stored, not a failed run each.
pub fn check_built(backend: Backend) -> Result<(), StudyError> {
    match backend {
        Backend::Cpu => Ok(()),
        Backend::Gpu if GPU_BUILT => Ok(()),
        Backend::Libtorch if LIBTORCH_BUILT => Ok(()),
        Backend::Gpu => gpu_device().map(drop),
        Backend::Libtorch => libtorch_device().map(drop),
    }
}

// burn 0.22 marks burn-tch deprecated (CubeCL's CPU runtime is to replace it); it is still
// the one way to LibTorch's kernels from burn, and the build that has it is opt-in.
#[cfg(feature = "libtorch")]
#[allow(deprecated)]
fn libtorch_device() -> Result<Device, StudyError> {
    Ok(Device::libtorch())
}

#[cfg(not(feature = "libtorch"))]
fn libtorch_device() -> Result<Device, StudyError> {
    Err(StudyError::Backend(
        "this Benchtop was built without LibTorch; build with `--features benchtop-studies/libtorch` under scripts/with-libtorch.sh, or use backend = \"cpu\"".into(),
    ))
}

#[cfg(feature = "gpu")]
fn gpu_device() -> Result<Device, StudyError> {
    Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> Result<Device, StudyError> {
    Err(StudyError::Backend("this Benchtop was built without GPU support; rebuild with `--features gpu` or use backend = \"cpu\"".into()))
}

/// The kernels that compute a run on `backend` in this build. Part of every cached stage's
/// key: other kernels round differently, so a stage computed by them is recomputed rather
/// than mixed into this run (and the compute a run records is true of every stage it read).
pub fn kernels(backend: Backend) -> &'static str {
    match backend {
        // The names of the burn features that choose them (the workspace's Cargo.toml):
        // `x86-v4` added gemm's AVX-512 kernels, so stages cached before it are recomputed.
        Backend::Cpu => "burn-flex simd rayon x86-v4",
        Backend::Gpu => "burn-wgpu",
        // LIBTORCH_VERSION's kernels; `native backward`: the training steps of ml/libtorch.rs
        // (LibTorch's own convolution, softmax and layer-norm backward, the fused Adam), which
        // round differently from burn's composed ones, so stages cached before them are
        // recomputed.
        Backend::Libtorch => "libtorch 2.9.0 cpu native backward",
    }
}

/// The cache key of a shared stage of `study`, tagged with the run's [`kernels`].
pub fn stage_key(ctx: &RunContext, study: &str, stage: &str, seed: u64) -> CacheKey {
    CacheKey::new(study, stage, seed).param("kernels", kernels(ctx.backend()))
}

/// The compute a run on `backend` gets in this process, for its provenance: the CPU model,
/// the SIMD paths burn-flex's kernels dispatch to on it, and the threads they use. These are
/// what makes two machines round the same run differently (see `Compute`).
pub fn compute(backend: Backend) -> Compute {
    Compute {
        cpu: cpu_model(),
        simd: match backend {
            Backend::Libtorch => format!("LibTorch {LIBTORCH_VERSION} CPU kernels"),
            Backend::Cpu | Backend::Gpu => simd_paths(),
        },
        threads: match backend {
            Backend::Libtorch => libtorch_threads(),
            Backend::Cpu | Backend::Gpu => rayon::current_num_threads(),
        },
        gpu: match backend {
            Backend::Cpu | Backend::Libtorch => None,
            // The adapter is chosen by burn-wgpu inside the run; say which API it asks for.
            Backend::Gpu => Some(gpu_description()),
        },
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("Hardware"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned())
}

/// LibTorch's intra-op threads (the ones its kernels split over); 0 in a build without it,
/// where a `libtorch` run fails before it trains.
fn libtorch_threads() -> usize {
    #[cfg(feature = "libtorch")]
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1);
    #[cfg(not(feature = "libtorch"))]
    let threads = 0;
    threads
}

/// macerator's choice (element-wise ops, reductions) and gemm's f32 kernel (matmul, conv).
/// gemm picks its AVX-512 kernel where the CPU has AVX-512F (our build compiles it in, burn's
/// `x86-v4` feature), else its FMA one.
fn simd_paths() -> String {
    let elementwise = match format!("{:?}", macerator::Arch::detect()).as_str() {
        "V4FP16" => "x86-64-v4 (AVX-512, FP16)".to_owned(),
        "V4" => "x86-64-v4 (AVX-512)".to_owned(),
        "V3" => "x86-64-v3 (AVX2)".to_owned(),
        "V2" => "x86-64-v2 (SSE4.2)".to_owned(),
        other => other.to_owned(),
    };
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    let matmul = if std::arch::is_x86_feature_detected!("avx512f") {
        "AVX-512"
    } else if std::arch::is_x86_feature_detected!("fma") {
        "FMA"
    } else {
        "scalar"
    };
    #[cfg(target_arch = "aarch64")]
    let matmul = if std::arch::is_aarch64_feature_detected!("neon") { "NEON" } else { "scalar" };
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    let matmul = "portable";
    format!("elementwise {elementwise}; matmul {matmul}")
}

#[cfg(feature = "gpu")]
fn gpu_description() -> String {
    "burn-wgpu, default adapter".to_owned()
}

#[cfg(not(feature = "gpu"))]
fn gpu_description() -> String {
    "not built (no `gpu` feature)".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compute_record_names_the_cpu_its_simd_paths_and_threads() {
        let c = compute(Backend::Cpu);
        assert!(!c.cpu.is_empty());
        assert!(c.simd.starts_with("elementwise ") && c.simd.contains("; matmul "), "{}", c.simd);
        assert!(c.threads >= 1);
        assert!(c.gpu.is_none());
        assert!(compute(Backend::Gpu).gpu.is_some());
        assert!(c.describe().contains(&c.cpu));
    }

    #[cfg(not(feature = "libtorch"))]
    #[test]
    fn libtorch_in_a_build_without_it_is_a_clear_error() {
        let e = training_device(Backend::Libtorch).unwrap_err().to_string();
        assert!(e.contains("benchtop-studies/libtorch") && e.contains("with-libtorch.sh"), "{e}");
        assert!(inference_device(Backend::Libtorch).is_err());
        assert!(check_built(Backend::Libtorch).is_err() && check_built(Backend::Cpu).is_ok());
        // The cache key names the LibTorch release the build links.
        assert!(kernels(Backend::Libtorch).contains(LIBTORCH_VERSION));
    }
}
