//! Gradual self-training of the head on frozen features, and GOAT's generated domains.

use benchtop_core::StudyError;
use benchtop_data::ot::{Plan, interpolate, plan_from_costs};
use burn::prelude::*;
use rand::seq::index::sample;

use crate::ml::nets::{Batchable, TrainOptions, host, predict, train};

use super::model::Head;

/// Encoded points of one domain on the host (`n x dim`, row-major); `labels` are the true
/// labels where known (real domains), only ever used to score pseudo-labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    pub name: String,
    pub x: Vec<f32>,
    pub dim: usize,
    pub labels: Option<Vec<u8>>,
}

impl Features {
    pub fn len(&self) -> usize {
        self.x.len() / self.dim.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// The rows at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Features {
        let mut x = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            x.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        }
        Features { name: self.name.clone(), x, dim: self.dim, labels: self.labels.as_ref().map(|l| idx.iter().map(|&i| l[i]).collect()) }
    }
}

fn head_forward(h: &Head, x: Tensor<4>) -> Tensor<2> {
    h.forward(x.flatten(1, 3))
}

/// The head's logits for every row of `f`.
pub fn logits(head: &Head, f: &Features, classes: usize, device: &Device) -> Result<Vec<f32>, StudyError> {
    let dummy = vec![0u8; f.len()];
    let data = Batchable { x: &f.x, labels: &dummy, shape: [1, 1, f.dim] };
    let out = predict(head, head_forward, &data, device)?;
    debug_assert_eq!(out.len(), f.len() * classes);
    Ok(out)
}

fn argmax(row: &[f32]) -> u8 {
    crate::ml::nets::argmax(row).unwrap_or(0) as u8
}

/// The fraction of rows the head classifies as `labels` says.
pub fn accuracy(head: &Head, f: &Features, labels: &[u8], classes: usize, device: &Device) -> Result<f64, StudyError> {
    Ok(crate::ml::nets::logit_accuracy(&logits(head, f, classes, device)?, classes, labels))
}

/// What one self-training step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    pub kept: usize,
    /// How many kept pseudo-labels were right (real domains only).
    pub kept_right: Option<usize>,
}

/// One step of gradual self-training: the current head pseudo-labels `domain`, the
/// `drop_fraction` least confident rows (confidence = max logit - min logit) are dropped, and
/// the head trains on the rest; the result is the next teacher.
#[allow(clippy::too_many_arguments)]
pub fn self_train_step(
    head: Head,
    domain: &Features,
    classes: usize,
    drop_fraction: f64,
    options: &TrainOptions,
    rng: &mut benchtop_data::Rng,
    device: &Device,
    cancelled: &dyn Fn() -> bool,
) -> Result<(Head, StepReport), StudyError> {
    let l = logits(&head, domain, classes, device)?;
    let mut scored: Vec<(usize, f32, u8)> = l
        .chunks_exact(classes)
        .enumerate()
        .map(|(i, row)| {
            let (lo, hi) = row.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            (i, hi - lo, argmax(row))
        })
        .collect();
    // Most confident first; ties by index so the order is reproducible.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let keep = ((domain.len() as f64) * (1.0 - drop_fraction)).round() as usize;
    scored.truncate(keep.max(2));
    let idx: Vec<usize> = scored.iter().map(|s| s.0).collect();
    let pseudo: Vec<u8> = scored.iter().map(|s| s.2).collect();
    let kept_right = domain.labels.as_ref().map(|truth| scored.iter().filter(|(i, _, y)| truth[*i] == *y).count());
    let kept = domain.select(&idx);
    let data = Batchable { x: &kept.x, labels: &pseudo, shape: [1, 1, domain.dim] };
    let head =
        train(head, head_forward, &data, options, rng, device, |_, _, _| if cancelled() { Err(StudyError::Cancelled) } else { Ok(()) })?;
    head.settle();
    Ok((head, StepReport { kept: idx.len(), kept_right }))
}

/// Squared Euclidean distances between the rows of `a` and `b` (both `n x dim`), by one
/// matrix product on `device`: |a|^2 + |b|^2 - 2 a b^T (clamped at 0 against rounding).
pub fn cost_matrix(a: &Features, b: &Features, device: &Device) -> Result<Vec<f64>, StudyError> {
    let (n, m, d) = (a.len(), b.len(), a.dim);
    let ta = Tensor::<2>::from_data(TensorData::new(a.x.clone(), [n, d]), device);
    let tb = Tensor::<2>::from_data(TensorData::new(b.x.clone(), [m, d]), device);
    let na = ta.clone().powi_scalar(2).sum_dim(1);
    let nb = tb.clone().powi_scalar(2).sum_dim(1).transpose();
    let cross = ta.matmul(tb.transpose()).mul_scalar(2.0);
    let costs = (na + nb - cross).clamp_min(0.0);
    Ok(host(costs)?.into_iter().map(f64::from).collect())
}

/// Equal-size uniform samples of two consecutive domains, at most `cap` points each (exact
/// OT with uniform marginals needs as many points on each side): seeded subsamples.
pub fn equalise(a: &Features, b: &Features, cap: usize, rng: &mut benchtop_data::Rng) -> (Features, Features) {
    let (ra, rb) = equalise_rows(a.len(), b.len(), cap, rng);
    (rows(a, &ra).into_owned(), rows(b, &rb).into_owned())
}

/// The rows [`equalise`] keeps of each domain (`None`: all of them), drawn in its order.
pub fn equalise_rows(a: usize, b: usize, cap: usize, rng: &mut benchtop_data::Rng) -> (Option<Vec<usize>>, Option<Vec<usize>>) {
    let m = a.min(b).min(cap);
    let pick = |len: usize, rng: &mut benchtop_data::Rng| {
        (len != m).then(|| {
            let mut idx = sample(rng, len, m).into_vec();
            idx.sort_unstable();
            idx
        })
    };
    let ra = pick(a, rng);
    let rb = pick(b, rng);
    (ra, rb)
}

/// The rows `idx` of `f` (`None`: `f` itself, not copied).
pub fn rows<'a>(f: &'a Features, idx: &Option<Vec<usize>>) -> std::borrow::Cow<'a, Features> {
    match idx {
        Some(idx) => std::borrow::Cow::Owned(f.select(idx)),
        None => std::borrow::Cow::Borrowed(f),
    }
}

/// The exact OT plan between equal-size `a` and `b` in feature space.
pub fn ot_plan(a: &Features, b: &Features, device: &Device) -> Result<Plan, StudyError> {
    let costs = cost_matrix(a, b, device)?;
    Ok(plan_from_costs(costs, a.len())?)
}

/// The `k`-th of GOAT's `g` generated domains (k = 1..=g) between `a` and `b` along `plan`,
/// at t = k / (g + 1): one point per plan entry (uniform weights: the plan is a permutation).
pub fn generated_at(a: &Features, b: &Features, plan: &Plan, k: usize, g: usize) -> Features {
    let t = k as f32 / (g + 1) as f32;
    Features { name: format!("{}~{}@{k}/{}", a.name, b.name, g + 1), x: interpolate(&a.x, &b.x, a.dim, plan, t), dim: a.dim, labels: None }
}

/// A plan as bytes for the cross-run cache, and back (checked against the expected size).
pub fn plan_to_bytes(plan: &Plan) -> Vec<u8> {
    let mut out = plan.cost.to_le_bytes().to_vec();
    for &j in &plan.assignment {
        out.extend_from_slice(&(j as u32).to_le_bytes());
    }
    out
}

pub fn plan_from_bytes(bytes: &[u8], n: usize) -> Option<Plan> {
    if bytes.len() != 8 + 4 * n {
        return None;
    }
    let cost = f64::from_le_bytes(bytes[..8].try_into().ok()?);
    let assignment: Vec<usize> = bytes[8..].chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize).collect();
    let mut seen = vec![false; n];
    for &j in &assignment {
        if j >= n || std::mem::replace(&mut seen[j], true) {
            return None;
        }
    }
    Some(Plan { assignment, cost })
}
