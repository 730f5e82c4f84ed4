//! The studies: one module per paper, written against burn's runtime `Device`, so the
//! same code trains on the CPU (flex) or a GPU (wgpu, feature `gpu`).
//!
//! A study sees only [`benchtop_core::RunContext`]: never the store, the UI or a terminal.

pub mod device;
pub mod isr;
pub mod logistic;

use benchtop_core::Registry;

/// Every study of this build.
pub fn registry() -> Registry {
    Registry::new().with(isr::Isr)
}
