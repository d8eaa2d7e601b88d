//! The model: a chain of stages, each `layer → (BatchNorm) → activation → (pool)`.
//!
//! An MLP is a chain of linear stages; the VGG-style CNN is a chain of 3×3 conv stages with
//! pooling followed by a linear head. The hidden dimension between stage `i` and stage `i+1`
//! is where growth happens (a growth site): stage `i` produces it, stage `i+1` consumes it.
//!
//! ```
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! let arch = Architecture::cnn([3, 32, 32], &[8, 16], 10, Activation::Relu, true);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
//! let x = tch::Tensor::zeros([2, 3, 32, 32], (tch::Kind::Float, tch::Device::Cpu));
//! assert_eq!(net.forward(&x, false).size(), vec![2, 10]);
//! assert_eq!(net.architecture(), arch);
//! ```
use rand::Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use super::{init, Activation, BatchNorm, Conv2d, Linear};
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
    /// between them, where the restricted neuron is exact (tiny.md §3.2).
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

    /// The CIFAR ResNet-18 (He et al.; GroMo's `init_full_resnet_structure`, tiny.md §3.4):
    /// a 3×3 stem to 64 channels (no max pooling), four stages of two basic blocks with
    /// output widths 64/128/256/512, the stride on the first conv of a stage's first block,
    /// global average pooling and a linear head. Each block is two stages (conv → BN → ReLU,
    /// then conv → + skip → ReLU); its hidden width starts at `fraction` of its output
    /// width (at least 1, or 0 when `fraction` is 0) and is what grows. The residual-stream
    /// widths are fixed. As in GroMo's growing blocks (tiny.md §3.4) no BatchNorm follows the
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

/// A parameter name after `by` stages were inserted at `from`: `stages.{i}.…` becomes
/// `stages.{i+by}.…` for `i ≥ from`; other names are unchanged.
pub fn shifted_stage_name(name: &str, from: usize, by: usize) -> String {
    let mut parts = name.splitn(3, '.');
    match (
        parts.next(),
        parts.next().and_then(|i| i.parse::<usize>().ok()),
        parts.next(),
    ) {
        (Some("stages"), Some(i), Some(rest)) if i >= from => format!("stages.{}.{rest}", i + by),
        _ => name.to_string(),
    }
}

/// A layer with its parameters.
#[derive(Debug)]
pub enum Layer {
    Linear(Linear),
    Conv2d(Conv2d),
}

impl Layer {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Layer::Linear(l) => l.forward(&x.flatten(1, -1)),
            Layer::Conv2d(c) => c.forward(x),
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
        match &self.projection {
            None => x.shallow_clone(),
            Some((conv, bn)) => bn.forward(&conv.forward(x), train),
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
            Pool::Max2 => a.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false),
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
        match (&self.skip, block_input) {
            (Some(path), Some(x)) => z + path.forward(x, train),
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

/// A chain of stages whose widths can grow.
#[derive(Debug)]
pub struct Network {
    pub stages: Vec<Stage>,
    input_shape: Vec<i64>,
    device: Device,
}

impl Network {
    /// Builds a freshly initialised network, parameters drawn from `rng`.
    pub fn new(arch: &Architecture, rng: &mut impl Rng, device: Device) -> Result<Self> {
        arch.validate()?;
        // Channels entering each stage's block (the previous stage's input).
        let block_inputs: Vec<i64> = (0..arch.stages.len())
            .map(|i| {
                i.checked_sub(1)
                    .map_or(0, |j| arch.stages[j].layer.inputs())
            })
            .collect();
        let stages = arch
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let layer = match s.layer {
                    LayerSpec::Linear {
                        inputs,
                        outputs,
                        bias,
                    } => Layer::Linear(Linear::new(inputs, outputs, bias, rng, device)),
                    LayerSpec::Conv2d {
                        inputs,
                        outputs,
                        kernel,
                        stride,
                        padding,
                        bias,
                    } => Layer::Conv2d(Conv2d::new(
                        inputs, outputs, kernel, stride, padding, bias, rng, device,
                    )),
                };
                let rational = (s.activation == Activation::Rational).then(|| {
                    init::param(super::rational::random_parameters(
                        s.layer.outputs(),
                        rng,
                        device,
                    ))
                });
                let skip = s.skip.map(|skip| SkipPath {
                    projection: match skip {
                        Skip::Identity => None,
                        Skip::Projection { stride } => Some((
                            Conv2d::new(
                                block_inputs[i],
                                s.layer.outputs(),
                                1,
                                stride,
                                0,
                                false,
                                rng,
                                device,
                            ),
                            BatchNorm::new(s.layer.outputs(), device),
                        )),
                    },
                });
                Stage {
                    norm: s
                        .batch_norm
                        .then(|| BatchNorm::new(s.layer.outputs(), device)),
                    layer,
                    activation: s.activation,
                    rational,
                    pool: s.pool,
                    skip,
                }
            })
            .collect();
        Ok(Network {
            stages,
            input_shape: arch.input_shape.clone(),
            device,
        })
    }

    /// The current shape of the network (reflects growth).
    pub fn architecture(&self) -> Architecture {
        Architecture {
            input_shape: self.input_shape.clone(),
            stages: self
                .stages
                .iter()
                .map(|s| StageSpec {
                    layer: s.layer.spec(),
                    batch_norm: s.norm.is_some(),
                    activation: s.activation,
                    pool: s.pool,
                    skip: s.skip.as_ref().map(|p| match &p.projection {
                        None => Skip::Identity,
                        Some((c, _)) => Skip::Projection { stride: c.stride },
                    }),
                })
                .collect(),
        }
    }

    /// Forward pass; `train` selects BatchNorm's batch statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_range(x, None, 0..self.stages.len(), train).0
    }

    /// Runs stages `range` on `x` (the input of the first of them), with `block_input` the
    /// input of the stage before (for a residual connection). Returns the output and the
    /// last stage's input.
    pub fn forward_range(
        &self,
        x: &Tensor,
        block_input: Option<Tensor>,
        range: std::ops::Range<usize>,
        train: bool,
    ) -> (Tensor, Option<Tensor>) {
        let mut h = x.shallow_clone();
        let mut prev = block_input;
        for s in &self.stages[range] {
            let out = s.forward_in_chain(&h, prev.as_ref(), train);
            prev = Some(h);
            h = out;
        }
        (h, prev)
    }

    pub fn device(&self) -> Device {
        self.device
    }

    pub fn input_shape(&self) -> &[i64] {
        &self.input_shape
    }

    /// Widths of the hidden dimensions (the growth sites).
    pub fn hidden_widths(&self) -> Vec<i64> {
        self.architecture().hidden_widths()
    }

    /// Trainable parameters with stable names (`stages.{i}.layer.weight`, …).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            for (n, t) in s.layer.named_parameters() {
                out.push((format!("stages.{i}.layer.{n}"), t));
            }
            if let Some(bn) = &s.norm {
                for (n, t) in bn.named_parameters() {
                    out.push((format!("stages.{i}.norm.{n}"), t));
                }
            }
            if let Some(theta) = &s.rational {
                out.push((format!("stages.{i}.act.theta"), theta.shallow_clone()));
            }
            if let Some((conv, bn)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                for (n, t) in conv.named_parameters() {
                    out.push((format!("stages.{i}.skip.conv.{n}"), t));
                }
                for (n, t) in bn.named_parameters() {
                    out.push((format!("stages.{i}.skip.norm.{n}"), t));
                }
            }
        }
        out
    }

    /// Inserts `stage` at position `index` (later stages shift by one). The caller keeps the
    /// chain consistent (see `growth::senn` for the function-preserving insertion).
    pub fn insert_stage(&mut self, index: usize, stage: Stage) {
        self.stages.insert(index.min(self.stages.len()), stage);
    }

    /// Converts every parameter and buffer to `kind` (e.g. `Kind::Double` for exact checks).
    pub fn to_kind(&mut self, kind: tch::Kind) {
        let param = |t: &Tensor| t.detach().to_kind(kind).set_requires_grad(true);
        for s in &mut self.stages {
            match &mut s.layer {
                Layer::Linear(l) => {
                    l.weight = param(&l.weight);
                    l.bias = l.bias.as_ref().map(param);
                }
                Layer::Conv2d(c) => {
                    c.weight = param(&c.weight);
                    c.bias = c.bias.as_ref().map(param);
                }
            }
            if let Some(bn) = s.norm.as_mut() {
                bn.weight = param(&bn.weight);
                bn.bias = param(&bn.bias);
                bn.running_mean = bn.running_mean.to_kind(kind);
                bn.running_var = bn.running_var.to_kind(kind);
            }
            s.rational = s.rational.as_ref().map(param);
        }
    }

    /// Non-trainable state (BatchNorm running statistics).
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            if let Some(bn) = &s.norm {
                for (n, t) in bn.named_buffers() {
                    out.push((format!("stages.{i}.norm.{n}"), t));
                }
            }
            if let Some((_, bn)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                for (n, t) in bn.named_buffers() {
                    out.push((format!("stages.{i}.skip.norm.{n}"), t));
                }
            }
        }
        out
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.named_parameters()
            .iter()
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }

    /// Multiply-accumulates of one forward pass for one sample.
    pub fn flops_per_sample(&self) -> i64 {
        let mut shape = self.input_shape.clone();
        let mut macs = 0;
        for s in &self.stages {
            if let Some((c, _)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                // The 1×1 projection runs at the block's output resolution.
                let (h, w) = (shape[1], shape[2]);
                macs += c.out_channels() * c.in_channels() * h * w;
            }
            match &s.layer {
                Layer::Linear(l) => {
                    macs += l.in_features() * l.out_features();
                    shape = vec![l.out_features()];
                }
                Layer::Conv2d(c) => {
                    let (h, w) = (shape[1], shape[2]);
                    let k = c.kernel_size();
                    let oh = (h + 2 * c.padding - k) / c.stride + 1;
                    let ow = (w + 2 * c.padding - k) / c.stride + 1;
                    macs += c.out_channels() * c.in_channels() * k * k * oh * ow;
                    shape = vec![c.out_channels(), oh, ow];
                }
            }
            shape = match s.pool {
                Pool::None => shape,
                Pool::Max2 => vec![shape[0], shape[1] / 2, shape[2] / 2],
                Pool::GlobalAvg => vec![shape[0]],
            };
        }
        2 * macs
    }

    /// Copies every parameter and buffer from `tensors` (matched by name and shape).
    pub fn load_tensors(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        let mut targets = self.named_parameters();
        targets.extend(self.named_buffers());
        for (name, mut dst) in targets {
            let src = tensors
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| Error::Shape {
                    context: "loading weights".into(),
                    detail: format!("tensor {name} is missing"),
                })?;
            if src.size() != dst.size() {
                return Err(Error::Shape {
                    context: "loading weights".into(),
                    detail: format!(
                        "{name} has shape {:?}, the model expects {:?}",
                        src.size(),
                        dst.size()
                    ),
                });
            }
            tch::no_grad(|| dst.copy_(src));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tch::Kind;

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn mlp_shapes_and_counts() {
        let arch = Architecture::mlp(784, &[256, 256], 10, Activation::Relu);
        let net = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        assert_eq!(
            net.parameter_count(),
            784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
        );
        assert_eq!(net.architecture(), arch);
        assert_eq!(net.hidden_widths(), vec![256, 256]);
    }

    #[test]
    fn resnet18_has_the_standard_shape() {
        // The CIFAR ResNet-18 has 11 173 962 parameters; ours has no BatchNorm after each
        // block's second conv (2 × 1920 fewer).
        let arch = Architecture::resnet18([3, 32, 32], 10, 1.0);
        let net = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        assert_eq!(net.parameter_count(), 11_173_962 - 2 * 1920);
        let x = Tensor::zeros([2, 3, 32, 32], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward(&x, false).size(), vec![2, 10]);
        // From 1/64: block widths 1, 1, 2, 2, 4, 4, 8, 8; the stream stays at full width.
        let small = Architecture::resnet18([3, 32, 32], 10, 1.0 / 64.0);
        let w = small.hidden_widths();
        let blocks: Vec<i64> = (0..8).map(|b| w[1 + 2 * b]).collect();
        assert_eq!(blocks, vec![1, 1, 2, 2, 4, 4, 8, 8]);
        assert_eq!(w[0], 64);
        assert_eq!(w[16], 512);
    }

    #[test]
    fn same_seed_same_network() {
        let arch = Architecture::mlp(4, &[3], 2, Activation::Tanh);
        let a = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        let b = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        for ((_, x), (_, y)) in a.named_parameters().iter().zip(b.named_parameters()) {
            assert!(x.equal(&y));
        }
    }

    #[test]
    fn zero_width_hidden_layer_runs() {
        let arch = Architecture::mlp(4, &[0, 2], 3, Activation::Relu);
        let net = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        let y = net.forward(&Tensor::ones([2, 4], (Kind::Float, Device::Cpu)), true);
        assert_eq!(y.size(), vec![2, 3]);
    }

    #[test]
    fn invalid_architectures_are_rejected() {
        let mut arch = Architecture::mlp(4, &[3], 2, Activation::Relu);
        arch.stages[1].layer = LayerSpec::Linear {
            inputs: 5,
            outputs: 2,
            bias: true,
        };
        assert!(matches!(arch.validate(), Err(Error::Shape { .. })));
        let empty = Architecture {
            input_shape: vec![3],
            stages: vec![],
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn load_tensors_checks_shapes() {
        let arch = Architecture::mlp(4, &[3], 2, Activation::Relu);
        let mut net = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        let other = Network::new(
            &Architecture::mlp(4, &[5], 2, Activation::Relu),
            &mut rng(),
            Device::Cpu,
        )
        .unwrap();
        let mut all = other.named_parameters();
        all.extend(other.named_buffers());
        assert!(net.load_tensors(&all).is_err());
    }
}
