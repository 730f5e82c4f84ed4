//! The studies: one module per paper, written against burn's runtime `Device`, so the
//! same code trains on the CPU (flex) or a GPU (wgpu, feature `gpu`).
//!
//! A study sees only [`benchtop_core::RunContext`]: never the store, the UI or a terminal.

pub mod alignment;
pub mod cfa;
pub mod forgetting;
pub mod goat;
pub mod isr;
pub mod lightfield;
pub mod merging;
pub mod ml;
pub mod reward;

use benchtop_core::Registry;

/// Every study of this build.
pub fn registry() -> Registry {
    Registry::new()
        .with(isr::Isr)
        .with(goat::Goat)
        .with(cfa::Cfa)
        .with(forgetting::Forgetting)
        .with(reward::ssrm::Ssrm)
        .with(reward::armorm::Armorm)
        .with(alignment::online_rlhf::OnlineRlhf)
        .with(alignment::dpa::Dpa)
        .with(lightfield::Lightfield)
        .with(merging::Merging)
        .with_compute_probe(ml::device::compute)
}

/// A ready-made experiment shipped in the binary, so the app offers it wherever it runs.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// The file name in `experiments/`.
    pub file: &'static str,
    pub source: &'static str,
}

/// The presets of `experiments/`, embedded at build time.
pub fn presets() -> &'static [Preset] {
    const PRESETS: &[Preset] = &[
        Preset { file: "isr-quick.toml", source: include_str!("../../../experiments/isr-quick.toml") },
        Preset { file: "isr-environments.toml", source: include_str!("../../../experiments/isr-environments.toml") },
        Preset { file: "isr-cov-scales.toml", source: include_str!("../../../experiments/isr-cov-scales.toml") },
        Preset { file: "isr-search.toml", source: include_str!("../../../experiments/isr-search.toml") },
        Preset { file: "cfa-quick.toml", source: include_str!("../../../experiments/cfa-quick.toml") },
        Preset { file: "cfa-cg-digits.toml", source: include_str!("../../../experiments/cfa-cg-digits.toml") },
        Preset { file: "cfa-ablation.toml", source: include_str!("../../../experiments/cfa-ablation.toml") },
        Preset { file: "cfa-select-probe.toml", source: include_str!("../../../experiments/cfa-select-probe.toml") },
        Preset { file: "cfa-select-finetune.toml", source: include_str!("../../../experiments/cfa-select-finetune.toml") },
        Preset { file: "forgetting-quick.toml", source: include_str!("../../../experiments/forgetting-quick.toml") },
        Preset { file: "forgetting-digits.toml", source: include_str!("../../../experiments/forgetting-digits.toml") },
        Preset { file: "goat-quick.toml", source: include_str!("../../../experiments/goat-quick.toml") },
        Preset { file: "goat-rotating-digits.toml", source: include_str!("../../../experiments/goat-rotating-digits.toml") },
        Preset {
            file: "goat-rotating-digits-authors.toml",
            source: include_str!("../../../experiments/goat-rotating-digits-authors.toml"),
        },
        Preset { file: "goat-covertype.toml", source: include_str!("../../../experiments/goat-covertype.toml") },
        Preset { file: "ssrm-quick.toml", source: include_str!("../../../experiments/ssrm-quick.toml") },
        Preset { file: "ssrm-hh.toml", source: include_str!("../../../experiments/ssrm-hh.toml") },
        Preset { file: "ssrm-controlled.toml", source: include_str!("../../../experiments/ssrm-controlled.toml") },
        Preset { file: "armorm-quick.toml", source: include_str!("../../../experiments/armorm-quick.toml") },
        Preset { file: "armorm-finegrained.toml", source: include_str!("../../../experiments/armorm-finegrained.toml") },
        Preset { file: "armorm-controlled.toml", source: include_str!("../../../experiments/armorm-controlled.toml") },
        Preset { file: "online-rlhf-quick.toml", source: include_str!("../../../experiments/online-rlhf-quick.toml") },
        Preset { file: "online-rlhf.toml", source: include_str!("../../../experiments/online-rlhf.toml") },
        Preset { file: "dpa-quick.toml", source: include_str!("../../../experiments/dpa-quick.toml") },
        Preset { file: "dpa.toml", source: include_str!("../../../experiments/dpa.toml") },
        Preset { file: "lightfield-quick.toml", source: include_str!("../../../experiments/lightfield-quick.toml") },
        Preset { file: "lightfield.toml", source: include_str!("../../../experiments/lightfield.toml") },
        Preset { file: "lightfield-lego.toml", source: include_str!("../../../experiments/lightfield-lego.toml") },
        Preset { file: "merging-quick.toml", source: include_str!("../../../experiments/merging-quick.toml") },
        Preset { file: "merging.toml", source: include_str!("../../../experiments/merging.toml") },
        Preset { file: "merging-replay.toml", source: include_str!("../../../experiments/merging-replay.toml") },
    ];
    PRESETS
}

#[cfg(test)]
mod preset_tests {
    use super::*;

    #[test]
    fn every_shipped_preset_is_embedded_and_plans() {
        let on_disk: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../experiments"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".toml"))
            .collect();
        let registry = registry();
        for name in &on_disk {
            assert!(presets().iter().any(|p| p.file == *name), "{name} is not embedded in presets()");
        }
        for p in presets() {
            let exp = benchtop_core::Experiment::parse(p.source, p.file).unwrap();
            assert!(!exp.plan(&registry).unwrap().is_empty(), "{}", p.file);
        }
    }
}
