//! A proposal's fate: its amplitude (line search, or the automatic mode's held-out choice and
//! verdict, [`super::auto`]), whether it is kept, its application with a rollback when the
//! loss on the choosing samples rises or is not finite, and the growth event that records it.
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use rand_chacha::ChaCha8Rng;

use super::amplitude::{self, Amplitude};
use super::apply;
use super::auto::{self, Acceptance};
use super::config::{GrowthConfig, StatisticsPrecision};
use super::context::Context;
use super::preview::Previews;
use super::proposal::{self, Proposal};
use super::stem::Stems;
use crate::data::Dataset;
use crate::error::Result;
use crate::events::{Event, Growth, GrowthStep, Judgement};
use crate::surgery::Snapshot;

/// Ψ of every site measured in a step (site → Ψ; `None` when not finite).
pub type Bottlenecks = BTreeMap<usize, Option<f64>>;

/// Timings of one growth step (seconds).
#[derive(Default, Clone, Copy)]
pub struct Timings {
    pub statistics: f64,
    pub decomposition: f64,
    pub line_search: f64,
}

/// What the step has measured before the verdict.
pub struct Judged<'a> {
    /// The growth step's number (from 1).
    pub step: usize,
    pub tm: Timings,
    pub bottlenecks: &'a Bottlenecks,
    /// Units to add with the step if it is kept (`growth.companions`).
    pub companions: Option<Companions<'a>>,
}

/// Random units with zero fan-out that go with a kept step's `K` units: `round(per_unit·K)`
/// of them, plus with `fill_to` the fill of a step its proposal cut short, at most `room − K`
/// (docs/tiny.md §2.14).
pub struct Companions<'a> {
    pub per_unit: f64,
    /// `growth.rank_fill`: the step's cap. When the kept `K` are all the proposal had and fewer
    /// than this, `cap − K` more.
    pub fill_to: Option<usize>,
    /// How many units the site could take before the step.
    pub room: usize,
    pub rng: &'a mut ChaCha8Rng,
}

/// The amplitude and, in automatic mode, the held-out verdict of a proposal.
struct Chosen {
    proposal: Proposal,
    amplitude: Amplitude,
    judgement: Option<Judgement>,
    refusal: Option<String>,
    tried: Vec<(i64, f64, f64)>,
}

/// The scale of `p` on the held-out samples `ls`. In automatic mode the first part of them
/// chooses the scale and the neuron count and the rest (`judge_fraction`, by default half)
/// judges the improvement: judging on the data that chose the best of several scales would
/// count noise as gain, and growth would never stop. Returns the choice and the choosing
/// samples.
fn choose(
    cfg: &GrowthConfig,
    ctx: &Context,
    p: Proposal,
    ls: &Dataset,
    stems: Option<&RefCell<Stems>>,
) -> (Chosen, Dataset) {
    let (net, loss) = (&*ctx.net, ctx.loss);
    if cfg.auto && ls.len() >= 2 {
        let n = choosing_samples(ls.len(), cfg.judge_fraction);
        let (choose, verify) = (ls.slice(0, n), ls.slice(n, ls.len() - n));
        let judging = auto::Judging {
            gain: cfg.auto_gain,
            line_search: &cfg.line_search,
            rule: acceptance(cfg, UnitSize::at(net, p.site)),
            fast: mixed(cfg),
            parts: cfg.judge_parts,
        };
        let c = auto::choose(net, loss, (&choose, &verify), &p, &judging, stems);
        let proposal = match c.delta_scale {
            Some(sd) if c.amplitude.scale > 0.0 => {
                auto::with_delta_scale(c.proposal, sd / c.amplitude.scale)
            }
            _ => c.proposal,
        };
        let chosen = Chosen {
            proposal,
            amplitude: c.amplitude,
            judgement: Some(c.judgement),
            refusal: c.refusal,
            tried: c.tried,
        };
        return (chosen, choose);
    }
    let choose = ls.slice(0, ls.len());
    let amp = Previews::with_stems(net, &p, &choose, stems)
        .fast(mixed(cfg))
        .amplitude(loss, p.neurons(), &cfg.line_search);
    let chosen = Chosen {
        proposal: p,
        amplitude: amp,
        judgement: None,
        refusal: None,
        tried: Vec::new(),
    };
    (chosen, choose)
}

/// What one new unit at a growth site costs the network before the step: the site's width
/// (its producer's units), and the floating-point operations and activation values it adds to
/// one sample's forward pass ([`crate::nn::Network::flops_per_unit`],
/// [`crate::nn::Network::activations_per_unit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UnitSize {
    width: i64,
    flops: i64,
    activations: i64,
}

impl UnitSize {
    /// A unit's size at growth site `site` of `net`.
    fn at(net: &crate::nn::Network, site: usize) -> UnitSize {
        UnitSize {
            width: net.stages.get(site).map_or(0, |s| s.layer.spec().outputs()),
            flops: net.flops_per_unit(site),
            activations: net.activations_per_unit(site),
        }
    }
}

/// The automatic mode's acceptance rule for a step whose units each have size `u`: a unit
/// costs `threshold_per_neuron + threshold_per_width·width + threshold_per_flop·flops +
/// threshold_per_activation·activations` (docs/tiny.md §10, "A cost that grows with the
/// width", "A cost in operations", "A cost in activations").
fn acceptance(cfg: &GrowthConfig, u: UnitSize) -> Acceptance {
    let per = |t: f64, n: i64| t * n.max(0) as f64;
    Acceptance {
        threshold: cfg.threshold,
        per_neuron: cfg.threshold_per_neuron
            + per(cfg.threshold_per_width, u.width)
            + per(cfg.threshold_per_flop, u.flops)
            + per(cfg.threshold_per_activation, u.activations),
        per_parameter: cfg.threshold_per_parameter,
        significance: cfg.significance,
    }
}

/// How many of `n ≥ 2` held-out samples choose when `judge_fraction` of them judge: at least
/// one each; `n/2` rounded down for two halves.
fn choosing_samples(n: usize, judge_fraction: f64) -> usize {
    let choose = (n as f64 * (1.0 - judge_fraction) + 1e-9).floor() as usize;
    choose.clamp(1, n.saturating_sub(1).max(1))
}

/// Whether growth uses mixed precision's arithmetic (docs/tiny.md §2.2, "Precision").
fn mixed(cfg: &GrowthConfig) -> bool {
    cfg.statistics_precision == StatisticsPrecision::Mixed
}

/// Why the chosen step is not applied (`None`: apply it). `rel` is its relative gain.
fn refusal(cfg: &GrowthConfig, c: &Chosen, rel: f64) -> Option<String> {
    let p = &c.proposal;
    if p.neurons() == 0 {
        return Some(if p.info.notes.is_empty() {
            "no neuron proposed".to_string()
        } else {
            format!("no neuron proposed: {}", p.info.notes.join("; "))
        });
    }
    if c.amplitude.scale == 0.0 {
        return Some("line search found no scale that lowers the loss".to_string());
    }
    if !cfg.auto {
        return None;
    }
    match &c.judgement {
        Some(_) => c.refusal.clone(),
        None if rel < cfg.threshold => Some(format!(
            "relative improvement {rel:.2e} below the threshold {:.0e}",
            cfg.threshold
        )),
        None => None,
    }
}

/// Applies the chosen step and checks the loss on `choose`: a loss that is not finite or
/// that rose is rolled back. Returns the measured decrease and, after a rollback, why. With
/// `stems` the check runs from the site's stem of `choose` (the stages before the site are
/// unchanged by the step: the same loss as a whole forward pass).
fn apply_checked(
    cfg: &GrowthConfig,
    ctx: &mut Context,
    c: &Chosen,
    choose: &Dataset,
    stems: Option<&RefCell<Stems>>,
) -> Result<(f64, Option<String>)> {
    let (p, l0) = (&c.proposal, c.amplitude.loss_before);
    let snap = Snapshot::of_site(ctx.net, ctx.opt, p.site);
    // Applied, kept or restored: the stems that ran through the site's stages are stale.
    let forget = || {
        if let Some(st) = stems {
            st.borrow_mut().changed(p.site);
        }
    };
    let old = ctx.net.stages[p.site].layer.weight().size()[0];
    // Matched BatchNorm (docs/tiny.md §3.3): the producer's input on the choosing half.
    let h = (cfg.bn_match && apply::matchable(ctx.net, p.site)).then(|| match stems {
        Some(st) => {
            let n = choose.x.size()[0];
            st.borrow_mut().of(ctx.net, &choose.x, p.site, n)[0]
                .0
                .shallow_clone()
        }
        None => amplitude::stem(ctx.net, &choose.x, p.site).0,
    });
    let norm = apply::BehindNorm {
        rescale: cfg.bn_rescale,
        matched_on: h.as_ref(),
    };
    apply::apply_with(ctx.net, ctx.opt, p, c.amplitude.scale, norm)?;
    match stems {
        // Mixed-precision statistics: the producer's outputs grow by the new units' columns
        // instead of being computed again (equal up to rounding; docs/tiny.md §10).
        Some(st) if mixed(cfg) => {
            st.borrow_mut().grown(ctx.net, p.site, old);
        }
        _ => forget(),
    }
    let after = match stems {
        // Keeps the grown producer's output on `choose` (the next site's stem) on the way.
        Some(st) => {
            let out = st.borrow_mut().output(ctx.net, &choose.x, p.site);
            tch::no_grad(|| {
                let mean = ctx.loss.mean_as(&out, &choose.y, mixed(cfg));
                mean.double_value(&[])
            })
        }
        None => amplitude::plain_loss(ctx.net, ctx.loss, choose),
    };
    let tol = 1e-5 * l0.abs().max(1e-3);
    if after.is_finite() && after <= l0 + tol {
        return Ok((l0 - after, None));
    }
    snap.restore(ctx.net, ctx.opt);
    forget();
    let shown = if after.is_finite() {
        format!("{after:.6}")
    } else {
        "not finite".into()
    };
    let why = format!("rolled back: loss {shown} after applying (was {l0:.6})");
    Ok((l0 - after, Some(why)))
}

/// Line search (or fixed scale), apply, verify, log. Returns how many of the proposal's
/// units were kept (0: the step was refused or rolled back; companions not counted).
/// `stems` (the held-out data's stems in this check) forgets what an applied step changed.
pub fn amplitude_and_apply(
    cfg: &GrowthConfig,
    ctx: &mut Context,
    p: Proposal,
    ls: &Dataset,
    judged: Judged,
    stems: Option<&RefCell<Stems>>,
) -> Result<i64> {
    let t0 = Instant::now();
    let proposed = p.neurons();
    let (chosen, choose) = choose(cfg, ctx, p, ls, stems);
    let l0 = chosen.amplitude.loss_before;
    let rel = match &chosen.judgement {
        Some(j) => j.gain,
        None => (l0 - chosen.amplitude.loss_after) / l0.abs().max(1e-12),
    };
    let mut tm = judged.tm;
    tm.line_search += t0.elapsed().as_secs_f64();
    let mut reason = refusal(cfg, &chosen, rel);
    let mut measured = 0.0;
    if reason.is_none() {
        // A rolled-back step logs the decrease it measured (negative or not finite).
        (measured, reason) = apply_checked(cfg, ctx, &chosen, &choose, stems)?;
    }
    let mut judged = judged;
    let companions = match (judged.companions.take(), &reason) {
        (Some(c), None) => Some(add_companions(ctx, (&chosen.proposal, proposed), c, stems)?),
        _ => None,
    };
    let mut event = step_event(
        cfg,
        ctx,
        chosen,
        (proposed, rel, measured),
        reason,
        &judged,
        tm,
    );
    event.companions = companions;
    let kept = event.neurons_added;
    ctx.emit(Event::Growth(Growth::Step(Box::new(event))))?;
    Ok(kept)
}

/// Adds the companions of the kept proposal `p` at its site, `proposed` the units of the
/// proposal it was chosen from; returns how many (docs/tiny.md §2.14).
fn add_companions(
    ctx: &mut Context,
    (p, proposed): (&Proposal, i64),
    c: Companions,
    stems: Option<&RefCell<Stems>>,
) -> Result<i64> {
    let k = p.neurons();
    let wanted = (c.per_unit * k as f64).round() as i64 + rank_fill(k, proposed, c.fill_to);
    let left = i64::try_from(c.room.saturating_sub(k as usize)).unwrap_or(i64::MAX);
    let n = wanted.min(left);
    if n <= 0 {
        return Ok(0);
    }
    add_zero_fan_out(ctx, p.site, n, c.rng, stems)?;
    Ok(n)
}

/// The fill of a kept step of `k` units chosen from a proposal of `proposed` under the cap
/// `fill_to` (`growth.rank_fill`): `cap − k` when the verdict took every direction the proposal
/// had and that was fewer than the cap, else 0 (docs/tiny.md §2.14).
fn rank_fill(k: i64, proposed: i64, fill_to: Option<usize>) -> i64 {
    match fill_to {
        Some(cap) if k == proposed && k > 0 => (cap as i64 - k).max(0),
        _ => 0,
    }
}

/// Adds `n` units at `site` with random fan-in (PyTorch's default bound), zero bias and zero
/// fan-out, so the function (and any verdict) is unchanged; `stems` forgets what they change.
pub fn add_zero_fan_out(
    ctx: &mut Context,
    site: usize,
    n: i64,
    rng: &mut ChaCha8Rng,
    stems: Option<&RefCell<Stems>>,
) -> Result<()> {
    let r = proposal::random(ctx.net, site, n, 0.0, rng)?;
    apply::apply(ctx.net, ctx.opt, &r, 1.0)?;
    if let Some(st) = stems {
        st.borrow_mut().changed(site);
    }
    Ok(())
}

/// The growth event of a TINY-family step.
fn step_event(
    cfg: &GrowthConfig,
    ctx: &Context,
    c: Chosen,
    (proposed, rel, measured): (i64, f64, f64),
    reason: Option<String>,
    judged: &Judged,
    tm: Timings,
) -> GrowthStep {
    let (p, amp) = (c.proposal, c.amplitude);
    let accepted = reason.is_none();
    let gamma = amp.scale * amp.scale;
    let info = &p.info;
    GrowthStep {
        epoch: ctx.clock.epoch,
        step: ctx.clock.step,
        growth_step: judged.step,
        method: cfg.method.name(),
        site: p.site,
        neurons_added: if accepted { p.neurons() } else { 0 },
        neurons_proposed: proposed,
        lambdas: info.lambdas.clone(),
        bottleneck: info.bottleneck,
        bottlenecks: judged.bottlenecks.clone(),
        fo_gromo: info.fo_gromo,
        fo_with_cross: info.fo_with_cross,
        fo_measured: info.fo_measured.filter(|v| v.is_finite()),
        cross_term: info.cross_term,
        decrease_delta: info.decrease_delta,
        decrease_existing: info.decrease_existing,
        neuron_gain_ratio: info.neuron_gain_ratio(),
        relative_improvement: rel,
        scale: amp.scale,
        loss_before: amp.loss_before,
        loss_preview: amp.loss_after,
        predicted_decrease: gamma * info.first_order(),
        measured_decrease: measured,
        line_search_evaluations: amp.evaluations,
        accepted,
        reason,
        notes: info.notes.clone(),
        seconds_statistics: tm.statistics,
        seconds_decomposition: tm.decomposition,
        seconds_line_search: tm.line_search,
        hidden_widths: ctx.net.hidden_widths(),
        parameters: ctx.net.parameter_count(),
        neurons_tried: c.judgement.as_ref().map(|_| c.tried.clone()),
        companions: None,
        judgement: c.judgement,
    }
}

#[cfg(test)]
mod tests {
    use super::{acceptance, choosing_samples, rank_fill, UnitSize};
    use crate::growth::config::GrowthConfig;

    /// A unit at a site of `width` units adding `flops` operations and `activations` values.
    fn unit(width: i64, flops: i64, activations: i64) -> UnitSize {
        UnitSize {
            width,
            flops,
            activations,
        }
    }

    #[test]
    fn the_fill_tops_up_only_a_step_that_took_its_whole_short_proposal() {
        // 9 directions (a 10-class head's rank) under a cap of 32, all kept: 23 more.
        assert_eq!(rank_fill(9, 9, Some(32)), 23);
        // The verdict took fewer than the proposal had: the gain, not the rank, set the count.
        assert_eq!(rank_fill(2, 9, Some(32)), 0);
        // The proposal filled the cap, nothing was kept, or no fill asked for.
        assert_eq!(rank_fill(32, 32, Some(32)), 0);
        assert_eq!(rank_fill(0, 0, Some(32)), 0);
        assert_eq!(rank_fill(9, 9, None), 0);
    }

    #[test]
    fn a_units_cost_grows_with_its_sites_width() {
        let flat = GrowthConfig::default();
        // The default: 1.5e-4 per unit whatever the width.
        for w in [0, 1, 100, 1000] {
            assert!((acceptance(&flat, unit(w, 10 * w, w)).cost(2, 0) - 3e-4).abs() < 1e-15);
        }
        let cfg = GrowthConfig {
            threshold_per_neuron: 1e-5,
            threshold_per_width: 1.5e-6,
            threshold_per_parameter: 1e-7,
            ..flat
        };
        // 3 units at a site of 100: 3·(1e-5 + 1.5e-6·100) + 1e-7·50.
        let c = acceptance(&cfg, unit(100, 1000, 64)).cost(3, 50);
        assert!((c - (3.0 * 1.6e-4 + 5e-6)).abs() < 1e-15, "{c}");
        assert!(
            acceptance(&cfg, unit(200, 0, 0)).cost(1, 0)
                > acceptance(&cfg, unit(100, 0, 0)).cost(1, 0)
        );
        assert_eq!(
            acceptance(&cfg, unit(7, 0, 0)).significance,
            cfg.significance
        );
        // A cost in operations: 1e-9 per operation, 2 units adding 5 000 each.
        let per_flop = GrowthConfig {
            threshold_per_flop: 1e-9,
            ..cfg
        };
        let c = acceptance(&per_flop, unit(100, 5000, 0)).cost(2, 0);
        assert!((c - 2.0 * (1.6e-4 + 5e-6)).abs() < 1e-15, "{c}");
        // A cost in activations: 1e-8 per value, 2 units of a 32×32 map each, beside it.
        let per_activation = GrowthConfig {
            threshold_per_activation: 1e-8,
            ..per_flop
        };
        let c = acceptance(&per_activation, unit(100, 5000, 1024)).cost(2, 0);
        assert!((c - 2.0 * (1.6e-4 + 5e-6 + 1.024e-5)).abs() < 1e-15, "{c}");
    }

    #[test]
    fn a_units_size_is_its_sites_width_operations_and_map() {
        use crate::nn::{Activation, Architecture, Network};
        use rand::SeedableRng;
        let arch = Architecture::vgg([3, 8, 8], &[2, 3, 4, 5], 2, 10, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
        // The second conv: 3 units, 8×8 map, its consumer at 4×4 after pooling.
        assert_eq!(
            UnitSize::at(&net, 1),
            unit(3, 2 * (2 * 9 * 64 + 4 * 9 * 16), 64)
        );
        assert_eq!(UnitSize::at(&net, 3).activations, 16);
    }

    #[test]
    fn choosing_samples_are_the_first_half_by_default_and_never_all() {
        for n in 2..2000 {
            assert_eq!(choosing_samples(n, 0.5), n / 2, "n = {n}");
            for f in [0.01, 0.3, 0.9, 0.99] {
                let c = choosing_samples(n, f);
                assert!((1..n).contains(&c), "n = {n}, f = {f}: {c}");
            }
        }
        assert_eq!(choosing_samples(6000, 0.9), 600);
        assert_eq!(choosing_samples(6000, 5.0 / 6.0), 1000);
        assert_eq!(choosing_samples(1000, 0.75), 250);
    }
}
