//! One stage of the chain at run time: its layer, optional BatchNorm, residual path,
//! activation and pooling.
use tch::Tensor;

use super::{Activation, BatchNorm, Conv2d, LayerSpec, Linear, Pool};
use crate::distributed::SharedGroup;

/// A layer with its parameters.
#[derive(Debug)]
pub enum Layer {
    Linear(Linear),
    Conv2d(Conv2d),
}

impl Layer {
    /// What the layer reads from the previous stage's output `h`: the flattened features for
    /// a linear layer, the map itself for a conv.
    pub fn input(&self, h: &Tensor) -> Tensor {
        match self {
            Layer::Linear(_) => h.flatten(1, -1),
            Layer::Conv2d(_) => h.shallow_clone(),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Layer::Linear(l) => l.forward(&x.flatten(1, -1)),
            Layer::Conv2d(c) => c.forward(x),
        }
    }

    /// `x` through the layer's operation (same stride and padding) with other weights `w`
    /// and bias `b` (`x` as [`Layer::input`] gives it).
    pub fn forward_with(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
        match self {
            Layer::Linear(_) => x.linear(w, b),
            Layer::Conv2d(c) => c.forward_with(x, w, b),
        }
    }

    pub fn named_parameters(&self) -> Vec<(&'static str, Tensor)> {
        match self {
            Layer::Linear(l) => l.named_parameters(),
            Layer::Conv2d(c) => c.named_parameters(),
        }
    }

    pub fn spec(&self) -> LayerSpec {
        match self {
            Layer::Linear(l) => LayerSpec::Linear {
                inputs: l.in_features(),
                outputs: l.out_features(),
                bias: l.bias.is_some(),
            },
            Layer::Conv2d(c) => LayerSpec::Conv2d {
                inputs: c.in_channels(),
                outputs: c.out_channels(),
                kernel: c.kernel_size(),
                stride: c.stride,
                padding: c.padding,
                bias: c.bias.is_some(),
            },
        }
    }

    /// The weight tensor (`[out, in]` or `[out, in, k, k]`).
    pub fn weight(&self) -> &Tensor {
        match self {
            Layer::Linear(l) => &l.weight,
            Layer::Conv2d(c) => &c.weight,
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        match self {
            Layer::Linear(l) => l.bias.as_ref(),
            Layer::Conv2d(c) => c.bias.as_ref(),
        }
    }

    /// The weight as a detached f64 matrix `[out, in]`, with the bias as a last column when
    /// the layer has one: the map on augmented inputs `[x, 1]` (growth's convention).
    pub fn augmented_weight(&self) -> Tensor {
        let w = self
            .weight()
            .detach()
            .flatten(1, -1)
            .to_kind(tch::Kind::Double);
        match self.bias() {
            Some(b) => Tensor::cat(&[w, b.detach().to_kind(tch::Kind::Double).unsqueeze(1)], 1),
            None => w,
        }
    }
}

/// The residual path into a stage ([`Skip`]): the identity, or a strided 1×1 conv with
/// BatchNorm.
#[derive(Debug)]
pub struct SkipPath {
    pub projection: Option<(Conv2d, BatchNorm)>,
}

impl SkipPath {
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_in(x, train, None)
    }

    /// [`SkipPath::forward`] with the projection's BatchNorm synchronised over `group`
    /// ([`BatchNorm::forward_in`]).
    pub fn forward_in(&self, x: &Tensor, train: bool, group: Option<&SharedGroup>) -> Tensor {
        match &self.projection {
            None => x.shallow_clone(),
            Some((conv, bn)) => bn.forward_in(&conv.forward(x), train, group),
        }
    }
}

/// One stage: layer, optional BatchNorm, optional residual connection, activation, optional
/// pooling.
#[derive(Debug)]
pub struct Stage {
    pub layer: Layer,
    pub norm: Option<BatchNorm>,
    pub activation: Activation,
    /// Per-unit parameters `[units, 3]` of a [`Activation::Rational`] stage.
    pub rational: Option<Tensor>,
    pub pool: Pool,
    /// Residual connection from the previous stage's input.
    pub skip: Option<SkipPath>,
}

impl Stage {
    /// The stage's pre-activation: layer output, normalised when the stage has BatchNorm.
    pub fn pre_activation(&self, x: &Tensor, train: bool) -> Tensor {
        let z = self.layer.forward(x);
        match &self.norm {
            Some(bn) => bn.forward(&z, train),
            None => z,
        }
    }

    /// Activation and pooling applied to a pre-activation.
    pub fn post(&self, z: &Tensor) -> Tensor {
        let a = match &self.rational {
            Some(theta) => super::rational::forward(z, theta),
            None => self.activation.forward(z),
        };
        self.apply_pool(&a)
    }

    /// The stage's pooling.
    pub fn apply_pool(&self, a: &Tensor) -> Tensor {
        match self.pool {
            Pool::None => a.shallow_clone(),
            Pool::Max2 if a.requires_grad() => a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
            Pool::Max2 => super::pool::max_pool2x2(a),
            Pool::GlobalAvg => a.adaptive_avg_pool2d([1, 1]).flatten(1, -1),
        }
    }

    /// The stage on its own (a stage with a residual connection needs [`Stage::forward_in_chain`]).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.post(&self.pre_activation(x, train))
    }

    /// Adds the residual path (from `block_input`, the previous stage's input) to a
    /// normalised pre-activation; the identity for a stage without one.
    pub fn add_skip(&self, z: Tensor, block_input: Option<&Tensor>, train: bool) -> Tensor {
        self.add_skip_in(z, block_input, train, None)
    }

    /// [`Stage::add_skip`] with the projection's BatchNorm synchronised over `group`.
    pub fn add_skip_in(
        &self,
        z: Tensor,
        block_input: Option<&Tensor>,
        train: bool,
        group: Option<&SharedGroup>,
    ) -> Tensor {
        match (&self.skip, block_input) {
            (Some(path), Some(x)) => z + path.forward_in(x, train, group),
            _ => z,
        }
    }

    /// The stage inside the chain: `block_input` is the previous stage's input.
    pub fn forward_in_chain(
        &self,
        x: &Tensor,
        block_input: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        self.post(&self.add_skip(self.pre_activation(x, train), block_input, train))
    }
}
