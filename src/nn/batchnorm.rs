//! Batch normalisation over channels (`[batch, channels, …]`), growable: new channels start as
//! the identity map (γ = 1, β = 0, running mean 0, running variance 1; docs/tiny.md §8).
//!
//! ```
//! use grownet::nn::BatchNorm;
//! let mut bn = BatchNorm::new(4, tch::Device::Cpu);
//! let x = tch::Tensor::randn([8, 4, 3, 3], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(bn.forward(&x, true).size(), x.size());
//! bn.grow(2);
//! assert_eq!(bn.num_features(), 6);
//! ```
use tch::{Device, Kind, Tensor};

/// Batch normalisation with learnable affine parameters and running statistics.
#[derive(Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub momentum: f64,
    pub eps: f64,
}

impl BatchNorm {
    pub fn new(channels: i64, device: Device) -> Self {
        let opts = (Kind::Float, device);
        BatchNorm {
            weight: Tensor::ones([channels], opts).set_requires_grad(true),
            bias: Tensor::zeros([channels], opts).set_requires_grad(true),
            running_mean: Tensor::zeros([channels], opts),
            running_var: Tensor::ones([channels], opts),
            momentum: 0.1,
            eps: 1e-5,
        }
    }

    /// Normalises with batch statistics (updating the running ones) when `train`, else with
    /// the running statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        if self.num_features() == 0 {
            return x.shallow_clone(); // nothing to normalise (libtorch refuses 0 channels)
        }
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            self.momentum,
            self.eps,
            false,
        )
    }

    pub fn num_features(&self) -> i64 {
        self.weight.size()[0]
    }

    /// Replaces one tensor by name (`weight`, `bias`: trainable; `running_mean`,
    /// `running_var`: buffers). Returns false for an unknown name.
    pub fn set_tensor(&mut self, name: &str, t: Tensor) -> bool {
        match name {
            "weight" => self.weight = t.set_requires_grad(true),
            "bias" => self.bias = t.set_requires_grad(true),
            "running_mean" => self.running_mean = t,
            "running_var" => self.running_var = t,
            _ => return false,
        }
        true
    }

    /// Appends `k` identity channels.
    pub fn grow(&mut self, k: i64) {
        let opts = (self.weight.kind(), self.weight.device());
        self.weight = super::append(&self.weight, &Tensor::ones([k], opts), 0);
        self.bias = super::append(&self.bias, &Tensor::zeros([k], opts), 0);
        self.running_mean = Tensor::cat(&[&self.running_mean, &Tensor::zeros([k], opts)], 0);
        self.running_var = Tensor::cat(&[&self.running_var, &Tensor::ones([k], opts)], 0);
    }

    pub fn named_parameters(&self) -> Vec<(&'static str, Tensor)> {
        vec![
            ("weight", self.weight.shallow_clone()),
            ("bias", self.bias.shallow_clone()),
        ]
    }

    /// Running statistics (saved in checkpoints, not trained).
    pub fn named_buffers(&self) -> Vec<(&'static str, Tensor)> {
        vec![
            ("running_mean", self.running_mean.shallow_clone()),
            ("running_var", self.running_var.shallow_clone()),
        ]
    }
}
