//! Previews of a proposal on fixed data (docs/tiny.md §2.8–2.9): the network's output as if the
//! proposal's first `k` neurons had been applied at scale `s`, the losses, and the amplitude a
//! line search picks from them. What does not depend on `s` or `k` is computed once per
//! proposal, so a line search or the automatic mode's judging costs a few small products per
//! evaluation, not a forward pass.
//!
//! ```
//! use grownet::data::Dataset;
//! use grownet::growth::amplitude::{self, LineSearch};
//! use grownet::growth::preview::Previews;
//! use grownet::growth::Proposal;
//! use grownet::nn::{Activation, Architecture, Loss, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::mlp(3, &[2], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! tch::manual_seed(1);
//! let r = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
//! let mut p = Proposal::neurons_only(0, r(&[3, 3]), Some(r(&[3])), r(&[2, 3]));
//! p.function_preserving = false;
//! let data = Dataset { x: r(&[16, 3]), y: Tensor::from_slice(&[0i64, 1]).repeat([8]) };
//! let previews = Previews::new(&net, &p, &data);
//! assert!(previews.is_cached()); // linear → linear: products shared
//! let full = amplitude::forward_extended(&net, &data.x, &p, 0.5);
//! assert!(previews.output(3, 0.5).allclose(&full, 1e-5, 1e-6, false));
//! let a = previews.amplitude(Loss::CrossEntropy, 3, &LineSearch::Grid { scales: vec![0.5, 1.0] });
//! assert!(a.loss_after <= a.loss_before);
//! ```
use std::cell::RefCell;

use tch::{Kind, Tensor};

use super::amplitude::{self, Amplitude, LineSearch};
use super::proposal::Proposal;
use super::stem::Stems;
use crate::data::Dataset;
use crate::nn::{Hooks, Layer, Loss, Network, Pool, Stage};

/// Previews of one proposal and of its first-k cuts (k = 0: the update of the existing
/// weights alone) on fixed data, as [`amplitude::forward_extended`] computes them. At a plain
/// linear site (linear producer and consumer without BatchNorm, pooling or rational units)
/// what depends neither on the scale nor on the cut is computed once: the producer's input
/// and output, the consumer's pre-activation, the δ step's change of it and the new units'
/// pre-activations. A preview then costs the new units and the layers after the consumer
/// instead of a whole forward pass. Elsewhere the stages before the site run once and every
/// preview runs the rest ([`amplitude::forward_extended_from`]).
pub struct Previews<'a> {
    net: &'a Network,
    proposal: &'a Proposal,
    data: &'a Dataset,
    cache: Option<Cache>,
    /// Without a cache: the inputs of the producer and of its block.
    stem: Option<(Tensor, Option<Tensor>)>,
    /// With a cache, the unchanged network's mean loss (scale 0 previews the same output for
    /// every k), once computed: every line search starts from it.
    unchanged: std::cell::OnceCell<(Loss, f64)>,
}

/// What a plain linear site's previews share (see [`Previews`]).
struct Cache {
    /// Consumer pre-activation of the unchanged network `[n, d]`.
    base: Tensor,
    /// The δ step's change of it at scale 1, `δ b̃₋₁` `[n, d]`.
    delta: Option<Tensor>,
    /// The new units' pre-activations at scale 1, `α b̃₋₂` `[n, K]`.
    pre: Tensor,
    /// The producer's input and output (the consumer's input) in the unchanged network.
    producer_input: Tensor,
    producer_output: Tensor,
}

/// Hooks that supply one stage's layer output (the preview's consumer pre-activation).
struct Supplied {
    stage: usize,
    z: Option<Tensor>,
}

impl Hooks for Supplied {
    fn layer_output(&mut self, i: usize, stage: &Stage, input: &Tensor) -> Tensor {
        match self.z.take_if(|_| i == self.stage) {
            Some(z) => z,
            None => stage.layer.forward(input),
        }
    }
}

impl<'a> Previews<'a> {
    pub fn new(net: &'a Network, proposal: &'a Proposal, data: &'a Dataset) -> Self {
        Self::with_stems(net, proposal, data, None)
    }

    /// [`Previews::new`], the stages before the site run once per check through `stems` while
    /// they are unchanged ([`Stems`]; the same values).
    pub fn with_stems(
        net: &'a Network,
        proposal: &'a Proposal,
        data: &'a Dataset,
        stems: Option<&RefCell<Stems>>,
    ) -> Self {
        let k = proposal.site;
        let plain = |i: usize| {
            net.stages.get(i).is_some_and(|st| {
                matches!(st.layer, Layer::Linear(_))
                    && st.norm.is_none()
                    && st.rational.is_none()
                    && st.pool == Pool::None
            })
        };
        let cache = (plain(k) && plain(k + 1) && proposal.rational.is_none()).then(|| {
            tch::no_grad(|| {
                let (h, prev) = match stems {
                    Some(st) => {
                        let mut st = st.borrow_mut();
                        let (h, prev) = &st.of(net, &data.x, k, data.x.size()[0])[0];
                        (h.shallow_clone(), prev.as_ref().map(Tensor::shallow_clone))
                    }
                    _ => net.forward_range(&data.x, None, 0..k, false),
                };
                let inp = net.stages[k].layer.input(&h);
                // The producer's output: the consumer's stem when it is kept (the same values).
                let n = data.x.size()[0];
                let kept = stems.and_then(|st| {
                    let st = st.borrow();
                    st.peek(&[&data.x], k + 1, n)
                        .map(|s| s[0].0.shallow_clone())
                });
                let out = kept
                    .unwrap_or_else(|| net.stages[k].forward_in_chain(&inp, prev.as_ref(), false));
                Cache {
                    base: net.stages[k + 1].layer.forward(&out),
                    delta: proposal
                        .delta_w
                        .as_ref()
                        .map(|dw| out.linear(dw, proposal.delta_b.as_ref())),
                    pre: inp.linear(&proposal.alpha_w, proposal.alpha_b.as_ref()),
                    producer_input: inp,
                    producer_output: out,
                }
            })
        });
        let stem = cache
            .is_none()
            .then(|| tch::no_grad(|| amplitude::stem(net, &data.x, proposal.site)));
        Previews {
            net,
            proposal,
            data,
            cache,
            stem,
            unchanged: std::cell::OnceCell::new(),
        }
    }

    /// Whether the previews share a plain linear site's products.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The network's output with the first `k` new neurons at scale `s`.
    pub fn output(&self, k: i64, s: f64) -> Tensor {
        self.output_scaled(k, s, s)
    }

    /// The network's output with the first `k` new neurons at scale `s` and the existing
    /// weights' update at scale `sd`.
    pub fn output_scaled(&self, k: i64, s: f64, sd: f64) -> Tensor {
        let Some(c) = &self.cache else {
            let stem = self.stem.as_ref().map_or_else(
                || amplitude::stem(self.net, &self.data.x, self.proposal.site),
                |(h, b)| (h.shallow_clone(), b.as_ref().map(Tensor::shallow_clone)),
            );
            let p = prefix(self.proposal, k);
            return tch::no_grad(|| amplitude::forward_extended_scaled(self.net, &stem, &p, s, sd));
        };
        tch::no_grad(|| {
            let site = self.proposal.site;
            // A new tensor in both cases: `z` is changed in place below, and the cached
            // pre-activation must not be (an earlier version added every preview's new units
            // into the cache when the proposal had no δ: GradMax, TINY-paper).
            let mut z = match &c.delta {
                Some(d) => &c.base - d * (sd * sd),
                None => c.base.copy(),
            };
            if k > 0 {
                let act = self.net.stages[site].activation;
                let ext = act.forward(&(c.pre.narrow(1, 0, k) * s));
                z += ext.matmul(&(self.proposal.omega.narrow(1, 0, k) * s).tr());
            }
            // The rest of the chain through the one traversal (residual connections after
            // the site included), the consumer's layer output supplied.
            let mut hooks = Supplied {
                stage: site + 1,
                z: Some(z),
            };
            let block_input = Some(c.producer_input.shallow_clone());
            let range = site + 1..self.net.stages.len();
            let (out, _) = self
                .net
                .run(&c.producer_output, block_input, range, false, &mut hooks);
            out
        })
    }

    /// Per-sample losses `[n]` (f64) with the first `k` new neurons at scale `s`.
    pub fn per_sample_losses(&self, loss: Loss, k: i64, s: f64) -> Tensor {
        self.per_sample_losses_scaled(loss, k, s, s)
    }

    /// Per-sample losses with the units at scale `s` and the existing weights' update at `sd`.
    pub fn per_sample_losses_scaled(&self, loss: Loss, k: i64, s: f64, sd: f64) -> Tensor {
        tch::no_grad(|| {
            loss.per_sample(&self.output_scaled(k, s, sd), &self.data.y)
                .to_kind(Kind::Double)
        })
    }

    /// Mean loss with the units at scale `s` and the existing weights' update at `sd`.
    pub fn loss_scaled(&self, loss: Loss, k: i64, s: f64, sd: f64) -> f64 {
        if s == sd {
            return self.loss(loss, k, s);
        }
        self.mean_loss(loss, k, s, sd)
    }

    /// Mean loss with the first `k` new neurons at scale `s`.
    pub fn loss(&self, loss: Loss, k: i64, s: f64) -> f64 {
        if s == 0.0 && self.cache.is_some() {
            // Scale 0 gives the cached consumer pre-activation itself, bit for bit, for every k.
            let &(l, v) = self
                .unchanged
                .get_or_init(|| (loss, self.mean_loss(loss, 0, 0.0, 0.0)));
            if l == loss {
                return v;
            }
        }
        self.mean_loss(loss, k, s, s)
    }

    fn mean_loss(&self, loss: Loss, k: i64, s: f64, sd: f64) -> f64 {
        tch::no_grad(|| {
            loss.mean(&self.output_scaled(k, s, sd), &self.data.y)
                .double_value(&[])
        })
    }

    /// The scale of the first `k` new neurons: 1 for a function-preserving proposal
    /// (previewed, not searched), else the line search on this data.
    pub fn amplitude(&self, loss: Loss, k: i64, line_search: &LineSearch) -> Amplitude {
        let l0 = self.loss(loss, k, 0.0);
        if self.proposal.function_preserving {
            return Amplitude {
                scale: 1.0,
                loss_before: l0,
                loss_after: self.loss(loss, k, 1.0),
                evaluations: 2,
            };
        }
        let fo = self.proposal.info.first_order();
        amplitude::search_with(line_search, fo, &mut |s| self.loss(loss, k, s))
    }
}

/// The first `k` neurons of `p` (those with the largest λ), with the same update of the
/// existing weights.
pub fn prefix(p: &Proposal, k: i64) -> Proposal {
    let k = k.clamp(0, p.neurons());
    Proposal {
        site: p.site,
        alpha_w: p.alpha_w.narrow(0, 0, k),
        alpha_b: p.alpha_b.as_ref().map(|b| b.narrow(0, 0, k)),
        omega: p.omega.narrow(1, 0, k),
        delta_w: p.delta_w.as_ref().map(|t| t.shallow_clone()),
        delta_b: p.delta_b.as_ref().map(|t| t.shallow_clone()),
        info: p.info.clone(),
        function_preserving: p.function_preserving,
        rational: p.rational.as_ref().map(|t| t.narrow(0, 0, k)),
    }
}
