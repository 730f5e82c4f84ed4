//! The study's scores: point-prompted mask IoU (S's skill), nearest-prototype accuracy (C's
//! skill), and zero-shot semantic segmentation (the skill neither teacher has alone), with
//! the two teacher-only baselines for it.
//!
//! Zero-shot segmentation is scored on the ground-truth foreground: each digit pixel gets a
//! class, and the score is the mean over classes of the intersection over union of pixels
//! predicted and truly of that class. The merged model and the baselines are scored on the
//! same pixels, so finding the foreground (which the image's ink gives away) is no one's task.

use benchtop_core::StudyError;
use benchtop_data::digits::Digits;
use benchtop_data::scenes::{BACKGROUND, Scenes, centred_crop};
use burn::prelude::*;

use super::data::{CLASSES, Prompt, digit_batch, scene_batch};
use super::model::{EMBED, Net, STRIDE, TeacherC, encode_prompt};
use crate::ml::nets::{Batchable, argmax, host, predict, tensor};

/// Predicted masks (logit above zero) of every prompt, each `side x side`.
pub fn prompted_masks(net: &Net, scenes: &Scenes, samples: &[Prompt], device: &Device) -> Result<Vec<Vec<bool>>, StudyError> {
    let pixels = scenes.side * scenes.side;
    let mut out = Vec::with_capacity(samples.len());
    let idx: Vec<usize> = (0..samples.len()).collect();
    for chunk in idx.chunks(128) {
        let (images, prompts, _) = scene_batch(scenes, samples, chunk, device);
        let logits = host(net.mask_logits(images, prompts))?;
        out.extend(logits.chunks_exact(pixels).map(|m| m.iter().map(|v| *v > 0.0).collect()));
    }
    Ok(out)
}

/// Intersection over union of two masks (1 when both are empty).
pub fn iou(a: &[bool], b: &[bool]) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (x, y) in a.iter().zip(b) {
        inter += (*x && *y) as usize;
        union += (*x || *y) as usize;
    }
    if union == 0 { 1.0 } else { inter as f64 / union as f64 }
}

/// S's skill: the mean IoU of point-prompted masks against the prompted digit's true mask.
pub fn prompted_miou(net: &Net, scenes: &Scenes, samples: &[Prompt], device: &Device) -> Result<f64, StudyError> {
    let masks = prompted_masks(net, scenes, samples, device)?;
    let total: f64 = masks.iter().zip(samples).map(|(m, p)| iou(m, &scenes.scenes[p.scene].mask(p.instance))).sum();
    Ok(total / samples.len().max(1) as f64)
}

/// The class whose prototype (`[EMBED, 10]` row-major, unit columns) is nearest `embedding`
/// in cosine (the embedding's length does not change the order).
pub fn nearest_prototype(embedding: &[f32], prototypes: &[f32]) -> usize {
    let scores: Vec<f32> = (0..CLASSES).map(|k| (0..EMBED).map(|d| embedding[d] * prototypes[d * CLASSES + k]).sum()).collect();
    argmax(&scores).unwrap_or(0)
}

/// The share of `embeddings` (`n x EMBED`) nearest their label's prototype.
pub fn nearest_prototype_accuracy(embeddings: &[f32], prototypes: &[f32], labels: &[u8]) -> f64 {
    let right = embeddings.chunks_exact(EMBED).zip(labels).filter(|(e, y)| nearest_prototype(e, prototypes) == **y as usize).count();
    right as f64 / labels.len().max(1) as f64
}

fn batchable(d: &Digits) -> Batchable<'_> {
    Batchable { x: &d.pixels, labels: &d.labels, shape: [1, d.rows, d.cols] }
}

/// C's skill in a merged (or merged-to-be) network: zero-shot accuracy on single digits.
pub fn student_accuracy(net: &Net, digits: &Digits, prototypes: &[f32], device: &Device) -> Result<f64, StudyError> {
    let e = predict(net, Net::embed, &batchable(digits), device)?;
    Ok(nearest_prototype_accuracy(&e, prototypes, &digits.labels))
}

/// Teacher C's zero-shot accuracy.
pub fn teacher_accuracy(c: &TeacherC, digits: &Digits, prototypes: &[f32], device: &Device) -> Result<f64, StudyError> {
    let e = predict(c, TeacherC::forward, &batchable(digits), device)?;
    Ok(nearest_prototype_accuracy(&e, prototypes, &digits.labels))
}

/// The merged model's zero-shot class map of every scene: the semantic head on every feature
/// cell, each cell's nearest prototype given to its 4 x 4 pixels.
pub fn zero_shot_maps(net: &Net, scenes: &Scenes, prototypes: &[f32], device: &Device) -> Result<Vec<Vec<u8>>, StudyError> {
    let side = scenes.side;
    let g = side / STRIDE;
    let mut maps = Vec::with_capacity(scenes.len());
    let idx: Vec<usize> = (0..scenes.len()).collect();
    for chunk in idx.chunks(64) {
        let mut images = Vec::with_capacity(chunk.len() * side * side);
        for &i in chunk {
            images.extend_from_slice(&scenes.scenes[i].image);
        }
        let dense = host(net.embed_dense(tensor(images, [chunk.len(), 1, side, side], device)))?;
        for cells in dense.chunks_exact(EMBED * g * g) {
            let classes: Vec<u8> = (0..g * g)
                .map(|cell| {
                    let e: Vec<f32> = (0..EMBED).map(|d| cells[d * g * g + cell]).collect();
                    nearest_prototype(&e, prototypes) as u8
                })
                .collect();
            maps.push((0..side * side).map(|p| classes[(p / side / STRIDE) * g + (p % side) / STRIDE]).collect());
        }
    }
    Ok(maps)
}

/// Mean over classes of the IoU of predicted and true classes on the true foreground.
pub fn class_miou(predicted: &[Vec<u8>], scenes: &Scenes) -> f64 {
    let (mut inter, mut union) = ([0usize; CLASSES], [0usize; CLASSES]);
    for (pred, scene) in predicted.iter().zip(&scenes.scenes) {
        for (p, t) in pred.iter().zip(&scene.classes) {
            if *t == BACKGROUND {
                continue;
            }
            let (p, t) = (*p as usize, *t as usize);
            if p == t {
                inter[t] += 1;
                union[t] += 1;
            } else {
                union[t] += 1;
                if p < CLASSES {
                    union[p] += 1;
                }
            }
        }
    }
    let present: Vec<f64> = (0..CLASSES).filter(|k| union[*k] > 0).map(|k| inter[k] as f64 / union[k] as f64).collect();
    present.iter().sum::<f64>() / present.len().max(1) as f64
}

/// A `size x size` window of `image` centred on `(row, col)`, zero outside the image.
fn window(image: &[f32], side: usize, row: usize, col: usize, size: usize) -> Vec<f32> {
    let half = (size / 2) as isize;
    let mut out = vec![0.0; size * size];
    for r in 0..size {
        for c in 0..size {
            let (y, x) = (row as isize + r as isize - half, col as isize + c as isize - half);
            if y >= 0 && x >= 0 && (y as usize) < side && (x as usize) < side {
                out[r * size + c] = image[y as usize * side + x as usize];
            }
        }
    }
    out
}

/// Classes from teacher C for a list of 28 x 28 inputs.
fn classify(c: &TeacherC, inputs: Vec<f32>, prototypes: &[f32], device: &Device) -> Result<Vec<u8>, StudyError> {
    let n = inputs.len() / (28 * 28);
    let digits = Digits { rows: 28, cols: 28, pixels: inputs, labels: vec![0; n] };
    let mut out = Vec::with_capacity(n);
    let idx: Vec<usize> = (0..n).collect();
    for chunk in idx.chunks(256) {
        let e = host(c.forward(digit_batch(&digits, chunk, device)))?;
        out.extend(e.chunks_exact(EMBED).map(|e| nearest_prototype(e, prototypes) as u8));
    }
    Ok(out)
}

/// Teacher-only baseline 1: C slid over the scene. Each 4 x 4 cell holding foreground is
/// labelled by C on the 28 x 28 window centred on it.
pub fn windows_maps(c: &TeacherC, scenes: &Scenes, prototypes: &[f32], device: &Device) -> Result<Vec<Vec<u8>>, StudyError> {
    let side = scenes.side;
    let g = side / STRIDE;
    let mut maps = Vec::with_capacity(scenes.len());
    for scene in &scenes.scenes {
        let cells: Vec<usize> = (0..g * g)
            .filter(|cell| {
                let (cy, cx) = (cell / g * STRIDE, cell % g * STRIDE);
                (0..STRIDE * STRIDE).any(|k| scene.classes[(cy + k / STRIDE) * side + cx + k % STRIDE] != BACKGROUND)
            })
            .collect();
        let inputs: Vec<f32> = cells
            .iter()
            .flat_map(|cell| window(&scene.image, side, cell / g * STRIDE + STRIDE / 2, cell % g * STRIDE + STRIDE / 2, 28))
            .collect();
        let classes = classify(c, inputs, prototypes, device)?;
        let mut map = vec![BACKGROUND; side * side];
        for (cell, class) in cells.iter().zip(classes) {
            let (cy, cx) = (cell / g * STRIDE, cell % g * STRIDE);
            for k in 0..STRIDE * STRIDE {
                map[(cy + k / STRIDE) * side + cx + k % STRIDE] = class;
            }
        }
        maps.push(map);
    }
    Ok(maps)
}

/// The most prompts the masks baseline spends on one scene.
const MAX_ROUNDS: usize = 6;

/// Teacher-only baseline 2: S's masks labelled by C. Rounds of automatic prompting: each
/// scene's first foreground pixel not yet labelled is clicked, S's mask there is cut out,
/// centred and classified by C, and its unlabelled foreground pixels take that class.
pub fn masks_maps(s: &Net, c: &TeacherC, scenes: &Scenes, prototypes: &[f32], device: &Device) -> Result<Vec<Vec<u8>>, StudyError> {
    let side = scenes.side;
    let mut maps: Vec<Vec<u8>> = scenes.scenes.iter().map(|_| vec![BACKGROUND; side * side]).collect();
    let g = side / STRIDE;
    for _ in 0..MAX_ROUNDS {
        let clicks: Vec<(usize, usize)> = scenes
            .scenes
            .iter()
            .enumerate()
            .filter_map(|(i, scene)| (0..side * side).find(|&p| scene.classes[p] != BACKGROUND && maps[i][p] == BACKGROUND).map(|p| (i, p)))
            .collect();
        if clicks.is_empty() {
            break;
        }
        let mut logits = Vec::with_capacity(clicks.len() * side * side);
        for chunk in clicks.chunks(128) {
            let (mut images, mut prompts) = (Vec::new(), Vec::new());
            for &(i, p) in chunk {
                images.extend_from_slice(&scenes.scenes[i].image);
                prompts.extend(encode_prompt(p / side, p % side, side));
            }
            let n = chunk.len();
            logits.extend(host(s.mask_logits(tensor(images, [n, 1, side, side], device), tensor(prompts, [n, 3, g, g], device)))?);
        }
        let masks: Vec<Vec<bool>> = logits
            .chunks_exact(side * side)
            .zip(&clicks)
            // The clicked pixel always belongs to its own mask, so every round labels something.
            .map(|(m, &(_, p))| m.iter().enumerate().map(|(q, v)| *v > 0.0 || q == p).collect())
            .collect();
        let crops: Vec<f32> =
            masks.iter().zip(&clicks).flat_map(|(m, &(i, _))| centred_crop(&scenes.scenes[i].image, m, side, 28)).collect();
        let classes = classify(c, crops, prototypes, device)?;
        for ((mask, &(i, _)), class) in masks.iter().zip(&clicks).zip(classes) {
            for (p, inside) in mask.iter().enumerate() {
                if *inside && scenes.scenes[i].classes[p] != BACKGROUND && maps[i][p] == BACKGROUND {
                    maps[i][p] = class;
                }
            }
        }
    }
    Ok(maps)
}
