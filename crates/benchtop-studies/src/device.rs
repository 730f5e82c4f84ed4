//! Picking burn's device for a run's [`Backend`].

use benchtop_core::{Backend, StudyError};
use burn::prelude::Device;

/// Whether this build can train on a GPU (the cargo feature `gpu`).
pub const GPU_BUILT: bool = cfg!(feature = "gpu");

/// The autodiff device for `backend`; `gpu` without the feature is a clear error.
pub fn training_device(backend: Backend) -> Result<Device, StudyError> {
    match backend {
        Backend::Cpu => Ok(Device::flex().autodiff()),
        Backend::Gpu => gpu_device().map(Device::autodiff),
    }
}

#[cfg(feature = "gpu")]
fn gpu_device() -> Result<Device, StudyError> {
    Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn gpu_device() -> Result<Device, StudyError> {
    Err(StudyError::Backend(
        "this Benchtop was built without GPU support; rebuild with `--features gpu` or use backend = \"cpu\"".into(),
    ))
}
