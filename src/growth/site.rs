//! Growth sites: the hidden dimension between a producer stage (its output units or channels
//! grow) and the next stage, the consumer (its inputs grow), and the *rows* the statistics of
//! docs/tiny.md §2.2 are built from.
//!
//! Every kind of site is reduced to the linear-layer problem: rows of the producer's
//! augmented input `B̃₋₂`, of the consumer's augmented input `B̃₋₁` and of the gradient `G`
//! at the consumer's pre-activation, aligned row by row (docs/tiny.md §3.1–3.2):
//!
//! * **dense** (linear → linear): one row per sample;
//! * **conv → conv**: one row per (image, consumer output position); `B̃₋₁` and `G` are the
//!   consumer's unfolded input and its gradient there. The new channel reaches the consumer
//!   through its kernel taps: the **restricted** neuron (1×1 fan-out at the kernel centre) has
//!   one tap, whose `B̃₋₂` row is the producer's patch under the centre
//!   ([`unfold::bordered`]); the **full** neuron (k×k fan-out) has `k²` taps, one block of
//!   `B̃₋₂` rows each ([`unfold::tap`]);
//! * **conv → linear** (through global average pooling): one row per image, `B̃₋₂` the mean
//!   of the producer's patches (the pooled pre-activation of a linear unit is the unit
//!   applied to the mean patch).
//!
//! When the producer max-pools before the consumer, the new channel's patches are average
//! pooled the same way (a linearisation: the max of a channel that does not exist yet has no
//! preferred position). The preview and apply paths use the real max pooling.
//!
//! ```
//! use grownet::growth::site::{ConvNeuron, Site};
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! let arch = Architecture::cnn([3, 8, 8], &[4, 4], 10, Activation::Relu, true);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
//! let conv_conv = Site::new(&net, 0, ConvNeuron::Full).unwrap();
//! assert_eq!(conv_conv.taps(), 9);
//! let conv_linear = Site::new(&net, 1, ConvNeuron::Full).unwrap();
//! assert_eq!(conv_linear.taps(), 1);
//! ```
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::unfold::{self, Conv};
use crate::error::{Error, Result};
use crate::nn::{Layer, Network, Pool, Stage};

/// How a new channel of a conv → conv site reaches the consumer (docs/tiny.md §3.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConvNeuron {
    /// 1×1 fan-out at the centre of the consumer's kernel (GroMo's default for VGG and
    /// ResNet; exact when the consumer has stride 1 and "same" padding).
    #[default]
    Restricted,
    /// A full k×k fan-out.
    Full,
}

/// A site's producer rows ([`Site::producer_rows`]), aligned with the consumer's rows.
pub enum ProducerRows {
    /// One block of rows `[rows, d2(+1)]`: a dense site, conv → linear, or the restricted
    /// neuron's centre tap.
    Rows(Tensor),
    /// The full neuron's `k²` blocks, one per tap of conv2's kernel, held as the intermediate
    /// image `[N, D, H, W]` they are read from ([`unfold::tap`]).
    Taps { image: Tensor, conv2: Conv },
}

impl ProducerRows {
    /// Another handle on the same rows (no copy).
    pub fn shallow_clone(&self) -> ProducerRows {
        match self {
            ProducerRows::Rows(t) => ProducerRows::Rows(t.shallow_clone()),
            ProducerRows::Taps { image, conv2 } => ProducerRows::Taps {
                image: image.shallow_clone(),
                conv2: *conv2,
            },
        }
    }

    /// Bytes the rows take.
    pub fn bytes(&self) -> i64 {
        let t = match self {
            ProducerRows::Rows(t) | ProducerRows::Taps { image: t, .. } => t,
        };
        t.numel() as i64 * t.kind().elt_size_in_bytes() as i64
    }

    /// Number of blocks of rows (consumer kernel taps).
    pub fn taps(&self) -> usize {
        match self {
            ProducerRows::Rows(_) => 1,
            ProducerRows::Taps { conv2, .. } => (conv2.kernel * conv2.kernel) as usize,
        }
    }

    /// Tap `e`'s block of rows (`e = row·k + col`).
    pub fn tap(&self, e: usize) -> Tensor {
        match self {
            ProducerRows::Rows(rows) => rows.shallow_clone(),
            ProducerRows::Taps { image, conv2 } => {
                let (r, c) = (e as i64 / conv2.kernel, e as i64 % conv2.kernel);
                unfold::tap(image, *conv2, r, c).flatten(0, 1)
            }
        }
    }

    /// The rows' contribution to the sum of `S₂`: `Σ_rows b̃₋₂ b̃₋₂ᵀ`, for the full neuron the
    /// mean over taps ([`full_s2`]).
    pub fn moment(&self) -> Tensor {
        match self {
            ProducerRows::Rows(b) => b.tr().matmul(b),
            ProducerRows::Taps { image, conv2 } => full_s2(image, *conv2),
        }
    }

    /// `Σ_rows b̃₋₂,e yᵀ` for consumer rows `y` (`[rows, C]`), as `[d2(+1), C·taps]` with
    /// columns (column of `y`, tap): `M₂`'s layout when `y = G` (docs/tiny.md §3.2), and `Pδᵀ`'s
    /// when `y = B̃₋₁δᵀ`.
    pub fn products(&self, y: &Tensor) -> Tensor {
        match self {
            ProducerRows::Rows(b) => b.tr().matmul(y),
            ProducerRows::Taps { image, conv2 } => unfold::tap_products(image, y, *conv2)
                .permute([1, 2, 0])
                .flatten(1, 2),
        }
    }

    /// One batch's sums of `M₂` and `P` with the consumer's rows `g` and `b1` (docs/tiny.md
    /// §3.2): `Σ b̃₋₂,e gᵀ` with columns (output, tap) and `Σ b̃₋₂,e b̃₋₁ᵀ` with one block of
    /// rows per tap. The full neuron's come from one convolution ([`unfold::tap_products`]).
    pub fn cross(&self, g: &Tensor, b1: &Tensor) -> (Tensor, Tensor) {
        match self {
            ProducerRows::Rows(b) => (b.tr().matmul(g), b.tr().matmul(b1)),
            ProducerRows::Taps { image, conv2 } => {
                let (c, d1) = (g.size()[1], b1.size()[1]);
                let t = unfold::tap_products(image, &Tensor::cat(&[g, b1], 1), *conv2);
                let m2 = t.narrow(2, 0, c).permute([1, 2, 0]).flatten(1, 2);
                (m2, t.narrow(2, c, d1).flatten(0, 1))
            }
        }
    }
}

/// The kind of a growth site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiteKind {
    /// Linear → linear.
    Dense,
    /// Conv → conv, with the neuron's fan-out shape.
    ConvToConv(ConvNeuron),
    /// Conv → (global average pooling) → linear.
    ConvToDense,
}

/// One growth site of a network: producer stage `index`, consumer `index + 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Site {
    pub index: usize,
    pub kind: SiteKind,
    /// The producer's and the consumer's conv geometry (conv layers only).
    pub producer: Option<Conv>,
    pub consumer: Option<Conv>,
    /// Pooling between producer and consumer.
    pub pool: Pool,
}

fn geometry(layer: &Layer) -> Option<Conv> {
    match layer {
        Layer::Conv2d(c) => Some(c.geometry()),
        Layer::Linear(_) => None,
    }
}

impl Site {
    /// The site between stages `index` and `index + 1` of `net`.
    pub fn new(net: &Network, index: usize, neuron: ConvNeuron) -> Result<Site> {
        let (Some(prod), Some(cons)) = (net.stages.get(index), net.stages.get(index + 1)) else {
            return Err(Error::Growth(format!(
                "site {index}: stage {index} has no consumer stage"
            )));
        };
        // A residual stream's width is shared by every block on it: fixed (docs/tiny.md §3.4).
        if prod.skip.is_some() || net.stages.get(index + 2).is_some_and(|s| s.skip.is_some()) {
            return Err(Error::Growth(format!(
                "site {index}: the residual stream's width is fixed; blocks grow their hidden width"
            )));
        }
        let (producer, consumer) = (geometry(&prod.layer), geometry(&cons.layer));
        let kind = match (producer, consumer) {
            (None, None) => SiteKind::Dense,
            (Some(_), Some(_)) => SiteKind::ConvToConv(neuron),
            (Some(_), None) if prod.pool == Pool::GlobalAvg => SiteKind::ConvToDense,
            _ => {
                return Err(Error::Growth(format!(
                    "site {index}: a {} feeding a {} cannot grow",
                    if producer.is_some() {
                        "conv"
                    } else {
                        "linear layer"
                    },
                    if consumer.is_some() {
                        "conv"
                    } else {
                        "linear layer without global pooling"
                    },
                )))
            }
        };
        Ok(Site {
            index,
            kind,
            producer,
            consumer,
            pool: prod.pool,
        })
    }

    /// Whether this is the hidden width of a residual block (its consumer adds a skip).
    pub fn in_block(net: &Network, index: usize) -> bool {
        net.stages.get(index + 1).is_some_and(|s| s.skip.is_some())
    }

    /// Consumer kernel taps a new unit's fan-out covers (`SiteStatistics::taps`).
    pub fn taps(&self) -> usize {
        match (self.kind, self.consumer) {
            (SiteKind::ConvToConv(ConvNeuron::Full), Some(c)) => (c.kernel * c.kernel) as usize,
            _ => 1,
        }
    }

    /// The producer's `B̃₋₂` rows, one block per tap (`[rows, d2(+1)]`), from the
    /// producer's features ([`features`]) computed on an input of spatial size `input_hw`
    /// (ignored for a linear producer). Rows align with [`consumer_rows`].
    pub fn producer_rows(&self, producer_features: &Tensor, input_hw: (i64, i64)) -> ProducerRows {
        match self.kind {
            SiteKind::Dense => ProducerRows::Rows(producer_features.shallow_clone()),
            SiteKind::ConvToDense => {
                ProducerRows::Rows(producer_features.mean_dim(1, false, producer_features.kind()))
            }
            SiteKind::ConvToConv(neuron) => {
                // Site::new sets the consumer of every conv → conv site.
                #[allow(clippy::expect_used)]
                let conv2 = self.consumer.expect("conv consumer");
                let image = self.intermediate_image(producer_features, input_hw);
                match neuron {
                    ConvNeuron::Restricted => {
                        let centre = conv2.kernel / 2;
                        ProducerRows::Rows(unfold::tap(&image, conv2, centre, centre).flatten(0, 1))
                    }
                    ConvNeuron::Full => ProducerRows::Taps { image, conv2 },
                }
            }
        }
    }

    /// The producer's patches (`[N, L₁, D]`) as an image over the consumer's input grid
    /// (`[N, D, H, W]`), pooled as the producer's output is.
    fn intermediate_image(&self, producer_features: &Tensor, (h, w): (i64, i64)) -> Tensor {
        let s = producer_features.size();
        let (n, d) = (s[0], s[2]);
        // Only conv → conv sites (whose producer Site::new sets) have an intermediate image.
        #[allow(clippy::expect_used)]
        let conv1 = self.producer.expect("conv producer");
        let image = producer_features.transpose(1, 2).reshape([
            n,
            d,
            conv1.output_size(h),
            conv1.output_size(w),
        ]);
        match self.pool {
            Pool::Max2 => image.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>),
            Pool::None | Pool::GlobalAvg => image,
        }
    }
}

/// `S₂` of the full neuron without its `k²` products: the mean over taps of
/// `Σ_rows B̃₋₂,e B̃₋₂,eᵀ` is the sum over intermediate positions q of `u_q u_qᵀ` weighted by
/// how many (output position, tap) pairs read q (docs/tiny.md §3.2's mask tensor `T` summed over p
/// and e), divided by the number of taps. One product instead of `k²`; `image` is
/// `[N, D, H, W]`, one feature vector per intermediate position.
fn full_s2(image: &Tensor, conv2: Conv) -> Tensor {
    let s = image.size();
    let (h, w) = (s[2], s[3]);
    let k = conv2.kernel;
    let l2 = conv2.output_size(h) * conv2.output_size(w);
    let reads = Tensor::ones([1, k * k, l2], (image.kind(), image.device())).col2im(
        [h, w],
        [k, k],
        [1, 1],
        [conv2.padding, conv2.padding],
        [conv2.stride, conv2.stride],
    ); // [1, 1, h, w]: how often each intermediate position is read
    let rows = (image * reads.sqrt())
        .flatten(2, 3)
        .transpose(1, 2)
        .flatten(0, 1);
    rows.tr().matmul(&rows) / (k * k) as f64
}

/// A stage's augmented input features in precision `kind`: `[N, D(+1)]` for a linear layer,
/// the unfolded patches `[N, L, C·k²(+1)]` for a conv (docs/tiny.md §3.1). Computed once per
/// batch and stage, shared by the site it produces for and the site it consumes for.
pub fn features(stage: &Stage, x: &Tensor, kind: Kind) -> Tensor {
    FeatureMap::of(stage).apply(x, kind)
}

/// What a stage's features depend on: its layer's kind, conv geometry and bias, not its
/// weights (so that they can be computed away from the network, e.g. on another thread).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FeatureMap {
    Linear { bias: bool },
    Conv { geometry: Conv, bias: bool },
}

impl FeatureMap {
    pub fn of(stage: &Stage) -> FeatureMap {
        match &stage.layer {
            Layer::Linear(l) => FeatureMap::Linear {
                bias: l.bias.is_some(),
            },
            Layer::Conv2d(c) => FeatureMap::Conv {
                geometry: c.geometry(),
                bias: c.bias.is_some(),
            },
        }
    }

    /// The features of input `x` in precision `kind` (see [`features`]).
    pub fn apply(&self, x: &Tensor, kind: Kind) -> Tensor {
        let x = x.to_kind(kind);
        match *self {
            FeatureMap::Linear { bias } => super::unfold::augment(&x.flatten(1, -1), bias),
            FeatureMap::Conv { geometry, bias } => unfold::unfold(&x, geometry, bias),
        }
    }
}

/// The consumer's `B̃₋₁` rows from its features, and `G` rows from the gradient at its
/// pre-activation (`[N, d]` or `[N, C, H, W]`), in the features' precision.
pub fn consumer_rows(consumer_features: &Tensor, grad: &Tensor) -> (Tensor, Tensor) {
    let g = grad.to_kind(consumer_features.kind());
    if g.dim() == 4 {
        let g = g.flatten(2, 3).transpose(1, 2).flatten(0, 1);
        (consumer_features.flatten(0, 1), g)
    } else {
        (consumer_features.shallow_clone(), g)
    }
}

/// New units' pre-activations at the producer `stage` from its `input`, with fan-in `w` and
/// bias `b`: behind a BatchNorm in eval mode they pass as a new channel will after growth
/// (γ = 1, β = 0, running mean 0, variance 1: `x/√(1+ε)`; docs/tiny.md §3.3).
pub fn units_pre(stage: &Stage, input: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Tensor {
    let mut pre = stage.layer.forward_with(input, w, b);
    if let Some(bn) = &stage.norm {
        pre /= (1.0 + bn.eps).sqrt();
    }
    pre
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture, LayerSpec, StageSpec};
    use rand::SeedableRng;
    use tch::Device;

    fn conv_stage(c_in: i64, c_out: i64, stride: i64, padding: i64, pool: Pool) -> StageSpec {
        StageSpec {
            layer: LayerSpec::Conv2d {
                inputs: c_in,
                outputs: c_out,
                kernel: 3,
                stride,
                padding,
                bias: true,
            },
            batch_norm: false,
            activation: Activation::Relu,
            pool,
            skip: None,
        }
    }

    #[test]
    fn full_s2_from_read_counts_is_the_mean_of_the_tap_moments() {
        for (stride, padding, pool) in [
            (1, 1, Pool::None),
            (2, 1, Pool::None),
            (1, 0, Pool::None),
            (2, 0, Pool::None),
            (1, 1, Pool::Max2),
        ] {
            let arch = Architecture {
                input_shape: vec![2, 9, 9],
                stages: vec![
                    conv_stage(2, 3, 1, 1, pool),
                    conv_stage(3, 4, stride, padding, Pool::GlobalAvg),
                    StageSpec::linear_head(4, 2),
                ],
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
            let site = Site::new(&net, 0, ConvNeuron::Full).unwrap();
            tch::manual_seed(2);
            let x = Tensor::randn([3, 2, 9, 9], (Kind::Double, Device::Cpu));
            let feats = features(&net.stages[0], &x, Kind::Double);
            let rows = site.producer_rows(&feats, (9, 9));
            assert_eq!(rows.taps(), 9);
            let mean = (0..9)
                .map(|e| rows.tap(e))
                .map(|b| b.tr().matmul(&b))
                .reduce(|a, b| a + b)
                .unwrap()
                / 9.0;
            let fast = rows.moment();
            let diff = (fast - &mean).abs().max().double_value(&[]);
            assert!(
                diff < 1e-10 * mean.abs().max().double_value(&[]),
                "{stride} {padding} {pool:?}: {diff}"
            );
        }
    }
}
