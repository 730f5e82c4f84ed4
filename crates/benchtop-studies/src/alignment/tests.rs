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
    RunContext::new(benchtop_core::RunId::new(), seed, Backend::Cpu, tempfile::tempdir().unwrap().keep(), tx, Default::default()).with_cache(cache)
}

fn device() -> Device {
    crate::device::training_device(Backend::Cpu).unwrap()
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
    let loss = crate::logistic::host(dpo_loss(&policy, &[&pair, &pair], 0.1, &device)).unwrap()[0];
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
    let (a, b) = (logprobs(&policy, &[(&prompt, &response)], &device).unwrap(), logprobs(&loaded, &[(&prompt, &response)], &device).unwrap());
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

#[test]
fn the_sft_policy_samples_parse_and_are_mostly_well_formed() {
    let device = device();
    let p = online_rlhf::RlhfParams::default();
    let bed = Testbed::new(0, p.test_fraction).unwrap();
    let policy = sft_policy(&context(0), &bed, &online_rlhf::sft_options(&p), &device).unwrap();
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
    // The broad start the issue asks for: often right, often not; every style present.
    assert!(helpful > 0.3 && helpful < 0.8, "helpfulness {helpful}");
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
    let loss = |pairs: &[(&[u32], &[u32])], w| crate::logistic::host(policy.sft_loss(&TokenBatch::new(pairs), w, &device)).unwrap()[0];
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

/// The online RLHF finding at the preset's setting, seeds 0 and 1: iterative DPO ends with a
/// higher gold reward on held-out questions than offline DPO after the same 180 DPO steps.
/// (Measured when written: +0.032 and +0.094; over seeds 0-4 +0.087 on average, every seed
/// ahead, docs/studies/online-rlhf.md.)
#[test]
fn iterative_dpo_beats_offline_dpo_at_the_same_step_budget() {
    use benchtop_core::Study;
    let mut gains = Vec::new();
    for seed in 0..2 {
        let run = |method| {
            let p = online_rlhf::RlhfParams { method, ..Default::default() };
            online_rlhf::OnlineRlhf.run(&context(seed), &p).unwrap()
        };
        let (offline, iterative) = (run(online_rlhf::RlhfMethod::OfflineDpo), run(online_rlhf::RlhfMethod::IterativeDpo));
        let gain = iterative["gold_reward"] - offline["gold_reward"];
        assert!(gain > 0.0, "seed {seed}: iterative {} vs offline {}", iterative["gold_reward"], offline["gold_reward"]);
        assert!(iterative["gold_reward"] > iterative["sft_gold_reward"], "seed {seed}: iterative DPO improves on SFT");
        gains.push(gain);
    }
    assert!(mean(gains.iter().copied()) > 0.02, "{gains:?}");
}

/// The DPA finding on seed 0: asked for -30°, 0° and 30°, the trained policy's answers get
/// longer by at least a word at each step while helpfulness stays within 0.1 of one level.
/// (Measured when written: 7.0, 8.8, 18.3 words at helpfulness 0.34, 0.31, 0.32; over seeds
/// 0-4 the trend holds from -30° to 45°, docs/studies/dpa.md.)
#[test]
fn dpa_answers_get_longer_as_the_verbosity_weight_grows_at_one_helpfulness_level() {
    use benchtop_core::Study;
    let ctx = context(0);
    let at = |angle_deg: f64| dpa::Dpa.run(&ctx, &dpa::DpaParams { angle_deg, ..Default::default() }).unwrap();
    let runs: Vec<_> = [-30.0, 0.0, 30.0].into_iter().map(at).collect();
    let words: Vec<f64> = runs.iter().map(|s| s["verbosity"]).collect();
    let helpful: Vec<f64> = runs.iter().map(|s| s["helpfulness"]).collect();
    assert!(words.windows(2).all(|w| w[1] > w[0] + 1.0), "words {words:?}");
    let spread = helpful.iter().copied().fold(f64::MIN, f64::max) - helpful.iter().copied().fold(f64::MAX, f64::min);
    assert!(spread <= 0.1, "helpfulness {helpful:?}");
    // The run saves the policy the app steers, and it answers.
    let weights = ctx.artifacts_dir().join(dpa::POLICY_FILE);
    let answers = dpa::steer(&weights, "What is 7 plus 5?", 45.0, 3, 1.0, 0).unwrap();
    assert_eq!(answers.len(), 3);
    assert!(answers.iter().all(|a| a.helpfulness.is_some()), "a testbed question is scored");
    let refused = dpa::steer(&weights, "what is a zebra ?", 0.0, 1, 1.0, 0).unwrap_err().to_string();
    assert!(refused.contains("\"zebra\""), "the unknown word is named: {refused}");
}
