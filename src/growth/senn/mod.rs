//! SENN, Self-Expanding Neural Networks (Mitchell et al.; senn.md §1): the network decides
//! by itself when and where to add a neuron or a layer, from the natural expansion score.
//!
//! At each check ([`check`]): collect per-layer statistics ([`collect`]), compute every
//! layer's K-FAC score `η_l` and the lower bound `Δη'` of the best width proposal of each
//! hidden site and of the best layer insertion at each gap ([`proposals`], [`score`]),
//! divided by a depth cost for layers. A candidate passes when `Δη'/η_l > τ` and
//! `Δη'/λ > α` (§1.5); the best passing one is applied function-preservingly ([`insert`]),
//! then everything is re-scored, until none passes. No target size is needed.
//!
//! ```
//! use grownet::config::RunConfig;
//! use grownet::growth::{GrowthConfig, Method};
//! use grownet::train::Trainer;
//! let mut cfg = RunConfig::default();
//! cfg.data.name = "regression".into();
//! cfg.model.hidden = vec![1];
//! cfg.train.epochs = 4;
//! cfg.device = Some("cpu".into());
//! cfg.threads = Some(1);
//! cfg.growth = Some(GrowthConfig { method: Method::Senn, ..GrowthConfig::default() });
//! let mut t = Trainer::new(cfg, None).unwrap();
//! t.quiet = true;
//! let s = t.fit().unwrap();
//! assert!(s.hidden_widths[0] >= 1);
//! ```
pub mod collect;
pub mod insert;
pub mod proposals;
pub mod score;

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Grower;
use crate::error::Result;
use crate::nn::Layer;
use crate::train::Trainer;
use proposals::{RefineOptions, UnitActivation};
use score::Factors;

/// SENN's hyper-parameters (defaults: the official MNIST-subset config, senn.md §1.5 table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SennConfig {
    /// Relative threshold τ: accept when `Δη'/η_l > τ`.
    pub tau: f64,
    /// Absolute threshold α relative to λ = E‖∂ℓ/∂y‖²: accept when `Δη'/λ > α`.
    pub alpha: f64,
    /// Depth candidates' `Δη'` is divided by this.
    pub depth_cost: f64,
    /// Most hidden layers depth growth may create (0: no depth growth).
    pub max_layers: usize,
    /// Checks to wait after inserting a layer before inserting another.
    pub depth_cooldown: usize,
    /// Width cap per hidden layer when `max_hidden` is not given.
    pub max_width: i64,
    /// Layers are only inserted where the hidden dimension is at most this wide.
    pub max_depth_width: i64,
    /// Most expansions in one check.
    pub max_additions: usize,
    /// Build proposals on one half of the statistics sample and judge them (thresholds and
    /// choice) on the other, so that chance correlations do not count as gains.
    pub held_out: bool,
    /// Damping of the output-side factor relative to its mean diagonal.
    pub damping: f64,
    /// Width proposals per site, depth proposals per gap, ascent steps and step size.
    pub proposals: usize,
    pub depth_proposals: usize,
    pub refine_steps: usize,
    pub step_size: f64,
    /// Samples the ascent runs on (from the half that builds proposals).
    pub refine_samples: usize,
}

impl Default for SennConfig {
    fn default() -> Self {
        SennConfig {
            tau: 0.03,
            alpha: 2.5e-3,
            depth_cost: 20.0,
            max_layers: 3,
            depth_cooldown: 3,
            max_width: 256,
            max_depth_width: 64,
            max_additions: 32,
            held_out: true,
            damping: score::DEFAULT_DAMPING,
            proposals: 32,
            depth_proposals: 4,
            refine_steps: 60,
            step_size: 0.05,
            refine_samples: 1024,
        }
    }
}

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

/// One SENN check: expand while a candidate passes the thresholds (at most `max_additions`).
pub fn check(g: &mut Grower, t: &mut Trainer) -> Result<()> {
    let start = Instant::now();
    let cfg = g.config.senn.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(t.config.train.seed ^ 0x5e22_0000);
    rng.set_stream(g.steps_done as u64 + 1);
    let (stats_idx, ls) = g.samples(t, &mut rng);
    let (x, y) = t.data.train.select(&stats_idx);
    let refine = RefineOptions {
        proposals: cfg.proposals,
        depth_proposals: cfg.depth_proposals,
        steps: cfg.refine_steps,
        step_size: cfg.step_size,
        refine_samples: cfg.refine_samples,
        ..RefineOptions::default()
    };
    let mut depth_done = false;
    let mut pools: std::collections::HashMap<usize, proposals::Pool> = Default::default();
    // One pass per check; a width addition updates the statistics in place (zero fan-out
    // changes nothing else), a layer insertion needs a new pass.
    // `held_out`: None when proposals are judged on the rows that built them.
    let mut stats: Option<(collect::SennStatistics, Part, Option<Part>)> = None;
    for round in 0..cfg.max_additions.max(1) {
        let t0 = Instant::now();
        let (st, fit, held_out) = match stats.take() {
            Some(kept) => kept,
            None => {
                let st =
                    collect::collect(&t.net, t.loss, &x, &y, g.config.stats_batch_size as i64)?;
                // Proposals are built on one part of the sample and judged on the other, each
                // part with its own least-squares residual: a unit orthogonal to what the
                // consumer already sees must score 0 on the judging part too.
                let n = st.samples;
                let split = cfg.held_out && n >= 4;
                let fit_rows = if split { n / 2 } else { n };
                let fit = Part::new(&st, 0, fit_rows, cfg.damping);
                let held_out = split.then(|| Part::new(&st, fit_rows, n - fit_rows, cfg.damping));
                (st, fit, held_out)
            }
        };
        let judge = held_out.as_ref().unwrap_or(&fit);
        let etas = judge.etas();
        let eta_global: f64 = etas.iter().sum();
        let seconds_statistics = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut cands = Vec::new();
        let widths = t.net.hidden_widths();
        for (k, &w) in widths.iter().enumerate() {
            if w >= width_cap(g, k) {
                continue;
            }
            let j = k + 1;
            let act = UnitActivation::of(t.net.stages[k].activation);
            let (mut c, pool) = proposals::width(
                fit.samples(k, j),
                judge.samples(k, j),
                &judge.stages[j].s_inv,
                act,
                &refine,
                pools.remove(&k),
                &mut rng,
            );
            pools.insert(k, pool);
            if act.homogeneous() {
                // Δη' ignores the norm: give the unit the pre-activation scale of its layer.
                c.fan_in = rescale_like_layer(&t.net, k, &st.stages[k].inputs, &c.fan_in);
            }
            cands.push(Candidate {
                kind: "width",
                position: k,
                score: c.score,
                eta_layer: etas[j],
                passes: false,
                width: Some(c),
                depth: None,
            });
        }
        let may_deepen = cfg.max_layers > widths.len()
            && round == 0
            && g.senn_depth_cooldown == 0
            && cfg.depth_cost > 0.0;
        if may_deepen {
            for (j, stage) in t.net.stages.iter().enumerate() {
                let Layer::Linear(l) = &stage.layer else {
                    continue;
                };
                if l.in_features() > cfg.max_depth_width {
                    continue;
                }
                if let Some(c) = proposals::depth(
                    fit.samples(j, j),
                    judge.samples(j, j),
                    l.bias.is_some(),
                    &judge.stages[j].s_inv,
                    &refine,
                    &mut rng,
                ) {
                    cands.push(Candidate {
                        kind: "depth",
                        position: j,
                        score: c.score / cfg.depth_cost,
                        eta_layer: etas[j],
                        passes: false,
                        width: None,
                        depth: Some(c),
                    });
                }
            }
        }
        for c in &mut cands {
            c.passes = c.score > cfg.tau * c.eta_layer && c.score > cfg.alpha * st.lambda;
        }
        let seconds_proposals = t1.elapsed().as_secs_f64();
        let listed: Vec<_> = cands
            .iter()
            .map(|c| {
                json!({"kind": c.kind, "position": c.position, "delta_eta_bound": c.score,
                       "eta_layer": c.eta_layer, "ratio_layer": c.score / c.eta_layer.max(1e-300),
                       "ratio_lambda": c.score / st.lambda.max(1e-300), "passes": c.passes})
            })
            .collect();
        let best = cands
            .into_iter()
            .filter(|c| c.passes)
            .max_by(|a, b| a.score.total_cmp(&b.score));
        let base = json!({
            "event": "growth", "method": "senn", "epoch": t.epoch, "step": t.step,
            "growth_step": g.steps_done + 1, "round": round,
            "eta_global": eta_global, "eta_layers": etas, "lambda": st.lambda,
            "stats_loss": st.loss, "candidates": listed,
            "seconds_statistics": seconds_statistics, "seconds_decomposition": seconds_proposals,
        });
        let Some(best) = best else {
            let mut ev = base;
            ev["accepted"] = json!(false);
            ev["neurons_added"] = json!(0);
            ev["reason"] = json!("no candidate passes Δη'/η_l > τ and Δη'/λ > α");
            ev["hidden_widths"] = json!(t.net.hidden_widths());
            ev["parameters"] = json!(t.net.parameter_count());
            t.log(&ev)?;
            break;
        };
        let t2 = Instant::now();
        let loss_before = super::amplitude::plain_loss(&t.net, t.loss, &ls);
        let snapshot = insert::NetSnapshot::take(&t.net, &t.opt);
        let added = match (&best.width, &best.depth) {
            (Some(w), _) => {
                insert::add_unit(
                    &mut t.net,
                    &mut t.opt,
                    best.position,
                    &w.fan_in.copy(),
                    w.theta.as_ref(),
                )?;
                1
            }
            (_, Some(d)) => {
                insert::insert_layer(&mut t.net, &mut t.opt, best.position, &d.layer)?;
                depth_done = true;
                pools.clear(); // stage indices moved
                g.senn_depth_cooldown = cfg.depth_cooldown;
                t.net.stages[best.position].layer.weight().size()[0]
            }
            _ => 0,
        };
        let loss_after = super::amplitude::plain_loss(&t.net, t.loss, &ls);
        // Width is exact; a layer is preserved up to f32 rounding of W B⁻¹.
        let tol = 1e-4 * loss_before.abs().max(1e-3);
        let mut reason = None;
        if !loss_after.is_finite() || loss_after > loss_before + tol {
            snapshot.restore(&mut t.net, &mut t.opt)?;
            reason = Some(format!(
                "rolled back: loss {loss_after:.6} after the {} expansion (was {loss_before:.6})",
                best.kind
            ));
        }
        let accepted = reason.is_none();
        let mut ev = base;
        ev["kind"] = json!(best.kind);
        ev["site"] = json!(best.position);
        ev["delta_eta_bound"] = json!(best.score);
        ev["eta_layer"] = json!(best.eta_layer);
        ev["closed_form_bound"] = json!(best.width.as_ref().map(|w| w.closed_form_score));
        ev["accepted"] = json!(accepted);
        ev["neurons_added"] = json!(if accepted { added } else { 0 });
        ev["reason"] = json!(reason);
        ev["loss_before"] = json!(loss_before);
        ev["loss_after"] = json!(loss_after);
        ev["seconds_line_search"] = json!(t2.elapsed().as_secs_f64());
        ev["hidden_widths"] = json!(t.net.hidden_widths());
        ev["parameters"] = json!(t.net.parameter_count());
        t.log(&ev)?;
        if !t.quiet {
            match &reason {
                None => println!(
                    "  senn {}: {} at {} (Δη'={:.3e}, η_l={:.3e}, λ={:.3e}) widths {:?}",
                    g.steps_done + 1,
                    best.kind,
                    best.position,
                    best.score,
                    best.eta_layer,
                    st.lambda,
                    t.net.hidden_widths()
                ),
                Some(r) => println!("  senn {}: {r}", g.steps_done + 1),
            }
        }
        if !accepted {
            break;
        }
        if best.width.is_some() {
            let (mut st, mut fit, mut held_out) = (st, fit, held_out);
            st.add_zero_fan_out_unit(&t.net, best.position)?;
            fit.add_unit(&st, best.position);
            if let Some(h) = held_out.as_mut() {
                h.add_unit(&st, best.position);
            }
            stats = Some((st, fit, held_out));
        }
    }
    g.senn_depth_cooldown = g
        .senn_depth_cooldown
        .saturating_sub(usize::from(!depth_done));
    g.steps_done += 1;
    g.seconds += start.elapsed().as_secs_f64();
    Ok(())
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
fn width_cap(g: &Grower, k: usize) -> i64 {
    match &g.config.max_hidden {
        Some(m) if !m.is_empty() => *m.get(k).unwrap_or(&m[m.len() - 1]),
        _ => g.config.senn.max_width,
    }
}
