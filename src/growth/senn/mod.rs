//! SENN, Self-Expanding Neural Networks (Mitchell et al.; docs/senn.md §1): the network decides
//! by itself when and where to add a neuron or a layer, from the natural expansion score.
//!
//! At each check ([`Senn`]): collect per-layer statistics ([`collect`]), compute every
//! layer's K-FAC score `η_l` and the lower bound `Δη'` of the best width proposal of each
//! hidden site and of the best layer insertion at each gap ([`proposals`], [`score`]),
//! divided by a depth cost for layers. A candidate passes when `Δη'/η_l > τ` and
//! `Δη'/λ > α` (§1.5); the best passing one is applied function-preservingly ([`insert`]),
//! then everything is re-scored, until none passes. No target size is needed.
//!
//! ```
//! use grownet::data::Dataset;
//! use grownet::events::{Event, Growth};
//! use grownet::growth::{Clock, Context, GrowthConfig, Grower, Method};
//! use grownet::nn::{Activation, Architecture, Loss, Network};
//! use grownet::optim::{Optimizer, OptimizerConfig};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! tch::manual_seed(0);
//! // Two ReLU features to fit, and one hidden neuron: the first check adds width.
//! let x = Tensor::randn([512, 2], (Kind::Float, Device::Cpu));
//! let y = (x.select(1, 0).relu() - x.select(1, 1).relu()).unsqueeze(1);
//! let train = Dataset { x, y };
//! let arch = Architecture::mlp(2, &[1], 1, Activation::Relu);
//! let mut net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! let mut opt = Optimizer::new(OptimizerConfig::sgd(0.9));
//! let mut grower = Grower::new(GrowthConfig { method: Method::Senn, ..GrowthConfig::default() }).unwrap();
//! let mut events: Vec<Event> = Vec::new();
//! let mut ctx = Context {
//!     net: &mut net, opt: &mut opt, train: &train, val: None, loss: Loss::Mse, seed: 0,
//!     clock: Clock { epoch: 1, step: 10 }, events: &mut events,
//! };
//! grower.check(&mut ctx).unwrap();
//! let added: i64 = events.iter().map(|e| match e {
//!     Event::Growth(Growth::SennExpansion(x)) => x.neurons_added,
//!     _ => 0,
//! }).sum();
//! assert!(added >= 1, "{events:?}");
//! assert_eq!(net.hidden_widths()[0], 1 + added);
//! ```
pub mod collect;
pub mod insert;
pub mod proposals;
pub mod score;

use std::collections::HashMap;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use super::amplitude::plain_loss;
use super::config::GrowthConfig;
pub use super::config::SennConfig;
use super::context::{Context, GrowthState};
use super::GrowthMethod;
use crate::data::Dataset;
use crate::error::Result;
use crate::events::{Event, Growth, SennCandidate, SennExpansion, SennRound, SennScores};
use crate::nn::{Layer, Network};
use crate::surgery::NetSnapshot;
use proposals::{RefineOptions, UnitActivation};
use score::Factors;

/// One scored expansion.
struct Candidate {
    kind: &'static str,
    /// Width: the hidden site; depth: the consumer stage the layer goes before.
    position: usize,
    /// `Δη'` (depth: already divided by the depth cost).
    score: f64,
    eta_layer: f64,
    passes: bool,
    width: Option<proposals::WidthCandidate>,
    depth: Option<proposals::DepthCandidate>,
}

impl Candidate {
    fn width(site: usize, c: proposals::WidthCandidate, eta_layer: f64) -> Self {
        Candidate {
            kind: "width",
            position: site,
            score: c.score,
            eta_layer,
            passes: false,
            width: Some(c),
            depth: None,
        }
    }

    /// Depth candidates' `Δη'` is divided by the depth cost.
    fn depth(gap: usize, c: proposals::DepthCandidate, cost: f64, eta_layer: f64) -> Self {
        Candidate {
            kind: "depth",
            position: gap,
            score: c.score / cost,
            eta_layer,
            passes: false,
            width: None,
            depth: Some(c),
        }
    }
}

/// SENN as a [`GrowthMethod`]: each check expands while a candidate passes the thresholds
/// (at most `max_additions` expansions).
#[derive(Debug)]
pub struct Senn;

/// The statistics of one pass and the two parts of the sample (`held_out`: `None` when
/// proposals are judged on the rows that built them).
struct Scored {
    st: collect::SennStatistics,
    fit: Part,
    held_out: Option<Part>,
}

impl Scored {
    /// A statistics pass over `(x, y)`. Proposals are built on one part of the sample and
    /// judged on the other, each part with its own least-squares residual: a unit orthogonal
    /// to what the consumer already sees must score 0 on the judging part too.
    fn collect(ctx: &Context, (x, y): (&Tensor, &Tensor), cfg: &GrowthConfig) -> Result<Self> {
        let batch = cfg.stats_batch_size as i64;
        let st = collect::collect(ctx.net, ctx.loss, x, y, batch)?;
        let n = st.samples;
        let split = cfg.senn.held_out && n >= 4;
        let fit_rows = if split { n / 2 } else { n };
        let fit = Part::new(&st, 0, fit_rows, cfg.senn.damping);
        let held_out = split.then(|| Part::new(&st, fit_rows, n - fit_rows, cfg.senn.damping));
        Ok(Scored { st, fit, held_out })
    }

    fn judge(&self) -> &Part {
        self.held_out.as_ref().unwrap_or(&self.fit)
    }

    /// After a zero-fan-out unit at site `k`: the statistics move in place (no new pass).
    fn add_unit(&mut self, net: &Network, k: usize) -> Result<()> {
        self.st.add_zero_fan_out_unit(net, k)?;
        self.fit.add_unit(&self.st, k);
        if let Some(h) = self.held_out.as_mut() {
            h.add_unit(&self.st, k);
        }
        Ok(())
    }
}

/// What a check carries from round to round.
struct Check {
    refine: RefineOptions,
    pools: HashMap<usize, proposals::Pool>,
    rng: ChaCha8Rng,
    depth_done: bool,
}

impl GrowthMethod for Senn {
    fn check(
        &mut self,
        cfg: &GrowthConfig,
        state: &mut GrowthState,
        ctx: &mut Context,
    ) -> Result<()> {
        let sc = &cfg.senn;
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed ^ 0x5e22_0000);
        rng.set_stream(state.steps_done as u64 + 1);
        let (stats_idx, ls) = ctx.samples(cfg.stats_samples, cfg.line_search_samples, &mut rng);
        let (x, y) = ctx.train.select(&stats_idx);
        let mut check = Check {
            refine: RefineOptions {
                proposals: sc.proposals,
                depth_proposals: sc.depth_proposals,
                steps: sc.refine_steps,
                step_size: sc.step_size,
                refine_samples: sc.refine_samples,
                ..RefineOptions::default()
            },
            pools: HashMap::new(),
            rng,
            depth_done: false,
        };
        // One pass per check; a width addition updates the statistics in place (zero fan-out
        // changes nothing else), a layer insertion needs a new pass.
        let mut kept: Option<Scored> = None;
        for round in 0..sc.max_additions.max(1) {
            let t0 = Instant::now();
            let scored = match kept.take() {
                Some(k) => k,
                None => Scored::collect(ctx, (&x, &y), cfg)?,
            };
            let etas = scored.judge().etas();
            let seconds_statistics = t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let cands = candidates(cfg, state, ctx.net, &scored, round, &mut check);
            let scores = scores_event(state, ctx, &scored, etas, &cands, round);
            let scores = SennScores {
                seconds_statistics,
                seconds_decomposition: t1.elapsed().as_secs_f64(),
                ..scores
            };
            let best = cands
                .into_iter()
                .filter(|c| c.passes)
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let Some(best) = best else {
                ctx.emit(Event::Growth(Growth::SennRound(Box::new(SennRound {
                    scores,
                    accepted: false,
                    neurons_added: 0,
                    reason: "no candidate passes Δη'/η_l > τ and Δη'/λ > α".into(),
                    hidden_widths: ctx.net.hidden_widths(),
                    parameters: ctx.net.parameter_count(),
                }))))?;
                break;
            };
            let accepted = expand(cfg, state, ctx, &ls, &best, scores, &mut check)?;
            if !accepted {
                break;
            }
            if best.width.is_some() {
                let mut scored = scored;
                scored.add_unit(ctx.net, best.position)?;
                kept = Some(scored);
            }
        }
        let keep_cooling = usize::from(!check.depth_done);
        state.senn_depth_cooldown = state.senn_depth_cooldown.saturating_sub(keep_cooling);
        state.steps_done += 1;
        Ok(())
    }
}

/// Every width candidate (one per hidden site below its cap) and, in a check's first round
/// when depth may grow, every depth candidate, each marked whether it passes
/// `Δη'/η_l > τ` and `Δη'/λ > α` (docs/senn.md §1.5).
fn candidates(
    cfg: &GrowthConfig,
    state: &GrowthState,
    net: &Network,
    scored: &Scored,
    round: usize,
    check: &mut Check,
) -> Vec<Candidate> {
    let (sc, judge, fit) = (&cfg.senn, scored.judge(), &scored.fit);
    let etas = judge.etas();
    let mut cands = Vec::new();
    let widths = net.hidden_widths();
    for (k, &w) in widths.iter().enumerate() {
        if w >= width_cap(cfg, k) {
            continue;
        }
        let j = k + 1;
        let act = UnitActivation::of(net.stages[k].activation);
        let pool = check.pools.remove(&k);
        let s_inv = &judge.stages[j].s_inv;
        let (fit_rows, judge_rows) = (fit.samples(k, j), judge.samples(k, j));
        let (mut c, pool) = proposals::width(
            fit_rows,
            judge_rows,
            s_inv,
            act,
            &check.refine,
            pool,
            &mut check.rng,
        );
        check.pools.insert(k, pool);
        if act.homogeneous() {
            // Δη' ignores the norm: give the unit the pre-activation scale of its layer.
            c.fan_in = rescale_like_layer(net, k, &scored.st.stages[k].inputs, &c.fan_in);
        }
        cands.push(Candidate::width(k, c, etas[j]));
    }
    let may_deepen = sc.max_layers > widths.len()
        && round == 0
        && state.senn_depth_cooldown == 0
        && sc.depth_cost > 0.0;
    if may_deepen {
        for (j, stage) in net.stages.iter().enumerate() {
            let Layer::Linear(l) = &stage.layer else {
                continue;
            };
            if l.in_features() > sc.max_depth_width {
                continue;
            }
            let (fit_rows, judge_rows) = (fit.samples(j, j), judge.samples(j, j));
            let bias = l.bias.is_some();
            let s_inv = &judge.stages[j].s_inv;
            let found = proposals::depth(
                fit_rows,
                judge_rows,
                bias,
                s_inv,
                &check.refine,
                &mut check.rng,
            );
            if let Some(c) = found {
                cands.push(Candidate::depth(j, c, sc.depth_cost, etas[j]));
            }
        }
    }
    for c in &mut cands {
        c.passes = c.score > sc.tau * c.eta_layer && c.score > sc.alpha * scored.st.lambda;
    }
    cands
}

/// The scores of a round, for its event (timings filled in by the caller).
fn scores_event(
    state: &GrowthState,
    ctx: &Context,
    scored: &Scored,
    etas: Vec<f64>,
    cands: &[Candidate],
    round: usize,
) -> SennScores {
    let lambda = scored.st.lambda;
    let candidates = cands
        .iter()
        .map(|c| SennCandidate {
            kind: c.kind.to_string(),
            position: c.position,
            delta_eta_bound: c.score,
            eta_layer: c.eta_layer,
            ratio_layer: c.score / c.eta_layer.max(1e-300),
            ratio_lambda: c.score / lambda.max(1e-300),
            passes: c.passes,
        })
        .collect();
    SennScores {
        method: "senn".into(),
        epoch: ctx.clock.epoch,
        step: ctx.clock.step,
        growth_step: state.steps_done + 1,
        round,
        eta_global: etas.iter().sum(),
        eta_layers: etas,
        lambda,
        stats_loss: scored.st.loss,
        candidates,
        seconds_statistics: 0.0,
        seconds_decomposition: 0.0,
    }
}

/// Applies the best passing candidate function-preservingly, checks the held-out loss (rolls
/// back a rise or a non-finite loss), and logs the expansion. Returns whether it was kept.
fn expand(
    cfg: &GrowthConfig,
    state: &mut GrowthState,
    ctx: &mut Context,
    ls: &Dataset,
    best: &Candidate,
    scores: SennScores,
    check: &mut Check,
) -> Result<bool> {
    let t2 = Instant::now();
    let loss_before = plain_loss(ctx.net, ctx.loss, ls);
    let snapshot = NetSnapshot::take(ctx.net, ctx.opt);
    let added = match (&best.width, &best.depth) {
        (Some(w), _) => {
            let fan_in = w.fan_in.copy();
            insert::add_unit(ctx.net, ctx.opt, best.position, &fan_in, w.theta.as_ref())?;
            1
        }
        (_, Some(d)) => {
            insert::insert_layer(ctx.net, ctx.opt, best.position, &d.layer)?;
            check.depth_done = true;
            check.pools.clear(); // stage indices moved
            state.senn_depth_cooldown = cfg.senn.depth_cooldown;
            ctx.net.stages[best.position].layer.weight().size()[0]
        }
        _ => 0,
    };
    let loss_after = plain_loss(ctx.net, ctx.loss, ls);
    // Width is exact; a layer is preserved up to f32 rounding of W B⁻¹.
    let tol = 1e-4 * loss_before.abs().max(1e-3);
    let mut reason = None;
    if !loss_after.is_finite() || loss_after > loss_before + tol {
        snapshot.restore(ctx.net, ctx.opt)?;
        reason = Some(format!(
            "rolled back: loss {loss_after:.6} after the {} expansion (was {loss_before:.6})",
            best.kind
        ));
    }
    let accepted = reason.is_none();
    let event = SennExpansion {
        scores,
        kind: best.kind.to_string(),
        site: best.position,
        delta_eta_bound: best.score,
        eta_layer: best.eta_layer,
        closed_form_bound: best.width.as_ref().map(|w| w.closed_form_score),
        accepted,
        neurons_added: if accepted { added } else { 0 },
        reason,
        loss_before,
        loss_after,
        seconds_line_search: t2.elapsed().as_secs_f64(),
        hidden_widths: ctx.net.hidden_widths(),
        parameters: ctx.net.parameter_count(),
    };
    ctx.emit(Event::Growth(Growth::SennExpansion(Box::new(event))))?;
    Ok(accepted)
}

/// One stage's factors on the rows of a [`Part`].
struct PartStage {
    inputs: tch::Tensor,
    /// `A` and `A⁺` of the inputs (kept: they only change with the inputs).
    a: tch::Tensor,
    a_pinv: tch::Tensor,
    residual: tch::Tensor,
    s_inv: tch::Tensor,
    eta: f64,
}

/// Rows `[start, start + len)` of the statistics sample, with each consumer's K-FAC factors,
/// residual gradients and layer score computed on those rows alone.
struct Part {
    start: i64,
    len: i64,
    damping: f64,
    stages: Vec<PartStage>,
}

impl Part {
    fn new(st: &collect::SennStatistics, start: i64, len: i64, damping: f64) -> Self {
        let mut part = Part {
            start,
            len,
            damping,
            stages: Vec::with_capacity(st.stages.len()),
        };
        for j in 0..st.stages.len() {
            let stage = part.compute(st, j, false);
            part.stages.push(stage);
        }
        part
    }

    /// Stage `j` from `st`; `same_inputs` reuses the input factor (A, A⁺) already held.
    fn compute(&self, st: &collect::SennStatistics, j: usize, same_inputs: bool) -> PartStage {
        let s = &st.stages[j];
        let a = s.inputs.narrow(0, self.start, self.len);
        let g = s.grads.narrow(0, self.start, self.len);
        let f = match self.stages.get(j).filter(|_| same_inputs) {
            Some(old) => Factors::with_input_factor(
                old.a.shallow_clone(),
                old.a_pinv.shallow_clone(),
                &a,
                &g,
                &s.s,
                self.damping,
            ),
            None => Factors::new(&a, &g, &s.s, self.damping),
        };
        PartStage {
            residual: f.residual(&a, &g),
            eta: f.score(),
            s_inv: f.s_inv.shallow_clone(),
            a: f.a,
            a_pinv: f.a_pinv,
            inputs: a,
        }
    }

    /// After a zero-fan-out unit at site `k` (statistics updated in place): the producer's
    /// gradients and S gained a zero column, the consumer's inputs a column; nothing else moved.
    fn add_unit(&mut self, st: &collect::SennStatistics, k: usize) {
        self.stages[k] = self.compute(st, k, true);
        self.stages[k + 1] = self.compute(st, k + 1, false);
    }

    fn etas(&self) -> Vec<f64> {
        self.stages.iter().map(|s| s.eta).collect()
    }

    /// The inputs of producer `k` and the residual gradients of consumer `j`.
    fn samples(&self, k: usize, j: usize) -> proposals::Samples<'_> {
        proposals::Samples {
            h: &self.stages[k].inputs,
            g_perp: &self.stages[j].residual,
        }
    }
}

/// `fan_in` rescaled so that its pre-activation has the mean RMS of the layer's existing
/// units on the inputs `h` (unit RMS for an empty layer).
fn rescale_like_layer(
    net: &crate::nn::Network,
    k: usize,
    h: &tch::Tensor,
    fan_in: &tch::Tensor,
) -> tch::Tensor {
    use tch::Kind;
    let w = net.stages[k].layer.augmented_weight();
    let target = if w.size()[0] > 0 {
        h.matmul(&w.tr())
            .square()
            .mean(Kind::Double)
            .double_value(&[])
            .sqrt()
    } else {
        1.0
    };
    let own = h
        .matmul(fan_in)
        .square()
        .mean(Kind::Double)
        .double_value(&[])
        .sqrt();
    if own > 0.0 && target > 0.0 {
        fan_in * (target / own)
    } else {
        fan_in.shallow_clone()
    }
}

/// The width cap of hidden layer `k`: `max_hidden[k]` (its last entry for layers added
/// later), else `senn.max_width`.
fn width_cap(cfg: &GrowthConfig, k: usize) -> i64 {
    match &cfg.max_hidden {
        Some(m) if !m.is_empty() => *m.get(k).unwrap_or(&m[m.len() - 1]),
        _ => cfg.senn.max_width,
    }
}
