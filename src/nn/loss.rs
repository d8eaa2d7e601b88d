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
    fn gradients_match_finite_differences() {
        let logits = Tensor::randn([3, 4], (Kind::Double, Device::Cpu));
        let labels = Tensor::from_slice(&[0i64, 3, 1]);
        finite_difference_check(&logits, |x| {
            x.log_softmax(-1, Kind::Double).nll_loss_nd(
                &labels,
                None::<Tensor>,
                Reduction::Sum,
                -100,
            )
        });
        let targets = Tensor::randn([3, 4], (Kind::Double, Device::Cpu));
        finite_difference_check(&logits, |x| {
            (x - &targets)
                .square()
                .mean_dim(-1, false, Kind::Double)
                .sum(Kind::Double)
        });
    }
}
