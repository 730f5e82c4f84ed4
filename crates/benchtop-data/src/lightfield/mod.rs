//! The light-field study's machinery, apart from any run: camera poses (`transforms.json`
//! and the bundled Lego poses), simulated capture layouts, geometric metrics (Den-SOFT's
//! density, spacing, coverage of the volume), and a small CPU renderer (a procedural room,
//! ray-cast truth, image-based synthesis of held-out views, PSNR and SSIM).
//!
//! It lives here rather than in the study so it is built optimised in debug builds too (see
//! the workspace's `[profile.dev.package.benchtop-data]`): every step of the study is these
//! f64 loops, tens of times slower unoptimised, where the other studies spend their time in
//! burn's (already optimised) kernels.

pub mod metrics;
pub mod poses;
pub mod render;
pub mod rigs;

#[cfg(test)]
mod tests;
