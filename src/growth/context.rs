//! What a growth check works on: the narrow [`Context`] a caller lends it (the network, the
//! optimiser state, the samples, the loss, a seed, the position in training and an event
//! sink), and the [`GrowthState`] it keeps between checks (saved in checkpoints).
//!
//! Growth never sees the training loop: anything that owns a network and its optimiser can
//! grow it.
//!
//! ```
//! use grownet::data::Dataset;
//! use grownet::distributed::World;
//! use grownet::events::Event;
//! use grownet::growth::{Clock, Context, GrowthConfig, Grower, Method, Selection};
//! use grownet::nn::{Activation, Architecture, Loss, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! tch::manual_seed(0);
//! let x = Tensor::randn([256, 2], (Kind::Float, Device::Cpu));
//! let y = x.select(1, 0).gt(0.0).to_kind(Kind::Int64); // a task one neuron can learn
//! let train = Dataset { x, y };
//! let arch = Architecture::mlp(2, &[1], 2, Activation::Relu);
//! let mut net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! let config = GrowthConfig {
//!     method: Method::Tiny,
//!     selection: Selection::All,
//!     max_hidden: Some(vec![4]),
//!     ..GrowthConfig::default()
//! };
//! let mut grower = Grower::new(config).unwrap();
//! let mut events: Vec<Event> = Vec::new();
//! let mut ctx = Context {
//!     net: &mut net,
//!     opt: &mut opt,
//!     train: &train,
//!     val: None,
//!     loss: Loss::CrossEntropy,
//!     seed: 0,
//!     clock: Clock { epoch: 1, step: 8 },
//!     events: &mut events,
//!     world: &World::single(),
//! };
//! grower.check(&mut ctx).unwrap();
//! assert_eq!(grower.state.steps_done, 1);
//! assert!(matches!(events[0], Event::Growth(_))); // one event per site tried
//! ```
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::backoff::Backoff;
use crate::data::Dataset;
use crate::distributed::World;
use crate::error::Result;
use crate::events::{Event, EventSink};
use crate::nn::{Loss, Network};
use crate::optim::Optimizer;

/// Where training stands when a growth check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Completed epochs.
    pub epoch: usize,
    /// Completed optimisation steps.
    pub step: usize,
}

/// Everything a growth check may use and change.
pub struct Context<'a> {
    pub net: &'a mut Network,
    pub opt: &'a mut Optimizer,
    /// The training split (statistics samples) and the validation split, when there is one
    /// (held-out line-search and judging samples; else a disjoint part of `train`).
    pub train: &'a Dataset,
    pub val: Option<&'a Dataset>,
    pub loss: Loss,
    /// The run's seed: every growth check draws its samples from it (reproducible runs).
    pub seed: u64,
    pub clock: Clock,
    pub events: &'a mut dyn EventSink,
    /// The ranks of a data-parallel run ([`World::single`] otherwise): statistics are summed
    /// over them, and after a check every rank holds rank 0's network and optimiser state.
    pub world: &'a World,
}

impl Context<'_> {
    pub fn emit(&mut self, event: Event) -> Result<()> {
        self.events.emit(event)
    }

    /// A statistics sample of `stats` training samples and `held_out` line-search samples:
    /// the validation split's first samples when there is one, else training samples
    /// disjoint from the statistics sample when the training set is large enough.
    pub fn samples(
        &self,
        stats: usize,
        held_out: usize,
        rng: &mut ChaCha8Rng,
    ) -> (Tensor, Dataset) {
        let perm = self.permutation(rng);
        let n_stats = stats.min(perm.len());
        let rest = if perm.len() > n_stats {
            &perm[n_stats..]
        } else {
            &perm[..]
        };
        let stats_idx = Tensor::from_slice(&perm[..n_stats]).to_device(self.net.device());
        (stats_idx, self.held_out(rest, held_out))
    }

    /// The statistics sample [`Context::samples`] draws from `rng`, as indices.
    pub fn statistics_indices(&self, stats: usize, rng: &mut ChaCha8Rng) -> Vec<i64> {
        let mut perm = self.permutation(rng);
        perm.truncate(stats);
        perm
    }

    /// `held_out` line-search samples beside a fixed statistics sample `fixed` (disjoint from
    /// it when the training set is large enough), drawn as [`Context::samples`] draws them.
    pub fn held_out_beside(&self, fixed: &[i64], held_out: usize, rng: &mut ChaCha8Rng) -> Dataset {
        // Drawn in every case: the generator then goes on from the same state.
        let perm = self.permutation(rng);
        let validation = self.val.is_some_and(|v| !v.is_empty());
        if validation || perm.len() <= fixed.len() {
            return self.held_out(&perm, held_out); // the validation split ignores `perm`
        }
        let taken: std::collections::HashSet<i64> = fixed.iter().copied().collect();
        // Only the first `held_out` are taken: the rest of the permutation is not filtered.
        let rest: Vec<i64> = perm
            .into_iter()
            .filter(|i| !taken.contains(i))
            .take(held_out)
            .collect();
        self.held_out(&rest, held_out)
    }

    fn permutation(&self, rng: &mut ChaCha8Rng) -> Vec<i64> {
        let mut perm: Vec<i64> = (0..self.train.len() as i64).collect();
        perm.shuffle(rng);
        perm
    }

    /// The validation split's first `n` samples, else the training samples `candidates[..n]`.
    fn held_out(&self, candidates: &[i64], n: usize) -> Dataset {
        match self.val {
            Some(v) if !v.is_empty() => v.head(n),
            _ => {
                let len = n.min(candidates.len());
                let idx = Tensor::from_slice(&candidates[..len]).to_device(self.net.device());
                let (x, y) = self.train.select(&idx);
                Dataset { x, y }
            }
        }
    }
}

/// What a grower keeps between checks; saved in checkpoints (under the key names of the
/// checkpoint's metadata) so that a resumed run grows as the uninterrupted one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrowthState {
    /// Growth checks performed (scheduled attempts).
    #[serde(rename = "growth_steps", default)]
    pub steps_done: usize,
    /// Automatic mode: consecutive checks that added nothing.
    #[serde(rename = "growth_idle_checks", default)]
    pub idle_checks: usize,
    /// No more growth (targets reached or bottlenecks exhausted).
    #[serde(rename = "growth_finished", default)]
    pub finished: bool,
    /// Automatic mode: the sites resting after refused steps ([`super::backoff`]).
    #[serde(
        rename = "growth_backoff",
        default,
        skip_serializing_if = "Backoff::is_empty"
    )]
    pub backoff: Backoff,
    /// SENN: checks left before another layer may be inserted.
    #[serde(default)]
    pub senn_depth_cooldown: usize,
    /// Seconds spent in growth so far (across resumptions).
    #[serde(rename = "growth_seconds", default)]
    pub seconds: f64,
}
