//! A 2-D convolution whose channel counts can change between training steps.
//!
//! ```
//! use grownet::nn::Conv2d;
//! use rand::SeedableRng;
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let conv = Conv2d::new(3, 8, 3, 1, 1, true, &mut rng, tch::Device::Cpu);
//! let y = conv.forward(&tch::Tensor::zeros([2, 3, 16, 16], (tch::Kind::Float, tch::Device::Cpu)));
//! assert_eq!(y.size(), vec![2, 8, 16, 16]);
//! ```
use rand::Rng;
use tch::{Device, Tensor};

use super::init;

/// The geometry of a square convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub kernel: i64,
    pub stride: i64,
    pub padding: i64,
}

impl ConvGeometry {
    /// Output size along one spatial dimension of size `n`.
    pub fn output_size(self, n: i64) -> i64 {
        (n + 2 * self.padding - self.kernel) / self.stride + 1
    }
}

/// A square-kernel convolution owning its parameters as plain tensors.
#[derive(Debug)]
pub struct Conv2d {
    /// Weight, shape `[out, in, k, k]`.
    pub weight: Tensor,
    /// Optional bias, shape `[out]`.
    pub bias: Option<Tensor>,
    pub stride: i64,
    pub padding: i64,
}

impl Conv2d {
    /// A new convolution with PyTorch's default initialisation, drawn from `rng`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: i64,
        output: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
        rng: &mut impl Rng,
        device: Device,
    ) -> Self {
        let bound = init::default_bound(input * kernel * kernel);
        let weight = init::param(init::uniform(
            &[output, input, kernel, kernel],
            bound,
            rng,
            device,
        ));
        let bias = bias.then(|| init::param(init::uniform(&[output], bound, rng, device)));
        Conv2d {
            weight,
            bias,
            stride,
            padding,
        }
    }

    /// Applies the convolution to `x` of shape `[batch, in, h, w]`. Zero input or output
    /// channels (an empty block before it grows) give zeros (plus the bias), which libtorch's
    /// conv refuses to compute.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.in_channels() == 0 || self.out_channels() == 0 {
            let s = x.size();
            let out = |n: i64| (n + 2 * self.padding - self.kernel_size()) / self.stride + 1;
            // Multiplying by the (empty) weight's sum keeps the graph connected.
            let zeros = Tensor::zeros(
                [s[0], self.out_channels(), out(s[2]), out(s[3])],
                (x.kind(), x.device()),
            ) + x.sum(x.kind()) * 0.0
                + self.weight.sum(x.kind()) * 0.0;
            return match &self.bias {
                Some(b) => zeros + b.view([1, -1, 1, 1]),
                None => zeros,
            };
        }
        self.forward_with(x, &self.weight, self.bias.as_ref())
    }

    /// `x` through this convolution's geometry (stride, padding) with other weights, e.g. a
    /// growth proposal's new filters.
    pub fn forward_with(&self, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        x.conv2d(
            weight,
            bias,
            [self.stride, self.stride],
            [self.padding, self.padding],
            [1, 1],
            1,
        )
    }

    pub fn in_channels(&self) -> i64 {
        self.weight.size()[1]
    }

    pub fn out_channels(&self) -> i64 {
        self.weight.size()[0]
    }

    pub fn kernel_size(&self) -> i64 {
        self.weight.size()[2]
    }

    /// Kernel size, stride and padding (what growth's unfolding needs).
    pub fn geometry(&self) -> ConvGeometry {
        ConvGeometry {
            kernel: self.kernel_size(),
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// Appends output channels: `filters` `[k, in, kh, kw]` and their biases `[k]`.
    pub fn grow_outputs(&mut self, filters: &Tensor, bias: Option<&Tensor>) {
        super::grow_output_units(&mut self.weight, &mut self.bias, filters, bias);
    }

    /// Appends input channels: `weights` `[out, k, kh, kw]`.
    pub fn grow_inputs(&mut self, weights: &Tensor) {
        self.weight = super::append(&self.weight, weights, 1);
    }

    pub fn named_parameters(&self) -> Vec<(&'static str, Tensor)> {
        super::weight_and_bias(&self.weight, &self.bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;
    use tch::Kind;

    /// The crate's `Conv2d` (forward and autograd through it) against central finite
    /// differences, in the input and in the weight and bias, at two geometries; and its output
    /// against a hand-computed value.
    #[test]
    fn gradient_matches_finite_differences() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let x = Tensor::randn([2, 2, 5, 5], (Kind::Double, Device::Cpu));
        for (stride, padding) in [(1, 1), (2, 0)] {
            let c = Conv2d::new(2, 3, 3, stride, padding, true, &mut rng, Device::Cpu);
            let (w, b) = (
                c.weight.to_kind(Kind::Double).detach(),
                c.bias.as_ref().unwrap().to_kind(Kind::Double).detach(),
            );
            let with = |w: &Tensor, b: &Tensor| Conv2d {
                weight: w.shallow_clone(),
                bias: Some(b.shallow_clone()),
                stride,
                padding,
            };
            let loss = |y: Tensor| y.tanh().sum(Kind::Double);
            finite_difference_check(&x, |x| loss(with(&w, &b).forward(x)));
            finite_difference_check(&w, |w| loss(with(w, &b).forward(&x)));
            finite_difference_check(&b, |b| loss(with(&w, b).forward(&x)));
        }
    }

    #[test]
    fn forward_is_the_convolution_by_hand() {
        // One 2×2 input channel, a 2×2 kernel, no padding: one output = Σ w·x + b.
        let c = Conv2d {
            weight: Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([1, 1, 2, 2]),
            bias: Some(Tensor::from_slice(&[0.5f64])),
            stride: 1,
            padding: 0,
        };
        let x = Tensor::from_slice(&[1.0f64, -1.0, 0.5, 2.0]).view([1, 1, 2, 2]);
        let y = c.forward(&x).double_value(&[0, 0, 0, 0]);
        assert_eq!(y, 1.0 - 2.0 + 1.5 + 8.0 + 0.5);
        // With padding 1 the output is 3×3 and its centre-free corner reads one tap.
        let padded = Conv2d { padding: 1, ..c };
        let y = padded.forward(&x);
        assert_eq!(y.size(), vec![1, 1, 3, 3]);
        assert_eq!(y.double_value(&[0, 0, 0, 0]), 4.0 * 1.0 + 0.5);
    }
}
