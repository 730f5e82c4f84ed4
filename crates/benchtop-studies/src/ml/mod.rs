//! The machine-learning pieces the studies share, apart from any one paper: choosing the
//! device, seeded layers, host batches and the training loop (`nets`), LoRA, MiniLM,
//! Bradley-Terry reward models and small statistics. A paper's folder holds only its study.

pub mod adam;
pub mod bradley_terry;
pub mod checkpoint;
pub mod device;
#[cfg(feature = "libtorch")]
pub mod libtorch;
pub mod lora;
pub mod memory;
pub mod minilm;
pub mod nets;
pub mod stats;
