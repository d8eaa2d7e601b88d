//! Growth: statistics → method → proposal → amplitude (line search) → apply.
//!
//! * [`context`]: what a growth check is lent ([`Context`]: network, optimiser state, samples,
//!   loss, seed, clock, event sink) and what it keeps ([`GrowthState`]). Growth never sees
//!   the training loop.
//! * [`statistics`]: one pass over a statistics sample, per-sample pre-activation gradients,
//!   S, M, S₂, M₂, P, E accumulated in f64 (docs/tiny.md §2.2); [`gram`]: `XᵀX` from the
//!   blocks on and above its diagonal.
//! * [`tiny`] (with [`linalg`]): the closed forms in f64 — best update δ, bottleneck Ψ,
//!   optimal neurons α, ω, λ (docs/tiny.md §2.3–2.7) — next to their tests.
//! * [`proposal`]: TINY / TINY-paper / GradMax (one code path, different options) and random.
//!   [`orient`]: the full conv neuron's channels oriented by their measured first order
//!   (docs/tiny.md §9).
//! * [`amplitude`]: the extended forward and the line search on the scale (docs/tiny.md §2.8–2.9).
//! * [`verdict`]: a proposal's amplitude, its acceptance, apply and rollback, its event;
//!   [`auto`]: the automatic mode's held-out verdict (docs/tiny.md §10).
//! * [`apply`]: the change to the layers and the optimiser state (through [`crate::surgery`]).
//! * [`step`]: the TINY family's growth check: where (capacities, selection), statistics,
//!   proposals, then [`verdict`] per site.
//! * [`site`]: growth sites (dense, conv → conv with the restricted or full neuron, conv →
//!   linear) and the aligned rows their statistics are built from; [`unfold`]: convolutions
//!   as linear maps on unfolded patches (docs/tiny.md §3).
//! * [`depth`]: inserting an empty residual block (the identity) whose width then grows.
//! * [`senn`]: Self-Expanding Neural Networks, which decide by themselves when and where to
//!   add a neuron or a layer (natural expansion score, function-preserving insertions).
//!
//! The [`Grower`] decides *when* (a schedule in epochs or steps, or automatically until the
//! bottlenecks are exhausted); each [`GrowthMethod`] (the TINY family, SENN) decides *where*
//! and *what* at a check. The example in [`context`] grows a network without any trainer.
pub mod amplitude;
pub mod apply;
pub mod auto;
pub mod backoff;
pub mod config;
pub mod context;
pub mod depth;
pub mod gram;
pub mod linalg;
pub mod moment;
pub mod orient;
pub mod preview;
pub mod projection;
pub mod proposal;
pub mod replicate;
pub mod senn;
pub mod site;
pub mod statistics;
pub mod stem;
pub mod step;
pub mod tiny;
pub mod unfold;
pub mod verdict;

use std::time::Instant;

pub use amplitude::LineSearch;
pub use auto::AutoGain;
pub use config::{GrowthConfig, Selection};
pub use context::{Clock, Context, GrowthState};
pub use proposal::{Method, Proposal};

use crate::error::Result;

/// A way of growing: one check decides whether, where and what to add, applies it and logs
/// its events. The TINY family ([`step::TinyFamily`]) and SENN ([`senn::Senn`]) implement it.
pub trait GrowthMethod: std::fmt::Debug {
    fn check(
        &mut self,
        config: &GrowthConfig,
        state: &mut GrowthState,
        ctx: &mut Context,
    ) -> Result<()>;

    /// Work that can start before the first check, in the background (e.g. the input moment
    /// of a fixed statistics sample). Nothing by default.
    fn prepare(&mut self, _config: &GrowthConfig, _ctx: &Context) {}
}

/// Drives growth during training: when to check (schedule or automatic mode), the method
/// that checks, and the state kept between checks.
#[derive(Debug)]
pub struct Grower {
    pub config: GrowthConfig,
    pub state: GrowthState,
    method: Box<dyn GrowthMethod>,
}

impl Grower {
    pub fn new(config: GrowthConfig) -> Result<Self> {
        config.validate()?;
        let method: Box<dyn GrowthMethod> = match config.method {
            Method::Senn => Box::new(senn::Senn),
            _ => Box::new(step::TinyFamily::default()),
        };
        Ok(Grower {
            config,
            state: GrowthState::default(),
            method,
        })
    }

    fn active(&self, epoch: usize) -> bool {
        !self.state.finished && self.config.stop_epoch.is_none_or(|e| epoch < e)
    }

    /// Whether a check is due after optimisation step `step` of epoch `epoch` (0-based).
    pub fn due_after_step(&self, step: usize, epoch: usize) -> bool {
        self.active(epoch) && self.config.every_steps.is_some_and(|k| step % k == 0)
    }

    /// Whether a check is due once `epoch` of `epochs` epochs are complete.
    pub fn due_after_epoch(&self, epoch: usize, epochs: usize) -> bool {
        self.config.every_steps.is_none()
            && self.active(epoch - 1)
            && epoch % self.config.every_epochs == 0
            && epoch < epochs
    }

    /// Starts what the method can compute before its first check while training goes on
    /// (counted in the growth time); call once when training starts.
    pub fn prepare(&mut self, ctx: &Context) {
        if self.state.finished {
            return;
        }
        let start = Instant::now();
        self.set_linalg_threads(ctx);
        self.method.prepare(&self.config, ctx);
        self.state.seconds += start.elapsed().as_secs_f64();
    }

    /// After the end shrink (docs/tiny.md §2.18, "BatchNorm after the shrink"): every
    /// BatchNorm's running statistics set from `max(recalibrate_samples, stats_samples)`
    /// training samples. Scaling the parameters scales each BatchNorm's input, so the running
    /// statistics of the network before the shrink would make the evaluation-mode network
    /// compute another function (at chance on CIFAR-10) until training has refreshed them.
    pub fn recalibrate_after_shrink(&mut self, ctx: &mut Context) {
        let start = Instant::now();
        let n = self
            .config
            .recalibrate_samples
            .max(self.config.stats_samples);
        recalibrate_on(n, &self.config, ctx);
        self.state.seconds += start.elapsed().as_secs_f64();
    }

    /// faer's threads for this run's growth ([`crate::runtime::linalg_threads`]).
    fn set_linalg_threads(&self, ctx: &Context) {
        let on_cpu = ctx.net.device() == tch::Device::Cpu;
        let n = crate::runtime::linalg_threads(self.config.linalg_threads, on_cpu);
        crate::runtime::set_linalg_threads(n);
    }

    /// One growth check by the configured method, its large buffers reused from glibc's heap
    /// ([`crate::runtime::HeapOnly`], docs/tiny.md §8, "The allocator").
    pub fn check(&mut self, ctx: &mut Context) -> Result<()> {
        let start = Instant::now();
        self.set_linalg_threads(ctx);
        let _heap = crate::runtime::HeapOnly::new();
        recalibrate(&self.config, ctx);
        let result = self
            .method
            .check(&self.config, &mut self.state, ctx)
            .and_then(|()| replicate::from_root(ctx.world, ctx.net, ctx.opt));
        self.state.seconds += start.elapsed().as_secs_f64();
        result
    }
}

/// Recalibrates the network's BatchNorms before a check: their running statistics become the
/// training-mode statistics on `recalibrate_samples` training samples, drawn once from the
/// run's seed (the same sample at every check; docs/tiny.md §3.3, "Recalibrated statistics").
fn recalibrate(cfg: &GrowthConfig, ctx: &mut Context) {
    recalibrate_on(cfg.recalibrate_samples, cfg, ctx);
}

/// [`crate::nn::recalibrate_norms`] on `n` training samples (at most the training set) drawn
/// from the run's seed, in batches of `stats_batch_size`; nothing without a BatchNorm.
fn recalibrate_on(n: usize, cfg: &GrowthConfig, ctx: &mut Context) {
    let n = n.min(ctx.train.len());
    if n < 2 || !crate::nn::has_batch_norm(ctx.net) {
        return;
    }
    let indices = ctx.statistics_indices(n, &mut step::recalibration_rng(ctx.seed));
    let index = tch::Tensor::from_slice(&indices).to_device(ctx.net.device());
    let (x, _) = ctx.train.select(&index);
    crate::nn::recalibrate_norms(ctx.net, &x, cfg.stats_batch_size);
}
