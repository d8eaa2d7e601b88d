//! Growth statistics (docs/tiny.md §2.2): one pass over a statistics sample with per-sample
//! gradients of the pre-activations, accumulated in f64 on the training device.
//!
//! The per-sample gradients `G` come from zero "probe" tensors added to the consumers'
//! pre-activations and differentiated with `run_backward` (the equivalent of
//! `torch.autograd.grad`): the parameters' `.grad` fields, and so the training graph, are
//! left untouched. The loss is summed over the batch, so each row of `G` is one sample's
//! gradient and the averages do not depend on how the sample is split into batches.
use std::cell::RefCell;
use std::sync::Arc;

use faer::Mat;
use tch::{Kind, Tensor};

use super::gram;
use super::linalg::to_mat;
use super::moment::InputMoment;
use super::projection::{self, Kept};
use super::site::{self, Site};
use super::stem::{shallow, Stem, Stems};
use super::tiny::SiteStatistics;
use crate::data::{consecutive_batches, Dataset};
use crate::distributed::World;
use crate::error::{Error, Result};
use crate::nn::{Hooks, Loss, Network, Stage};

/// Running sums of one site's statistics (f64 tensors on the device). `s2` is `None` when
/// the site's `S₂` is already known (the input moment, docs/tiny.md §2.2).
struct Sums {
    s: Tensor,
    m: Tensor,
    s2: Option<Tensor>,
    /// `None` when neither `M₂` nor `P` is built (`N` comes later: [`projection`]).
    m2: Option<Tensor>,
    p: Option<Tensor>,
    e: Tensor,
}

impl Sums {
    /// One batch's sums from aligned rows (docs/tiny.md §2.2; conv sites §3.1–3.2): `rows`
    /// holds one block of producer rows per tap. With several taps (full conv neuron) `S₂` is
    /// the *mean* over taps of the per-tap moments, `M₂` has columns (output, tap) and `P` one
    /// block of rows per tap.
    /// The products are taken in the rows' precision and summed across batches in f64.
    /// With `in_basis` (one tap: the rows `B̃₋₂Q_r` of [`InputMoment::basis_rows`]) `M₂` and
    /// `P` are summed as `Q_rᵀM₂` and `Q_rᵀP`. Without `with_cross` neither `M₂` nor `P` is
    /// formed.
    fn of_rows(
        rows: &site::ProducerRows,
        (b1, g): (&Tensor, &Tensor),
        (with_s2, with_cross): (bool, bool),
        in_basis: Option<&Tensor>,
    ) -> Sums {
        let f64 = |t: Tensor| t.to_kind(Kind::Double);
        let cross = with_cross.then(|| match in_basis {
            Some(r) => site::ProducerRows::Rows(r.shallow_clone()).cross(g, b1),
            None => rows.cross(g, b1),
        });
        let (m2, p) = cross.map(|(m2, p)| (f64(m2), f64(p))).unzip();
        Sums {
            // In the training precision (`mixed`) from the blocks on and above the diagonal.
            s: f64(match b1.kind() {
                Kind::Float => gram::gram(b1),
                _ => b1.tr().matmul(b1),
            }),
            m: f64(b1.tr().matmul(g)),
            s2: with_s2.then(|| f64(rows.moment())),
            m2,
            p,
            e: f64(g.tr().matmul(g)),
        }
    }

    /// The sums over every rank's rows, in place.
    fn all_reduce(&self, world: &World) -> Result<()> {
        let all = [Some(&self.s), Some(&self.m), self.s2.as_ref()];
        let all = all
            .into_iter()
            .chain([self.m2.as_ref(), self.p.as_ref(), Some(&self.e)]);
        for t in all.flatten() {
            world.all_reduce_sum(t)?;
        }
        Ok(())
    }

    fn add(&mut self, batch: Sums) {
        self.s += batch.s;
        self.m += batch.m;
        if let (Some(acc), Some(b)) = (self.s2.as_mut(), batch.s2) {
            *acc += b;
        }
        for (acc, b) in [(self.m2.as_mut(), batch.m2), (self.p.as_mut(), batch.p)] {
            if let (Some(acc), Some(b)) = (acc, b) {
                *acc += b;
            }
        }
        self.e += batch.e;
    }
}

/// A few raw rows of a site, to measure a proposal's first order (docs/tiny.md §9).
#[derive(Debug)]
pub struct Samples {
    /// Producer rows `B̃₋₂` (one tap) and gradient rows `G`, in the training precision; for
    /// [`Layout::Images`] the producer's input and the consumer's pre-activation gradient.
    pub b2: Tensor,
    pub g: Tensor,
    /// Number of images (samples) the rows come from.
    pub images: i64,
    pub layout: Layout,
}

/// What a [`Samples`]' tensors hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One row per sample and position: `b2` the producer's one-tap rows, `g` the consumer's
    /// gradient rows.
    Rows,
    /// Conv → linear through global pooling: `b2` holds every position's patch (rows
    /// image-major) and a unit's output is the mean over an image's positions of its
    /// activation; `g` has one row per image.
    Pooled,
    /// The full conv neuron: `b2` is the producer's input `[n, c, h, w]` and `g` the gradient
    /// at the consumer's pre-activation `[n, d, h', w']`, whole images, so that a new
    /// channel's way through BatchNorm, activation, pooling and the consumer's conv is
    /// computed as the network computes it.
    Images,
}

/// Statistics of several sites, plus a few raw samples for measured first orders.
pub struct Collected {
    /// One entry per requested site, in the order requested.
    pub stats: Vec<SiteStatistics>,
    /// Per site: rows of the first batch's first samples (for a full conv neuron its images).
    pub samples: Vec<Option<Samples>>,
    /// Mean loss over the statistics sample.
    pub loss: f64,
}

/// The statistics pass's hooks on the one traversal ([`Network::run`]): record the inputs of
/// the stages some site needs, and probe the consumers' pre-activations before BatchNorm.
struct Probes<'a> {
    needed: &'a [usize],
    consumers: &'a [usize],
    inputs: Vec<Option<Tensor>>,
    /// (consumer stage, probe), in stage order.
    probes: Vec<(usize, Tensor)>,
}

impl Hooks for Probes<'_> {
    fn input(&mut self, i: usize, _: &Stage, input: &Tensor) {
        if self.needed.contains(&i) {
            self.inputs[i] = Some(input.detach());
        }
    }

    fn layer_output(&mut self, i: usize, stage: &Stage, input: &Tensor) -> Tensor {
        let z = stage.layer.forward(input);
        if !self.consumers.contains(&i) {
            return z;
        }
        let probe = z.zeros_like().detach().set_requires_grad(true);
        // Out of place on purpose: an in-place add could modify a tensor that autograd saved
        // for the backward pass.
        let z = z + &probe;
        self.probes.push((i, probe));
        z
    }
}

/// Where each minibatch of a statistics pass starts and which stems the pass keeps for the
/// rest of the check ([`Stems`]). The stages before the first site run once per check while
/// they are unchanged; one site whose consumer's stem is kept (its producer unchanged since)
/// starts at the consumer, the producer's input taken from the site's own stem; one site's
/// pass keeps, per minibatch, its producer's and its consumer's stems. The same values as a
/// whole forward in every case.
struct Starts<'a> {
    net: &'a Network,
    data: &'a Dataset,
    from: [&'a Tensor; 2],
    batch: i64,
    first: usize,
    /// The kept stems of stage `first`, and of `first + 1` when the pass starts there.
    stems: Option<Vec<Stem>>,
    ahead: Option<Vec<Stem>>,
    /// Where this pass's stems go (one site), and those it computed on the way.
    keep: Option<&'a RefCell<Stems>>,
    here: Vec<Stem>,
    next: Vec<Stem>,
}

impl<'a> Starts<'a> {
    fn new(
        net: &'a Network,
        (data, index, batch): (&'a Dataset, &'a Tensor, i64),
        first: usize,
        plan: &Plan<'a>,
    ) -> Starts<'a> {
        let from = [index, &data.x];
        let stems = plan.stems.and_then(|s| {
            // The sample's inputs, when kept (a fixed sample's, across checks).
            let inputs: Option<Vec<Stem>> = s
                .borrow()
                .peek(&from, 0, batch)
                .map(|st| st.iter().map(shallow).collect());
            if first == 0 {
                return inputs;
            }
            let mut s = s.borrow_mut();
            let stems = s.get_or_compute(&from, first, batch, || match inputs {
                Some(inputs) => inputs
                    .iter()
                    .map(|(x, _)| net.forward_range(x, None, 0..first, false))
                    .collect(),
                None => sample_stems(net, data, index, batch, first),
            });
            Some(stems.iter().map(shallow).collect())
        });
        let ahead = match (plan.stems, plan.sites) {
            (Some(s), [_]) => s
                .borrow()
                .peek(&from, first + 1, batch)
                .map(|st| st.iter().map(shallow).collect()),
            _ => None,
        };
        let keep = plan.stems.filter(|_| plan.sites.len() == 1);
        Starts {
            net,
            data,
            from,
            batch,
            first,
            stems,
            ahead,
            keep,
            here: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Minibatch `b` (rows `batch_index` of the sample): its input, block input and first
    /// stage, and its labels (from a stem only the labels are selected). Starting at the
    /// consumer, records in `hooks` the producer's input its hook would have recorded.
    fn start(
        &mut self,
        b: usize,
        batch_index: &Tensor,
        hooks: &mut Probes,
    ) -> ((Tensor, Option<Tensor>, usize), Tensor) {
        let first = self.first;
        let (start_at, y) = match &self.stems {
            Some(s) => {
                let y = self.data.y.index_select(0, batch_index);
                let (h, prev) = shallow(&s[b]);
                ((h, prev, first), y)
            }
            None => {
                let (x, y) = self.data.select(batch_index);
                ((x, None, 0), y)
            }
        };
        if self.keep.is_some() && self.stems.is_none() && first == 0 {
            self.here.push((start_at.0.shallow_clone(), None)); // the selected inputs
        }
        let Some(next) = &self.ahead else {
            return (start_at, y);
        };
        let input = self.net.stages[first].layer.input(&start_at.0).detach();
        hooks.inputs[first] = Some(input);
        let (h, prev) = shallow(&next[b]);
        ((h, prev, first + 1), y)
    }

    /// After a minibatch's pass: its consumer's stem, from what the hooks recorded.
    fn record(&mut self, hooks: &Probes) {
        if self.keep.is_none() {
            return;
        }
        let recorded = |i: usize| hooks.inputs[i].as_ref().map(Tensor::shallow_clone);
        if let (Some(h), prev) = (recorded(self.first + 1), recorded(self.first)) {
            self.next.push((h, prev));
        }
    }

    /// Keeps the stems computed for every minibatch of the `local` samples (none that are
    /// already kept).
    fn keep(self, local: i64) {
        let Some(st) = self.keep else { return };
        let mut st = st.borrow_mut();
        let minibatches = (local as usize).div_ceil(self.batch.max(1) as usize);
        for (stage, kept) in [(self.first, self.here), (self.first + 1, self.next)] {
            let whole = kept.len() == minibatches && !kept.is_empty();
            if whole {
                st.get_or_compute(&self.from, stage, self.batch, || kept);
            }
        }
    }
}

/// The inputs of stage `first` (and of its block) for the minibatches of the sample `index`.
fn sample_stems(
    net: &Network,
    data: &Dataset,
    index: &Tensor,
    batch: i64,
    first: usize,
) -> Vec<Stem> {
    consecutive_batches(index, batch)
        .map(|ib| net.forward_range(&data.select(&ib).0, None, 0..first, false))
        .collect()
}

/// One statistics minibatch through the network from stage `first` (its input `x`, its
/// block's input): the summed loss, the per-sample gradients at every probe (in the order of
/// `Probes::probes`) and the recorded stage inputs. `padded`: the loss through
/// [`Loss::per_sample_padded`] (mixed precision).
fn probe_batch(
    net: &Network,
    (loss, padded): (Loss, bool),
    (x, block_input, first): (Tensor, Option<Tensor>, usize),
    y: &Tensor,
    hooks: &mut Probes,
) -> Result<(f64, Vec<Tensor>)> {
    let (out, _) = net.run(&x, block_input, first..net.stages.len(), false, hooks);
    let total = loss.per_sample_as(&out, y, padded).sum(Kind::Double);
    let lv = total.double_value(&[]);
    if !lv.is_finite() {
        return Err(Error::Growth(format!(
            "non-finite loss ({lv}) while collecting growth statistics"
        )));
    }
    let probe_tensors: Vec<&Tensor> = hooks.probes.iter().map(|(_, p)| p).collect();
    let grads = Tensor::f_run_backward(&[&total], &probe_tensors, false, false)?;
    Ok((lv, grads))
}

/// The first samples' raw rows of a site (whole images, at most ~4M producer values; through
/// global pooling the per-position patches, the activation coming before the mean).
fn raw_rows(
    site: &Site,
    producer_features: &Tensor,
    b2: &Tensor,
    g: &Tensor,
    (images, keep_samples, kind): (i64, usize, Kind),
) -> Samples {
    let pooled = site.kind == site::SiteKind::ConvToDense;
    let layout = if pooled { Layout::Pooled } else { Layout::Rows };
    let rows = if pooled {
        producer_features.flatten(0, 1)
    } else {
        b2.shallow_clone()
    };
    let rows_per = rows.size()[0] / images;
    let budget = (4_000_000 / (rows_per * rows.size()[1]).max(1)).max(1);
    let keep = (keep_samples as i64).min(images).min(budget);
    let g_rows = if pooled { keep } else { keep * rows_per };
    Samples {
        b2: rows.narrow(0, 0, keep * rows_per).to_kind(kind),
        g: g.narrow(0, 0, g_rows).to_kind(kind),
        images: keep,
        layout,
    }
}

/// The first images of a full conv neuron's site (docs/tiny.md §9): the producer's input
/// `x` and the gradient `g` at the consumer's pre-activation, at most ~8M input values.
fn raw_images(x: &Tensor, g: &Tensor, (images, keep_samples, kind): (i64, usize, Kind)) -> Samples {
    let per_image: i64 = x.size()[1..].iter().product();
    let budget = (8_000_000 / per_image.max(1)).max(1);
    let keep = (keep_samples as i64).min(images).min(budget);
    Samples {
        b2: x.narrow(0, 0, keep).to_kind(kind),
        g: g.narrow(0, 0, keep).to_kind(kind),
        images: keep,
        layout: Layout::Images,
    }
}

/// Running sums and raw rows of every requested site.
struct Accumulator<'a> {
    sums: Vec<Option<Sums>>,
    samples: Vec<Option<Samples>>,
    known: &'a [Option<Arc<InputMoment>>],
    precision: Kind,
    /// Per site, the full neuron's minibatch inputs and gradient rows for `N` instead of `M₂`
    /// and `P` ([`projection`]), when the plan defers it.
    kept: Vec<Option<Kept>>,
    defer: bool,
    kept_rows_bytes: i64,
}

impl Accumulator<'_> {
    /// Adds one minibatch's rows of every site (features once per stage and batch, shared by
    /// the sites on both sides of it).
    // The traversal puts a probe at, and records the input of, every stage around a site.
    #[allow(clippy::expect_used)]
    /// `offset`: the minibatch's first row in the statistics sample.
    fn add_batch(
        &mut self,
        net: &Network,
        sites: &[Site],
        (hooks, grads): (&Probes, &[Tensor]),
        (offset, images, keep_samples, kind): (i64, i64, usize, Kind),
    ) {
        let basis: Vec<Option<Tensor>> = (0..sites.len())
            .map(|slot| self.known[slot].as_ref()?.rows_in_basis(offset, images))
            .collect();
        // A dense site's producer rows in the input moment's basis replace its features in
        // the sums; of those features only the raw rows' first samples are read.
        let rows_only: Vec<bool> = (0..net.stages.len())
            .map(|i| {
                sites.iter().zip(&basis).all(|(s, b)| {
                    s.index + 1 != i
                        && (s.index != i || (b.is_some() && s.kind == site::SiteKind::Dense))
                })
            })
            .collect();
        let first = (keep_samples as i64).min(images);
        let feats: Vec<Option<Tensor>> = net
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let x = hooks.inputs[i].as_ref()?;
                let x = if rows_only[i] {
                    x.narrow(0, 0, first)
                } else {
                    x.shallow_clone()
                };
                Some(site::features(st, &x, self.precision))
            })
            .collect();
        for (slot, (s, in_basis)) in sites.iter().zip(basis).enumerate() {
            let k = s.index;
            let probe = hooks.probes.iter().position(|(i, _)| *i == k + 1);
            let grad = &grads[probe.expect("a probe at every consumer")];
            let (b1, g) = site::consumer_rows(feats[k + 1].as_ref().expect("features"), grad);
            let xin = hooks.inputs[k].as_ref().expect("input");
            let hw = match xin.dim() {
                4 => (xin.size()[2], xin.size()[3]),
                _ => (1, 1),
            };
            let producer = feats[k].as_ref().expect("features");
            let rows = s.producer_rows(producer, hw);
            if self.samples[slot].is_none() && keep_samples > 0 && rows.taps() == 1 {
                let held = if rows_only[k] { first } else { images };
                let raw = raw_rows(s, producer, &rows.tap(0), &g, (held, keep_samples, kind));
                self.samples[slot] = Some(raw);
            }
            if self.samples[slot].is_none()
                && keep_samples > 0
                && s.kind == site::SiteKind::ConvToConv(site::ConvNeuron::Full)
            {
                let raw = raw_images(xin, grad, (images, keep_samples, kind));
                self.samples[slot] = Some(raw);
            }
            let known = self.known[slot].is_some();
            let defer = self.defer && rows.taps() > 1 && in_basis.is_none();
            let batch = Sums::of_rows(&rows, (&b1, &g), (!known, !defer), in_basis.as_ref());
            match self.sums[slot].as_mut() {
                None => self.sums[slot] = Some(batch),
                Some(acc) => acc.add(batch),
            }
            if defer {
                // The rows `S₂` was summed from: `N`'s products read them as they are.
                let x_mid = hooks.inputs[k + 1].as_ref().expect("input");
                let kept = self.kept[slot].get_or_insert_with(Kept::default);
                kept.push(rows, (xin, hw), (x_mid, &g), self.kept_rows_bytes);
            }
        }
    }

    /// Every rank's sums added up (a rank with no rows holds none: an error), and rank 0's raw
    /// rows given to every rank.
    fn all_reduce(&mut self, world: &World) -> Result<()> {
        if world.size() == 1 {
            return Ok(());
        }
        for sm in &self.sums {
            let sm = sm.as_ref().ok_or_else(|| {
                Error::Growth("a rank's share of the statistics sample is empty".into())
            })?;
            sm.all_reduce(world)?;
        }
        for rows in self.samples.iter_mut().flatten() {
            rows.b2 = world.broadcast_from_root(&rows.b2)?;
            rows.g = world.broadcast_from_root(&rows.g)?;
            let images = world.broadcast_from_root(&Tensor::from_slice(&[rows.images]))?;
            rows.images = images.int64_value(&[0]);
        }
        Ok(())
    }

    /// The averages over `n` samples, as f64 matrices.
    fn finish(self, net: &Network, sites: &[Site], n: i64) -> Result<Vec<SiteStatistics>> {
        let inv = 1.0 / n.max(1) as f64;
        let mut stats = Vec::with_capacity(sites.len());
        let kept = self.kept.into_iter();
        for (((s, sm), known), kept) in sites.iter().zip(self.sums).zip(self.known).zip(kept) {
            let sm = sm.ok_or_else(|| Error::Growth("empty statistics sample".into()))?;
            let (s2, s2_factor) = match (known, &sm.s2) {
                (Some(k), _) => (k.s2.clone(), k.factor.clone()),
                (None, Some(s2)) => (to_mat(&(s2 * inv))?, None),
                (None, None) => {
                    return Err(Error::Growth("S₂ was neither known nor summed".into()))
                }
            };
            // Sums in the factor's basis stay there (`Q_rᵀM₂`, `Q_rᵀP`): all that the whitened
            // solve and the cross term read (docs/tiny.md §2.2, §2.5 "In the input moment's
            // basis").
            let in_basis = known
                .as_ref()
                .is_some_and(|k| k.basis_rows.is_some() && k.factor.is_some());
            let avg = |t: &Tensor| to_mat(&(t * inv));
            let e = to_mat(&(&sm.e * inv))?;
            let trace_e = (0..e.nrows()).map(|i| e[(i, i)]).sum();
            let consumer_bias = net.stages[s.index + 1].layer.bias().is_some();
            let built = |t: &Option<Tensor>| match t {
                Some(t) => avg(t),
                None => Ok(Mat::zeros(0, 0)),
            };
            let (m2, p) = (built(&sm.m2)?, built(&sm.p)?);
            let producer = site::FeatureMap::of(&net.stages[s.index]);
            let deferred = kept.map(|kept| {
                let kinds = (self.precision, consumer_bias);
                projection::deferred(*s, producer, kinds, kept, inv)
            });
            stats.push(SiteStatistics {
                s: to_mat(&(&sm.s * inv))?,
                m: to_mat(&(&sm.m * inv))?,
                s2,
                s2_factor,
                in_basis,
                m2,
                p,
                e: Some(e),
                trace_e,
                n: n as usize,
                consumer_bias,
                taps: s.taps(),
                deferred,
            });
        }
        Ok(stats)
    }
}

/// What [`collect`] gathers: the sites, how many samples' raw rows to keep per site (fewer for
/// wide conv sites), per site its `S₂` when already known ([`InputMoment`]), and the precision
/// of the per-batch products (`Kind::Double`, or the training precision with f64 sums across
/// batches: docs/tiny.md §2.2, "Precision"), and where to keep the stems of the sample
/// (the activations before the first site; [`Stems`]) between passes of one check.
pub struct Plan<'a> {
    pub sites: &'a [Site],
    pub keep_samples: usize,
    pub known: Vec<Option<Arc<InputMoment>>>,
    pub precision: Kind,
    pub stems: Option<&'a RefCell<Stems>>,
    /// The full conv neuron's `N = −M₂ + Pδᵀ` formed once δ is known, from the minibatches'
    /// inputs and gradient rows kept meanwhile, instead of `M₂` and `P` (docs/tiny.md §3.2,
    /// "`N` without `P` or `M₂`"; [`projection`]).
    /// In one process only: a data-parallel pass builds `P`.
    pub defer_projection: bool,
    /// Most bytes of a deferring site's unfolded producer rows kept for `N` (beyond them its
    /// inputs are kept and unfolded again: the same values; [`projection::KEPT_ROWS_BYTES`]).
    pub kept_rows_bytes: i64,
}

impl<'a> Plan<'a> {
    /// Every statistic of `sites` in f64, keeping `keep_samples` samples' raw rows.
    pub fn new(sites: &'a [Site], keep_samples: usize) -> Plan<'a> {
        Plan {
            sites,
            keep_samples,
            known: vec![None; sites.len()],
            precision: Kind::Double,
            stems: None,
            defer_projection: false,
            kept_rows_bytes: projection::KEPT_ROWS_BYTES,
        }
    }
}

/// Collects the statistics of `plan.sites` over the samples `index` of `data`, in minibatches
/// of `batch_size` (only one minibatch's unfolded tensors live at a time, but for the producer
/// rows a deferring site keeps, up to `plan.kept_rows_bytes`).
pub fn collect(
    net: &Network,
    loss: Loss,
    data: &Dataset,
    index: &Tensor,
    batch_size: usize,
    plan: &Plan,
) -> Result<Collected> {
    collect_on(&World::single(), net, loss, (data, index, batch_size), plan)
}

/// [`collect`] in a data-parallel run: each rank goes through its contiguous share of `index`
/// (rank 0's starting with the whole first minibatch, whose raw rows are every rank's), and
/// the sums and the loss are summed over the ranks, so that every rank holds the statistics of
/// the whole sample from the same rows as one process. A sample too small to share (some rank
/// would get nothing) is gone through whole by every rank.
pub fn collect_on(
    world: &World,
    net: &Network,
    loss: Loss,
    (data, index, batch_size): (&Dataset, &Tensor, usize),
    plan: &Plan,
) -> Result<Collected> {
    let (sites, keep_samples) = (plan.sites, plan.keep_samples);
    if plan.known.len() != sites.len() {
        return Err(Error::Growth(
            "statistics plan: one known S₂ slot per site".into(),
        ));
    }
    let n = index.size()[0];
    let share = world.shard_keeping_first(n as usize, batch_size);
    let single = World::single();
    let (world, share) = match share {
        Some(r) => (world, r),
        None => (&single, 0..n as usize),
    };
    let index = &index.narrow(0, share.start as i64, share.len() as i64);
    let local = index.size()[0];
    // Raw samples are kept in the training precision.
    let kind = net
        .stages
        .first()
        .map_or(Kind::Float, |s| s.layer.weight().kind());
    let consumers: Vec<usize> = sites.iter().map(|s| s.index + 1).collect();
    // Stages whose features (augmented input, unfolded for a conv) some site needs.
    let mut needed: Vec<usize> = sites.iter().flat_map(|s| [s.index, s.index + 1]).collect();
    needed.sort_unstable();
    needed.dedup();
    let mut acc = Accumulator {
        sums: sites.iter().map(|_| None).collect(),
        samples: sites.iter().map(|_| None).collect(),
        known: &plan.known,
        precision: plan.precision,
        kept: sites.iter().map(|_| None).collect(),
        defer: plan.defer_projection && world.size() == 1,
        kept_rows_bytes: plan.kept_rows_bytes,
    };
    let mut loss_total = 0.0;
    let first = needed.first().copied().unwrap_or(0);
    let mut starts = Starts::new(net, (data, index, batch_size as i64), first, plan);
    // Mixed precision's loss (`Loss::per_sample_padded`).
    let padded = plan.precision != Kind::Double;
    let mut start = 0;
    while start < local {
        let len = (batch_size as i64).min(local - start);
        let b = (start / batch_size as i64) as usize; // the minibatch's stem
        let batch_index = index.narrow(0, start, len);
        start += len;
        let mut hooks = Probes {
            needed: &needed,
            consumers: &consumers,
            inputs: net.stages.iter().map(|_| None).collect(),
            probes: Vec::new(),
        };
        let (start_at, y) = starts.start(b, &batch_index, &mut hooks);
        let (lv, grads) = probe_batch(net, (loss, padded), start_at, &y, &mut hooks)?;
        starts.record(&hooks);
        loss_total += lv;
        let offset = share.start as i64 + start - len;
        acc.add_batch(
            net,
            sites,
            (&hooks, &grads),
            (offset, len, keep_samples, kind),
        );
    }
    starts.keep(local);
    acc.all_reduce(world)?;
    let loss_total = world.sum_f64(&[loss_total])?[0];
    let samples = std::mem::take(&mut acc.samples);
    Ok(Collected {
        stats: acc.finish(net, sites, n)?,
        samples,
        loss: loss_total * (1.0 / n.max(1) as f64),
    })
}
