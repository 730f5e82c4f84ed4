//! The burn side of a run's [`Checkpoint`]: models and optimizer states through burn's own
//! burnpack format (`burn::store`), and the run's random generators by their exact position.
//!
//! A model saved here keeps its parameters' ids, and an optimizer's state is keyed by those
//! ids, so a model and its optimizer restored together step on exactly as before the save:
//! a resumed run trains to the same numbers as an uninterrupted one.

use benchtop_core::{Checkpoint, RunContext, StudyError};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::Tensor;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::Bytes;
use rand_chacha::ChaCha8Rng;

use crate::ml::nets::{self, FitState, TrainOptions};

fn failed(what: &str, e: impl std::fmt::Display) -> StudyError {
    StudyError::Failed(format!("checkpoint: {what}: {e}"))
}

/// A module's weights (and parameter ids) as burnpack bytes.
pub fn module_bytes<M: Module>(module: &M) -> Result<Vec<u8>, StudyError> {
    let mut store = BurnpackStore::from_bytes(None);
    module.save_into(&mut store).map_err(|e| failed("saving a model", e))?;
    let bytes = store.get_bytes().map_err(|e| failed("saving a model", e))?;
    Ok(bytes.to_vec())
}

/// `module` (a fresh one of the same structure) with the weights and parameter ids of
/// [`module_bytes`]; every tensor must match, none may be missing or left over.
pub fn load_module<M: Module>(mut module: M, bytes: &[u8], what: &str) -> Result<M, StudyError> {
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())));
    let result = module.load_from(&mut store).map_err(|e| failed(&format!("loading the {what}"), e))?;
    if !result.is_success() || !result.missing.is_empty() || !result.unused.is_empty() {
        return Err(failed(&format!("loading the {what}"), result));
    }
    Ok(module)
}

/// An optimizer's state (Adam's moments and step counts) as burnpack bytes.
pub fn optimizer_bytes(optimizer: &ModuleOptimizer) -> Result<Vec<u8>, StudyError> {
    Ok(optimizer.into_bytes().map_err(|e| failed("saving the optimizer", e))?.to_vec())
}

/// `optimizer` (configured as the saved one was) with the state of [`optimizer_bytes`].
pub fn load_optimizer(optimizer: ModuleOptimizer, bytes: &[u8]) -> Result<ModuleOptimizer, StudyError> {
    optimizer.from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| failed("loading the optimizer", e))
}

/// A generator's exact position: seed, stream and word position (ChaCha's whole state).
pub fn rng_bytes(rng: &ChaCha8Rng) -> Vec<u8> {
    let mut out = rng.get_seed().to_vec();
    out.extend_from_slice(&rng.get_stream().to_le_bytes());
    out.extend_from_slice(&rng.get_word_pos().to_le_bytes());
    out
}

/// The generator [`rng_bytes`] saved, at the same position.
pub fn load_rng(bytes: &[u8]) -> Result<ChaCha8Rng, StudyError> {
    use rand::SeedableRng as _;
    if bytes.len() != 32 + 8 + 16 {
        return Err(failed("a random generator", format!("{} bytes, expected 56", bytes.len())));
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&bytes[..32]);
    let mut stream = [0u8; 8];
    stream.copy_from_slice(&bytes[32..40]);
    let mut pos = [0u8; 16];
    pos.copy_from_slice(&bytes[40..]);
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(u64::from_le_bytes(stream));
    rng.set_word_pos(u128::from_le_bytes(pos));
    Ok(rng)
}

/// `checkpoint` with a training loop between epochs ([`FitState`] and its generator) under
/// `prefix`.
pub fn with_fit_state(checkpoint: Checkpoint, prefix: &str, state: &FitState, rng: &ChaCha8Rng) -> Result<Checkpoint, StudyError> {
    checkpoint
        .with(&format!("{prefix}.optimizer"), optimizer_bytes(&state.optimizer)?)
        .with(&format!("{prefix}.rng"), rng_bytes(rng))
        .with_value(&format!("{prefix}.epoch"), &state.epoch)?
        .with_value(&format!("{prefix}.order"), &state.order)
}

/// The loop state and generator saved by [`with_fit_state`], the optimizer configured by
/// `options`.
pub fn fit_state(checkpoint: &Checkpoint, prefix: &str, options: &TrainOptions) -> Result<(FitState, ChaCha8Rng), StudyError> {
    let state = FitState {
        epoch: checkpoint.value(&format!("{prefix}.epoch"))?,
        optimizer: load_optimizer(nets::optimizer(options), checkpoint.part(&format!("{prefix}.optimizer"))?)?,
        order: checkpoint.value(&format!("{prefix}.order"))?,
    };
    Ok((state, load_rng(checkpoint.part(&format!("{prefix}.rng"))?)?))
}

/// [`nets::fit`] that checkpoints after every epoch (model, optimizer, sample order and
/// generator under `prefix`) and, in a resumed run, goes on from the checkpoint. `on_epoch`
/// logs; the checkpoint follows it, then the cancellation check. One such loop per run: the
/// checkpoint a run resumes from is its latest.
#[allow(clippy::too_many_arguments)]
pub fn fit_checkpointed<M, L>(
    ctx: &RunContext,
    prefix: &str,
    model: M,
    loss: L,
    n: usize,
    options: &TrainOptions,
    rng: &mut ChaCha8Rng,
    mut on_epoch: impl FnMut(u32, f64, &M) -> Result<(), StudyError>,
) -> Result<M, StudyError>
where
    M: Module,
    L: Fn(&M, &[usize]) -> Tensor<1>,
{
    let model_part = format!("{prefix}.model");
    let (model, resume) = match ctx.resumed() {
        Some(cp) => {
            let (state, saved_rng) = fit_state(cp, prefix, options)?;
            *rng = saved_rng;
            (load_module(model, cp.part(&model_part)?, prefix)?, Some(state))
        }
        None => (model, None),
    };
    nets::fit_from(model, resume, loss, n, options, rng, |epoch, mean, m, state, rng| {
        on_epoch(epoch, mean, m)?;
        let cp = Checkpoint::new(format!("{prefix} epoch {} of {}", epoch + 1, options.epochs)).with(&model_part, module_bytes(m)?);
        ctx.checkpoint(with_fit_state(cp, prefix, state, rng)?);
        ctx.check_cancelled()?;
        Ok(nets::Epochs::Continue)
    })
}

/// Where a study restarts a loop of `total` steps (iterations, epochs, rounds): after the
/// `done` the checkpoint covers, or at 0 without one. A checkpoint that claims more than
/// `total` is from other parameters and is refused.
pub fn completed(checkpoint: Option<&Checkpoint>, total: usize) -> Result<usize, StudyError> {
    let Some(cp) = checkpoint else { return Ok(0) };
    let done: usize = cp.value("completed")?;
    if done > total {
        return Err(StudyError::Failed(format!("the checkpoint at {} covers {done} steps of {total}", cp.stage)));
    }
    Ok(done)
}

/// For study tests: a run interrupted right after a checkpoint and resumed from it must end
/// as the same run uninterrupted, with the same points.
#[cfg(test)]
pub(crate) mod resume_check {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use benchtop_core::{ArtifactCache, Backend, Checkpoint, RunContext, RunEvent, RunId, Study, StudyError, Summary};

    /// What one attempt of a run sent: its points by (series, step), those sent before its
    /// last checkpoint (what a kill right after it leaves stored), that checkpoint, and how
    /// it ended.
    pub struct Attempt {
        pub points: BTreeMap<(String, u64), f64>,
        pub points_at_checkpoint: BTreeMap<(String, u64), f64>,
        pub checkpoint: Option<Checkpoint>,
        pub result: Result<Summary, StudyError>,
    }

    /// Run `study` once, resuming from `resume`; with `stop_at`, cancel it as soon as its
    /// `stop_at`-th checkpoint is sent (as a kill right after it would leave it).
    pub fn attempt<S: Study>(
        study: &S,
        params: &S::Params,
        seed: u64,
        cache: &ArtifactCache,
        resume: Option<Checkpoint>,
        stop_at: Option<usize>,
    ) -> Attempt {
        let (tx, rx) = std::sync::mpsc::channel();
        let flag = Arc::new(AtomicBool::new(false));
        let dir = tempfile::tempdir().unwrap();
        let ctx = RunContext::new(RunId::new(), seed, Backend::Cpu, dir.path().to_path_buf(), tx, flag.clone())
            .with_cache(cache.clone())
            .with_checkpoint(resume);
        let watcher = std::thread::spawn(move || {
            let (mut points, mut at_checkpoint, mut checkpoint, mut seen) = (BTreeMap::new(), BTreeMap::new(), None, 0);
            for event in rx {
                match event {
                    RunEvent::Metric { name, step, value, .. } => {
                        if let Some(old) = points.insert((name.clone(), step), value) {
                            assert_eq!(old.to_bits(), value.to_bits(), "{name} at step {step} was logged twice with different values");
                        }
                    }
                    RunEvent::Checkpoint { checkpoint: cp, .. } => {
                        // Through its bytes, as the store keeps it.
                        checkpoint = Some(Checkpoint::decode(&cp.encode()).unwrap());
                        at_checkpoint = points.clone();
                        seen += 1;
                        if Some(seen) == stop_at {
                            flag.store(true, Ordering::Relaxed);
                        }
                    }
                    _ => {}
                }
            }
            (points, at_checkpoint, checkpoint)
        });
        let result = study.run(&ctx, params);
        drop(ctx);
        let (points, points_at_checkpoint, checkpoint) = watcher.join().unwrap();
        Attempt { points, points_at_checkpoint, checkpoint, result }
    }

    /// Interrupt after the `stop_at`-th checkpoint, resume from the last one sent, and check
    /// the summary and every point against an uninterrupted run. Returns the checkpoint's stage.
    ///
    /// Each side gets a fresh cache: a stage the cache serves logs no curve, so both must
    /// compute their cached stages (the interrupted attempt computes them, the resumed one
    /// reads them).
    pub fn resumes_identically<S: Study>(study: &S, params: &S::Params, seed: u64, stop_at: usize) -> String {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (straight_cache, cache) = (ArtifactCache::new(a.path()), &ArtifactCache::new(b.path()));
        let straight = attempt(study, params, seed, &straight_cache, None, None);
        let expected = straight.result.expect("the uninterrupted run");
        // The flag is set by the thread reading the events, so the study stops at its next
        // check after that checkpoint, or later (or, on a badly stalled machine, not at all:
        // then its last checkpoint is used, which still tests the restore).
        let first = attempt(study, params, seed, cache, None, Some(stop_at));
        assert!(matches!(first.result, Err(StudyError::Cancelled) | Ok(_)), "the first attempt failed: {:?}", first.result.err());
        let checkpoint = first.checkpoint.expect("the study sent no checkpoint");
        let stage = checkpoint.stage.clone();
        let second = attempt(study, params, seed, cache, Some(checkpoint), None);
        let got = second.result.expect("the resumed run");
        let bits = |s: &Summary| s.iter().map(|(k, v)| (k.clone(), v.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&expected), "resumed from {stage}: the summary differs");
        // Only what was sent before the checkpoint survives a kill right after it: the resumed
        // run must send everything after it again.
        let mut points = first.points_at_checkpoint;
        for (key, value) in second.points {
            if let Some(old) = points.insert(key.clone(), value) {
                assert_eq!(old.to_bits(), value.to_bits(), "{key:?} differs between the attempts");
            }
        }
        let missing: Vec<_> = straight.points.keys().filter(|k| !points.contains_key(*k)).collect();
        let extra: Vec<_> = points.keys().filter(|k| !straight.points.contains_key(*k)).collect();
        assert!(missing.is_empty() && extra.is_empty(), "resumed from {stage}: missing points {missing:?}, extra points {extra:?}");
        for (key, value) in &straight.points {
            assert_eq!(points[key].to_bits(), value.to_bits(), "{key:?}: resumed {} against {value}", points[key]);
        }
        stage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    #[test]
    fn a_generator_resumes_at_its_exact_position() {
        let mut rng = benchtop_data::rng(7, 3);
        let _: [u64; 5] = std::array::from_fn(|_| rng.random());
        let mut back = load_rng(&rng_bytes(&rng)).unwrap();
        let ahead: Vec<u32> = (0..9).map(|_| rng.random()).collect();
        assert_eq!(ahead, (0..9).map(|_| back.random()).collect::<Vec<u32>>());
        assert!(load_rng(&[0; 10]).is_err());
    }

    /// Training two epochs, checkpointing, restoring into a fresh model and optimizer and
    /// training two more lands on the same weights as four epochs straight: parameter ids,
    /// Adam's moments and step counts, the sample order and the generator all came back.
    #[test]
    fn a_training_loop_resumes_to_the_same_weights() {
        let device = crate::ml::device::training_device(benchtop_core::Backend::Cpu).unwrap();
        let xs: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let ys: Vec<f32> = (0..32).map(|i| (i as f32 * 0.11).cos()).collect();
        let fresh = || nets::linear(&mut benchtop_data::rng(1, 1), 2, 1, &device);
        let options = TrainOptions { epochs: 4, batch_size: 8, lr: 0.05, weight_decay: 0.0, decoupled: false };
        let loss = |m: &burn::nn::Linear, idx: &[usize]| -> Tensor<1> {
            let x: Vec<f32> = idx.iter().flat_map(|&i| [xs[2 * i], xs[2 * i + 1]]).collect();
            let y: Vec<f32> = idx.iter().map(|&i| ys[i]).collect();
            let pred = m.forward(nets::tensor(x, [idx.len(), 2], &device));
            (pred - nets::tensor(y, [idx.len(), 1], &device)).powi_scalar(2).mean()
        };
        let straight = nets::fit(fresh(), loss, 32, &options, &mut benchtop_data::rng(1, 2), |_, _, _| Ok(())).unwrap();

        let mut rng = benchtop_data::rng(1, 2);
        let mut saved = None;
        let _interrupted = nets::fit_from(fresh(), None, loss, 32, &options, &mut rng, |epoch, _, m, state, rng| {
            if epoch == 1 {
                let cp = Checkpoint::new("epoch 2").with("model", module_bytes(m)?);
                saved = Some(with_fit_state(cp, "fit", state, rng)?.encode());
                return Ok(nets::Epochs::Stop);
            }
            Ok(nets::Epochs::Continue)
        });
        let cp = Checkpoint::decode(&saved.unwrap()).unwrap();
        let model = load_module(fresh(), cp.part("model").unwrap(), "model").unwrap();
        let (state, mut rng) = fit_state(&cp, "fit", &options).unwrap();
        assert_eq!(state.epoch, 2);
        let resumed = nets::fit_from(model, Some(state), loss, 32, &options, &mut rng, |_, _, _, _, _| Ok(nets::Epochs::Continue)).unwrap();
        assert_eq!(nets::module_values(&resumed).unwrap(), nets::module_values(&straight).unwrap());
        assert!(load_module(fresh(), b"not a model", "model").is_err());
    }
}
