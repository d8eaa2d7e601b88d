//! A fully connected layer `y = x Wᵀ + b` whose widths can change between training steps.
//!
//! ```
//! use grownet::nn::Linear;
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut layer = Linear::new(3, 2, true, &mut rng, tch::Device::Cpu);
//! let y = layer.forward(&tch::Tensor::ones([4, 3], (tch::Kind::Float, tch::Device::Cpu)));
//! assert_eq!(y.size(), vec![4, 2]);
//! // Two new output units (rows) and their biases.
//! layer.grow_outputs(&tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu)),
//!                    Some(&tch::Tensor::zeros([2], (tch::Kind::Float, tch::Device::Cpu))));
//! assert_eq!(layer.out_features(), 4);
//! ```
use rand::Rng;
use tch::{Device, Tensor};

use super::init;

/// A linear layer owning its parameters as plain tensors.
#[derive(Debug)]
pub struct Linear {
    /// Weight, shape `[out, in]`.
    pub weight: Tensor,
    /// Optional bias, shape `[out]`.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// A new layer with PyTorch's default uniform initialisation, drawn from `rng`.
    pub fn new(input: i64, output: i64, bias: bool, rng: &mut impl Rng, device: Device) -> Self {
        let bound = init::default_bound(input);
        let weight = init::param(init::uniform(&[output, input], bound, rng, device));
        let bias = bias.then(|| init::param(init::uniform(&[output], bound, rng, device)));
        Linear { weight, bias }
    }

    /// Applies the layer to `x` of shape `[batch, in]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }

    /// Number of input features.
    pub fn in_features(&self) -> i64 {
        self.weight.size()[1]
    }

    /// Number of output features.
    pub fn out_features(&self) -> i64 {
        self.weight.size()[0]
    }

    /// Appends output units: `rows` of shape `[k, in]` and, when the layer has a bias, `bias` `[k]`.
    pub fn grow_outputs(&mut self, rows: &Tensor, bias: Option<&Tensor>) {
        super::grow_output_units(&mut self.weight, &mut self.bias, rows, bias);
    }

    /// Appends input features: `columns` of shape `[out, k]`.
    pub fn grow_inputs(&mut self, columns: &Tensor) {
        self.weight = super::append(&self.weight, columns, 1);
    }

    /// The parameters with their names relative to this layer.
    pub fn named_parameters(&self) -> Vec<(&'static str, Tensor)> {
        super::weight_and_bias(&self.weight, &self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;
    use rand::SeedableRng;
    use tch::Kind;

    fn layer() -> Linear {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        Linear::new(3, 2, true, &mut rng, Device::Cpu)
    }

    /// The crate's `Linear` (forward and autograd through it) against central finite
    /// differences in the input, the weight and the bias, and its output by hand.
    #[test]
    fn gradient_matches_finite_differences() {
        let l = layer();
        let w = l.weight.to_kind(Kind::Double).detach();
        let b = l.bias.as_ref().unwrap().to_kind(Kind::Double).detach();
        let with = |w: &Tensor, b: &Tensor| Linear {
            weight: w.shallow_clone(),
            bias: Some(b.shallow_clone()),
        };
        let x = Tensor::from_slice(&[0.3f64, -1.0, 2.0, 0.5, 0.1, -0.7]).view([2, 3]);
        let loss = |y: Tensor| y.tanh().sum(Kind::Double);
        finite_difference_check(&x, |x| loss(with(&w, &b).forward(x)));
        finite_difference_check(&w, |w| loss(with(w, &b).forward(&x)));
        finite_difference_check(&b, |b| loss(with(&w, b).forward(&x)));
        let by_hand = Linear {
            weight: Tensor::from_slice(&[1.0f64, 2.0, 3.0]).view([1, 3]),
            bias: Some(Tensor::from_slice(&[-1.0f64])),
        };
        let y = by_hand.forward(&x);
        for (row, want) in [(0, 0.3 - 2.0 + 6.0 - 1.0), (1, 0.5 + 0.2 - 2.1 - 1.0)] {
            assert!((y.double_value(&[row, 0]) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn growth_keeps_old_outputs() {
        let mut l = layer();
        let x = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
        let before = l.forward(&x);
        l.grow_outputs(&Tensor::ones([1, 3], (Kind::Float, Device::Cpu)), None);
        let after = l.forward(&x);
        assert_eq!(after.size(), vec![5, 3]);
        assert!(after.narrow(1, 0, 2).equal(&before));
        // New input columns with zero weight leave the output unchanged.
        l.grow_inputs(&Tensor::zeros([3, 2], (Kind::Float, Device::Cpu)));
        let x2 = Tensor::cat(&[&x, &Tensor::randn([5, 2], (Kind::Float, Device::Cpu))], 1);
        assert!(l.forward(&x2).equal(&after));
        assert!(l.weight.requires_grad());
    }

    #[test]
    fn zero_width_is_valid() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let l = Linear::new(0, 4, true, &mut rng, Device::Cpu);
        let y = l.forward(&Tensor::zeros([3, 0], (Kind::Float, Device::Cpu)));
        assert_eq!(y.size(), vec![3, 4]);
    }
}
