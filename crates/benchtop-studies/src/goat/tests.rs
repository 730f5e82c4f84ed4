use super::*;
use benchtop_core::{ArtifactCache, Backend, RunEvent, RunId};
use std::sync::mpsc::{Receiver, channel};

fn ctx(seed: u64, cache: &std::path::Path) -> (RunContext, Receiver<RunEvent>) {
    let (tx, rx) = channel();
    let dir = tempfile::tempdir().unwrap().keep();
    (RunContext::new(RunId::new(), seed, Backend::Cpu, dir, tx, Default::default()).with_cache(ArtifactCache::new(cache)), rx)
}

#[test]
fn a_cached_model_gives_the_same_logits_as_the_trained_one() {
    let device = training_device(Backend::Cpu).unwrap();
    let setting = rotating_digits(0, 64, 32, 0, 45.0).unwrap();
    let model = fresh_classifier(&setting, EncoderKind::ConvPooled, 0, &device);
    let data = Batchable { x: &setting.source.x, labels: &setting.source.labels, shape: setting.shape };
    let options = TrainOptions { epochs: 1, batch_size: 32, lr: 1e-3, weight_decay: 1e-4, decoupled: false };
    let model = train(model, |m, x| m.forward(x), &data, &options, &mut benchtop_data::rng(0, 1), &device, |_, _, _| Ok(())).unwrap();
    model.head.settle(); // as the study does after every training
    let bytes = model.to_bytes().unwrap();
    let loaded = fresh_classifier(&setting, EncoderKind::ConvPooled, 0, &device).load_bytes(&bytes, &device).unwrap();
    let a = predict(&model, |m, x| m.forward(x), &data, &device).unwrap();
    let b = predict(&loaded, |m, x| m.forward(x), &data, &device).unwrap();
    assert_eq!(a, b, "weights and batch-norm statistics survive the round trip");
    assert!(fresh_classifier(&setting, EncoderKind::ConvPooled, 0, &device).load_bytes(&bytes[..bytes.len() - 4], &device).is_err());
}

#[test]
fn a_cached_plan_is_checked_before_it_is_trusted() {
    let plan = benchtop_data::ot::Plan { assignment: vec![2, 0, 1], cost: 1.5 };
    let bytes = adapt::plan_to_bytes(&plan);
    assert_eq!(adapt::plan_from_bytes(&bytes, 3), Some(plan));
    assert_eq!(adapt::plan_from_bytes(&bytes, 4), None, "wrong size");
    let mut twice = bytes.clone();
    twice[12..16].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(adapt::plan_from_bytes(&twice, 3), None, "not a permutation");
}

#[test]
fn methods_ignore_what_they_do_not_read_so_a_full_grid_plans_each_run_once() {
    let registry = crate::registry();
    let source = "name = \"g\"\nstudy = \"goat\"\nseeds = 2\n[sweep]\nmethod = [\"source_only\", \"self_train\", \"gradual\", \"goat\"]\ngiven_domains = [0, 1, 2, 4]\ngenerated_domains = [0, 1, 2, 3]\n";
    let exp = benchtop_core::Experiment::parse(source, "g.toml").unwrap();
    let plans = exp.plan(&registry).unwrap();
    // source_only 1, self_train 1, gradual 4, goat 16 settings; x 2 seeds.
    assert_eq!(plans.len(), (1 + 1 + 4 + 16) * 2);
    let source_only: Vec<_> = plans.iter().filter(|p| p.method.as_deref() == Some("source_only")).collect();
    assert_eq!(source_only[0].params["generated_domains"], serde_json::json!(GoatParams::default().generated_domains));
}

/// The control differs from GOAT in the generated domains only: the same path length, the
/// same number of points at every step, and where GOAT has a domain generated at t between
/// the transport's two subsamples, the control has the later subsample itself.
#[test]
fn the_step_matched_control_differs_from_goat_in_the_generated_domains_only() {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, _rx) = ctx(4, cache.path());
    let device = training_device(Backend::Cpu).unwrap();
    let domain = |name: &str, n: usize, shift: f32| {
        let mut rng = benchtop_data::rng(9, n as u64 + shift as u64);
        let x = (0..n * 3).map(|_| rand::Rng::random_range(&mut rng, 0.0f32..1.0) + shift).collect();
        Rc::new(Features { name: name.into(), x, dim: 3, labels: None })
    };
    let real = vec![domain("source", 40, 0.0), domain("middle", 40, 1.0), domain("target", 40, 2.0)];
    let base = GoatParams { generated_domains: 2, ot_points: 20, ..GoatParams::default() };
    let key = benchtop_core::CacheKey::new("goat", "test", 4);
    // Each domain as its step would see it (generated ones are made when their step comes).
    let path = |method| -> Vec<Rc<Features>> {
        adaptation_path(&ctx, &GoatParams { method, ..base.clone() }, &real, &key, &device)
            .unwrap()
            .iter()
            .map(PathDomain::features)
            .collect()
    };
    let (goat, control) = (path(GoatMethod::Goat), path(GoatMethod::GradualRepeated));
    let sizes = |p: &[Rc<Features>]| p.iter().map(|f| f.len()).collect::<Vec<_>>();
    assert_eq!(sizes(&goat), vec![20, 20, 40, 20, 20, 40]);
    assert_eq!(sizes(&control), sizes(&goat), "the same points at every step");
    let mean = |f: &Features| f.x.iter().map(|v| *v as f64).sum::<f64>() / f.x.len() as f64;
    for (k, pair) in real.windows(2).enumerate() {
        let (a, b) = adapt::equalise(&pair[0], &pair[1], 20, &mut benchtop_data::rng(4, 100 + k as u64));
        for g in 0..2 {
            let step = 3 * k + g;
            assert_eq!(control[step].x, b.x, "the control's extra step is the transport's subsample of the next domain");
            // A generated domain is a transport of a onto b: its mean is the interpolated mean.
            let t = (g + 1) as f64 / 3.0;
            assert!((mean(&goat[step]) - ((1.0 - t) * mean(&a) + t * mean(&b))).abs() < 1e-4);
        }
        assert!(Rc::ptr_eq(&goat[3 * k + 2], &pair[1]) && Rc::ptr_eq(&control[3 * k + 2], &pair[1]), "then the whole real domain");
    }
    let gradual = path(GoatMethod::Gradual);
    assert_eq!(sizes(&gradual), vec![40, 40], "gradual: the real domains alone");
}

/// The study's summary for `p` at `seed`, sharing `cache` with the other runs of a test.
fn run(p: &GoatParams, seed: u64, cache: &std::path::Path) -> (Summary, std::path::PathBuf) {
    let (ctx, _rx) = ctx(seed, cache);
    let summary = Goat.run(&ctx, p).unwrap();
    (summary, ctx.artifacts_dir().to_path_buf())
}

/// The finding at a small setting: 1,000 digits per domain, the pooled encoder, seeds 0-2,
/// the authors' training settings otherwise: gradual self-training through two real
/// intermediate domains (15 and 30 degrees) beats direct self-training on the target.
///
/// Robust on any machine: another CPU rounds differently and training amplifies it, so each
/// seed's gain is, there, a fresh draw; the test asserts the mean of three, not every seed.
/// Measured when written: +10.6, +6.4, +4.4 points; on an AMD EPYC with AVX2, +7.0, +2.0,
/// +8.2 (the six: mean 6.4, sd 3.0; over 5 seeds at 2 given domains +9.8 ± 4.6,
/// docs/studies/goat.md). A mean of three draws from that spread falls under +1 point with
/// probability about 10⁻³.
#[test]
fn real_intermediate_domains_help_gradual_self_training_beats_direct_self_training() {
    let cache = tempfile::tempdir().unwrap();
    let base = GoatParams {
        encoder: EncoderKind::ConvPooled,
        points_per_domain: 1000,
        test_points: 500,
        given_domains: 2,
        ..GoatParams::default()
    };
    let gains: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3u64)
            .map(|seed| {
                let (base, cache) = (&base, cache.path());
                s.spawn(move || {
                    let (direct, artifacts) = run(&GoatParams { method: GoatMethod::SelfTrain, ..base.clone() }, seed, cache);
                    assert!(artifacts.join("domains.png").exists(), "each run shows its domains");
                    let (gradual, _) = run(&GoatParams { method: GoatMethod::Gradual, ..base.clone() }, seed, cache);
                    assert_eq!(direct["source_accuracy"], gradual["source_accuracy"], "one cached source model per seed");
                    gradual["target_accuracy"] - direct["target_accuracy"]
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mean = gains.iter().sum::<f64>() / gains.len() as f64;
    eprintln!("gradual - direct self-training, target accuracy, seeds 0-2: {gains:?}");
    assert!(mean > 0.01, "gradual beats direct self-training by more than a point on average: {gains:?}");
}

#[test]
fn a_value_is_checked_with_the_rest_of_the_file_and_ignored_values_pass() {
    let registry = crate::registry();
    // 10 domains of 500 digits fit in the bundled 20,000; of 2,000 (the default) they would not.
    let fits = "name = \"g\"\nstudy = \"goat\"\n[params]\npoints_per_domain = 500\n[sweep]\ngiven_domains = [0, 8]\n";
    assert!(benchtop_core::Experiment::parse(fits, "g.toml").unwrap().plan(&registry).is_ok());
    let too_many = "name = \"g\"\nstudy = \"goat\"\n[sweep]\ngiven_domains = [0, 8]\n";
    let err = benchtop_core::Experiment::parse(too_many, "g.toml").unwrap().plan(&registry).unwrap_err();
    assert_eq!((err.line, err.key.as_deref()), (4, Some("sweep.given_domains")), "{err}");
    // self_train does not read given_domains: 8 is no problem for it.
    let ignored = "name = \"g\"\nstudy = \"goat\"\n[params]\nmethod = \"self_train\"\ngiven_domains = 8\n";
    let plans = benchtop_core::Experiment::parse(ignored, "g.toml").unwrap().plan(&registry).unwrap();
    assert_eq!(plans[0].params["given_domains"], serde_json::json!(0));
}
