//! Training and inference throughput (images/s) of the GOAT classifier in burn, both
//! encoders, against the same model in PyTorch measured in the same run when a Python with
//! torch is given (`goat-encoder-vs-pytorch.sh` sets one up): printed as a ratio.
//! Run with `cargo test --workspace --bench goat_encoder`.

#![allow(clippy::unwrap_used)] // a test or benchmark: a panic is the failure message

use std::process::Command;
use std::time::Instant;

use benchtop_studies::goat::model::{Classifier, Encoder, EncoderKind, Head};
use benchtop_studies::ml::nets::{Batchable, TrainOptions, predict, train};
use burn::prelude::*;
use rand::Rng as _;

const IMAGES: usize = 1024;

fn burn_throughput(kind: EncoderKind, x: &[f32], labels: &[u8]) -> (f64, f64) {
    let device = Device::flex().autodiff();
    let mut rng = benchtop_data::rng(0, 1);
    let model = Classifier {
        encoder: Encoder::new(kind, &mut rng, &device),
        head: Head::new(Encoder::feature_dim(kind, 28, 784), 128, 2, 10, &mut rng, &device),
    };
    let data = Batchable { x, labels, shape: [1, 28, 28] };
    let warm = Batchable { x: &x[..128 * 784], labels: &labels[..128], shape: [1, 28, 28] };
    let options = TrainOptions { epochs: 1, batch_size: 128, lr: 1e-4, weight_decay: 1e-4, decoupled: false };
    let model = train(model, |m, x| m.forward(x), &warm, &options, &mut rng, &device, |_, _, _| Ok(())).expect("warm-up");
    let t = Instant::now();
    let model = train(model, |m, x| m.forward(x), &data, &options, &mut rng, &device, |_, _, _| Ok(())).expect("train");
    let train_rate = IMAGES as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    predict(&model, |m, x| m.forward(x), &data, &device).expect("predict");
    (train_rate, IMAGES as f64 / t.elapsed().as_secs_f64())
}

fn torch_throughput() -> Option<Vec<serde_json::Value>> {
    let python = std::env::var("BENCHTOP_TORCH_PYTHON").ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/goat_encoder_torch.py");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let out = Command::new(python).arg(script).arg(IMAGES.to_string()).arg(threads.to_string()).output().ok()?;
    if !out.status.success() {
        eprintln!("PyTorch reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

fn main() {
    let mut rng = benchtop_data::rng(7, 0);
    let x: Vec<f32> = (0..IMAGES * 784).map(|_| rng.random_range(0.0f32..1.0)).collect();
    let labels: Vec<u8> = (0..IMAGES).map(|_| rng.random_range(0..10u8)).collect();
    let torch = torch_throughput();
    println!("GOAT classifier, {IMAGES} images of 28x28, batch 128, Adam (images/s; train = forward + backward + step):");
    for (kind, name) in [(EncoderKind::Conv, "conv"), (EncoderKind::ConvPooled, "conv_pooled")] {
        let (train_rate, infer_rate) = burn_throughput(kind, &x, &labels);
        print!("  {name:<12} burn (flex CPU): train {train_rate:>7.0}, inference {infer_rate:>7.0}");
        let reference = torch.as_ref().and_then(|rows| rows.iter().find(|r| r["encoder"] == name));
        match reference {
            Some(r) => {
                let (tt, ti) = (r["train_images_per_s"].as_f64().unwrap_or(f64::NAN), r["infer_images_per_s"].as_f64().unwrap_or(f64::NAN));
                println!(
                    "  | PyTorch {} ({} threads): train {tt:>7.0}, inference {ti:>7.0}  | burn/PyTorch: train {:.2}x, inference {:.2}x",
                    r["torch"].as_str().unwrap_or("?"),
                    r["threads"],
                    train_rate / tt,
                    infer_rate / ti
                );
            }
            None => println!("  | no PyTorch reference (run goat-encoder-vs-pytorch.sh for the ratio)"),
        }
    }
}
