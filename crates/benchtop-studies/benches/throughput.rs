//! Throughput of every model shape the studies train, in burn (the build users run), against
//! the same shape in PyTorch measured in the same run on the same threads, printed as a ratio.
//!
//! `cargo test --workspace --bench throughput` prints burn's figures; `throughput-vs-pytorch.sh`
//! (beside this file) sets PyTorch up from PyPI and adds its figures and the ratios. Arguments
//! after `--` keep only the shapes whose names contain one of them (`-- goat policy`); `--list`
//! prints the names; `--repeat=N` measures both sides N times in turn (3 by default);
//! `--backend=NAME` measures burn on that backend only.
//! `scripts/profile-shapes.sh` profiles each shape (docs/performance.md). Built with
//! `--features benchtop-studies/libtorch` (under scripts/with-libtorch.sh, or
//! `throughput-vs-pytorch.sh --libtorch`), every shape is measured on both of burn's CPU
//! backends, burn-flex and LibTorch, in the same rounds.
//!
//! Each shape trains the studies' own modules through the studies' own loops where those are
//! public (`ml::nets::fit`, `isr::logistic::fit`, `alignment::fine_tune`, `bradley_terry::train`,
//! `MiniLm::embed`, `Policy::sample`), so per-step costs they add (a loss read back to the host,
//! batches assembled on the host) count as they do in a run. `throughput_torch.py` is the twin:
//! the same layers, batch sizes, optimiser, learning rate and dtype (f32), written as a
//! PyTorch user would write them (nn modules, scaled_dot_product_attention), with every
//! setting read from the spec this file hands it, so the two sides cannot drift apart.

#![allow(clippy::unwrap_used)] // a benchmark: a panic is the failure message

use std::cell::Cell;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::mpsc::channel;
use std::time::Instant;

use benchtop_core::{Backend, RunContext, RunId};
use benchtop_studies::alignment::online_rlhf::{DpoPair, dpo_loss};
use benchtop_studies::alignment::policy::{MAX_LEN, Policy, Weighting};
use benchtop_studies::cfa::{CfaHeads, Classifier as CfaClassifier, CosineHead, Encoder as CfaEncoder};
use benchtop_studies::forgetting::{LoraMlp, Mlp};
use benchtop_studies::goat::model::{Classifier, Encoder, EncoderKind, Head};
use benchtop_studies::isr::logistic::{Design, FitOptions, Irm};
use benchtop_studies::ml::bradley_terry::{self, BtOptions, Comparisons, RewardNet};
use benchtop_studies::ml::device::{self, LIBTORCH_BUILT, inference_device, training_device};
use benchtop_studies::ml::minilm::{MiniLm, weights_path};
use benchtop_studies::ml::nets::{Batchable, TrainOptions, fit, host, predict, tensor, train};
use benchtop_studies::reward::armorm::Gate;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::Rng as _;
use serde_json::{Value, json};

// The allocator the app and the CLI use (see their `main`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One shape: its name, the unit of its figure, the settings both sides read, and burn's run.
struct Shape {
    name: &'static str,
    unit: &'static str,
    spec: Value,
    burn: Box<dyn Fn(&Value) -> f64>,
}

thread_local! {
    /// The backend the shapes are being measured on (burn-flex, or LibTorch in that build).
    static BACKEND: Cell<Backend> = const { Cell::new(Backend::Cpu) };
}

fn ctx() -> RunContext {
    // Metrics a study logs go to a channel nobody reads, as in a run whose events are ingested elsewhere.
    let (tx, rx) = channel();
    std::mem::forget(rx);
    RunContext::new(RunId::new(), 0, BACKEND.get(), std::env::temp_dir(), tx, Default::default())
}

fn device() -> Device {
    training_device(BACKEND.get()).unwrap()
}

fn usize_of(spec: &Value, key: &str) -> usize {
    spec[key].as_u64().unwrap_or_else(|| panic!("spec key {key}")) as usize
}

fn f64_of(spec: &Value, key: &str) -> f64 {
    spec[key].as_f64().unwrap_or_else(|| panic!("spec key {key}"))
}

/// Seconds taken by `work`, after one untimed call of `warm` (first allocations, thread pool).
fn timed(warm: impl FnOnce(), work: impl FnOnce()) -> f64 {
    warm();
    let t = Instant::now();
    work();
    t.elapsed().as_secs_f64()
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = benchtop_data::rng(seed, 0);
    (0..n).map(|_| rng.random_range(0.0f32..1.0)).collect()
}

fn labels(n: usize, classes: u8, seed: u64) -> Vec<u8> {
    let mut rng = benchtop_data::rng(seed, 1);
    (0..n).map(|_| rng.random_range(0..classes)).collect()
}

/// The shared loop's settings from a spec: Adam with L2 decay unless it names `adamw`.
fn train_options(spec: &Value, epochs: u32) -> TrainOptions {
    TrainOptions {
        epochs,
        batch_size: usize_of(spec, "batch"),
        lr: f64_of(spec, "lr"),
        weight_decay: f64_of(spec, "weight_decay") as f32,
        decoupled: spec["optimizer"] == "adamw",
    }
}

/// Images/s of `epochs` of minibatch training of `model` on `images` random 28x28 digits.
fn image_training<M: burn::module::Module>(
    spec: &Value,
    model: impl Fn(&Device) -> M,
    forward: impl Fn(&M, Tensor<4>) -> Tensor<2> + Copy,
) -> f64 {
    let (n, batch, epochs) = (usize_of(spec, "images"), usize_of(spec, "batch"), usize_of(spec, "epochs"));
    let (x, y) = (random(n * 784, 7), labels(n, 10, 7));
    let data = Batchable { x: &x, labels: &y, shape: [1, 28, 28] };
    let warm = Batchable { x: &x[..batch * 784], labels: &y[..batch], shape: [1, 28, 28] };
    let device = device();
    let options = |epochs| train_options(spec, epochs);
    let mut rng = benchtop_data::rng(0, 2);
    let warmed = train(model(&device), forward, &warm, &options(1), &mut rng, &device, |_, _, _| Ok(())).unwrap();
    let t = Instant::now();
    train(warmed, forward, &data, &options(epochs as u32), &mut rng, &device, |_, _, _| Ok(())).unwrap();
    (n * epochs) as f64 / t.elapsed().as_secs_f64()
}

fn goat(kind: EncoderKind, device: &Device) -> Classifier {
    let mut rng = benchtop_data::rng(0, 1);
    Classifier {
        encoder: Encoder::new(kind, &mut rng, device),
        head: Head::new(Encoder::feature_dim(kind, 28, 784), 128, 2, 10, &mut rng, device),
    }
}

/// Rows/s of GOAT's self-training of the head on frozen features (what a run of the preset
/// spends most of its time on once the source model is cached): the head alone, on random
/// non-negative features of the encoder's width, for `epochs` of minibatches.
fn goat_adapt(spec: &Value) -> f64 {
    let (n, dim, batch, epochs) = (usize_of(spec, "rows"), usize_of(spec, "features"), usize_of(spec, "batch"), usize_of(spec, "epochs"));
    let (x, y) = (random(n * dim, 7), labels(n, 10, 7));
    let data = Batchable { x: &x, labels: &y, shape: [1, 1, dim] };
    let warm = Batchable { x: &x[..batch * dim], labels: &y[..batch], shape: [1, 1, dim] };
    let device = device();
    let options = |epochs| train_options(spec, epochs);
    let forward = |h: &Head, x: Tensor<4>| h.forward(x.flatten(1, 3));
    let mut rng = benchtop_data::rng(0, 2);
    let head = Head::new(dim, 128, 2, 10, &mut benchtop_data::rng(0, 1), &device);
    let warmed = train(head, forward, &warm, &options(1), &mut rng, &device, |_, _, _| Ok(())).unwrap();
    let t = Instant::now();
    train(warmed, forward, &data, &options(epochs as u32), &mut rng, &device, |_, _, _| Ok(())).unwrap();
    (n * epochs) as f64 / t.elapsed().as_secs_f64()
}

fn goat_inference(kind: EncoderKind, spec: &Value) -> f64 {
    let n = usize_of(spec, "images");
    let (x, y) = (random(n * 784, 7), labels(n, 10, 7));
    let data = Batchable { x: &x, labels: &y, shape: [1, 28, 28] };
    let model = goat(kind, &device());
    let forward = Classifier::forward;
    let seconds =
        timed(|| drop(predict(&model, forward, &data, &device()).unwrap()), || drop(predict(&model, forward, &data, &device()).unwrap()));
    n as f64 / seconds
}

fn isr(spec: &Value, irm: bool) -> f64 {
    let (envs, per_env, dim, steps) =
        (usize_of(spec, "envs"), usize_of(spec, "rows_per_env"), usize_of(spec, "dim"), usize_of(spec, "steps"));
    let n = envs * per_env;
    let design = |seed| Design {
        x: random(n * dim, seed).into_iter().map(|v| v * 2.0 - 1.0).collect(),
        y: labels(n, 2, seed).into_iter().map(f32::from).collect(),
        dim,
    };
    let (train_set, test_set) = (design(3), design(4));
    let options = |steps| FitOptions {
        steps,
        lr: f64_of(spec, "lr"),
        eval_every: steps,
        irm: irm.then(|| Irm { env_sizes: vec![per_env; envs], penalty: f64_of(spec, "penalty"), anneal_steps: steps / 2 }),
        // Every step timed, as PyTorch's twin takes them all.
        tolerance: 0.0,
    };
    let (ctx, device) = (ctx(), device());
    let fit = |steps| benchtop_studies::isr::logistic::fit(&ctx, &device, &train_set, &test_set, &options(steps), "").unwrap();
    steps as f64 / timed(|| drop(fit(10)), || drop(fit(steps as u32)))
}

fn cfa_heads(spec: &Value) -> f64 {
    let (n, batch, epochs, dim) = (usize_of(spec, "rows"), usize_of(spec, "batch"), usize_of(spec, "epochs"), usize_of(spec, "features"));
    let device = device();
    // Unit-length feature rows, as the frozen encoder gives.
    let raw = random(n * dim, 5);
    let features: Vec<f32> = raw
        .chunks(dim)
        .flat_map(|r| {
            let norm = r.iter().map(|v| v * v).sum::<f32>().sqrt();
            r.iter().map(move |v| v / norm).collect::<Vec<_>>()
        })
        .collect();
    let (classes, domains) = (labels(n, 10, 5), labels(n, 5, 6));
    let class_loss = CrossEntropyLossConfig::new().with_weights(Some(vec![1.0; 10])).init(&device);
    let domain_loss = CrossEntropyLossConfig::new().with_weights(Some(vec![1.0; 5])).init(&device);
    let (scale, ortho) = (f64_of(spec, "logit_scale"), f64_of(spec, "ortho_weight"));
    let loss = |h: &CfaHeads, idx: &[usize]| {
        let rows: Vec<f32> = idx.iter().flat_map(|&i| features[i * dim..(i + 1) * dim].iter().copied()).collect();
        let ints = |v: &[u8]| {
            Tensor::<1, Int>::from_data(TensorData::new(idx.iter().map(|&i| v[i] as i64).collect::<Vec<_>>(), [idx.len()]), &device)
        };
        h.loss(tensor(rows, [idx.len(), dim], &device), ints(&classes), ints(&domains), [&class_loss, &domain_loss], scale, ortho)
    };
    let options = |epochs| TrainOptions { epochs, batch_size: batch, lr: f64_of(spec, "lr"), weight_decay: 1e-4, decoupled: true };
    let mut rng = benchtop_data::rng(0, 3);
    let heads = fit(
        CfaHeads::new(CosineHead::new(10, &mut rng, &device), CosineHead::new(5, &mut rng, &device)),
        loss,
        batch,
        &options(1),
        &mut rng,
        |_, _, _| Ok(()),
    )
    .unwrap();
    let t = Instant::now();
    fit(heads, loss, n, &options(epochs as u32), &mut rng, |_, _, _| Ok(())).unwrap();
    (n * epochs) as f64 / t.elapsed().as_secs_f64()
}

fn comparisons(spec: &Value) -> Comparisons {
    let (n, dim) = (usize_of(spec, "pairs"), usize_of(spec, "dim"));
    let (a, b) = (random(n * dim, 8), random(n * dim, 9));
    let mut data = Comparisons::new(dim);
    for i in 0..n {
        data.push(&a[i * dim..(i + 1) * dim], &b[i * dim..(i + 1) * dim], (i % 2) as f32, 1.0);
    }
    data
}

fn reward_head(spec: &Value, head: bradley_terry::Head) -> f64 {
    let data = comparisons(spec);
    let steps = usize_of(spec, "steps") as u32;
    let options = |steps| BtOptions { steps, lr: f64_of(spec, "lr"), l2: f64_of(spec, "l2") };
    let device = device();
    let run = |steps| {
        drop::<RewardNet>(bradley_terry::train(&data, head, &options(steps), &mut benchtop_data::rng(0, 4), &device, &|| false).unwrap())
    };
    steps as f64 / timed(|| run(5), || run(steps))
}

fn armorm_gate(spec: &Value) -> f64 {
    let (n, dim, experts, steps) = (usize_of(spec, "rows"), usize_of(spec, "dim"), usize_of(spec, "experts"), usize_of(spec, "steps"));
    let device = device();
    let x = tensor(random(n * dim, 10), [n, dim], &device);
    let objectives = tensor(random(n * experts, 11), [n, experts], &device);
    let target = tensor((0..n).map(|i| (i % 2) as f32).collect(), [n], &device);
    let weight = Tensor::<1>::ones([n], &device);
    let temperature = f64_of(spec, "temperature");
    let run = |steps: usize| {
        let mut gate = Gate::new(usize_of(spec, "hidden"), experts, &mut benchtop_data::rng(0, 5), &device);
        let mut optimizer: ModuleOptimizer = benchtop_studies::ml::adam::adamw(f64_of(spec, "weight_decay") as f32);
        for step in 0..steps {
            let margin = gate.score(x.clone(), objectives.clone(), temperature);
            let loss = bradley_terry::bt_loss(margin, Tensor::zeros([n], &device), target.clone(), weight.clone());
            // The study reads the loss back every 100 steps.
            if step % 100 == 0 {
                host(loss.clone()).unwrap();
            }
            let grads = GradientsParams::from_grads(loss.backward(), &gate);
            gate = optimizer.step(f64_of(spec, "lr"), gate, grads);
        }
    };
    steps as f64 / timed(|| run(5), || run(steps))
}

/// Sentences of 4-48 words from a fixed word list, as deterministic stand-ins for the studies'
/// texts (hh-rlhf turns, quiz answers): what costs is their token count.
fn sentences(n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the",
        "assistant",
        "should",
        "answer",
        "question",
        "clearly",
        "and",
        "politely",
        "without",
        "making",
        "claims",
        "that",
        "are",
        "not",
        "supported",
        "by",
        "evidence",
        "a",
        "helpful",
        "response",
        "explains",
        "why",
        "steps",
        "matter",
        "when",
        "cooking",
        "rice",
        "training",
        "models",
        "reading",
        "papers",
        "people",
        "often",
        "ask",
        "about",
        "history",
        "science",
        "weather",
        "travel",
        "music",
    ];
    let mut rng = benchtop_data::rng(12, 0);
    (0..n)
        .map(|_| {
            let len = rng.random_range(4..48);
            (0..len).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect::<Vec<_>>().join(" ") + "."
        })
        .collect()
}

fn minilm(spec: &Value) -> f64 {
    let Some(model) = weights_path().and_then(|p| MiniLm::load(&p, &inference_device(BACKEND.get()).unwrap()).ok()) else {
        return f64::NAN;
    };
    let texts = sentences(usize_of(spec, "sentences"));
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    texts.len() as f64 / timed(|| drop(model.embed(&refs[..64]).unwrap()), || drop(model.embed(&refs).unwrap()))
}

/// Prompt and response token rows of the spec's lengths (ids past `<bos>`/`<pad>`).
fn token_rows(count: usize, len: usize, vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = benchtop_data::rng(seed, 0);
    (0..count).map(|_| (0..len).map(|_| rng.random_range(2..vocab as u32)).collect()).collect()
}

fn policy_sft(spec: &Value) -> f64 {
    let (vocab, batch, steps) = (usize_of(spec, "vocab"), usize_of(spec, "batch"), usize_of(spec, "steps"));
    let (prompt, response) = (usize_of(spec, "prompt_len"), usize_of(spec, "response_len"));
    let examples: Vec<(Vec<u32>, Vec<u32>)> =
        token_rows(batch * 4, prompt, vocab, 13).into_iter().zip(token_rows(batch * 4, response, vocab, 14)).collect();
    let (ctx, device) = (ctx(), device());
    let run = |steps| {
        let policy = Policy::new(vocab, &mut benchtop_data::rng(0, 6), &device);
        let lr = f64_of(spec, "lr");
        let mut rng = benchtop_data::rng(0, 7);
        drop(
            benchtop_studies::alignment::fine_tune(&ctx, policy, &examples, steps, lr, &mut rng, Weighting::PerToken, &device, "loss")
                .unwrap(),
        );
    };
    (steps * batch * (prompt + response)) as f64 / timed(|| run(2), || run(steps))
}

fn policy_dpo(spec: &Value) -> f64 {
    let (vocab, batch, steps) = (usize_of(spec, "vocab"), usize_of(spec, "pairs"), usize_of(spec, "steps"));
    let (prompt, response) = (usize_of(spec, "prompt_len"), usize_of(spec, "response_len"));
    let prompts = token_rows(batch, prompt, vocab, 15);
    let (chosen, rejected) = (token_rows(batch, response, vocab, 16), token_rows(batch, response, vocab, 17));
    let pairs: Vec<DpoPair> = (0..batch)
        .map(|i| DpoPair {
            prompt: prompts[i].clone(),
            chosen: chosen[i].clone(),
            rejected: rejected[i].clone(),
            ref_chosen: -60.0,
            ref_rejected: -61.0,
        })
        .collect();
    let refs: Vec<&DpoPair> = pairs.iter().collect();
    let device = device();
    let run = |steps: usize| {
        let mut policy = Policy::new(vocab, &mut benchtop_data::rng(0, 6), &device);
        let mut optimizer: ModuleOptimizer = benchtop_studies::ml::adam::adamw(0.0);
        for _ in 0..steps {
            let loss = dpo_loss(&policy, &refs, f64_of(spec, "beta"), &device);
            host(loss.clone()).unwrap();
            let grads = GradientsParams::from_grads(loss.backward(), &policy);
            policy = optimizer.step(f64_of(spec, "lr"), policy, grads);
        }
    };
    steps as f64 / timed(|| run(2), || run(steps))
}

fn policy_sampling(spec: &Value) -> f64 {
    let (vocab, rows, prompt) = (usize_of(spec, "vocab"), usize_of(spec, "prompts"), usize_of(spec, "prompt_len"));
    let policy = Policy::new(vocab, &mut benchtop_data::rng(0, 6), &device());
    let prompts = token_rows(rows, prompt, vocab, 18);
    // `<pad>` as the end token: it is never drawn, so every row runs to MAX_LEN and both sides
    // generate exactly the same number of tokens.
    let sample = |prompts: &[Vec<u32>]| policy.sample(prompts, 0, 1.0, &mut benchtop_data::rng(0, 8)).unwrap();
    let mut generated = 0;
    let seconds = timed(|| drop(sample(&prompts[..8])), || generated = sample(&prompts).iter().map(Vec::len).sum::<usize>());
    assert_eq!(generated, rows * (MAX_LEN - prompt), "every row runs to the maximum length");
    generated as f64 / seconds
}

fn shapes() -> Vec<Shape> {
    let images = |images, epochs, lr, wd, optimizer| json!({"images": images, "batch": 128, "epochs": epochs, "lr": lr, "weight_decay": wd, "optimizer": optimizer});
    let isr_spec = json!({"envs": 6, "rows_per_env": 1000, "dim": 10, "steps": 300, "lr": 0.01, "penalty": 1000.0});
    let policy = |extra: Value| {
        let mut spec = json!({"vocab": 123, "width": 64, "heads": 4, "layers": 2, "feed_forward": 128, "max_len": MAX_LEN});
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        spec
    };
    vec![
        Shape { name: "isr_logistic", unit: "steps/s", spec: isr_spec.clone(), burn: Box::new(|s| isr(s, false)) },
        Shape { name: "isr_irm", unit: "steps/s", spec: isr_spec, burn: Box::new(|s| isr(s, true)) },
        Shape {
            name: "goat_conv_train",
            unit: "images/s",
            spec: images(1024, 1, 1e-4, 1e-4, "adam"),
            burn: Box::new(|s| image_training(s, |d| goat(EncoderKind::Conv, d), Classifier::forward)),
        },
        Shape {
            name: "goat_conv_inference",
            unit: "images/s",
            spec: json!({"images": 1024, "batch": 256}),
            burn: Box::new(|s| goat_inference(EncoderKind::Conv, s)),
        },
        Shape {
            name: "goat_pooled_train",
            unit: "images/s",
            spec: images(2048, 1, 1e-4, 1e-4, "adam"),
            burn: Box::new(|s| image_training(s, |d| goat(EncoderKind::ConvPooled, d), Classifier::forward)),
        },
        Shape {
            name: "goat_pooled_inference",
            unit: "images/s",
            spec: json!({"images": 2048, "batch": 256}),
            burn: Box::new(|s| goat_inference(EncoderKind::ConvPooled, s)),
        },
        Shape {
            name: "goat_adapt_conv_features",
            unit: "rows/s",
            spec: json!({"rows": 1800, "features": 25088, "batch": 128, "epochs": 2, "lr": 1e-4, "weight_decay": 1e-4, "optimizer": "adam"}),
            burn: Box::new(goat_adapt),
        },
        Shape {
            name: "goat_adapt_pooled_features",
            unit: "rows/s",
            spec: json!({"rows": 1800, "features": 1568, "batch": 128, "epochs": 5, "lr": 1e-4, "weight_decay": 1e-4, "optimizer": "adam"}),
            burn: Box::new(goat_adapt),
        },
        Shape {
            name: "cfa_encoder_train",
            unit: "images/s",
            spec: images(4096, 2, 3e-4, 1e-4, "adamw"),
            burn: Box::new(|s| {
                image_training(
                    s,
                    |d| {
                        CfaClassifier::new(
                            CfaEncoder::new(&mut benchtop_data::rng(0, 1), d),
                            CosineHead::new(10, &mut benchtop_data::rng(0, 2), d),
                        )
                    },
                    |m: &CfaClassifier, x| m.forward(x, 10.0),
                )
            }),
        },
        Shape {
            name: "cfa_heads_train",
            unit: "rows/s",
            spec: json!({"rows": 2048, "batch": 128, "epochs": 5, "features": 128, "lr": 1e-3, "logit_scale": 100.0, "ortho_weight": 1.0}),
            burn: Box::new(cfa_heads),
        },
        Shape {
            name: "forgetting_mlp_train",
            unit: "images/s",
            spec: images(4096, 2, 1e-3, 0.0, "adamw"),
            burn: Box::new(|s| image_training(s, |d| Mlp::new(&mut benchtop_data::rng(0, 1), d), Mlp::forward)),
        },
        Shape {
            name: "forgetting_lora_train",
            unit: "images/s",
            spec: {
                let mut s = images(4096, 2, 1e-3, 0.0, "adamw");
                s["rank"] = json!(4);
                s
            },
            burn: Box::new(|s| {
                let rank = usize_of(s, "rank");
                image_training(
                    s,
                    move |d| LoraMlp::new(&Mlp::new(&mut benchtop_data::rng(0, 1), d), rank, &mut benchtop_data::rng(0, 2), d),
                    LoraMlp::forward,
                )
            }),
        },
        Shape {
            name: "bradley_terry_linear",
            unit: "steps/s",
            spec: json!({"pairs": 2000, "dim": 768, "hidden": 0, "steps": 200, "lr": 0.01, "l2": 1.0}),
            burn: Box::new(|s| reward_head(s, bradley_terry::Head::Linear)),
        },
        Shape {
            name: "bradley_terry_mlp",
            unit: "steps/s",
            spec: json!({"pairs": 2000, "dim": 768, "hidden": 64, "steps": 200, "lr": 0.01, "l2": 1.0}),
            burn: Box::new(|s| reward_head(s, bradley_terry::Head::Mlp)),
        },
        Shape {
            name: "armorm_gate",
            unit: "steps/s",
            spec: json!({"rows": 2400, "dim": 384, "hidden": 64, "experts": 3, "temperature": 10.0, "steps": 300, "lr": 1e-3, "weight_decay": 0.01}),
            burn: Box::new(armorm_gate),
        },
        Shape { name: "minilm_embed", unit: "sentences/s", spec: json!({"sentences": 512, "batch": 8}), burn: Box::new(minilm) },
        Shape {
            name: "policy_sft",
            unit: "tokens/s",
            spec: policy(json!({"batch": 32, "steps": 40, "prompt_len": 10, "response_len": 30, "lr": 2e-3})),
            burn: Box::new(policy_sft),
        },
        Shape {
            name: "policy_dpo",
            unit: "steps/s",
            spec: policy(json!({"pairs": 32, "steps": 30, "prompt_len": 10, "response_len": 30, "lr": 1e-4, "beta": 0.1})),
            burn: Box::new(policy_dpo),
        },
        Shape {
            name: "policy_sampling",
            unit: "tokens/s",
            spec: policy(json!({"prompts": 256, "prompt_len": 10, "temperature": 1.0})),
            burn: Box::new(policy_sampling),
        },
    ]
}

/// PyTorch's figure per shape, or `None` without a Python with torch (`BENCHTOP_TORCH_PYTHON`).
fn torch_figures(specs: &Value, minilm_texts: &[Vec<u32>]) -> Option<(BTreeMap<String, f64>, String)> {
    let python = std::env::var("BENCHTOP_TORCH_PYTHON").ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/throughput_torch.py");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let file = std::env::temp_dir().join(format!("benchtop-throughput-{}.json", std::process::id()));
    std::fs::write(&file, json!({"threads": threads, "shapes": specs, "minilm_tokens": minilm_texts}).to_string()).ok()?;
    let mut command = Command::new(python);
    // PyTorch allocates through glibc's malloc. With glibc's defaults a large block is often
    // mapped afresh and zeroed by the kernel on every step: on one day PyTorch's unpooled
    // GOAT training measured 586-977 images/s with them and 1,220-1,341 with these settings.
    // The twin gets the settings our own processes train with (freed memory kept:
    // mimalloc's option, and these in the LibTorch build, ml/memory.rs), so the reference is
    // PyTorch at its steadier best.
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824");
    }
    let out = command.arg(script).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.ok()?;
    if !out.status.success() {
        eprintln!("the PyTorch reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let mut figures = BTreeMap::new();
    let mut version = String::new();
    for row in String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
        if let (Some(name), Some(rate)) = (row["shape"].as_str(), row["rate"].as_f64()) {
            figures.insert(name.to_owned(), rate);
        }
        if let Some(v) = row["torch"].as_str() {
            version = format!("PyTorch {v} on {} threads", row["threads"]);
        }
    }
    Some((figures, version))
}

fn main() {
    // As the CLI's `run` keeps it (ml/memory.rs).
    benchtop_studies::ml::memory::hold_freed_memory(benchtop_studies::ml::memory::FreedMemory::Kept);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let shapes: Vec<Shape> =
        shapes().into_iter().filter(|s| filters.is_empty() || filters.iter().any(|f| s.name.contains(f.as_str()))).collect();
    // `--list`: the names only (scripts/profile-shapes.sh profiles them one by one).
    if args.iter().any(|a| a == "--list") {
        shapes.iter().for_each(|s| println!("{}", s.name));
        return;
    }
    let specs: Value = shapes.iter().map(|s| (s.name.to_owned(), s.spec.clone())).collect::<serde_json::Map<_, _>>().into();
    // The same token ids on both sides (tokenised once here, by the studies' tokenizer).
    let tokenised = || -> Option<Vec<Vec<u32>>> {
        let model = MiniLm::load(&weights_path()?, &Device::flex()).ok()?;
        sentences(specs["minilm_embed"]["sentences"].as_u64()? as usize).iter().map(|t| model.token_ids(t).ok()).collect()
    };
    let minilm_tokens = if shapes.iter().any(|s| s.name == "minilm_embed") { tokenised().unwrap_or_default() } else { Vec::new() };
    // Both sides in turn, `--repeat=N` times (3 unless told): on a shared machine one
    // measurement of either side moves by 10-30%, so the table shows medians and the spread
    // of the ratio over the repeats.
    let repeats: usize = args.iter().find_map(|a| a.strip_prefix("--repeat=")).and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    // `--backend=cpu` or `--backend=libtorch` measures that one only (to profile one of them).
    let only = args.iter().find_map(|a| a.strip_prefix("--backend="));
    let built: &[Backend] = if LIBTORCH_BUILT { &[Backend::Cpu, Backend::Libtorch] } else { &[Backend::Cpu] };
    let backends: Vec<Backend> = built.iter().copied().filter(|b| only.is_none_or(|o| o == b.as_str())).collect();
    if backends.is_empty() {
        eprintln!(
            "throughput: no backend `{}` in this build (built: cpu{})",
            only.unwrap_or(""),
            if LIBTORCH_BUILT { ", libtorch" } else { "" }
        );
        std::process::exit(2);
    }
    // burn[b][i]: backend b's figures for shape i, one a round.
    let mut burn: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); shapes.len()]; backends.len()];
    let mut torch: Vec<Vec<f64>> = vec![Vec::new(); shapes.len()];
    let mut version = None;
    for round in 0..repeats {
        eprintln!("throughput: round {} of {repeats}", round + 1);
        if let Some((figures, v)) = torch_figures(&specs, &minilm_tokens) {
            for (i, shape) in shapes.iter().enumerate() {
                torch[i].extend(figures.get(shape.name).copied());
            }
            version = Some(v);
        }
        for (b, &backend) in backends.iter().enumerate() {
            BACKEND.set(backend);
            for (i, shape) in shapes.iter().enumerate() {
                burn[b][i].push((shape.burn)(&shape.spec));
            }
        }
    }
    let version = version.unwrap_or_else(|| "no PyTorch reference (run throughput-vs-pytorch.sh)".to_owned());
    for (b, &backend) in backends.iter().enumerate() {
        let compute = device::compute(backend);
        println!(
            "Throughput per model shape, burn on `{backend}` ({}, {} threads) against {version}; medians of {repeats} rounds:",
            device::kernels(backend),
            compute.threads,
        );
        println!("  {:<24} {:>11} {:>12} {:>12} {:>8}  ratio's range", "shape", "unit", "burn", "PyTorch", "ratio");
        for (i, shape) in shapes.iter().enumerate() {
            let show = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or_else(|| format!("{:>12}", "-"), |v| format!("{v:>12.1}"));
            // Ratios pair each round's two measurements, taken back to back.
            let ratios: Vec<f64> = burn[b][i].iter().zip(&torch[i]).map(|(b, t)| b / t).filter(|r| r.is_finite()).collect();
            let ratio = median(&ratios).map_or_else(|| format!("{:>8}", "-"), |r| format!("{r:>7.2}x"));
            let range = match (ratios.iter().copied().reduce(f64::min), ratios.iter().copied().reduce(f64::max)) {
                (Some(lo), Some(hi)) if ratios.len() > 1 => format!("  {lo:.2}-{hi:.2}"),
                _ => String::new(),
            };
            println!("  {:<24} {:>11} {} {} {ratio}{range}", shape.name, shape.unit, show(median(&burn[b][i])), show(median(&torch[i])));
            if shape.name == "minilm_embed" && burn[b][i].iter().all(|v| v.is_nan()) {
                println!("    (no MiniLM weights here: scripts/setup.sh fetches them)");
            }
        }
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}
