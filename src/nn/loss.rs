//! Losses as per-sample values: the mean trains, the sum gives TINY's per-sample gradients.
//!
//! ```
//! use grownet::nn::Loss;
//! let logits = tch::Tensor::from_slice(&[2.0f32, 0.0, 0.0, 3.0]).view([2, 2]);
//! let labels = tch::Tensor::from_slice(&[0i64, 1]);
//! let l = Loss::CrossEntropy.per_sample(&logits, &labels);
//! assert_eq!(l.size(), vec![2]);
//! ```
use serde::{Deserialize, Serialize};
use tch::{Reduction, Tensor};

/// A training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Softmax cross-entropy against integer labels.
    CrossEntropy,
    /// Mean squared error against real targets, averaged over output coordinates.
    Mse,
}

impl Loss {
    /// The loss of each sample, shape `[batch]`.
    pub fn per_sample(self, output: &Tensor, target: &Tensor) -> Tensor {
        match self {
            Loss::CrossEntropy => output.log_softmax(-1, output.kind()).nll_loss_nd(
                target,
                None::<Tensor>,
                Reduction::None,
                -100,
            ),
            Loss::Mse => {
                let diff = output - target.view(output.size().as_slice());
                diff.square().mean_dim(-1, false, output.kind())
            }
        }
    }

    /// The mean loss over the batch (what training minimises).
    pub fn mean(self, output: &Tensor, target: &Tensor) -> Tensor {
        self.per_sample(output, target).mean(output.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;
    use tch::{Device, Kind};

    #[test]
    fn cross_entropy_matches_formula() {
        let logits = Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([1, 3]);
        let l = Loss::CrossEntropy.mean(&logits, &Tensor::from_slice(&[2i64]));
        let expected = -(3f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).ln();
        assert!((l.double_value(&[]) - expected).abs() < 1e-6);
    }

    #[test]
    fn mse_is_the_mean_over_outputs_then_over_the_batch() {
        let out = Tensor::from_slice(&[1.0f64, 2.0, 0.0, -1.0]).view([2, 2]);
        let target = Tensor::from_slice(&[0.0f64, 0.0, 1.0, 1.0]).view([2, 2]);
        // Sample 0: ((1−0)² + (2−0)²) / 2 = 2.5; sample 1: ((0−1)² + (−1−1)²) / 2 = 2.5.
        let per = Loss::Mse.per_sample(&out, &target);
        assert_eq!(Vec::<f64>::try_from(&per).unwrap(), vec![2.5, 2.5]);
        assert_eq!(Loss::Mse.mean(&out, &target).double_value(&[]), 2.5);
        // A target of shape [batch] is read as one output per sample.
        let one = Tensor::from_slice(&[3.0f64, 1.0]).view([2, 1]);
        let flat = Tensor::from_slice(&[1.0f64, 2.0]);
        assert_eq!(
            Loss::Mse.mean(&one, &flat).double_value(&[]),
            (4.0 + 1.0) / 2.0
        );
    }

    #[test]
    fn cross_entropy_per_sample_by_hand() {
        let logits = Tensor::from_slice(&[0.0f64, 0.0, 2.0, 0.0]).view([2, 2]);
        let per = Loss::CrossEntropy.per_sample(&logits, &Tensor::from_slice(&[1i64, 0]));
        let expected = [2f64.ln(), -(2f64.exp() / (2f64.exp() + 1.0)).ln()];
        for (got, want) in Vec::<f64>::try_from(&per).unwrap().iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    /// Autograd through `Loss` itself against central finite differences.
    #[test]
    fn gradients_match_finite_differences() {
        let logits = Tensor::randn([3, 4], (Kind::Double, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 3, 1]);
        finite_difference_check(&logits, |x| Loss::CrossEntropy.mean(x, &labels));
        let targets = Tensor::randn([3, 4], (Kind::Double, Device::Cpu));
        finite_difference_check(&logits, |x| Loss::Mse.mean(x, &targets));
    }
}
