//! Architecture specs: the shape of a network as stored in configs and checkpoints, and the
//! builders of the model families (MLP, VGG-style CNN, CIFAR ResNet-18).
//!
//! ```
//! use grownet::nn::{Activation, Architecture};
//! let arch = Architecture::mlp(784, &[256, 256], 10, Activation::Relu);
//! assert_eq!(arch.hidden_widths(), vec![256, 256]);
//! arch.validate().unwrap();
//! let resnet = Architecture::resnet18([3, 32, 32], 10, 1.0 / 64.0);
//! assert_eq!(resnet.hidden_widths()[1], 1); // the first block's hidden width
//! ```
use serde::{Deserialize, Serialize};

use super::Activation;
use crate::error::{Error, Result};

/// The shape of one layer, as stored in configs and checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerSpec {
    Linear {
        inputs: i64,
        outputs: i64,
        bias: bool,
    },
    Conv2d {
        inputs: i64,
        outputs: i64,
        kernel: i64,
        stride: i64,
        padding: i64,
        bias: bool,
    },
}

impl LayerSpec {
    pub fn inputs(&self) -> i64 {
        match self {
            LayerSpec::Linear { inputs, .. } | LayerSpec::Conv2d { inputs, .. } => *inputs,
        }
    }
    pub fn outputs(&self) -> i64 {
        match self {
            LayerSpec::Linear { outputs, .. } | LayerSpec::Conv2d { outputs, .. } => *outputs,
        }
    }
    /// One output's fan-in: its inputs times the kernel's taps, and 1 for a bias.
    pub fn fan_in(&self) -> i64 {
        match self {
            LayerSpec::Linear { inputs, bias, .. } => inputs + i64::from(*bias),
            LayerSpec::Conv2d {
                inputs,
                kernel,
                bias,
                ..
            } => inputs * kernel * kernel + i64::from(*bias),
        }
    }
}

/// Pooling after a stage's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    #[default]
    None,
    /// 2×2 max pooling, stride 2.
    Max2,
    /// Global average pooling to `[batch, channels]`.
    GlobalAvg,
}

/// A residual connection into a stage: the *previous* stage's input, added to this stage's
/// normalised pre-activation before the activation. The two stages form a residual block
/// (conv → BN → ReLU → conv → BN → + skip → ReLU) whose hidden width is a growth site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Skip {
    /// The block's input as is (same channels, no stride).
    Identity,
    /// A 1×1 convolution with `stride` (no bias) and BatchNorm, to the block's output width.
    Projection { stride: i64 },
}

/// One stage of the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageSpec {
    pub layer: LayerSpec,
    #[serde(default)]
    pub batch_norm: bool,
    pub activation: Activation,
    #[serde(default)]
    pub pool: Pool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<Skip>,
}

impl StageSpec {
    /// A linear output layer: no normalisation, identity activation, no pooling.
    pub fn linear_head(inputs: i64, outputs: i64) -> Self {
        StageSpec {
            layer: LayerSpec::Linear {
                inputs,
                outputs,
                bias: true,
            },
            batch_norm: false,
            activation: Activation::Identity,
            pool: Pool::None,
            skip: None,
        }
    }
}

/// A 3×3 convolution with "same" padding.
fn conv3x3(inputs: i64, outputs: i64, stride: i64, bias: bool) -> LayerSpec {
    LayerSpec::Conv2d {
        inputs,
        outputs,
        kernel: 3,
        stride,
        padding: 1,
        bias,
    }
}

/// A complete description of a network's shape: enough to rebuild it (checkpoints store it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Shape of one input sample, e.g. `[784]` or `[3, 32, 32]`.
    pub input_shape: Vec<i64>,
    pub stages: Vec<StageSpec>,
}

impl Architecture {
    /// An MLP `inputs → hidden… → outputs` with `activation` after every hidden layer.
    pub fn mlp(inputs: i64, hidden: &[i64], outputs: i64, activation: Activation) -> Self {
        let mut dims = vec![inputs];
        dims.extend_from_slice(hidden);
        dims.push(outputs);
        let last = dims.len() - 2;
        let stages = dims
            .windows(2)
            .enumerate()
            .map(|(i, w)| StageSpec {
                layer: LayerSpec::Linear {
                    inputs: w[0],
                    outputs: w[1],
                    bias: true,
                },
                batch_norm: false,
                activation: if i == last {
                    Activation::Identity
                } else {
                    activation
                },
                pool: Pool::None,
                skip: None,
            })
            .collect();
        Architecture {
            input_shape: vec![inputs],
            stages,
        }
    }

    /// A VGG-style CNN: one 3×3 conv stage per entry of `channels` (BatchNorm optional), 2×2
    /// max pooling after each but the last, global average pooling, then a linear head.
    pub fn cnn(
        input_shape: [i64; 3],
        channels: &[i64],
        outputs: i64,
        activation: Activation,
        batch_norm: bool,
    ) -> Self {
        Self::vgg(input_shape, channels, 1, outputs, activation, batch_norm)
    }

    /// A VGG-style CNN with blocks of `convs_per_pool` 3×3 conv stages (stride 1, same
    /// padding) and 2×2 max pooling after each block but the last, which ends with global
    /// average pooling and a linear head. Inside a block, conv → conv sites have no pooling
    /// between them, where the restricted neuron is exact (docs/tiny.md §3.2).
    pub fn vgg(
        input_shape: [i64; 3],
        channels: &[i64],
        convs_per_pool: usize,
        outputs: i64,
        activation: Activation,
        batch_norm: bool,
    ) -> Self {
        let per = convs_per_pool.max(1);
        let mut stages = Vec::new();
        let mut c_in = input_shape[0];
        for (i, &c) in channels.iter().enumerate() {
            stages.push(StageSpec {
                layer: conv3x3(c_in, c, 1, !batch_norm),
                batch_norm,
                activation,
                pool: if i + 1 == channels.len() {
                    Pool::GlobalAvg
                } else if (i + 1) % per == 0 {
                    Pool::Max2
                } else {
                    Pool::None
                },
                skip: None,
            });
            c_in = c;
        }
        stages.push(StageSpec::linear_head(c_in, outputs));
        Architecture {
            input_shape: input_shape.to_vec(),
            stages,
        }
    }

    /// The CIFAR ResNet-18 (He et al.; GroMo's `init_full_resnet_structure`, docs/tiny.md §3.4):
    /// a 3×3 stem to 64 channels (no max pooling), four stages of two basic blocks with
    /// output widths 64/128/256/512, the stride on the first conv of a stage's first block,
    /// global average pooling and a linear head. Each block is two stages (conv → BN → ReLU,
    /// then conv → + skip → ReLU); its hidden width starts at `fraction` of its output
    /// width (at least 1, or 0 when `fraction` is 0) and is what grows. The residual-stream
    /// widths are fixed. As in GroMo's growing blocks (docs/tiny.md §3.4) no BatchNorm follows the
    /// second conv: a block of hidden width 0 is then exactly the identity (its input is a
    /// ReLU output), and new channels reach the block's output at their own small amplitude
    /// instead of being re-normalised to unit variance (§3.3's pitfall).
    pub fn resnet18(input_shape: [i64; 3], outputs: i64, fraction: f64) -> Self {
        let mut stages = vec![StageSpec {
            layer: conv3x3(input_shape[0], 64, 1, false),
            batch_norm: true,
            activation: Activation::Relu,
            pool: Pool::None,
            skip: None,
        }];
        let mut c_in = 64;
        for (i, &c_out) in [64i64, 128, 256, 512].iter().enumerate() {
            for b in 0..2 {
                let stride = if i > 0 && b == 0 { 2 } else { 1 };
                stages.extend(Self::basic_block(c_in, c_out, stride, fraction));
                c_in = c_out;
            }
        }
        if let Some(last) = stages.last_mut() {
            last.pool = Pool::GlobalAvg;
        }
        stages.push(StageSpec::linear_head(c_in, outputs));
        Architecture {
            input_shape: input_shape.to_vec(),
            stages,
        }
    }

    /// The two stages of a basic residual block `c_in → c_out` with its first conv at
    /// `stride` and a hidden width of `fraction · c_out` (at least 1 unless `fraction` is 0):
    /// conv → BN → ReLU, then conv → + skip (identity, or 1×1 conv + BN) → ReLU.
    pub fn basic_block(c_in: i64, c_out: i64, stride: i64, fraction: f64) -> [StageSpec; 2] {
        let hidden = if fraction <= 0.0 {
            0
        } else {
            ((c_out as f64 * fraction).round() as i64).max(1)
        };
        let skip = if stride == 1 && c_in == c_out {
            Skip::Identity
        } else {
            Skip::Projection { stride }
        };
        [
            StageSpec {
                layer: conv3x3(c_in, hidden, stride, false),
                batch_norm: true,
                activation: Activation::Relu,
                pool: Pool::None,
                skip: None,
            },
            StageSpec {
                layer: conv3x3(hidden, c_out, 1, false),
                batch_norm: false,
                activation: Activation::Relu,
                pool: Pool::None,
                skip: Some(skip),
            },
        ]
    }

    /// The widths of the hidden dimensions (outputs of every stage but the last).
    pub fn hidden_widths(&self) -> Vec<i64> {
        let n = self.stages.len().saturating_sub(1);
        self.stages[..n].iter().map(|s| s.layer.outputs()).collect()
    }

    /// The weights and biases of the layers (a lower bound of the parameters: no
    /// normalisation or projection), or `None` when the count overflows.
    pub fn layer_weights(&self) -> Option<i64> {
        layer_weights(self)
    }

    /// Whether the network can be built: sizes that are not negative (kernels and strides
    /// ≥ 1, input dimensions ≥ 1, image inputs for conv layers) and at most [`MAX_WEIGHTS`]
    /// weights. Refuses what would otherwise end the process (an index out of range, an
    /// allocation of terabytes).
    pub fn check_buildable(&self) -> Result<()> {
        check_buildable(self)
    }

    /// Checks that consecutive stages fit together.
    pub fn validate(&self) -> Result<()> {
        if self.stages.is_empty() {
            return Err(Error::Config("a network needs at least one layer".into()));
        }
        let first_in = match self.stages[0].layer {
            LayerSpec::Linear { .. } => self.input_shape.iter().product(),
            LayerSpec::Conv2d { .. } => self.input_shape[0],
        };
        if self.stages[0].layer.inputs() != first_in {
            return Err(Error::Shape {
                context: "stage 0".into(),
                detail: format!(
                    "expects {} inputs but samples have shape {:?}",
                    self.stages[0].layer.inputs(),
                    self.input_shape
                ),
            });
        }
        for (i, s) in self.stages.iter().enumerate() {
            if s.activation == Activation::Rational && !matches!(s.layer, LayerSpec::Linear { .. })
            {
                return Err(Error::Config(format!(
                    "stage {i}: the rational activation is only available after linear layers"
                )));
            }
        }
        for (i, st) in self.stages.iter().enumerate() {
            let Some(skip) = st.skip else { continue };
            let ok = i >= 1
                && matches!(st.layer, LayerSpec::Conv2d { .. })
                && matches!(self.stages[i - 1].layer, LayerSpec::Conv2d { .. })
                && self.stages[i - 1].pool == Pool::None
                && (skip != Skip::Identity
                    || (self.stages[i - 1].layer.inputs() == st.layer.outputs()
                        && matches!(
                            self.stages[i - 1].layer,
                            LayerSpec::Conv2d { stride: 1, .. }
                        )));
            if !ok {
                return Err(Error::Config(format!(
                    "stage {i}: a residual connection needs a conv stage after an unpooled conv \
                     stage (an identity skip also needs the same widths and stride 1)"
                )));
            }
        }
        for (i, pair) in self.stages.windows(2).enumerate() {
            let (a, b) = (&pair[0], &pair[1]);
            let spatial_flatten = matches!(a.layer, LayerSpec::Conv2d { .. })
                && matches!(b.layer, LayerSpec::Linear { .. })
                && a.pool != Pool::GlobalAvg;
            if spatial_flatten {
                return Err(Error::Config(format!(
                    "stage {i} is a conv feeding a linear layer: it needs global average pooling"
                )));
            }
            if a.layer.outputs() != b.layer.inputs() {
                return Err(Error::Shape {
                    context: format!("stages {i}→{}", i + 1),
                    detail: format!(
                        "stage {i} has {} outputs but stage {} has {} inputs",
                        a.layer.outputs(),
                        i + 1,
                        b.layer.inputs()
                    ),
                });
            }
            if matches!(a.layer, LayerSpec::Linear { .. })
                && matches!(b.layer, LayerSpec::Conv2d { .. })
            {
                return Err(Error::Config(format!(
                    "stage {i} is linear but stage {} is a convolution",
                    i + 1
                )));
            }
        }
        Ok(())
    }
}

/// The most weights (and biases) grownet builds a network with: 2·10⁹ (8 GB of f32), beyond
/// what a run of this crate can train, and a guard against allocations that would abort the
/// process.
pub const MAX_WEIGHTS: i64 = 2_000_000_000;

/// The weights and biases of the layers of `arch` (a lower bound of its parameters: no
/// normalisation or projection), or `None` when the count overflows.
fn layer_weights(arch: &Architecture) -> Option<i64> {
    arch.stages.iter().try_fold(0i64, |sum, s| {
        let (i, o, k, bias) = match s.layer {
            LayerSpec::Linear {
                inputs,
                outputs,
                bias,
            } => (inputs, outputs, 1, bias),
            LayerSpec::Conv2d {
                inputs,
                outputs,
                kernel,
                bias,
                ..
            } => (inputs, outputs, kernel, bias),
        };
        let w = i.checked_mul(o)?.checked_mul(k)?.checked_mul(k)?;
        sum.checked_add(w)?.checked_add(if bias { o } else { 0 })
    })
}

/// Whether `arch` can be built: sizes that are not negative (kernels and strides ≥ 1, input
/// dimensions ≥ 1, image inputs for conv layers) and at most [`MAX_WEIGHTS`] weights. Refuses
/// what would otherwise end the process (an index out of range, an allocation of terabytes).
fn check_buildable(arch: &Architecture) -> Result<()> {
    let bad = |detail: String| Error::Config(format!("cannot build the network: {detail}"));
    if arch.input_shape.is_empty() || arch.input_shape.iter().any(|&d| d < 1) {
        return Err(bad(format!("input shape {:?}", arch.input_shape)));
    }
    for (i, s) in arch.stages.iter().enumerate() {
        let ok = match s.layer {
            LayerSpec::Linear {
                inputs, outputs, ..
            } => inputs >= 0 && outputs >= 0,
            LayerSpec::Conv2d {
                inputs,
                outputs,
                kernel,
                stride,
                padding,
                ..
            } => {
                inputs >= 0
                    && outputs >= 0
                    && kernel >= 1
                    && stride >= 1
                    && padding >= 0
                    && arch.input_shape.len() == 3
            }
        };
        let skip_ok = match s.skip {
            Some(Skip::Projection { stride }) => stride >= 1,
            _ => true,
        };
        if !ok || !skip_ok {
            return Err(bad(format!(
                "stage {i} has impossible sizes ({:?})",
                s.layer
            )));
        }
    }
    match layer_weights(arch) {
        Some(n) if n <= MAX_WEIGHTS => Ok(()),
        n => Err(bad(format!(
            "{} weights, over the {MAX_WEIGHTS} grownet builds (check the widths)",
            n.map_or_else(|| "more than 2^63".to_string(), |n| n.to_string())
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_in_counts_taps_and_bias() {
        let linear = |bias| LayerSpec::Linear {
            inputs: 784,
            outputs: 3,
            bias,
        };
        assert_eq!(linear(true).fan_in(), 785);
        assert_eq!(linear(false).fan_in(), 784);
        let conv = LayerSpec::Conv2d {
            inputs: 16,
            outputs: 8,
            kernel: 3,
            stride: 1,
            padding: 1,
            bias: false,
        };
        assert_eq!(conv.fan_in(), 144);
    }
}
