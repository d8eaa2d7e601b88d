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
use tch::{Kind, Reduction, Tensor};

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

    /// [`Loss::per_sample`] up to the order of a sum: for cross-entropy the classes are padded
    /// with −∞ to a multiple of 16 before the log-softmax (the padding adds `exp(−∞) = 0` to
    /// each row's sum and is cut off again). libtorch's CPU log-softmax takes a slow path when
    /// the class count is not a multiple of its vector width: padded, the forward on 3000 × 10
    /// logits takes about a fifth of the time (`bench/padded_log_softmax.py`; docs/tiny.md
    /// §2.2, "Precision"). Growth's previews and statistics use it under mixed precision;
    /// training does not (on 128 rows its backward is slower, and training keeps PyTorch's
    /// values).
    pub fn per_sample_padded(self, output: &Tensor, target: &Tensor) -> Tensor {
        let classes = output.size().last().copied().unwrap_or(0);
        if self != Loss::CrossEntropy || output.dim() != 2 || classes % 16 == 0 {
            return self.per_sample(output, target);
        }
        let padded = output.pad([0, 16 - classes % 16], "constant", f64::NEG_INFINITY);
        padded
            .log_softmax(-1, output.kind())
            .narrow(1, 0, classes)
            .nll_loss_nd(target, None::<Tensor>, Reduction::None, -100)
    }

    /// [`Loss::per_sample_padded`] when `padded` (growth under mixed precision), else
    /// [`Loss::per_sample`].
    pub fn per_sample_as(self, output: &Tensor, target: &Tensor, padded: bool) -> Tensor {
        if padded {
            self.per_sample_padded(output, target)
        } else {
            self.per_sample(output, target)
        }
    }

    /// The mean loss as growth takes it: with `padded` the padded per-sample losses averaged in
    /// f64, else [`Loss::mean`] (in the output's precision).
    pub fn mean_as(self, output: &Tensor, target: &Tensor, padded: bool) -> Tensor {
        if padded {
            self.per_sample_padded(output, target).mean(Kind::Double)
        } else {
            self.mean(output, target)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;
    use tch::{Device, Kind};

    /// The padded cross-entropy against the plain one: the same values up to rounding, and the
    /// same gradients, for class counts with and without padding and for extreme logits.
    #[test]
    fn padded_cross_entropy_is_the_plain_one_up_to_rounding() {
        tch::manual_seed(0);
        for classes in [1, 2, 10, 16, 17] {
            let logits = (Tensor::randn([600, classes], (Kind::Float, Device::Cpu)) * 8.0)
                .set_requires_grad(true);
            let y = Tensor::randint(classes, [600], (Kind::Int64, Device::Cpu));
            let plain = Loss::CrossEntropy.per_sample(&logits, &y);
            let padded = Loss::CrossEntropy.per_sample_padded(&logits, &y);
            assert_eq!(padded.size(), vec![600]);
            let err = (&plain - &padded).abs().max().double_value(&[]);
            assert!(
                err <= 1e-6 * (1.0 + plain.abs().max().double_value(&[])),
                "{classes}: {err}"
            );
            let g = Tensor::run_backward(&[plain.sum(Kind::Float)], &[&logits], false, false);
            let h = Tensor::run_backward(&[padded.sum(Kind::Float)], &[&logits], false, false);
            assert!(g[0].allclose(&h[0], 1e-5, 1e-6, false), "{classes}");
        }
        let huge =
            Tensor::from_slice(&[1e30f32, -1e30, 0.0, 3.0, f32::NEG_INFINITY, 2.0]).view([2, 3]);
        let y = Tensor::from_slice(&[0i64, 2]);
        let (a, b) = (
            Loss::CrossEntropy.per_sample(&huge, &y),
            Loss::CrossEntropy.per_sample_padded(&huge, &y),
        );
        assert!(a.allclose(&b, 1e-6, 1e-6, false), "{a:?} {b:?}");
        let mse = Tensor::ones([3, 10], (Kind::Float, Device::Cpu));
        assert!(Loss::Mse
            .per_sample_padded(&mse, &mse.zeros_like())
            .equal(&Loss::Mse.per_sample(&mse, &mse.zeros_like())));
    }

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
