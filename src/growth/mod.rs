//! Growth: statistics → method → proposal → amplitude (line search) → apply.
//!
//! * [`statistics`]: one pass over a statistics sample, per-sample pre-activation gradients,
//!   S, M, S₂, M₂, P, E accumulated in f64 (tiny.md §2.2).
//! * [`tiny`] (with [`linalg`]): the closed forms in f64 — best update δ, bottleneck Ψ,
//!   optimal neurons α, ω, λ (tiny.md §2.3–2.7) — next to their tests.
//! * [`proposal`]: TINY / TINY-paper / GradMax (one code path, different options) and random.
//! * [`amplitude`]: the extended forward and the line search on the scale (tiny.md §2.8–2.9).
//! * [`apply`]: the change to the layers and the optimiser state, with rollback.
//! * [`auto`]: the automatic mode's held-out verdict on a step (neuron count, gain over the
//!   existing weights' own update, its standard error, the acceptance rule).
//! * [`site`]: growth sites (dense, conv → conv with the restricted or full neuron, conv →
//!   linear) and the aligned rows their statistics are built from; [`unfold`]: convolutions
//!   as linear maps on unfolded patches (tiny.md §3).
//! * [`depth`]: inserting an empty residual block (the identity) whose width then grows.
//! * [`senn`]: Self-Expanding Neural Networks, which decide by themselves when and where to
//!   add a neuron or a layer (natural expansion score, function-preserving insertions).
//!
//! The [`Grower`] decides *when* (a schedule in epochs or steps, or automatically until
//! the bottlenecks are exhausted) and *where* (best first-order site, round-robin or all).
//!
//! ```
//! use grownet::config::RunConfig;
//! use grownet::growth::GrowthConfig;
//! use grownet::train::Trainer;
//! let mut cfg = RunConfig::default();
//! cfg.data.name = "moons".into();
//! cfg.data.synthetic_train = 400;
//! cfg.data.synthetic_test = 100;
//! cfg.model.hidden = vec![1];
//! cfg.train.epochs = 3;
//! cfg.device = Some("cpu".into());
//! cfg.growth = Some(GrowthConfig { max_hidden: Some(vec![8]), ..GrowthConfig::default() });
//! let mut t = Trainer::new(cfg, None).unwrap();
//! t.quiet = true;
//! let s = t.fit().unwrap();
//! assert!(s.hidden_widths[0] > 1);
//! ```
pub mod amplitude;
pub mod apply;
pub mod auto;
pub mod depth;
pub mod linalg;
pub mod proposal;
pub mod senn;
pub mod site;
pub mod statistics;
pub mod tiny;
pub mod unfold;

use std::time::Instant;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::Tensor;

pub use amplitude::LineSearch;
pub use auto::AutoGain;
pub use proposal::{Method, Proposal};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::Trainer;

/// Where to grow at each growth step (tiny.md §2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The site with the largest first-order improvement.
    Best,
    /// Sites in turn.
    #[serde(alias = "roundrobin")]
    RoundRobin,
    /// Every site, one after the other, statistics recomputed between them.
    All,
}

/// How, when and where the network grows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrowthConfig {
    pub method: Method,
    pub selection: Selection,
    /// Grow after every `every_epochs` epochs (ignored when `every_steps` is set).
    pub every_epochs: usize,
    /// Grow every `every_steps` optimisation steps.
    pub every_steps: Option<usize>,
    /// No growth after this epoch.
    pub stop_epoch: Option<usize>,
    /// Target width of each hidden layer (schedule mode); growth stops there.
    pub max_hidden: Option<Vec<i64>>,
    /// Parameter budget.
    pub max_parameters: Option<i64>,
    /// At most this many neurons per site per growth step.
    pub neurons_per_step: Option<usize>,
    /// Automatic mode (no target size). At each check, growth steps are repeated (at most
    /// `auto_rounds`) while some site keeps its step: a step is kept when, on held-out
    /// samples that took no part in choosing it, the new neurons' gain over the existing
    /// weights' own best update pays its cost (`threshold`, `threshold_per_neuron`,
    /// `threshold_per_parameter`) and exceeds `significance` standard errors ([`auto`]).
    /// Growth stops for good after `patience` checks in a row kept nothing. Use a
    /// validation split (`val_fraction`) so that "held-out" means unseen in training.
    pub auto: bool,
    /// Automatic mode: least relative held-out gain of a growth step.
    pub threshold: f64,
    /// Automatic mode: checks in a row that add nothing before growth stops for good.
    pub patience: usize,
    /// Automatic mode: growth steps per check at most.
    pub auto_rounds: usize,
    /// Automatic mode: what the held-out gain measures (the new neurons beyond the existing
    /// weights' own best update, or the whole step; see [`auto`]).
    pub auto_gain: AutoGain,
    /// Automatic mode: least relative held-out gain per new neuron.
    pub threshold_per_neuron: f64,
    /// Automatic mode: least relative held-out gain per added parameter.
    pub threshold_per_parameter: f64,
    /// Automatic mode: the held-out gain must also exceed this many standard errors (of the
    /// paired per-sample loss differences on the judging half).
    pub significance: f64,
    /// Samples in the statistics pass and its minibatch size.
    pub stats_samples: usize,
    pub stats_batch_size: usize,
    /// Held-out samples for the line search (the validation split when there is one).
    pub line_search_samples: usize,
    pub line_search: LineSearch,
    /// Random growth: standard deviation of the new fan-out (0: function-preserving).
    pub random_fan_out_std: f64,
    /// Eigenvalues of S and S₂ at or below this are dropped (tiny.md §2.5; GroMo: 1e-6).
    pub numerical_threshold: f64,
    /// Keep λ_k ≥ min(statistical_threshold, λ_max) (tiny.md §2.7; GroMo: 1e-3).
    pub statistical_threshold: f64,
    /// SENN's thresholds and proposal settings (method `senn`).
    pub senn: senn::SennConfig,
    /// Adam's second moment for the entries growth adds (mean of the existing ones, or zero).
    pub new_second_moment: crate::optim::NewSecondMoment,
    /// Fan-out of new channels at conv → conv sites (tiny.md §3.2).
    pub conv_neuron: site::ConvNeuron,
    /// New units behind a BatchNorm start at the existing units' mean norm (their running
    /// variance absorbs the factor: the function is unchanged in eval mode), so that they
    /// learn at the same effective rate as the old ones.
    pub bn_rescale: bool,
}

impl Default for GrowthConfig {
    fn default() -> Self {
        GrowthConfig {
            method: Method::Tiny,
            selection: Selection::Best,
            every_epochs: 1,
            every_steps: None,
            stop_epoch: None,
            max_hidden: None,
            max_parameters: None,
            neurons_per_step: None,
            auto: false,
            threshold: 0.0,
            patience: 3,
            auto_rounds: 8,
            auto_gain: AutoGain::Neurons,
            significance: 2.0,
            threshold_per_neuron: 1.5e-4,
            threshold_per_parameter: 0.0,
            stats_samples: 2048,
            stats_batch_size: 512,
            line_search_samples: 1024,
            line_search: LineSearch::default(),
            random_fan_out_std: 0.0,
            numerical_threshold: 1e-6,
            statistical_threshold: 1e-3,
            senn: senn::SennConfig::default(),
            new_second_moment: crate::optim::NewSecondMoment::Mean,
            conv_neuron: site::ConvNeuron::Restricted,
            bn_rescale: false,
        }
    }
}

impl GrowthConfig {
    /// The same config with the automatic mode's settings at their defaults when the
    /// automatic mode is off, where they change nothing (runs compare equal across a
    /// change of those defaults).
    pub fn without_unused_auto_settings(&self) -> GrowthConfig {
        if self.auto {
            return self.clone();
        }
        let d = GrowthConfig::default();
        GrowthConfig {
            threshold: d.threshold,
            patience: d.patience,
            auto_rounds: d.auto_rounds,
            auto_gain: d.auto_gain,
            threshold_per_neuron: d.threshold_per_neuron,
            threshold_per_parameter: d.threshold_per_parameter,
            significance: d.significance,
            ..self.clone()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.every_epochs == 0 || self.every_steps == Some(0) {
            return Err(Error::Config("growth interval must be at least 1".into()));
        }
        if self.stats_samples == 0 || self.stats_batch_size == 0 || self.line_search_samples == 0 {
            return Err(Error::Config(
                "growth statistics and line-search sample sizes must be at least 1".into(),
            ));
        }
        let auto_numbers = [
            self.threshold,
            self.threshold_per_neuron,
            self.threshold_per_parameter,
            self.significance,
        ];
        if self.auto && !auto_numbers.iter().all(|v| v.is_finite() && *v >= 0.0) {
            return Err(Error::Config(
                "automatic growth thresholds and significance must be finite and non-negative"
                    .into(),
            ));
        }
        if self.auto && self.method == Method::Random {
            return Err(Error::Config(
                "automatic growth needs a method with a growth signal (tiny, tiny-paper, gradmax)"
                    .into(),
            ));
        }
        if self.method == Method::Senn {
            let s = &self.senn;
            if !(s.tau >= 0.0 && s.alpha >= 0.0 && s.depth_cost >= 0.0 && s.damping >= 0.0) {
                return Err(Error::Config(
                    "SENN thresholds, depth cost and damping must be non-negative".into(),
                ));
            }
            return Ok(()); // SENN decides by itself: no target needed
        }
        Ok(())
    }

    /// Whether scheduled growth has a target: widths, a parameter budget, or (for a
    /// ResNet, `blocks_have_targets`) each block's output width.
    pub fn check_target(&self, blocks_have_targets: bool) -> Result<()> {
        let scheduled = !self.auto && self.method != Method::Senn;
        if scheduled
            && self.max_hidden.is_none()
            && self.max_parameters.is_none()
            && !blocks_have_targets
        {
            return Err(Error::Config(
                "scheduled growth needs a target (--max-hidden or --max-params), or use --grow-auto"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Drives growth during training.
#[derive(Debug)]
pub struct Grower {
    pub config: GrowthConfig,
    /// Growth steps performed (attempts at a scheduled time).
    pub steps_done: usize,
    /// Seconds spent in growth so far.
    pub seconds: f64,
    /// Automatic mode: consecutive growth checks that added nothing.
    pub idle_steps: usize,
    /// No more growth (targets reached or bottlenecks exhausted).
    pub finished: bool,
    /// SENN: checks left before another layer may be inserted.
    pub senn_depth_cooldown: usize,
}

/// Timings of one growth step.
#[derive(Default, Clone, Copy)]
struct Timings {
    statistics: f64,
    decomposition: f64,
    line_search: f64,
}

impl Grower {
    pub fn new(config: GrowthConfig) -> Result<Self> {
        config.validate()?;
        Ok(Grower {
            config,
            steps_done: 0,
            seconds: 0.0,
            idle_steps: 0,
            finished: false,
            senn_depth_cooldown: 0,
        })
    }

    fn active(&self, epoch: usize) -> bool {
        !self.finished && self.config.stop_epoch.is_none_or(|e| epoch < e)
    }

    /// Whether a growth step is due after optimisation step `step` of epoch `epoch` (0-based).
    pub fn due_after_step(&self, step: usize, epoch: usize) -> bool {
        self.active(epoch) && self.config.every_steps.is_some_and(|k| step % k == 0)
    }

    /// Called after each epoch (`epoch` completed epochs).
    pub fn after_epoch(&mut self, t: &mut Trainer) -> Result<()> {
        if self.config.every_steps.is_none()
            && self.active(t.epoch - 1)
            && t.epoch % self.config.every_epochs == 0
            && t.epoch < t.config.train.epochs
        {
            self.grow(t)?;
        }
        Ok(())
    }

    /// Sites that may still grow, with how many neurons each may take now.
    fn capacities(&self, t: &Trainer) -> Vec<(usize, usize)> {
        let widths = t.net.hidden_widths();
        let params = t.net.parameter_count();
        widths
            .iter()
            .enumerate()
            .filter(|(k, _)| site::Site::new(&t.net, *k, self.config.conv_neuron).is_ok())
            .filter_map(|(k, &w)| {
                let mut cap = usize::MAX;
                if let Some(max) = &self.config.max_hidden {
                    cap = max.get(k).map_or(0, |&m| (m - w).max(0) as usize);
                } else if !self.config.auto && site::Site::in_block(&t.net, k) {
                    // A residual block's target is its output width (GroMo's
                    // `target_hidden_channels`, tiny.md §3.4).
                    let target = t.net.stages[k + 1].layer.spec().outputs();
                    cap = (target - w).max(0) as usize;
                }
                if let Some(n) = self.config.neurons_per_step {
                    cap = cap.min(n);
                }
                if let Some(budget) = self.config.max_parameters {
                    // One unit: its fan-in (and bias), its fan-out.
                    let fan_in: i64 = t.net.stages[k].layer.weight().size()[1..].iter().product();
                    let c = t.net.stages[k + 1].layer.weight().size();
                    let fan_out = c[0] * c[2..].iter().product::<i64>();
                    let per = fan_in + 1 + fan_out;
                    cap = cap.min(((budget - params).max(0) / per.max(1)) as usize);
                }
                (cap > 0).then_some((k, cap))
            })
            .collect()
    }

    /// A scheduled growth check: one growth step, or in automatic mode as many as keep
    /// finding useful neurons (at most `auto_rounds`).
    pub fn grow(&mut self, t: &mut Trainer) -> Result<()> {
        if self.config.method == Method::Senn {
            return senn::check(self, t);
        }
        let rounds = if self.config.auto {
            self.config.auto_rounds.max(1)
        } else {
            1
        };
        let mut added_any = false;
        for _ in 0..rounds {
            let added = self.grow_step(t)?;
            added_any |= added;
            if !added || self.finished {
                break;
            }
        }
        if added_any {
            self.idle_steps = 0;
        } else {
            self.idle_steps += 1;
            if self.config.auto && self.idle_steps >= self.config.patience && !self.finished {
                self.finished = true;
                let event = json!({"event": "growth_finished", "epoch": t.epoch, "step": t.step,
                    "reason": format!("{} growth checks in a row found no useful neuron", self.idle_steps)});
                t.log(&event)?;
                if !t.quiet {
                    println!(
                        "growth finished: bottlenecks exhausted, widths {:?}",
                        t.net.hidden_widths()
                    );
                }
            }
        }
        Ok(())
    }

    /// One growth step: statistics, proposals, line search, apply (or roll back), log.
    /// Returns whether any neuron was added.
    fn grow_step(&mut self, t: &mut Trainer) -> Result<bool> {
        let start = Instant::now();
        let caps = self.capacities(t);
        if caps.is_empty() {
            self.finished = true;
            return Ok(false);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(t.config.train.seed ^ 0x6a09_e667);
        rng.set_stream(self.steps_done as u64 + 1);
        let (stats_idx, ls_data) = self.samples(t, &mut rng);
        // Best narrows the candidates after the proposals; All takes them one by one.
        let sites: Vec<(usize, usize)> = match self.config.selection {
            Selection::RoundRobin => vec![caps[self.steps_done % caps.len()]],
            Selection::Best | Selection::All => caps,
        };
        let mut added_any = false;
        let mut bottlenecks = serde_json::Map::new();
        if self.config.selection == Selection::All {
            for &(k, cap) in &sites {
                // Re-read the capacity: a parameter budget shrinks as earlier sites grow.
                let cap = self
                    .capacities(t)
                    .iter()
                    .find(|c| c.0 == k)
                    .map_or(0, |c| c.1.min(cap));
                if cap == 0 {
                    continue;
                }
                let mut tm = Timings::default();
                let p = self.propose(
                    t,
                    &[(k, cap)],
                    &stats_idx,
                    &mut rng,
                    &mut tm,
                    &mut bottlenecks,
                )?;
                if let Some(p) = p.into_iter().next() {
                    added_any |= self.amplitude_and_apply(t, p, &ls_data, tm, &bottlenecks)?;
                }
            }
        } else {
            let mut tm = Timings::default();
            let proposals =
                self.propose(t, &sites, &stats_idx, &mut rng, &mut tm, &mut bottlenecks)?;
            let best = if self.config.method == Method::Random && sites.len() > 1 {
                let i = rand::Rng::random_range(&mut rng, 0..proposals.len());
                proposals.into_iter().nth(i)
            } else {
                proposals
                    .into_iter()
                    .filter(|p| p.neurons() > 0)
                    .max_by(|a, b| a.info.first_order().total_cmp(&b.info.first_order()))
            };
            match best {
                Some(p) => {
                    added_any = self.amplitude_and_apply(t, p, &ls_data, tm, &bottlenecks)?
                }
                None => {
                    let event = json!({
                        "event": "growth", "epoch": t.epoch, "step": t.step,
                        "growth_step": self.steps_done + 1, "accepted": false,
                        "reason": "no site has a non-zero bottleneck direction",
                        "bottlenecks": bottlenecks,
                    });
                    t.log(&event)?;
                }
            }
        }
        self.steps_done += 1;
        self.seconds += start.elapsed().as_secs_f64();
        Ok(added_any)
    }

    /// A statistics sample of the training set and held-out line-search data.
    fn samples(&self, t: &Trainer, rng: &mut ChaCha8Rng) -> (Tensor, Dataset) {
        let n = t.data.train.len();
        let mut perm: Vec<i64> = (0..n as i64).collect();
        perm.shuffle(rng);
        let n_stats = self.config.stats_samples.min(n);
        let stats_idx = Tensor::from_slice(&perm[..n_stats]).to_device(t.device());
        let ls = match &t.data.val {
            Some(v) if !v.is_empty() => v.head(self.config.line_search_samples),
            _ => {
                // Disjoint from the statistics sample when the training set is large enough.
                let from = if n > n_stats { n_stats } else { 0 };
                let len = self.config.line_search_samples.min(n - from);
                let idx = Tensor::from_slice(&perm[from..from + len]).to_device(t.device());
                let (x, y) = t.data.train.select(&idx);
                Dataset { x, y }
            }
        };
        (stats_idx, ls)
    }

    /// Proposals for `sites` (with their neuron caps).
    fn propose(
        &self,
        t: &Trainer,
        sites: &[(usize, usize)],
        stats_idx: &Tensor,
        rng: &mut ChaCha8Rng,
        tm: &mut Timings,
        bottlenecks: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Proposal>> {
        if !self.config.method.needs_statistics() {
            let per_step = self.config.neurons_per_step.unwrap_or(8);
            return sites
                .iter()
                .map(|&(k, cap)| {
                    proposal::random(
                        &t.net,
                        k,
                        cap.min(per_step) as i64,
                        self.config.random_fan_out_std,
                        rng,
                    )
                })
                .collect();
        }
        let t0 = Instant::now();
        let ks = sites
            .iter()
            .map(|s| site::Site::new(&t.net, s.0, self.config.conv_neuron))
            .collect::<Result<Vec<_>>>()?;
        let collected = statistics::collect(
            &t.net,
            t.loss,
            &t.data.train,
            stats_idx,
            self.config.stats_batch_size,
            &ks,
            1024,
        )?;
        tm.statistics += t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut out = Vec::new();
        for (i, &(k, cap)) in sites.iter().enumerate() {
            let p = proposal::closed_form(
                &t.net,
                &ks[i],
                &collected.stats[i],
                collected.samples[i].as_ref(),
                self.config.method,
                cap,
                (
                    self.config.numerical_threshold,
                    self.config.statistical_threshold,
                ),
            )?;
            bottlenecks.insert(k.to_string(), json!(p.info.bottleneck));
            out.push(p);
        }
        tm.decomposition += t1.elapsed().as_secs_f64();
        Ok(out)
    }

    /// Line search (or fixed scale), apply, verify, log. Returns whether neurons were kept.
    fn amplitude_and_apply(
        &self,
        t: &mut Trainer,
        p: Proposal,
        ls: &Dataset,
        mut tm: Timings,
        bottlenecks: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<bool> {
        let t0 = Instant::now();
        // In automatic mode one half of the held-out data chooses the scale and the other
        // half judges the improvement: judging on the data that chose the best of several
        // scales would count noise as gain, and growth would never stop.
        let (choose, verify) = if self.config.auto && ls.len() >= 2 {
            let half = ls.len() / 2;
            (ls.slice(0, half), Some(ls.slice(half, ls.len() - half)))
        } else {
            (ls.slice(0, ls.len()), None)
        };
        let proposed = p.neurons();
        let (p, amp, judgement, refusal, tried) = match &verify {
            Some(v) => {
                let rule = auto::Acceptance {
                    threshold: self.config.threshold,
                    per_neuron: self.config.threshold_per_neuron,
                    per_parameter: self.config.threshold_per_parameter,
                    significance: self.config.significance,
                };
                let c = auto::choose(
                    &t.net,
                    t.loss,
                    (&choose, v),
                    &p,
                    self.config.auto_gain,
                    &self.config.line_search,
                    rule,
                );
                (
                    c.proposal,
                    c.amplitude,
                    Some(c.judgement),
                    c.refusal,
                    c.tried,
                )
            }
            None => {
                let amp = if p.function_preserving {
                    let preview = amplitude::Preview::new(&t.net, t.loss, &choose, &p);
                    let l0 = preview.loss(0.0);
                    amplitude::Amplitude {
                        scale: 1.0,
                        loss_before: l0,
                        loss_after: preview.loss(1.0),
                        evaluations: 2,
                    }
                } else {
                    amplitude::search(&t.net, t.loss, &choose, &p, &self.config.line_search)
                };
                (p, amp, None, None, Vec::new())
            }
        };
        let l0 = amp.loss_before;
        let rel = match &judgement {
            Some(j) => j.gain,
            None => (l0 - amp.loss_after) / l0.abs().max(1e-12),
        };
        tm.line_search += t0.elapsed().as_secs_f64();
        let mut reason = None;
        if p.neurons() == 0 {
            reason = Some(if p.info.notes.is_empty() {
                "no neuron proposed".to_string()
            } else {
                format!("no neuron proposed: {}", p.info.notes.join("; "))
            });
        } else if amp.scale == 0.0 {
            reason = Some("line search found no scale that lowers the loss".to_string());
        } else if self.config.auto {
            reason = match &judgement {
                Some(_) => refusal,
                None if rel < self.config.threshold => Some(format!(
                    "relative improvement {rel:.2e} below the threshold {:.0e}",
                    self.config.threshold
                )),
                None => None,
            };
        }
        let mut measured = 0.0;
        if reason.is_none() {
            let snap = apply::snapshot(&t.net, &t.opt, p.site);
            apply::apply_with(
                &mut t.net,
                &mut t.opt,
                &p,
                amp.scale,
                self.config.bn_rescale,
            )?;
            let after = amplitude::plain_loss(&t.net, t.loss, &choose);
            measured = l0 - after;
            let tol = 1e-5 * l0.abs().max(1e-3);
            if !after.is_finite() || after > l0 + tol {
                apply::rollback(&mut t.net, &mut t.opt, snap);
                reason = Some(format!(
                    "rolled back: loss {} after applying (was {l0:.6})",
                    if after.is_finite() {
                        format!("{after:.6}")
                    } else {
                        "not finite".into()
                    }
                ));
            }
        }
        let accepted = reason.is_none();
        let gamma = amp.scale * amp.scale;
        let mut event = json!({
            "event": "growth",
            "epoch": t.epoch,
            "step": t.step,
            "growth_step": self.steps_done + 1,
            "method": self.config.method,
            "site": p.site,
            "neurons_added": if accepted { p.neurons() } else { 0 },
            "neurons_proposed": proposed,
            "lambdas": p.info.lambdas,
            "bottleneck": p.info.bottleneck,
            "bottlenecks": bottlenecks,
            "fo_gromo": p.info.fo_gromo,
            "fo_with_cross": p.info.fo_with_cross,
            "fo_measured": p.info.fo_measured,
            "cross_term": p.info.cross_term,
            "decrease_delta": p.info.decrease_delta,
            "decrease_existing": p.info.decrease_existing,
            "neuron_gain_ratio": p.info.neuron_gain_ratio(),
            "relative_improvement": rel,
            "scale": amp.scale,
            "loss_before": l0,
            "loss_preview": amp.loss_after,
            "predicted_decrease": gamma * p.info.first_order(),
            "measured_decrease": measured,
            "line_search_evaluations": amp.evaluations,
            "accepted": accepted,
            "reason": reason,
            "notes": p.info.notes,
            "seconds_statistics": tm.statistics,
            "seconds_decomposition": tm.decomposition,
            "seconds_line_search": tm.line_search,
            "hidden_widths": t.net.hidden_widths(),
            "parameters": t.net.parameter_count(),
        });
        if let Some(j) = &judgement {
            event["judgement"] = json!(j);
            event["neurons_tried"] = json!(tried);
        }
        t.log(&event)?;
        if !t.quiet {
            let lam = p
                .info
                .lambdas
                .first()
                .map_or(String::new(), |l| format!(" λ₁={l:.3}"));
            match &reason {
                None => println!(
                    "  growth {}: site {} +{} neurons{lam} s={:.3} loss {l0:.4}→{:.4} (predicted −{:.4}) widths {:?}",
                    self.steps_done + 1, p.site, p.neurons(), amp.scale, l0 - measured,
                    gamma * p.info.first_order(), t.net.hidden_widths()
                ),
                Some(r) => println!("  growth {}: site {} skipped ({r})", self.steps_done + 1, p.site),
            }
        }
        Ok(accepted)
    }
}
