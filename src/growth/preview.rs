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
use super::site::units_pre;
use super::stem::{shallow, Stems};
use crate::data::Dataset;
use crate::nn::{Activation, Hooks, Loss, Network, Stage};

/// Previews of one proposal and of its first-k cuts (k = 0: the update of the existing
/// weights alone) on fixed data, as [`amplitude::forward_extended`] computes them. At every
/// site without rational units ([`cacheable`]: linear or conv, BatchNorm and pooling included)
/// what depends neither on the scale nor on the cut is computed once: the producer's input
/// and output, the consumer's pre-activation, the δ step's change of it and the new units'
/// pre-activations. A preview then costs the new units and the layers after the consumer
/// instead of a whole forward pass. At a rational site the stages before the site run once
/// and every preview runs the rest ([`amplitude::forward_extended_from`]).
pub struct Previews<'a> {
    net: &'a Network,
    proposal: &'a Proposal,
    data: &'a Dataset,
    cache: Option<Cache>,
    /// Without a cache: the inputs of the producer and of its block.
    stem: Option<(Tensor, Option<Tensor>)>,
    /// With a cache, the mean losses at scale 0 already computed, keyed by the loss and the
    /// bits of the existing weights' scale `sd`: with the units at scale 0 the preview is the same
    /// for every k (the unchanged network at `sd` = 0, the δ step alone otherwise), and every
    /// line search starts from it.
    at_zero: RefCell<Vec<((Loss, u64), f64)>>,
    /// Mixed precision's arithmetic ([`Previews::fast`]).
    fast: bool,
    /// In fast mode, the first k new units' contribution to the consumer's pre-activation at
    /// scale 1, `σ(α_k b̃₋₂) Ω_kᵀ`, for the cut k last asked for (ReLU and the identity: scale
    /// s gives s² times it; a line search asks for one cut at several scales).
    units: Memo<i64>,
    /// The consumer's pre-activation after the existing weights' update, for the last
    /// [`MOVED_KEPT`] scales asked for ([`Previews::moved`]).
    moved: Memo<u64>,
}

/// Most values of the consumer's pre-activation one chunk of a conv site's previews holds
/// (16 MiB in f32): the cache is computed and kept, and the rest of the network run, in chunks
/// of rows this size ([`chunks`]), so that the previews reuse small buffers instead of asking
/// the allocator for hundreds of megabytes per preview (docs/tiny.md §8, "Previews in
/// chunks").
const CHUNK_VALUES: i64 = 4 << 20;

/// Scales of the existing weights' update whose consumer pre-activation [`Previews`] keeps:
/// the two a descending line search previews together, chunk by chunk.
const MOVED_KEPT: usize = 2;

/// What a cached site's previews share (see [`Previews`]), the per-row values in chunks of
/// rows ([`chunks`]).
struct Cache {
    /// The chunks' rows.
    rows: Vec<Rows>,
    /// Consumer pre-activation of the unchanged network `[n, d]`, per chunk.
    base: Vec<Tensor>,
    /// The δ step's change of it at scale 1, `δ b̃₋₁` `[n, d]`, per chunk.
    delta: Option<Vec<Tensor>>,
    /// The new units' pre-activations at scale 1, `α b̃₋₂` (`/√(1+ε)` behind a BatchNorm)
    /// `[n, K]` or `[n, K, h, w]`, per chunk.
    pre: Vec<Tensor>,
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
        Self::chunked(net, proposal, data, stems, CHUNK_VALUES)
    }

    /// [`Previews::with_stems`] with chunks of at most `chunk_values` values.
    fn chunked(
        net: &'a Network,
        proposal: &'a Proposal,
        data: &'a Dataset,
        stems: Option<&RefCell<Stems>>,
        chunk_values: i64,
    ) -> Self {
        let k = proposal.site;
        let cache = cacheable(net, proposal).then(|| {
            tch::no_grad(|| {
                let (h, prev) = match stems {
                    Some(st) => shallow(&st.borrow_mut().of(net, &data.x, k, data.x.size()[0])[0]),
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
                let out = kept.unwrap_or_else(|| {
                    let out = net.stages[k].forward_in_chain(&inp, prev.as_ref(), false);
                    // Kept as the consumer's stem: the next site's producer input.
                    if let Some(st) = stems {
                        let stem = (out.shallow_clone(), Some(inp.shallow_clone()));
                        st.borrow_mut()
                            .get_or_compute(&[&data.x], k + 1, n, || vec![stem]);
                    }
                    out
                });
                Cache::new(net, proposal, (inp, out), chunk_values)
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
            at_zero: RefCell::new(Vec::new()),
            fast: false,
            units: Memo::new(1),
            moved: Memo::new(MOVED_KEPT),
        }
    }

    /// Mixed precision's arithmetic (docs/tiny.md §2.2, "Precision"): losses through
    /// [`Loss::per_sample_padded`] with f64 means, the scales of a grid previewed in one
    /// stacked pass ([`Previews::grid_losses`]), and at ReLU or linear units the new units'
    /// contribution computed once per cut (`σ(s·a)·(s·Ω)ᵀ = s²·σ(a)·Ωᵀ` for s > 0). The same
    /// values up to rounding; the default path keeps its operation order.
    pub fn fast(mut self, on: bool) -> Self {
        self.fast = on;
        self
    }

    /// Whether the previews share the site's products ([`cacheable`]).
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
                shallow,
            );
            let p = prefix(self.proposal, k);
            return tch::no_grad(|| amplitude::forward_extended_scaled(self.net, &stem, &p, s, sd));
        };
        tch::no_grad(|| {
            let outs: Vec<Tensor> = (0..c.rows.len())
                .map(|i| self.rest(c, self.consumer_pre(c, i, k, s, sd), 1, c.rows[i]))
                .collect();
            cat_rows(outs)
        })
    }

    /// The consumer's pre-activation with the first `k` new units at scale `s` and the
    /// existing weights' update at `sd`, on the cached rows of chunk `i`. A new tensor: the
    /// caller may change it in place, and the cached ones must not change (an earlier version
    /// added every preview's new units into the cache when the proposal had no δ: GradMax,
    /// TINY-paper).
    fn consumer_pre(&self, c: &Cache, i: usize, k: i64, s: f64, sd: f64) -> Tensor {
        let z = self.moved(c, i, sd);
        if k == 0 {
            return z.copy();
        }
        let act = self.net.stages[self.proposal.site].activation;
        let omega = self.proposal.omega.narrow(1, 0, k);
        let pre = c.pre[i].narrow(1, 0, k);
        if self.fast && s > 0.0 && matches!(act, Activation::Relu | Activation::Identity) {
            // ReLU, the identity and the pooling are positively homogeneous: scale s gives
            // s² times the units at scale 1.
            let chunks = c.rows.len();
            let at_one = self
                .units
                .get(k, i, chunks, || self.units_out(&act.forward(&pre), &omega));
            &z + at_one * (s * s)
        } else {
            &z + self.units_out(&act.forward(&(pre * s)), &(omega * s))
        }
    }

    /// The consumer's pre-activation from the new units' activations `a` (before the
    /// producer's pooling) through their fan-out `omega`.
    fn units_out(&self, a: &Tensor, omega: &Tensor) -> Tensor {
        let site = self.proposal.site;
        let consumer = &self.net.stages[site + 1].layer;
        let e = self.net.stages[site].apply_pool(a);
        consumer.forward_with(&consumer.input(&e), omega, None)
    }

    /// The consumer's pre-activation after the existing weights' update at scale `sd`,
    /// `base − sd²·δb̃₋₁`, kept for the last [`MOVED_KEPT`] scales asked for (the counts after
    /// the update's own line search all preview it at its chosen scale); the cached base when
    /// the proposal has no such update.
    fn moved(&self, c: &Cache, i: usize, sd: f64) -> Tensor {
        let Some(d) = &c.delta else {
            return c.base[i].shallow_clone();
        };
        let chunks = c.rows.len();
        self.moved
            .get(sd.to_bits(), i, chunks, || &c.base[i] - &d[i] * (sd * sd))
    }

    /// The rest of the chain from the consumer's pre-activation `z` (the consumer's layer
    /// output supplied, residual connections after the site included) on the cached rows
    /// `(start, len)`, for `copies` previews stacked along the batch.
    fn rest(&self, c: &Cache, z: Tensor, copies: i64, (start, len): Rows) -> Tensor {
        let site = self.proposal.site;
        let stack = |t: &Tensor| {
            if copies == 1 {
                t.shallow_clone()
            } else {
                Tensor::cat(&vec![t; copies as usize], 0)
            }
        };
        let mut hooks = Supplied {
            stage: site + 1,
            z: Some(z),
        };
        // The producer's input feeds only a residual connection into the consumer's stage.
        let block_input = self.net.stages[site + 1]
            .skip
            .is_some()
            .then(|| stack(&c.producer_input.narrow(0, start, len)));
        // The consumer's input is read only as the block input of a residual connection
        // into the stage after it; otherwise its copies are not made (the supplied `z` has
        // the stacked rows).
        let read = self
            .net
            .stages
            .get(site + 2)
            .is_some_and(|st| st.skip.is_some());
        let output = c.producer_output.narrow(0, start, len);
        let input = if read { stack(&output) } else { output };
        let range = site + 1..self.net.stages.len();
        let (out, _) = self.net.run(&input, block_input, range, false, &mut hooks);
        out
    }

    /// Mean losses at each nonzero scale of a grid line search, the units at `s` and the
    /// existing weights' update at `sd` (`None`: at `s`), as `(s, loss)`: in fast mode at a
    /// cached site, every scale's preview in one stacked pass; otherwise empty (the
    /// line search previews each scale when it needs it).
    pub fn grid_losses(
        &self,
        loss: Loss,
        k: i64,
        line_search: &LineSearch,
        sd: Option<f64>,
    ) -> Vec<(f64, f64)> {
        let (Some(c), true) = (&self.cache, self.fast) else {
            return Vec::new();
        };
        let scales: Vec<f64> = match line_search {
            LineSearch::Grid { scales } => scales.iter().copied().filter(|&s| s != 0.0).collect(),
            // The descent's first two scales (it needs both, and stops after the second when
            // the loss rises there); the others one by one if it goes on.
            LineSearch::Descend { scales } => {
                let mut top = amplitude::descending(scales);
                top.truncate(2);
                top
            }
            LineSearch::Armijo { .. } => return Vec::new(),
        };
        if scales.is_empty() {
            return Vec::new();
        }
        let m = scales.len() as i64;
        let means = tch::no_grad(|| {
            let losses: Vec<Tensor> = (0..c.rows.len())
                .map(|i| {
                    let rows = c.rows[i];
                    let zs: Vec<Tensor> = scales
                        .iter()
                        .map(|&s| self.consumer_pre(c, i, k, s, sd.unwrap_or(s)))
                        .collect();
                    let out = self.rest(c, Tensor::cat(&zs, 0), m, rows);
                    let y = self.data.y.narrow(0, rows.0, rows.1);
                    let y = Tensor::cat(&vec![&y; m as usize], 0);
                    loss.per_sample_padded(&out, &y).view([m, rows.1])
                })
                .collect();
            Tensor::cat(&losses, 1).mean_dim(1, false, Kind::Double)
        });
        let means = Vec::<f64>::try_from(&means).unwrap_or_default();
        scales.into_iter().zip(means).collect()
    }

    /// Per-sample losses `[n]` (f64) with the first `k` new neurons at scale `s`.
    pub fn per_sample_losses(&self, loss: Loss, k: i64, s: f64) -> Tensor {
        self.per_sample_losses_scaled(loss, k, s, s)
    }

    /// Per-sample losses with the units at scale `s` and the existing weights' update at `sd`.
    pub fn per_sample_losses_scaled(&self, loss: Loss, k: i64, s: f64, sd: f64) -> Tensor {
        tch::no_grad(|| {
            loss.per_sample_as(&self.output_scaled(k, s, sd), &self.data.y, self.fast)
                .to_kind(Kind::Double)
        })
    }

    /// Mean loss with the units at scale `s` and the existing weights' update at `sd`.
    pub fn loss_scaled(&self, loss: Loss, k: i64, s: f64, sd: f64) -> f64 {
        if s == 0.0 && self.cache.is_some() {
            return self.at_zero(loss, sd);
        }
        self.mean_loss(loss, k, s, sd)
    }

    /// Mean loss with the first `k` new neurons at scale `s`.
    pub fn loss(&self, loss: Loss, k: i64, s: f64) -> f64 {
        self.loss_scaled(loss, k, s, s)
    }

    /// Mean loss with no new unit and the existing weights' update at `sd`, computed once: at
    /// a cached site, the units at scale 0 add exactly nothing to the consumer's
    /// pre-activation, so this is the loss at scale 0 for every k, bit for bit.
    fn at_zero(&self, loss: Loss, sd: f64) -> f64 {
        kept(
            &self.at_zero,
            (loss, sd.to_bits()),
            |v| *v,
            || self.mean_loss(loss, 0, 0.0, sd),
        )
    }

    fn mean_loss(&self, loss: Loss, k: i64, s: f64, sd: f64) -> f64 {
        tch::no_grad(|| {
            let out = self.output_scaled(k, s, sd);
            loss.mean_as(&out, &self.data.y, self.fast)
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
        let grid = self.grid_losses(loss, k, line_search, None);
        amplitude::search_with(line_search, fo, &mut |s| {
            looked_up(&grid, s).unwrap_or_else(|| self.loss(loss, k, s))
        })
    }
}

/// The value `memo` keeps under `key`, else `compute`'s, then kept there (the values one
/// proposal's previews share); `share` hands out another handle on a kept value.
fn kept<K: PartialEq, V>(
    memo: &RefCell<Vec<(K, V)>>,
    key: K,
    share: impl Fn(&V) -> V,
    compute: impl FnOnce() -> V,
) -> V {
    if let Some((_, v)) = memo.borrow().iter().find(|(k, _)| *k == key) {
        return share(v);
    }
    let v = compute();
    memo.borrow_mut().push((key, share(&v)));
    v
}

/// Per-chunk values kept for the last few keys (scales, cuts), computed chunk by chunk as the
/// previews ask for them.
struct Memo<K> {
    keep: usize,
    entries: RefCell<Vec<(K, Vec<Option<Tensor>>)>>,
}

impl<K: PartialEq + Copy> Memo<K> {
    fn new(keep: usize) -> Self {
        Memo {
            keep,
            entries: RefCell::new(Vec::new()),
        }
    }

    /// The value of chunk `i` (of `chunks`) under `key`, else `compute`'s, then kept there;
    /// a new key forgets the oldest when [`Memo::keep`] are kept.
    fn get(&self, key: K, i: usize, chunks: usize, compute: impl FnOnce() -> Tensor) -> Tensor {
        let found = self
            .entries
            .borrow()
            .iter()
            .find(|e| e.0 == key)
            .and_then(|e| e.1[i].as_ref().map(Tensor::shallow_clone));
        if let Some(v) = found {
            return v;
        }
        let v = compute();
        let mut entries = self.entries.borrow_mut();
        let at = match entries.iter().position(|e| e.0 == key) {
            Some(at) => at,
            None => {
                if entries.len() == self.keep {
                    let _ = entries.remove(0);
                }
                entries.push((key, (0..chunks).map(|_| None).collect()));
                entries.len() - 1
            }
        };
        entries[at].1[i] = Some(v.shallow_clone());
        v
    }
}

impl Cache {
    /// The cache of `proposal` at its site from the producer's input `inp` and output `out`
    /// on every row, the per-row values computed chunk by chunk ([`chunks`]).
    fn new(net: &Network, proposal: &Proposal, (inp, out): (Tensor, Tensor), values: i64) -> Cache {
        let (producer, consumer) = (
            &net.stages[proposal.site],
            &net.stages[proposal.site + 1].layer,
        );
        let pre_of =
            |x: &Tensor| units_pre(producer, x, &proposal.alpha_w, proposal.alpha_b.as_ref());
        let n = out.size()[0];
        let per_row = |t: &Tensor| t.numel() as i64;
        let z = consumer.forward(&out.narrow(0, 0, n.min(1)));
        let widest = per_row(&z).max(per_row(&pre_of(&inp.narrow(0, 0, n.min(1)))));
        // A linear consumer's rows stay together: its previews are small, and a matrix
        // product's rounding may depend on how many rows it multiplies at once.
        let values = if z.dim() > 2 { values } else { i64::MAX };
        let rows = chunks(n, widest, values);
        let base = rows
            .iter()
            .map(|&(a, len)| consumer.forward(&out.narrow(0, a, len)))
            .collect();
        let delta = proposal.delta_w.as_ref().map(|dw| {
            let db = proposal.delta_b.as_ref();
            rows.iter()
                .map(|&(a, len)| {
                    consumer.forward_with(&consumer.input(&out.narrow(0, a, len)), dw, db)
                })
                .collect()
        });
        let pre = rows
            .iter()
            .map(|&(a, len)| pre_of(&inp.narrow(0, a, len)))
            .collect();
        Cache {
            rows,
            base,
            delta,
            pre,
            producer_input: inp,
            producer_output: out,
        }
    }
}

/// Rows `(start, len)` of the cached tensors.
type Rows = (i64, i64);

/// `n` rows in consecutive chunks of at most `values` values at `per_row` values a row (at
/// least one row each; one empty chunk when `n` is 0).
fn chunks(n: i64, per_row: i64, values: i64) -> Vec<Rows> {
    if n == 0 {
        return vec![(0, 0)];
    }
    let size = (values / per_row.max(1)).clamp(1, n);
    (0..n)
        .step_by(size as usize)
        .map(|a| (a, size.min(n - a)))
        .collect()
}

/// The chunks' outputs as one tensor (the one output itself when there is one chunk).
fn cat_rows(mut outs: Vec<Tensor>) -> Tensor {
    if outs.len() == 1 {
        return outs.remove(0);
    }
    Tensor::cat(&outs, 0)
}

/// The loss at scale `s` in a table of [`Previews::grid_losses`].
pub fn looked_up(table: &[(f64, f64)], s: f64) -> Option<f64> {
    table.iter().find(|(t, _)| *t == s).map(|&(_, l)| l)
}

/// Whether [`Previews`] can share what depends neither on the scale nor on the cut: every
/// growth site without rational units (linear or conv producer and consumer, BatchNorm and
/// pooling included). The consumer's pre-activation is then `base − sd²·δb̃₋₁ + ω·ext` with the
/// new units' `ext = pool(σ(s·αb̃₋₂/√(1+ε)))` (`ε` only behind a BatchNorm), as the extended
/// forward computes it (docs/tiny.md §2.8, §3.3).
fn cacheable(net: &Network, p: &Proposal) -> bool {
    let k = p.site;
    let plain = |i: usize| net.stages.get(i).is_some_and(|st| st.rational.is_none());
    p.rational.is_none() && plain(k) && plain(k + 1) && net.stages[k].skip.is_none()
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
        mirrored: p.mirrored,
        rational: p.rational.as_ref().map(|t| t.narrow(0, 0, k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::max_relative;
    use crate::nn::Architecture;
    use rand::SeedableRng;
    use tch::Device;

    /// A 3-[4, 3]-10 network with activation `act`, a proposal of 3 units at its first hidden
    /// layer with an update of the existing weights, and 600 samples of 10 classes.
    fn setup(act: Activation) -> (Network, Proposal, Dataset) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let arch = Architecture::mlp(3, &[4, 3], 10, act);
        let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
        tch::manual_seed(11);
        let r = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let mut p = Proposal::neurons_only(0, r(&[3, 3]), Some(r(&[3])), r(&[3, 3]));
        p.delta_w = Some(r(&[3, 4]) * 0.1);
        p.delta_b = Some(r(&[3]) * 0.1);
        p.function_preserving = false;
        let data = Dataset {
            x: r(&[600, 3]),
            y: Tensor::randint(10, [600], (Kind::Int64, Device::Cpu)),
        };
        (net, p, data)
    }

    /// The values computed once per proposal (the loss at scale 0, the consumer's
    /// pre-activation after the δ step) are those of the preview computed alone, bit for bit,
    /// for every k, and reading them leaves them unchanged.
    #[test]
    fn values_kept_across_previews_are_those_computed_alone() {
        let (net, p, data) = setup(Activation::Relu);
        for fast in [false, true] {
            let kept = Previews::new(&net, &p, &data).fast(fast);
            let first = kept.output_scaled(0, 0.0, 0.0);
            for sd in [0.0, 0.5, 2.0] {
                for k in [3, 0, 1] {
                    let alone = Previews::new(&net, &p, &data).fast(fast);
                    let want = Loss::CrossEntropy
                        .mean_as(&alone.output_scaled(k, 0.0, sd), &data.y, fast)
                        .double_value(&[]);
                    assert_eq!(kept.loss_scaled(Loss::CrossEntropy, k, 0.0, sd), want);
                    for s in [0.5, 1.0] {
                        let a = kept.output_scaled(k, s, sd);
                        assert!(a.equal(&alone.output_scaled(k, s, sd)), "k {k} s {s}");
                        assert!(a.equal(&kept.output_scaled(k, s, sd)), "k {k} s {s}");
                    }
                }
            }
            assert!(kept.output_scaled(0, 0.0, 0.0).equal(&first));
        }
    }

    /// Mixed precision's previews (padded losses, the grid's scales stacked, ReLU's and the
    /// identity's homogeneity) against the default ones: the same outputs, losses and chosen
    /// scales up to rounding, for homogeneous and other activations, with the existing
    /// weights' update at the units' scale or its own.
    #[test]
    fn fast_previews_are_the_default_ones_up_to_rounding() {
        let grid = LineSearch::Grid {
            scales: vec![0.0, 0.1, 0.5, 1.0, 2.0],
        };
        for act in [Activation::Relu, Activation::Identity, Activation::Tanh] {
            let (net, p, data) = setup(act);
            let exact = Previews::new(&net, &p, &data);
            let fast = Previews::new(&net, &p, &data).fast(true);
            assert!(fast.is_cached());
            assert!(exact
                .grid_losses(Loss::CrossEntropy, 3, &grid, None)
                .is_empty());
            for k in 0..=3 {
                for (s, sd) in [(0.5, 0.5), (2.0, 2.0), (1.0, 0.25)] {
                    let (a, b) = (exact.output_scaled(k, s, sd), fast.output_scaled(k, s, sd));
                    assert!(a.allclose(&b, 1e-5, 1e-6, false), "{act:?} k {k} s {s}");
                }
                // The descent stacks its first two scales, the grid's largest.
                let LineSearch::Grid { scales } = &grid else {
                    unreachable!()
                };
                let down = LineSearch::Descend {
                    scales: scales.clone(),
                };
                let top = fast.grid_losses(Loss::CrossEntropy, k, &down, None);
                let all = fast.grid_losses(Loss::CrossEntropy, k, &grid, None);
                assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![2.0, 1.0]);
                for (s, l) in &top {
                    let want = looked_up(&all, *s).unwrap();
                    assert!((l - want).abs() <= 1e-6 * want.abs(), "{act:?} k {k} s {s}");
                }
                for sd in [None, Some(0.5)] {
                    let table = fast.grid_losses(Loss::CrossEntropy, k, &grid, sd);
                    assert_eq!(table.len(), 4, "the nonzero scales");
                    for (s, l) in table {
                        let want = exact.loss_scaled(Loss::CrossEntropy, k, s, sd.unwrap_or(s));
                        assert!((l - want).abs() <= 1e-6 * want.abs(), "{act:?} k {k} s {s}");
                    }
                }
                let (a, b) = (
                    exact.amplitude(Loss::CrossEntropy, k, &grid),
                    fast.amplitude(Loss::CrossEntropy, k, &grid),
                );
                assert_eq!((a.scale, a.evaluations), (b.scale, b.evaluations));
                assert!((a.loss_after - b.loss_after).abs() <= 1e-6 * a.loss_after.abs());
                let (a, b) = (
                    exact.per_sample_losses(Loss::CrossEntropy, k, 0.5),
                    fast.per_sample_losses(Loss::CrossEntropy, k, 0.5),
                );
                assert!(a.allclose(&b, 1e-5, 1e-6, false));
            }
        }
    }

    /// Conv sites share the cache too (BatchNorm, max pooling and global average pooling on
    /// the producer's side, a residual connection into the consumer): the previews of every
    /// cut and scale are the extended forward's, up to rounding, with the default and with
    /// mixed precision's arithmetic.
    #[test]
    fn conv_site_previews_are_the_extended_forward() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let vgg = Architecture::vgg([3, 8, 8], &[3, 4, 5], 2, 4, Activation::Relu, true);
        let resnet = Architecture::resnet18([3, 8, 8], 4, 0.05);
        tch::manual_seed(13);
        let r = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let data = Dataset {
            x: r(&[40, 3, 8, 8]),
            y: Tensor::randint(4, [40], (Kind::Int64, Device::Cpu)),
        };
        // VGG: site 0 conv → conv in a block, 1 conv → max pool → conv, 2 conv → global
        // average pooling → the linear head. ResNet-18: the hidden width of a block with an
        // identity skip (site 1) and with a projection (site 5).
        for (arch, sites) in [(vgg, vec![0usize, 1, 2]), (resnet, vec![1, 5])] {
            let mut net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
            // A large ε, so that the new units' way through BatchNorm (`/√(1+ε)`) shows.
            for st in &mut net.stages {
                if let Some(bn) = st.norm.as_mut() {
                    bn.eps = 0.5;
                }
            }
            for site in sites {
                check_conv_site(&net, site, &data, &r);
            }
        }
    }

    /// One conv site of [`conv_site_previews_are_the_extended_forward`]: three random units
    /// and a random update of the existing weights.
    fn check_conv_site(net: &Network, site: usize, data: &Dataset, r: &dyn Fn(&[i64]) -> Tensor) {
        let kn = 3;
        let mut fan_in = net.stages[site].layer.weight().size();
        fan_in[0] = kn;
        let consumer = net.stages[site + 1].layer.weight().size();
        let mut fan_out = consumer.clone();
        fan_out[1] = kn;
        let mut p = Proposal::neurons_only(site, r(&fan_in), None, r(&fan_out) * 0.5);
        p.delta_w = Some(r(&consumer) * 0.1);
        p.function_preserving = false;
        let exact = Previews::new(net, &p, data);
        let fast = Previews::new(net, &p, data).fast(true);
        assert!(exact.is_cached() && fast.is_cached(), "site {site}");
        let stem = amplitude::stem(net, &data.x, site);
        for k in [0, 1, kn] {
            let pk = prefix(&p, k);
            for (s, sd) in [(0.5, 0.5), (1.0, 0.25), (2.0, 2.0)] {
                let want = amplitude::forward_extended_scaled(net, &stem, &pk, s, sd);
                for (name, pv) in [("exact", &exact), ("fast", &fast)] {
                    let got = pv.output_scaled(k, s, sd);
                    assert!(
                        got.allclose(&want, 1e-4, 1e-5, false),
                        "site {site} {name} k {k} s {s} sd {sd}"
                    );
                }
            }
        }
    }

    #[test]
    fn chunks_cover_the_rows_in_order_within_the_limit() {
        assert_eq!(chunks(10, 3, 9), vec![(0, 3), (3, 3), (6, 3), (9, 1)]);
        assert_eq!(chunks(10, 3, 100), vec![(0, 10)]);
        assert_eq!(chunks(4, 50, 9), vec![(0, 1), (1, 1), (2, 1), (3, 1)]); // a row at least
        assert_eq!(chunks(0, 3, 9), vec![(0, 0)]);
    }

    /// Previews computed chunk by chunk (here 7 rows at a time, the cache included) are the
    /// previews of every row at once at two conv sites, for the grid's stacked scales, the
    /// line search and per-sample losses, after the memos forgot and recomputed their values:
    /// within [`CHUNKED_TOLERANCE`] of the largest value. Bit for bit on the Intel CPUs of
    /// sessions 33–39; on an AMD EPYC (session 40) oneDNN's convolutions and the head's
    /// matrix product round a 7-row batch differently from a 40-row one (up to 1 ulp of f32).
    #[test]
    fn previews_in_chunks_are_those_of_every_row_at_once() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let vgg = Architecture::vgg([3, 8, 8], &[3, 4, 5], 2, 4, Activation::Relu, true);
        let mut net = Network::new(&vgg, &mut rng, Device::Cpu).unwrap();
        for st in &mut net.stages {
            if let Some(bn) = st.norm.as_mut() {
                bn.eps = 0.5;
            }
        }
        tch::manual_seed(17);
        let r = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, Device::Cpu));
        let data = Dataset {
            x: r(&[40, 3, 8, 8]),
            y: Tensor::randint(4, [40], (Kind::Int64, Device::Cpu)),
        };
        // An MLP's site keeps its rows together.
        let (mlp, mlp_p, mlp_data) = setup(Activation::Relu);
        let parts = Previews::chunked(&mlp, &mlp_p, &mlp_data, None, 7);
        assert_eq!(parts.cache.as_ref().unwrap().rows, vec![(0, 600)]);
        for site in [0usize, 1] {
            let mut fan_in = net.stages[site].layer.weight().size();
            fan_in[0] = 3;
            let consumer = net.stages[site + 1].layer.weight().size();
            let mut fan_out = consumer.clone();
            fan_out[1] = 3;
            let mut p = Proposal::neurons_only(site, r(&fan_in), None, r(&fan_out) * 0.5);
            p.delta_w = Some(r(&consumer) * 0.1);
            p.function_preserving = false;
            check_chunked(&net, &p, &data);
        }
    }

    /// One case of [`previews_in_chunks_are_those_of_every_row_at_once`].
    fn check_chunked(net: &Network, p: &Proposal, data: &Dataset) {
        let grid = LineSearch::Descend {
            scales: vec![0.1, 0.25, 0.5, 1.0],
        };
        let (h, _) = amplitude::stem(net, &data.x.narrow(0, 0, 1), p.site + 1);
        let consumer = &net.stages[p.site + 1].layer;
        let per_row = consumer.forward(&consumer.input(&h)).numel() as i64;
        for fast in [false, true] {
            let whole = Previews::new(net, p, data).fast(fast);
            let parts = Previews::chunked(net, p, data, None, 7 * per_row).fast(fast);
            assert!(
                parts.cache.as_ref().unwrap().rows.len() > 1,
                "site {}",
                p.site
            );
            for k in [0, 1, 3] {
                for sd in [None, Some(0.5)] {
                    let (a, b) = (
                        whole.grid_losses(Loss::CrossEntropy, k, &grid, sd),
                        parts.grid_losses(Loss::CrossEntropy, k, &grid, sd),
                    );
                    assert_eq!(a.len(), b.len(), "site {} k {k}", p.site);
                    for (&(sa, la), &(sb, lb)) in a.iter().zip(&b) {
                        assert_eq!(sa, sb, "site {} k {k}", p.site);
                        assert!(close(la, lb), "site {} k {k}: {la} vs {lb}", p.site);
                    }
                }
                for (s, sd) in [(0.5, 0.5), (1.0, 0.25), (0.25, 1.0)] {
                    let (a, b) = (whole.output_scaled(k, s, sd), parts.output_scaled(k, s, sd));
                    let d = max_relative(&a, &b);
                    assert!(
                        d <= CHUNKED_TOLERANCE,
                        "site {} k {k} s {s} sd {sd}: {d:e} relative",
                        p.site
                    );
                }
                let (a, b) = (
                    whole.amplitude(Loss::CrossEntropy, k, &grid),
                    parts.amplitude(Loss::CrossEntropy, k, &grid),
                );
                assert_eq!(a.scale, b.scale, "site {} k {k}", p.site);
                assert!(close(a.loss_after, b.loss_after), "site {} k {k}", p.site);
            }
        }
    }

    /// How far apart, relative to the largest value, previews in chunks and of every row at
    /// once may be: a few f32 roundings.
    const CHUNKED_TOLERANCE: f64 = 1e-6;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= CHUNKED_TOLERANCE * a.abs().max(b.abs())
    }
}
