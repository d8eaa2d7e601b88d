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
mod path;
pub mod pool;
pub mod rational;
mod recalibrate;
mod shrink;
mod spec;
mod stage;
#[cfg(test)]
pub(crate) mod testing;

pub use activation::Activation;
pub use batchnorm::BatchNorm;
pub use conv::{Conv2d, ConvGeometry};
pub use linear::Linear;
pub use loss::Loss;
pub use network::{Hooks, Network, NoHooks};
pub use path::{shifted_key, ParamPath, Part};
pub use recalibrate::{has_batch_norm, recalibrate_norms};
pub use shrink::shrink_perturb;
pub use spec::{Architecture, LayerSpec, Pool, Skip, StageSpec, MAX_WEIGHTS};
pub use stage::{Layer, SkipPath, Stage};

use tch::Tensor;

/// Appends `k = rows.size()[0]` output units to a layer's weight (dim 0) and, when it has a
/// bias, their biases (zeros when `bias` is `None`).
pub(crate) fn grow_output_units(
    weight: &mut Tensor,
    layer_bias: &mut Option<Tensor>,
    rows: &Tensor,
    bias: Option<&Tensor>,
) {
    *weight = append(weight, rows, 0);
    if let Some(b) = layer_bias.as_mut() {
        let zeros = Tensor::zeros([rows.size()[0]], (b.kind(), b.device()));
        *b = append(b, bias.unwrap_or(&zeros), 0);
    }
}

/// `weight` and, when present, `bias`, as named parameters (shallow clones).
pub(crate) fn weight_and_bias(
    weight: &Tensor,
    bias: &Option<Tensor>,
) -> Vec<(&'static str, Tensor)> {
    let mut out = vec![("weight", weight.shallow_clone())];
    if let Some(b) = bias {
        out.push(("bias", b.shallow_clone()));
    }
    out
}

/// Concatenates `extra` to the parameter `param` along `dim`, returning a new trainable leaf.
pub(crate) fn append(param: &Tensor, extra: &Tensor, dim: i64) -> Tensor {
    tch::no_grad(|| Tensor::cat(&[param.detach(), extra.to_kind(param.kind())], dim))
        .set_requires_grad(param.requires_grad())
}
