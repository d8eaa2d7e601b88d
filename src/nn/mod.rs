//! Growable layers and the models built from them.
//!
//! Every layer owns its parameters as plain `tch::Tensor`s, so a layer's width can change
//! between two training steps: growth appends rows (new outputs) or columns (new inputs).
//!
//! ```
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(2, &[1, 1], 3, Activation::Relu);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
//! let y = net.forward(&tch::Tensor::zeros([5, 2], (tch::Kind::Float, tch::Device::Cpu)), false);
//! assert_eq!(y.size(), vec![5, 3]);
//! assert_eq!(net.hidden_widths(), vec![1, 1]);
//! ```
mod activation;
mod batchnorm;
mod conv;
pub mod init;
mod linear;
mod loss;
mod network;
#[cfg(test)]
pub(crate) mod testing;

pub use activation::Activation;
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use linear::Linear;
pub use loss::Loss;
pub use network::{Architecture, Layer, LayerSpec, Network, Pool, Stage, StageSpec};

use tch::Tensor;

/// Concatenates `extra` to the parameter `param` along `dim`, returning a new trainable leaf.
pub(crate) fn append(param: &Tensor, extra: &Tensor, dim: i64) -> Tensor {
    tch::no_grad(|| Tensor::cat(&[param.detach(), extra.to_kind(param.kind())], dim))
        .set_requires_grad(param.requires_grad())
}
