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
use tch::{Device, Tensor};

use super::{
    init, Activation, Architecture, BatchNorm, Conv2d, Layer, LayerSpec, Linear, ParamPath, Part,
    Pool, Skip, SkipPath, Stage, StageSpec,
};
use crate::distributed::SharedGroup;
use crate::error::{Error, Result};

/// A chain of stages whose widths can grow.
#[derive(Debug)]
pub struct Network {
    pub stages: Vec<Stage>,
    input_shape: Vec<i64>,
    device: Device,
    /// The ranks over which training-mode BatchNorm statistics are taken (none: this
    /// process's batch). Set by a data-parallel run, never saved.
    sync: Option<SharedGroup>,
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
            sync: None,
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

    /// Synchronises BatchNorm over the ranks of `group` (`None`: each process on its own
    /// batch): every training-mode pass through [`Network::run`] then normalises with the
    /// statistics of all ranks' batches together ([`BatchNorm::forward_in`]). Not saved with
    /// the network; kept through growth (stages inserted later are covered too).
    pub fn sync_batch_norm(&mut self, group: Option<SharedGroup>) {
        self.sync = group;
    }

    /// The group BatchNorm is synchronised over ([`Network::sync_batch_norm`]).
    pub fn batch_norm_group(&self) -> Option<&SharedGroup> {
        self.sync.as_ref()
    }

    /// Forward pass; `train` selects BatchNorm's batch statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.run(x, None, 0..self.stages.len(), train, &mut NoHooks)
            .0
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
        self.run(x, block_input, range, train, &mut NoHooks)
    }

    /// The one traversal of the chain that every pass uses (training, evaluation, growth
    /// statistics, previews of new units, SENN's statistics, the automatic mode's judging):
    /// for each stage of `range`, `input → layer → BatchNorm → + residual → activation →
    /// pooling`, with `hooks` called at each point (see [`Hooks`]). Residual connections,
    /// BatchNorm, pooling and flattening are handled here and nowhere else. `block_input`
    /// is the input of the stage before `range` (for a residual connection into its first
    /// stage). Returns the output and the last stage's input.
    pub fn run(
        &self,
        x: &Tensor,
        block_input: Option<Tensor>,
        range: std::ops::Range<usize>,
        train: bool,
        hooks: &mut impl Hooks,
    ) -> (Tensor, Option<Tensor>) {
        let mut h = x.shallow_clone();
        let mut prev = block_input;
        for i in range {
            let stage = &self.stages[i];
            let input = stage.layer.input(&h);
            hooks.input(i, stage, &input);
            let mut z = hooks.layer_output(i, stage, &input);
            if let Some(bn) = &stage.norm {
                z = bn.forward_in(&z, train, self.sync.as_ref());
            }
            let z = hooks.normalised(i, z);
            h = stage.post(&stage.add_skip_in(z, prev.as_ref(), train, self.sync.as_ref()));
            prev = Some(input);
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

    /// Trainable parameters with stable names (`stages.{i}.layer.weight`, …; [`ParamPath`]).
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.parameter_paths()
            .into_iter()
            .map(|(p, t)| (p.to_string(), t))
            .collect()
    }

    /// Trainable parameters with their typed paths.
    pub fn parameter_paths(&self) -> Vec<(ParamPath, Tensor)> {
        let mut out = Vec::new();
        let mut push = |i: usize, part: Part, named: Vec<(&'static str, Tensor)>| {
            for (n, t) in named {
                out.push((ParamPath::new(i, part, n), t));
            }
        };
        for (i, s) in self.stages.iter().enumerate() {
            push(i, Part::Layer, s.layer.named_parameters());
            if let Some(bn) = &s.norm {
                push(i, Part::Norm, bn.named_parameters());
            }
            if let Some(theta) = &s.rational {
                push(i, Part::Act, vec![("theta", theta.shallow_clone())]);
            }
            if let Some((conv, bn)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                push(i, Part::SkipConv, conv.named_parameters());
                push(i, Part::SkipNorm, bn.named_parameters());
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
        let conv = |c: &mut Conv2d| {
            c.weight = param(&c.weight);
            c.bias = c.bias.as_ref().map(param);
        };
        let norm = |bn: &mut BatchNorm| {
            bn.weight = param(&bn.weight);
            bn.bias = param(&bn.bias);
            bn.running_mean = bn.running_mean.to_kind(kind);
            bn.running_var = bn.running_var.to_kind(kind);
        };
        for s in &mut self.stages {
            match &mut s.layer {
                Layer::Linear(l) => {
                    l.weight = param(&l.weight);
                    l.bias = l.bias.as_ref().map(param);
                }
                Layer::Conv2d(c) => conv(c),
            }
            if let Some(bn) = s.norm.as_mut() {
                norm(bn);
            }
            s.rational = s.rational.as_ref().map(param);
            if let Some((c, bn)) = s.skip.as_mut().and_then(|p| p.projection.as_mut()) {
                conv(c);
                norm(bn);
            }
        }
    }

    /// Non-trainable state (BatchNorm running statistics).
    pub fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.buffer_paths()
            .into_iter()
            .map(|(p, t)| (p.to_string(), t))
            .collect()
    }

    /// Non-trainable state with its typed paths.
    pub fn buffer_paths(&self) -> Vec<(ParamPath, Tensor)> {
        let mut out = Vec::new();
        for (i, s) in self.stages.iter().enumerate() {
            if let Some(bn) = &s.norm {
                for (n, t) in bn.named_buffers() {
                    out.push((ParamPath::new(i, Part::Norm, n), t));
                }
            }
            if let Some((_, bn)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                for (n, t) in bn.named_buffers() {
                    out.push((ParamPath::new(i, Part::SkipNorm, n), t));
                }
            }
        }
        out
    }

    /// Replaces the parameter or buffer at `path` (any shape; parameters become trainable
    /// leaves). Returns false when the network has no such tensor.
    pub fn set_tensor(&mut self, path: &ParamPath, t: Tensor) -> bool {
        let Some(stage) = self.stages.get_mut(path.stage) else {
            return false;
        };
        let param = |t: Tensor| t.set_requires_grad(true);
        let (weight, bias) = match &mut stage.layer {
            Layer::Linear(l) => (&mut l.weight, &mut l.bias),
            Layer::Conv2d(c) => (&mut c.weight, &mut c.bias),
        };
        match (path.part, path.tensor) {
            (Part::Layer, "weight") => *weight = param(t),
            (Part::Layer, "bias") => *bias = Some(param(t)),
            (Part::Act, "theta") => stage.rational = Some(param(t)),
            (Part::Norm, name) => match stage.norm.as_mut() {
                Some(bn) => return bn.set_tensor(name, t),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.named_parameters()
            .iter()
            .map(|(_, t)| t.numel() as i64)
            .sum()
    }

    /// Floating-point operations (twice the multiply-accumulates) of one forward pass for one
    /// sample.
    pub fn flops_per_sample(&self) -> i64 {
        self.flops_with_units(None)
    }

    /// What one more unit at growth site `site` adds to [`Self::flops_per_sample`]: its
    /// producer's new output and its consumer's (`site + 1`) new input, each at its own
    /// resolution (docs/tiny.md §10, "A cost in operations").
    pub fn flops_per_unit(&self, site: usize) -> i64 {
        self.flops_with_units(Some((site, 1))) - self.flops_with_units(None)
    }

    /// Activation values one more unit at growth site `site` adds to one sample's forward
    /// pass: its producer's output map before pooling (`oh·ow` for a conv, 1 for a linear
    /// layer), which BatchNorm, the activation and the pooling read and write (docs/tiny.md
    /// §10, "A cost in activations"). 0 for a site that is not a stage.
    pub fn activations_per_unit(&self, site: usize) -> i64 {
        self.macs_and_maps(None).1.get(site).copied().unwrap_or(0)
    }

    /// [`Self::flops_per_sample`] with `extra = (site, k)`: `k` more outputs at stage `site`
    /// and `k` more inputs at stage `site + 1`.
    fn flops_with_units(&self, extra: Option<(usize, i64)>) -> i64 {
        2 * self.macs_and_maps(extra).0
    }

    /// Multiply-accumulates of one sample's forward pass with `extra` units (as
    /// [`Self::flops_with_units`]) and each stage's output map size before pooling (values per
    /// channel).
    fn macs_and_maps(&self, extra: Option<(usize, i64)>) -> (i64, Vec<i64>) {
        let more = |i: usize, consumer: bool| match extra {
            Some((site, k)) if i == site + usize::from(consumer) => k,
            _ => 0,
        };
        let mut shape = self.input_shape.clone();
        let (mut macs, mut maps) = (0, Vec::with_capacity(self.stages.len()));
        for (i, s) in self.stages.iter().enumerate() {
            let (inputs, outputs) = (more(i, true), more(i, false));
            if let Some((c, _)) = s.skip.as_ref().and_then(|p| p.projection.as_ref()) {
                // The 1×1 projection runs at the block's output resolution.
                let (h, w) = (shape[1], shape[2]);
                macs += c.out_channels() * c.in_channels() * h * w;
            }
            match &s.layer {
                Layer::Linear(l) => {
                    let out = l.out_features() + outputs;
                    macs += (l.in_features() + inputs) * out;
                    shape = vec![out];
                    maps.push(1);
                }
                Layer::Conv2d(c) => {
                    let (h, w) = (shape[1], shape[2]);
                    let k = c.kernel_size();
                    let oh = (h + 2 * c.padding - k) / c.stride + 1;
                    let ow = (w + 2 * c.padding - k) / c.stride + 1;
                    let out = c.out_channels() + outputs;
                    macs += out * (c.in_channels() + inputs) * k * k * oh * ow;
                    shape = vec![out, oh, ow];
                    maps.push(oh * ow);
                }
            }
            shape = match s.pool {
                Pool::None => shape,
                Pool::Max2 => vec![shape[0], shape[1] / 2, shape[2] / 2],
                Pool::GlobalAvg => vec![shape[0]],
            };
        }
        (macs, maps)
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

/// What a pass can do at each stage of [`Network::run`]; every method's default is the plain
/// forward pass, so `impl Hooks for T {}` gives a pass that changes nothing ([`NoHooks`]).
pub trait Hooks {
    /// Stage `i` is about to run on `input` (what its layer reads: flattened for a linear
    /// layer): capture it, or compute something from it.
    fn input(&mut self, _i: usize, _stage: &Stage, _input: &Tensor) {}
    /// The stage's layer output before BatchNorm: add a probe, extra terms, or supply it.
    fn layer_output(&mut self, _i: usize, stage: &Stage, input: &Tensor) -> Tensor {
        stage.layer.forward(input)
    }
    /// The normalised pre-activation, before the residual connection and the activation.
    fn normalised(&mut self, _i: usize, z: Tensor) -> Tensor {
        z
    }
}

/// The plain forward pass.
pub struct NoHooks;

impl Hooks for NoHooks {}

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
    fn to_kind_converts_residual_projections_too() {
        // A small ResNet has 1×1 projections (with their BatchNorms) where the stream widens.
        let arch = Architecture::resnet18([3, 8, 8], 10, 1.0 / 64.0);
        let mut net = Network::new(&arch, &mut rng(), Device::Cpu).unwrap();
        let projected = net
            .stages
            .iter()
            .filter(|s| s.skip.as_ref().is_some_and(|p| p.projection.is_some()));
        assert!(projected.count() > 0);
        let x = Tensor::randn([2, 3, 8, 8], (Kind::Float, Device::Cpu));
        let y32 = net.forward(&x, false);
        net.to_kind(Kind::Double);
        for (path, t) in net.parameter_paths().into_iter().chain(net.buffer_paths()) {
            assert_eq!(t.kind(), Kind::Double, "{path}");
        }
        let y64 = net.forward(&x.to_kind(Kind::Double), false);
        assert_eq!(y64.kind(), Kind::Double);
        let diff = (y64 - y32.to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{diff}");
    }

    #[test]
    fn flops_per_unit_is_the_difference_of_one_unit_more() {
        // Brute force: the network with one more unit at the site, counted whole.
        let flops = |a: &Architecture| Network::new(a, &mut rng(), Device::Cpu).unwrap();
        let cnn = |c: &[i64]| Architecture::vgg([3, 8, 8], c, 2, 10, Activation::Relu, true);
        let base = flops(&cnn(&[2, 3, 4, 5]));
        for (site, wider) in [[3, 3, 4, 5], [2, 4, 4, 5], [2, 3, 5, 5], [2, 3, 4, 6]]
            .iter()
            .enumerate()
        {
            let d = flops(&cnn(wider)).flops_per_sample() - base.flops_per_sample();
            assert_eq!(base.flops_per_unit(site), d, "site {site}");
        }
        // A unit of the second conv (8×8, 2 inputs; its consumer at 4×4 after pooling, 4
        // outputs): 2·(2·9·64 + 4·9·16).
        assert_eq!(base.flops_per_unit(1), 2 * (2 * 9 * 64 + 4 * 9 * 16));
        let mlp = |h: &[i64]| Architecture::mlp(4, h, 3, Activation::Relu);
        let m = flops(&mlp(&[5, 6]));
        assert_eq!(m.flops_per_unit(0), 2 * (4 + 6));
        let d = flops(&mlp(&[5, 7])).flops_per_sample() - m.flops_per_sample();
        assert_eq!(m.flops_per_unit(1), d);
    }

    #[test]
    fn activations_per_unit_is_the_producers_map_before_pooling() {
        let net = |a: &Architecture| Network::new(a, &mut rng(), Device::Cpu).unwrap();
        // 8×8 input, two convs per pool: 8×8, 8×8 (pooled after), 4×4, 4×4, then the head.
        let cnn = net(&Architecture::vgg(
            [3, 8, 8],
            &[2, 3, 4, 5],
            2,
            10,
            Activation::Relu,
            true,
        ));
        let per_site: Vec<i64> = (0..5).map(|k| cnn.activations_per_unit(k)).collect();
        assert_eq!(per_site, [64, 64, 16, 16, 1]);
        // Brute force: the values of one more channel's map, counted from a forward pass.
        let x = Tensor::zeros([1, 3, 8, 8], (tch::Kind::Float, Device::Cpu));
        let mut maps = Vec::new();
        let mut h = x;
        for s in &cnn.stages[..4] {
            h = s.layer.forward(&h);
            maps.push(h.size()[2] * h.size()[3]);
            h = s.apply_pool(&h);
        }
        assert_eq!(maps, per_site[..4]);
        let mlp = net(&Architecture::mlp(4, &[5, 6], 3, Activation::Relu));
        assert_eq!(
            [mlp.activations_per_unit(0), mlp.activations_per_unit(1)],
            [1, 1]
        );
        assert_eq!(mlp.activations_per_unit(9), 0);
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
