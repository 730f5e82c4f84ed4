//! LoRA (Hu et al., 2021): a frozen linear layer plus a trainable low-rank update,
//! y = x W + b + (x A B) * scale, with A (d_in x r) drawn like a layer's weights and B (r x d_out)
//! zero, so training starts exactly at the frozen layer. [`LoraLinear::merge`] folds the
//! update into the weights (W + A B * scale): the same outputs, no extra cost at inference.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::*;

use crate::ml::nets::{tensor, uniform};

/// A frozen [`Linear`] with a rank-`r` adapter.
#[derive(Module, Debug)]
pub struct LoraLinear {
    base: Linear,
    a: Param<Tensor<2>>,
    b: Param<Tensor<2>>,
    #[module(skip)]
    scale: f64,
}

impl LoraLinear {
    /// Wrap `base` (its parameters stop requiring gradients) with a rank-`rank` adapter; the
    /// update is scaled by `alpha / rank` (alpha = rank gives 1, as the authors' default).
    pub fn new(base: Linear, rank: usize, alpha: f64, rng: &mut benchtop_data::Rng, device: &Device) -> LoraLinear {
        let [d_in, d_out] = base.weight.shape().dims();
        let rank = rank.max(1);
        LoraLinear {
            base: base.no_grad(),
            a: Param::from_tensor(tensor(uniform(rng, d_in * rank, d_in), [d_in, rank], device)),
            b: Param::from_tensor(Tensor::zeros([rank, d_out], device)),
            scale: alpha / rank as f64,
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let update = x.clone().matmul(self.a.val()).matmul(self.b.val()).mul_scalar(self.scale);
        self.base.forward(x) + update
    }

    /// The plain layer with the update folded in.
    pub fn merge(&self) -> Linear {
        let mut merged = self.base.clone();
        let delta = self.a.val().matmul(self.b.val()).mul_scalar(self.scale);
        merged.weight = Param::from_tensor((self.base.weight.val() + delta).detach());
        merged
    }

    /// Trainable values: the adapter's, never the frozen layer's.
    pub fn trainable(&self) -> usize {
        self.a.shape().num_elements() + self.b.shape().num_elements()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::nets::host;
    use crate::ml::nets::linear;
    use burn::optim::{AdamConfig, GradientsParams};

    fn batch(device: &Device) -> Tensor<2> {
        let mut rng = benchtop_data::rng(5, 0);
        tensor(uniform(&mut rng, 8 * 6, 1), [8, 6], device)
    }

    #[test]
    fn a_fresh_adapter_leaves_the_output_unchanged() {
        let device = Device::flex();
        let mut rng = benchtop_data::rng(1, 0);
        let base = linear(&mut rng, 6, 4, &device);
        let lora = LoraLinear::new(base.clone(), 2, 2.0, &mut rng, &device);
        assert_eq!(host(lora.forward(batch(&device))).unwrap(), host(base.forward(batch(&device))).unwrap());
        assert_eq!(lora.trainable(), 6 * 2 + 2 * 4);
    }

    #[test]
    fn the_merged_layer_gives_the_adapter_forms_outputs_and_training_moves_only_the_adapter() {
        let device = Device::flex().autodiff();
        let mut rng = benchtop_data::rng(2, 0);
        let base = linear(&mut rng, 6, 4, &device);
        let before = host(base.weight.val()).unwrap();
        let mut lora = LoraLinear::new(base, 3, 3.0, &mut rng, &device);
        let mut optimizer = AdamConfig::new().init();
        for _ in 0..5 {
            let loss = lora.forward(batch(&device)).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &lora);
            lora = optimizer.step(0.05, lora, grads);
        }
        assert_eq!(host(lora.base.weight.val()).unwrap(), before, "the frozen weights never move");
        assert!(host(lora.b.val()).unwrap().iter().any(|v| *v != 0.0), "the adapter trained");
        let adapter = host(lora.forward(batch(&device))).unwrap();
        let merged = host(lora.merge().forward(batch(&device))).unwrap();
        for (x, y) in adapter.iter().zip(&merged) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
