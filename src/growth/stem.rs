//! Stems: the activations of fixed data up to a stage (the input of the stage, and of its
//! block), kept within one growth check while no stage before it changes (docs/tiny.md §10); a
//! fixed statistics sample's inputs, which depend on the data alone, for the whole run
//! ([`Stems::clear_except_inputs_of`]).
//!
//! Between the rounds of a check nothing trains, and a step at site k changes stages k and k+1
//! only. The statistics sample (fixed) and the held-out data (the validation split's head) are
//! the same at every round, so the forward pass through the stages before a site — at an MLP's
//! second site, the input layer over thousands of samples — need not run again while those
//! stages are unchanged. A stem is the same computation on the same values as the forward it
//! replaces: results are bit for bit those without it, except that with mixed-precision
//! statistics a step's producer outputs are grown by the new units' columns
//! ([`Stems::grown`], equal up to rounding).
//!
//! ```
//! use grownet::growth::stem::Stems;
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::mlp(3, &[4, 4], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let x = Tensor::randn([10, 3], (Kind::Float, Device::Cpu));
//! let mut stems = Stems::default();
//! let (h, _) = net.forward_range(&x, None, 0..1, false);
//! assert!(stems.of(&net, &x, 1, 4)[0].0.equal(&h.narrow(0, 0, 4)));
//! assert_eq!(stems.len(), 1);
//! stems.changed(1); // a step at site 1 leaves stage 0, the stem of stage 1, as it was
//! assert_eq!(stems.len(), 1);
//! stems.changed(0); // a step at site 0 changes stage 0
//! assert_eq!(stems.len(), 0);
//! // The whole output from the stem of stage 1: the plain forward's, bit for bit; the stem of
//! // stage 2 (of all ten rows at once) is kept on the way.
//! assert!(stems.output(&net, &x, 1).equal(&net.forward(&x, false)));
//! let (h2, _) = net.forward_range(&x, None, 0..2, false);
//! assert!(stems.peek(&[&x], 2, 10).unwrap()[0].0.equal(&h2));
//! ```
use tch::Tensor;

use crate::data::consecutive_batches;
use crate::nn::{Layer, Network, Pool};

/// A stage's input and its block's input (residual networks) for one minibatch.
pub type Stem = (Tensor, Option<Tensor>);

/// Another handle on the same stem's tensors (no copy of their data).
pub fn shallow((h, block): &Stem) -> Stem {
    (h.shallow_clone(), block.as_ref().map(Tensor::shallow_clone))
}

/// The stems computed in the current check.
#[derive(Debug, Default)]
pub struct Stems {
    entries: Vec<Entry>,
    /// Stems too large to keep, for the one pass that asked for them.
    scratch: Vec<Stem>,
}

/// Most values (stage inputs of every minibatch) one entry keeps: 64 Mi, 256 MiB in f32.
const MAX_VALUES: i64 = 64 << 20;

#[derive(Debug)]
struct Entry {
    /// The tensors the stems were computed from (the data, or the data and the sample's
    /// indices), held so that their memory cannot be reused by other tensors while the entry
    /// lives: the same address, shape and strides then mean the same values.
    from: Vec<Tensor>,
    stage: usize,
    batch: i64,
    stems: Vec<Stem>,
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.data_ptr() == b.data_ptr() && a.size() == b.size() && a.stride() == b.stride()
}

impl Entry {
    fn is(&self, from: &[&Tensor], stage: usize, batch: i64) -> bool {
        self.stage == stage
            && self.batch == batch
            && self.from.len() == from.len()
            && self.from.iter().zip(from).all(|(a, b)| same(a, b))
    }
}

impl Stems {
    /// The inputs of stage `stage` (and of its block) for the rows of `x` in minibatches of
    /// `batch` rows, each as `net.forward_range(minibatch, None, 0..stage, false)` computes it.
    pub fn of(&mut self, net: &Network, x: &Tensor, stage: usize, batch: i64) -> &[Stem] {
        self.get_or_compute(&[x], stage, batch, || {
            consecutive_batches(x, batch)
                .map(|xb| net.forward_range(&xb, None, 0..stage, false))
                .collect()
        })
    }

    /// The network's output on all of `x` (one batch), run from the stem of `stage`: the values
    /// of `net.forward(x, false)` without the stages before `stage` while they are unchanged.
    /// The stem of the next stage, computed on the way, is kept too.
    pub fn output(&mut self, net: &Network, x: &Tensor, stage: usize) -> Tensor {
        let n = x.size()[0];
        let last = net.stages.len();
        if n == 0 || stage >= last {
            return tch::no_grad(|| net.forward(x, false));
        }
        let (h, prev) = shallow(&self.of(net, x, stage, n)[0]);
        let next = tch::no_grad(|| net.forward_range(&h, prev, stage..stage + 1, false));
        let (h, prev) = shallow(&next);
        if stage + 1 < last {
            // Replaces a stem of the next stage grown by a step ([`Stems::grown`]): this one
            // is the whole forward's.
            self.entries.retain(|e| !e.is(&[x], stage + 1, n));
            self.get_or_compute(&[x], stage + 1, n, || vec![next]);
        }
        tch::no_grad(|| net.forward_range(&h, prev, stage + 1..last, false).0)
    }

    /// The stems of stage `stage` from `from` in minibatches of `batch` rows, if kept.
    pub fn peek(&self, from: &[&Tensor], stage: usize, batch: i64) -> Option<&[Stem]> {
        self.entries
            .iter()
            .find(|e| e.is(from, stage, batch))
            .map(|e| e.stems.as_slice())
    }

    /// The stems of stage `stage` computed from the tensors `from` by `compute` (once per check
    /// while no stage before `stage` changes), in minibatches of `batch` rows.
    pub fn get_or_compute(
        &mut self,
        from: &[&Tensor],
        stage: usize,
        batch: i64,
        compute: impl FnOnce() -> Vec<Stem>,
    ) -> &[Stem] {
        let i = match self.entries.iter().position(|e| e.is(from, stage, batch)) {
            Some(i) => i,
            None => {
                let stems: Vec<Stem> = tch::no_grad(compute);
                let size: i64 = stems
                    .iter()
                    .map(|(h, b)| h.numel() as i64 + b.as_ref().map_or(0, |b| b.numel() as i64))
                    .sum();
                if size > MAX_VALUES {
                    // Too large to keep (wide conv activations): used once, not kept.
                    self.scratch = stems;
                    return &self.scratch;
                }
                self.entries.push(Entry {
                    from: from.iter().map(|t| t.shallow_clone()).collect(),
                    stage,
                    batch,
                    stems,
                });
                self.entries.len() - 1
            }
        };
        &self.entries[i].stems
    }

    /// A step changed the stages from `site` on (its producer `site` and consumer `site + 1`):
    /// forgets the stems that ran through them.
    pub fn changed(&mut self, site: usize) {
        self.entries.retain(|e| e.stage <= site);
    }

    /// A step at `site` appended units to its producer from row `old` on: the stems of stage
    /// `site + 1` (the producer's outputs) get the new units' outputs, computed from the stems
    /// of stage `site` with the grown weights; the stems of later stages are forgotten (the
    /// consumer changed), and so are those of stage `site + 1` without their producer's stems.
    /// Only for a plain linear producer (no BatchNorm, pooling, rational units or skip
    /// connection; anything else is forgotten as [`Stems::changed`] does). The new columns come
    /// from a narrower product than a whole forward: equal up to the product's rounding, not
    /// bit for bit (docs/tiny.md §10, "Stems").
    pub fn grown(&mut self, net: &Network, site: usize, old: i64) {
        let Some(stage) = net.stages.get(site) else {
            return self.changed(site);
        };
        let plain = matches!(stage.layer, Layer::Linear(_))
            && stage.norm.is_none()
            && stage.pool == Pool::None
            && stage.rational.is_none()
            && stage.skip.is_none();
        let added = stage.layer.weight().size()[0] - old;
        if !plain || added <= 0 {
            return self.changed(site);
        }
        let w = stage.layer.weight().narrow(0, old, added);
        let b = stage.layer.bias().map(|b| b.narrow(0, old, added));
        let grown: Vec<Option<Vec<Stem>>> = self
            .entries
            .iter()
            .map(|e| {
                if e.stage != site + 1 {
                    return None;
                }
                let from: Vec<&Tensor> = e.from.iter().collect();
                let inputs = self.entries.iter().find(|p| p.is(&from, site, e.batch))?;
                tch::no_grad(|| {
                    let new = inputs
                        .stems
                        .iter()
                        .zip(&e.stems)
                        .map(|((h, _), (out, prev))| {
                            let units = stage.post(&stage.layer.input(h).linear(&w, b.as_ref()));
                            let out = Tensor::cat(&[out, &units], 1);
                            (out, prev.as_ref().map(Tensor::shallow_clone))
                        });
                    Some(new.collect())
                })
            })
            .collect();
        let entries = std::mem::take(&mut self.entries);
        for (mut e, g) in entries.into_iter().zip(grown) {
            match g {
                Some(stems) => {
                    e.stems = stems;
                    self.entries.push(e);
                }
                None if e.stage <= site => self.entries.push(e),
                None => {}
            }
        }
    }

    /// Forgets every stem (a new check: the network has trained since).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.scratch.clear();
    }

    /// Forgets every stem except the network's inputs (stage 0) selected by the sample
    /// `index`: they depend on the data alone, not on the network, so a fixed statistics sample
    /// is gathered from the training set once per run instead of once per check.
    pub fn clear_except_inputs_of(&mut self, index: &Tensor) {
        self.entries
            .retain(|e| e.stage == 0 && e.from.iter().any(|t| same(t, index)));
        self.scratch.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
