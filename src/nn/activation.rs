//! Element-wise activations, with the derivative at 0 that TINY's linearisation needs.
//!
//! ```
//! use grownet::nn::Activation;
//! let x = tch::Tensor::from_slice(&[-1.0f32, 0.0, 2.0]);
//! let y = Activation::Relu.forward(&x);
//! assert_eq!(Vec::<f32>::try_from(&y).unwrap(), vec![0.0, 0.0, 2.0]);
//! assert_eq!("gelu".parse::<Activation>().unwrap(), Activation::Gelu);
//! ```
use std::fmt;

use serde::{Deserialize, Serialize};
use tch::Tensor;

/// An element-wise non-linearity applied after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Selu,
    Tanh,
    Gelu,
    #[serde(alias = "linear", alias = "none")]
    Identity,
    /// SENN's rational activation (docs/senn.md §1.7); its per-unit parameters live in the
    /// [`Stage`](super::Stage). Without parameters (e.g. previewing new units) it is the
    /// identity, its value at `(1, 0, 0)`.
    Rational,
}

impl Activation {
    /// Every activation.
    pub const ALL: [Activation; 6] = [
        Activation::Relu,
        Activation::Selu,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Identity,
        Activation::Rational,
    ];

    /// Applies the activation.
    pub fn forward(self, x: &Tensor) -> Tensor {
        match self {
            // clamp_min has derivative 1 at 0 (relu has 0): same values, and neurons added with
            // zero fan-in (GradMax) still receive gradient, as with GroMo's ReLU (docs/tiny.md §9).
            Activation::Relu => x.clamp_min(0.0),
            Activation::Selu => x.selu(),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => x.gelu("none"),
            Activation::Identity | Activation::Rational => x.shallow_clone(),
        }
    }

    /// σ'(0⁺), the slope TINY uses to linearise new neurons (docs/tiny.md §1: ReLU 1, GELU 0.5,
    /// SELU 1.0507, tanh 1, identity 1).
    pub fn slope_at_zero(self) -> f64 {
        match self {
            Activation::Relu | Activation::Tanh | Activation::Identity | Activation::Rational => {
                1.0
            }
            Activation::Gelu => 0.5,
            Activation::Selu => 1.050_700_987_355_480_5,
        }
    }

    /// Whether `σ(c·x) = c·σ(x)` for every `c > 0` (ReLU, identity): a unit's scale can then
    /// move between its input and its fan-out without changing what it computes.
    pub fn positively_homogeneous(self) -> bool {
        matches!(self, Activation::Relu | Activation::Identity)
    }

    /// The lower-case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Selu => "selu",
            Activation::Tanh => "tanh",
            Activation::Gelu => "gelu",
            Activation::Identity => "identity",
            Activation::Rational => "rational",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;

    #[test]
    fn slopes_at_zero_match_autograd() {
        for act in Activation::ALL {
            let x = Tensor::from_slice(&[1e-7f64]).set_requires_grad(true);
            let y = act.forward(&x).sum(tch::Kind::Double);
            y.backward();
            let g = x.grad().double_value(&[0]);
            assert!((g - act.slope_at_zero()).abs() < 1e-5, "{act}: {g}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for act in Activation::ALL {
            // Points away from ReLU/SELU's kink at 0.
            let x = Tensor::from_slice(&[-1.3f64, -0.4, 0.3, 0.9, 2.1]);
            finite_difference_check(&x, |x| act.forward(x).square().sum(tch::Kind::Double));
        }
    }

    #[test]
    fn parse_rejects_unknown_names() {
        assert!("swishy".parse::<Activation>().is_err());
        assert_eq!("ReLU".parse::<Activation>().unwrap(), Activation::Relu);
    }
}
