use super::online_rlhf::{DpoPair, dpo_loss};
use super::policy::{Policy, TokenBatch};
use super::*;
use benchtop_core::{Backend, RunContext};
use benchtop_data::quiz;

/// A run context whose cache outlives the test process: each seed's SFT policy (about a
/// minute) is trained once per machine, then read back by every test that starts from it.
fn context(seed: u64) -> RunContext {
    let (tx, _rx) = std::sync::mpsc::channel();
    let cache = benchtop_core::ArtifactCache::new(std::env::temp_dir().join("benchtop-test-policies"));
    RunContext::new(benchtop_core::RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default())
        .with_cache(cache)
}

fn device() -> Device {
    crate::ml::device::training_device(Backend::Cpu).unwrap()
}

#[test]
fn dpo_loss_is_log_2_at_the_reference_policy() {
    let device = device();
    let bed = Testbed::new(0, 0.25).unwrap();
    let policy = Policy::new(bed.vocab.len(), &mut benchtop_data::rng(0, 1), &device);
    let q = &bed.questions[bed.train[0]];
    let prompt = bed.prompt(&q.text, &[]).unwrap();
    let (chosen, rejected) = (bed.response(&format!("{} .", q.answer)).unwrap(), bed.response("i hope this helps .").unwrap());
    let lp = logprobs(&policy, &[(&prompt, &chosen), (&prompt, &rejected)], &device).unwrap();
    let pair = DpoPair { prompt, chosen, rejected, ref_chosen: lp[0], ref_rejected: lp[1] };
    let loss = crate::ml::nets::host(dpo_loss(&policy, &[&pair, &pair], 0.1, &device)).unwrap()[0];
    assert!((loss as f64 - std::f64::consts::LN_2).abs() < 1e-5, "{loss}");
}

#[test]
fn a_saved_policy_gives_the_same_log_probabilities() {
    let device = device();
    let bed = Testbed::new(0, 0.25).unwrap();
    let policy = Policy::new(bed.vocab.len(), &mut benchtop_data::rng(3, 1), &device);
    let prompt = bed.prompt("what is 3 plus 4 ?", &direction_prefix(30.0)).unwrap();
    let response = bed.response("the answer is 7 .").unwrap();
    let values = policy.values().unwrap();
    let loaded = Policy::new(bed.vocab.len(), &mut benchtop_data::rng(9, 9), &device).with_values(&values, &device).unwrap();
    let (a, b) =
        (logprobs(&policy, &[(&prompt, &response)], &device).unwrap(), logprobs(&loaded, &[(&prompt, &response)], &device).unwrap());
    assert_eq!(a, b);
    assert!(Policy::new(bed.vocab.len(), &mut benchtop_data::rng(0, 0), &device).with_values(&values[1..], &device).is_err());
    // Padding after a row never changes its log-probability (causal attention).
    let short = bed.response("7 .").unwrap();
    let alone = logprobs(&policy, &[(&prompt, &short)], &device).unwrap()[0];
    let padded = logprobs(&policy, &[(&prompt, &short), (&prompt, &response)], &device).unwrap()[0];
    assert!((alone - padded).abs() < 1e-4, "{alone} vs {padded}");
    let batch = TokenBatch::new(&[(&prompt, &short)]);
    assert_eq!(batch.weight.iter().sum::<f32>(), short.len() as f32, "the response and <eos> are scored, the prompt is not");
}

/// Pinned to seed 0: a precondition of the testbed, not a finding. The SFT policy is a trained
/// network, so another CPU's rounding makes this a fresh draw: over 20 seeds its helpfulness
/// is 0.398 ± 0.025 (sd about 0.05), so the bounds below sit at least 3.5 sd away; format and styles
/// have wider room still.
#[test]
fn the_sft_policy_samples_parse_and_are_mostly_well_formed() {
    let device = device();
    let p = online_rlhf::RlhfParams::default();
    let bed = Testbed::new(0, p.testbed.test_fraction).unwrap();
    let policy = sft_policy(&context(0), &bed, &p.testbed.sft_options(false), &device).unwrap();
    let prompts: Vec<Vec<u32>> = bed.questions.iter().map(|q| bed.prompt(&q.text, &[]).unwrap()).collect();
    let samples = sample_texts(&policy, &bed, &prompts, 1.0, &mut benchtop_data::rng(0, 7)).unwrap();
    let golds: Vec<quiz::Gold> = samples.iter().zip(&bed.questions).map(|((_, t), q)| quiz::gold(q, t)).collect();
    // Every response re-encodes to what was sampled (no special token inside it).
    for (ids, text) in &samples {
        assert_eq!(&bed.vocab.encode(text).unwrap(), ids, "{text:?}");
    }
    let well_formed = mean(golds.iter().map(|g| g.format));
    let helpful = mean(golds.iter().map(|g| g.helpfulness));
    assert!(well_formed > 0.9, "well-formed share {well_formed}");
    // The broad start the study needs: often right, often not; every style present.
    assert!(helpful > 0.2 && helpful < 0.8, "helpfulness {helpful}");
    let terse = samples.iter().filter(|(_, t)| quiz::words(t).len() == 2).count();
    let sentence = samples.iter().filter(|(_, t)| t.starts_with("the answer is")).count();
    let verbose = golds.iter().filter(|g| g.verbosity > 5.0).count();
    assert!(terse > 20 && sentence > 20 && verbose > 20, "terse {terse}, sentence {sentence}, verbose {verbose}");
}

#[test]
fn per_response_weighting_counts_every_answer_once() {
    use policy::Weighting;
    let device = device();
    let bed = Testbed::new(0, 0.25).unwrap();
    let policy = Policy::new(bed.vocab.len(), &mut benchtop_data::rng(2, 1), &device);
    let prompt = bed.prompt("what is 3 plus 4 ?", &[]).unwrap();
    let (a, b) = (bed.response("7 .").unwrap(), bed.response("8 .").unwrap());
    let long = bed.response("sure ! the answer is 7 . happy to help .").unwrap();
    let loss = |pairs: &[(&[u32], &[u32])], w| crate::ml::nets::host(policy.sft_loss(&TokenBatch::new(pairs), w, &device)).unwrap()[0];
    let same = [(prompt.as_slice(), a.as_slice()), (prompt.as_slice(), b.as_slice())];
    assert!((loss(&same, Weighting::PerToken) - loss(&same, Weighting::PerResponse)).abs() < 1e-5, "equal lengths: the same loss");
    // Unequal lengths: per response = the mean of each answer's own per-token loss.
    let mixed = [(prompt.as_slice(), a.as_slice()), (prompt.as_slice(), long.as_slice())];
    let own = (loss(&mixed[..1], Weighting::PerToken) + loss(&mixed[1..], Weighting::PerToken)) / 2.0;
    assert!((loss(&mixed, Weighting::PerResponse) - own).abs() < 1e-4);
    assert!((loss(&mixed, Weighting::PerToken) - own).abs() > 1e-3);
}

#[test]
fn direction_prefixes_encode_both_weights() {
    assert_eq!(direction_prefix(0.0), ["<h10>".to_owned(), "<v0>".to_owned()]);
    assert_eq!(direction_prefix(-45.0), ["<h7>".to_owned(), "<v-7>".to_owned()]);
    assert_eq!(direction_prefix(90.0), ["<h0>".to_owned(), "<v10>".to_owned()]);
}

/// Online RLHF at the preset's setting, seeds 0 and 1: the mechanism of iterative DPO, not
/// its gold-reward lead. Each round it samples pairs from its current policy, which has grown
/// sharper, so more prompts give four tied responses and no pair (fewer pairs than offline
/// DPO, whose pairs all come from the SFT policy); asking the proxy about its own answers
/// keeps it well-formed; and both methods move to shorter answers than the SFT policy's.
///
/// Robust on any machine: another CPU's rounding makes each seed a fresh draw, so every
/// margin here is several times the spread over 20 seeds (docs/studies/online-rlhf.md):
/// iterative DPO's well-formed share was at least 0.982 on every seed (asserted: 0.95);
/// it makes 9.1 fewer pairs (sd 4.3, every seed; asserted: fewer on average over two); it
/// cuts answers by 3.7 words (sd 1.3; asserted: 1 word on average).
///
/// The finding itself, iterative ahead of offline DPO in gold reward after the same 180
/// steps, is reported, not asserted: +0.087 ± 0.056 over 20 seeds (17 of 20 ahead), with a
/// per-seed sd of 0.12, so a mean of two or three seeds falls below zero on about one
/// machine in ten. A test that fails that often on a fresh machine tells nobody anything.
#[test]
fn iterative_dpo_samples_its_own_pairs_stays_well_formed_and_shortens_answers() {
    use benchtop_core::Study;
    let (mut gains, mut fewer_pairs, mut shorter) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..2 {
        let run = |method| {
            let p = online_rlhf::RlhfParams { method, ..Default::default() };
            online_rlhf::OnlineRlhf.run(&context(seed), &p).unwrap()
        };
        let (offline, iterative) = (run(online_rlhf::RlhfMethod::OfflineDpo), run(online_rlhf::RlhfMethod::IterativeDpo));
        assert!(iterative["format"] > 0.95, "seed {seed}: iterative DPO stays well-formed: {}", iterative["format"]);
        assert_eq!(iterative["sft_gold_reward"], offline["sft_gold_reward"], "seed {seed}: both start from one SFT policy");
        gains.push(iterative["gold_reward"] - offline["gold_reward"]);
        fewer_pairs.push(offline["pairs"] - iterative["pairs"]);
        shorter.push(iterative["sft_verbosity"] - iterative["verbosity"]);
    }
    eprintln!("iterative - offline gold reward: {gains:?}; fewer pairs: {fewer_pairs:?}; words cut: {shorter:?}");
    assert!(mean(fewer_pairs.iter().copied()) > 0.0, "on-policy sampling meets more ties: {fewer_pairs:?}");
    assert!(mean(shorter.iter().copied()) > 1.0, "answers get shorter: {shorter:?}");
}

/// The DPA finding at the preset's setting, seeds 0-2: asked for 30° rather than -30°, the
/// trained policy's answers get longer while helpfulness stays at one level.
///
/// Robust on any machine: another CPU's rounding makes each seed a fresh draw, so the test
/// asserts means over three seeds with margins the spread supports. Measured here (an AMD
/// EPYC with AVX2) over seeds 0-5: 30° minus -30° is +9.5 words (sd 3.9; 11.3, 11.4, 8.4 on
/// seeds 0-2; asserted: 2 words on average), helpfulness -0.03 (sd 0.03; asserted: within
/// 0.1), and helpfulness spans 0.02-0.07 across -30°, 0° and 30° per seed (asserted: 0.1 on
/// average). The step from -30° to 0° alone (+3.9 words, sd 2.9) is reported in
/// docs/studies/dpa.md, not asserted.
#[test]
fn dpa_answers_get_longer_as_the_verbosity_weight_grows_at_one_helpfulness_level() {
    use benchtop_core::Study;
    let (mut longer, mut helpfulness_shift, mut helpfulness_span) = (Vec::new(), Vec::new(), Vec::new());
    let mut steered_ctx = None;
    for seed in 0..3 {
        let ctx = context(seed);
        let at = |angle_deg: f64| dpa::Dpa.run(&ctx, &dpa::DpaParams { angle_deg, ..Default::default() }).unwrap();
        let runs: Vec<_> = [-30.0, 0.0, 30.0].into_iter().map(at).collect();
        let words: Vec<f64> = runs.iter().map(|s| s["verbosity"]).collect();
        let helpful: Vec<f64> = runs.iter().map(|s| s["helpfulness"]).collect();
        eprintln!("seed {seed}: words {words:?}, helpfulness {helpful:?}");
        longer.push(words[2] - words[0]);
        helpfulness_shift.push(helpful[2] - helpful[0]);
        helpfulness_span.push(helpful.iter().copied().fold(f64::MIN, f64::max) - helpful.iter().copied().fold(f64::MAX, f64::min));
        steered_ctx.get_or_insert(ctx);
    }
    assert!(mean(longer.iter().copied()) > 2.0, "30° answers are longer than -30° ones: {longer:?}");
    assert!(mean(helpfulness_shift.iter().copied()).abs() <= 0.1, "helpfulness stays at one level: {helpfulness_shift:?}");
    assert!(mean(helpfulness_span.iter().copied()) <= 0.1, "helpfulness spans: {helpfulness_span:?}");
    let ctx = steered_ctx.expect("three seeds ran");
    // The run saves the policy the app steers, and it answers.
    let weights = ctx.artifacts_dir().join(dpa::POLICY_FILE);
    let answers = dpa::steer(&weights, "What is 7 plus 5?", 45.0, 3, 1.0, 0).unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| a.helpfulness.is_some()), "a testbed question is scored");
    let refused = dpa::steer(&weights, "what is a zebra ?", 0.0, 1, 1.0, 0).unwrap_err().to_string();
    assert!(refused.contains("\"zebra\""), "the unknown word is named: {refused}");
}

#[test]
fn both_studies_take_the_shared_testbed_settings_as_plain_keys_and_refuse_unknown_ones() {
    use benchtop_core::StudyObject;
    let shared = ["sft_epochs", "correct_share", "test_fraction", "temperature", "eval_samples"];
    for study in [&dpa::Dpa as &dyn StudyObject, &online_rlhf::OnlineRlhf] {
        let info = study.info();
        let names: Vec<&str> = info.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names[names.len() - shared.len()..], shared, "{}: the shared settings come last, flat", info.name);
        let temperature = info.params.iter().find(|p| p.name == "temperature").unwrap();
        assert_eq!((temperature.minimum, temperature.maximum, temperature.default.clone()), (Some(0.1), Some(2.0), serde_json::json!(1.0)));
        assert!(!temperature.doc.is_empty(), "the form shows each shared setting's help text");

        let mut raw = serde_json::Map::new();
        raw.insert("sft_epochs".into(), serde_json::json!(3));
        let resolved = study.resolve(&raw).unwrap();
        assert_eq!(resolved["sft_epochs"], serde_json::json!(3));
        raw.insert("sft_epoch".into(), serde_json::json!(3));
        let problems = study.resolve(&raw).unwrap_err();
        assert_eq!(problems[0].key, "sft_epoch");
        assert!(problems[0].message.starts_with("unknown parameter"), "{}", problems[0].message);
        // Stored parameters go through the same refusal when a run starts from them.
        let err = study.run_json(&context(0), &raw).unwrap_err();
        assert!(err.to_string().contains("sft_epoch: unknown parameter"), "{err}");
        // And so do out-of-range values and the study's cross-checks, not only types.
        let mut raw = serde_json::Map::new();
        raw.insert("temperature".into(), serde_json::json!(7.5));
        let err = study.run_json(&context(0), &raw).unwrap_err();
        assert!(err.to_string().contains("temperature:"), "{err}");
    }
}

/// A run killed after a round and resumed from its checkpoint ends as the run uninterrupted:
/// same summary, same points, none missing or extra. Offline DPO keeps its one pair set and
/// its optimizer across rounds, iterative DPO its policy and generator: both are checked.
#[test]
fn online_rlhf_resumes_from_a_round_to_the_same_numbers() {
    use crate::ml::checkpoint::resume_check::resumes_identically;
    for method in [online_rlhf::RlhfMethod::OfflineDpo, online_rlhf::RlhfMethod::IterativeDpo] {
        let p = online_rlhf::RlhfParams {
            method,
            iterations: 3,
            steps_per_iteration: 10,
            // A short SFT: each side trains its own (see `resumes_identically`).
            testbed: TestbedParams { eval_samples: 2, sft_epochs: 2, ..Default::default() },
            ..Default::default()
        };
        let stage = resumes_identically(&online_rlhf::OnlineRlhf, &p, 0, 1);
        assert!(stage.starts_with("iteration 1 of 3") || stage.starts_with("iteration 2 of 3"), "{stage}");
    }
}
