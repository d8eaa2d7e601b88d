//! The automatic mode's verdict on a growth proposal (no target size).
//!
//! The held-out data is split in two (halves by default; `judge_fraction` of it judges). The
//! first part chooses: the scale of the first k neurons of the proposal (k = K, K/4, …, 1, in
//! TINY's order of λ) by the line search, and the count k whose gain minus its cost
//! ([`Acceptance::cost`]) is largest. The second, which took no part in those choices, judges:
//! the gain is a mean of paired per-sample loss differences, so its standard error comes with
//! it, and the step is kept only when the gain pays its cost and exceeds `significance`
//! standard errors ([`refusal`]); judged in parts, the judging stops once the verdict is clear
//! (`judge_in_parts`). Judging on the data that chose the best of several scales and counts
//! would count noise as gain.
//!
//! What is judged ([`AutoGain`]): TINY's proposal moves the existing weights too (−s²δ, the
//! best update of the consumer's weights, docs/tiny.md §2.3). That move is a natural-gradient step
//! that training would take anyway, and it lowers the loss for as long as the network is not
//! converged, so a rule that judges the whole step ([`AutoGain::Total`]) keeps growing.
//! [`AutoGain::Neurons`] judges what the *new neurons* add beyond the existing weights' own
//! best move: the loss after the step against the loss after the δ step alone, at its own
//! best scale (chosen on the same half). The bottleneck is exhausted when the new neurons no
//! longer beat, by more than their cost and the noise, what the existing neurons can do.
//!
//! [`AutoGain::NeuronsOwnScale`] (the default) gives the new neurons a scale of their own on
//! top of the δ step at its best scale: with one shared scale, a δ step whose best scale differs
//! from the units' is judged against itself at its own best, and the units can lose by the scale
//! alone (a CIFAR-10 CNN that hardly grows; an MNIST MLP stalled at 1 + 1 units: docs/tiny.md §10).
//!
//! At every site without rational units the previews share everything that depends neither
//! on the scale nor on k ([`super::preview::Previews`]), so judging a step costs the new units
//! and the layers after the consumer, not full passes.
use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::amplitude::{self, Amplitude, LineSearch};
use super::preview::{looked_up, prefix, Previews};
use super::proposal::Proposal;
use super::stem::Stems;
use crate::data::Dataset;
pub use crate::events::Judgement;
use crate::nn::{Loss, Network};

/// What the automatic mode's acceptance measures on the judging half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AutoGain {
    /// The whole step's improvement over the unchanged network.
    Total,
    /// The new neurons' improvement over the best update of the existing weights alone
    /// (the same as `Total` for proposals without such an update: GradMax, TINY-paper).
    Neurons,
    /// As `Neurons`, the new neurons at a scale of their own on top of the existing weights'
    /// update at its best scale (`Neurons` takes both at one scale, which the δ step alone
    /// need not share): the applied step is `−s_δ²δ` and the units at `s`.
    NeuronsOwnScale,
}

/// Mean and standard error of the paired differences `before − after` (per-sample losses).
pub fn paired_gain(before: &[f64], after: &[f64]) -> (f64, f64) {
    let n = before.len().min(after.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let d: Vec<f64> = (0..n).map(|i| before[i] - after[i]).collect();
    let mean = d.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = d.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, (var / n as f64).sqrt())
}

/// Parameters that `p`'s new neurons add: fan-in (and bias) and fan-out of each.
pub fn parameters_added(p: &Proposal) -> i64 {
    let fan_in: i64 = p.alpha_w.size()[1..].iter().product();
    let fan_out: i64 = p.omega.size()[0];
    p.neurons() * (fan_in + i64::from(p.alpha_b.is_some()) + fan_out)
}

/// The automatic mode's acceptance rule. A step of k neurons adding P parameters, with
/// relative held-out gain g and standard error σ, is kept when g ≥ `threshold`,
/// g ≥ k·`per_neuron` + P·`per_parameter` (its net benefit is positive) and
/// g > `significance`·σ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acceptance {
    /// Least relative gain of a step.
    pub threshold: f64,
    /// Least relative gain per new neuron (the held-out counterpart of TINY's statistical
    /// threshold on λ², docs/tiny.md §2.7).
    pub per_neuron: f64,
    /// Least relative gain per added parameter.
    pub per_parameter: f64,
    /// Standard errors the gain must exceed.
    pub significance: f64,
}

impl Acceptance {
    /// What `neurons` new neurons adding `parameters` parameters must gain at least.
    pub fn cost(&self, neurons: i64, parameters: i64) -> f64 {
        self.per_neuron * neurons as f64 + self.per_parameter * parameters as f64
    }
}

/// Why a judged step is refused, or `None` when it is kept (see [`Acceptance`]).
pub fn refusal(j: &Judgement, rule: Acceptance) -> Option<String> {
    let what = if j.existing.is_some() {
        "the new neurons' gain over the existing weights' update"
    } else {
        "relative improvement"
    };
    let cost = rule.cost(j.neurons, j.parameters_added);
    if j.gain.is_nan() {
        Some(format!("{what} is not a number"))
    } else if j.gain < rule.threshold {
        Some(format!(
            "{what} {:.2e} below the threshold {:.0e}",
            j.gain, rule.threshold
        ))
    } else if j.gain < cost {
        Some(format!(
            "{what} {:.2e} below the cost {cost:.2e} of {} neurons ({} parameters)",
            j.gain, j.neurons, j.parameters_added
        ))
    } else if j.gain <= rule.significance * j.standard_error {
        Some(format!(
            "{what} {:.2e} not significant ({:.1} standard errors of {:.1e}, needs {})",
            j.gain,
            j.gain / j.standard_error.max(1e-300),
            j.standard_error,
            rule.significance
        ))
    } else {
        None
    }
}

/// `p` with its update of the existing weights multiplied by `r²`: applied at scale `s`, the
/// update is then taken at scale `r·s` while the new units are at `s`
/// ([`AutoGain::NeuronsOwnScale`]).
pub fn with_delta_scale(mut p: Proposal, r: f64) -> Proposal {
    let r2 = r * r;
    p.delta_w = p.delta_w.map(|d| d * r2);
    p.delta_b = p.delta_b.map(|d| d * r2);
    p
}

/// The neuron counts tried for a proposal of `k` neurons: k, ⌈k/4⌉, ⌈k/16⌉, …, 1.
pub fn prefix_sizes(k: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut n = k;
    while n >= 1 {
        out.push(n);
        if n == 1 {
            break;
        }
        n = (n + 3) / 4;
    }
    out
}

/// The counts [`choose`] tries for `p`: [`prefix_sizes`], in whole pairs when its units are
/// mirrored (docs/tiny.md §2.16).
fn counts(p: &Proposal) -> Vec<i64> {
    if p.mirrored {
        prefix_sizes(p.neurons() / 2)
            .into_iter()
            .map(|k| 2 * k)
            .collect()
    } else {
        prefix_sizes(p.neurons())
    }
}

/// The automatic mode's decision on one proposal.
pub struct Choice {
    /// The proposal cut to the chosen neuron count.
    pub proposal: Proposal,
    /// Its scale, chosen on the choosing half.
    pub amplitude: Amplitude,
    /// Its verdict on the judging half.
    pub judgement: Judgement,
    /// Why it is refused (`None`: keep it).
    pub refusal: Option<String>,
    /// Every count tried on the choosing half: (neurons, relative gain, net benefit).
    pub tried: Vec<(i64, f64, f64)>,
    /// The scale of the existing weights' update when it differs from the units' (`None`: the
    /// proposal's one scale).
    pub delta_scale: Option<f64>,
}

/// How the automatic mode judges a proposal: what gain it measures, the line search that
/// chooses the scales, the acceptance rule, and whether the previews use mixed precision's
/// arithmetic ([`Previews::fast`]).
#[derive(Clone, Copy, Debug)]
pub struct Judging<'a> {
    pub gain: AutoGain,
    pub line_search: &'a LineSearch,
    pub rule: Acceptance,
    pub fast: bool,
    /// Parts the judging samples are judged in, stopping once the verdict is clear
    /// (`judge_in_parts`; 1: all of them at once).
    pub parts: usize,
}

/// Decides on `p` with the held-out halves `choose` and `verify`. On `choose`: the scale of
/// the first k, k/4, …, 1 neurons (line search), and the count whose gain (measured as
/// `judging.gain` says) minus its cost under `judging.rule` is largest. On `verify`, which
/// took no part in those choices: that count's gain, its standard error, and the verdict.
pub fn choose(
    net: &Network,
    loss: Loss,
    (choose, verify): (&Dataset, &Dataset),
    p: &Proposal,
    judging: &Judging,
    stems: Option<&RefCell<Stems>>,
) -> Choice {
    let Judging {
        gain: what,
        line_search,
        rule,
        fast,
        ..
    } = *judging;
    let pc = Previews::with_stems(net, p, choose, stems).fast(fast);
    // The baseline the new neurons must beat: the unchanged network, or the existing
    // weights' update alone (no new neuron) at its own best scale.
    let beyond = matches!(what, AutoGain::Neurons | AutoGain::NeuronsOwnScale);
    let existing = (beyond && p.delta_w.is_some()).then(|| pc.amplitude(loss, 0, line_search));
    // The units at their own scale on top of the existing weights' update at its own.
    let own = existing
        .as_ref()
        .filter(|_| what == AutoGain::NeuronsOwnScale)
        .map(|e| e.scale);
    let mut best: Option<(i64, Amplitude, f64)> = None;
    let mut tried = Vec::new();
    for k in counts(p) {
        let amp = match own {
            Some(sd) => {
                let fo = p.info.first_order();
                let grid = pc.grid_losses(loss, k, line_search, Some(sd));
                let mut a = amplitude::search_with(line_search, fo, &mut |s| {
                    looked_up(&grid, s).unwrap_or_else(|| pc.loss_scaled(loss, k, s, sd))
                });
                a.loss_before = pc.loss(loss, k, 0.0);
                a
            }
            None => pc.amplitude(loss, k, line_search),
        };
        let l0 = amp.loss_before.abs().max(1e-12);
        let base = existing.as_ref().map_or(amp.loss_before, |e| e.loss_after);
        let gain = (base - amp.loss_after) / l0;
        let benefit = gain - rule.cost(k, parameters_added(&prefix(p, k)));
        tried.push((k, gain, benefit));
        if best.as_ref().is_none_or(|b| benefit > b.2) {
            best = Some((k, amp, benefit));
        }
    }
    let Some((k, amp, _)) = best else {
        return Choice {
            proposal: prefix(p, 0),
            amplitude: Amplitude {
                scale: 0.0,
                loss_before: 0.0,
                loss_after: 0.0,
                evaluations: 0,
            },
            judgement: Judgement::default(),
            refusal: Some("no neuron proposed".into()),
            tried,
            delta_scale: None,
        };
    };
    let pk = prefix(p, k);
    let existing_scale = existing.as_ref().map(|e| e.scale);
    let step = JudgedStep {
        proposal: &pk,
        scale: amp.scale,
        own,
        existing: existing_scale,
    };
    let judgement = judge_in_parts(net, loss, verify, &step, judging, stems);
    Choice {
        refusal: refusal(&judgement, rule),
        proposal: pk,
        amplitude: amp,
        judgement,
        tried,
        delta_scale: own,
    }
}

/// The chosen step as the judging half previews it: `proposal`'s units at `scale`, the existing
/// weights' update at `own` when it has a scale of its own, and that update alone at
/// `existing` as the baseline (`None`: the unchanged network).
struct JudgedStep<'a> {
    proposal: &'a Proposal,
    scale: f64,
    own: Option<f64>,
    existing: Option<f64>,
}

/// Standard errors an interim verdict must clear to keep a step early (Haybittle–Peto: a
/// strict bound at the interim looks, the rule's own at the last, so that looking several
/// times hardly raises the chance of keeping a step that gains nothing; docs/tiny.md §10).
pub const INTERIM_SIGNIFICANCE: f64 = 3.0;

/// The verdict on `step` from `verify`, judged in `judging.parts` consecutive parts
/// (sequential test, docs/tiny.md §10). After each part but the last, on the samples so far,
/// the judging stops when the step is kept with [`INTERIM_SIGNIFICANCE`] standard errors, or
/// when even its gain plus `significance` standard errors does not pay its cost (it would
/// almost surely be refused at the end; stopping then only refuses more). With one part: the
/// verdict on every sample.
fn judge_in_parts(
    net: &Network,
    loss: Loss,
    verify: &Dataset,
    step: &JudgedStep,
    judging: &Judging,
    stems: Option<&RefCell<Stems>>,
) -> Judgement {
    let (rule, parts) = (judging.rule, judging.parts.clamp(1, verify.len().max(1)));
    let (k, params) = (step.proposal.neurons(), parameters_added(step.proposal));
    let mut losses: [Vec<f64>; 3] = Default::default();
    let mut start = 0;
    for part in 0..parts {
        let end = verify.len() * (part + 1) / parts;
        let samples = verify.slice(start, end - start);
        let pv = Previews::with_stems(net, step.proposal, &samples, stems).fast(judging.fast);
        start = end;
        let to_vec = |t: Tensor| Vec::<f64>::try_from(&t).unwrap_or_default();
        losses[0].extend(to_vec(pv.per_sample_losses(loss, k, 0.0)));
        losses[1].extend(to_vec(match step.own {
            Some(sd) => pv.per_sample_losses_scaled(loss, k, step.scale, sd),
            None => pv.per_sample_losses(loss, k, step.scale),
        }));
        if let Some(e) = step.existing {
            losses[2].extend(to_vec(pv.per_sample_losses(loss, 0, e)));
        }
        let j = judgement_of(step, &losses, params);
        if part + 1 == parts || clear(&j, rule) {
            return j;
        }
    }
    unreachable!("the last part returns")
}

/// Whether an interim verdict is clear: kept at [`INTERIM_SIGNIFICANCE`] standard errors, or
/// refused even at its gain plus `significance` standard errors.
fn clear(j: &Judgement, rule: Acceptance) -> bool {
    let strict = Acceptance {
        significance: rule.significance.max(INTERIM_SIGNIFICANCE),
        ..rule
    };
    let least = rule.threshold.max(rule.cost(j.neurons, j.parameters_added));
    refusal(j, strict).is_none() || j.gain + rule.significance * j.standard_error < least
}

/// The judgement from the judging samples' per-sample losses: before the step, after it,
/// and after the existing weights' update alone (empty without that baseline).
fn judgement_of(
    step: &JudgedStep,
    [before, after, base]: &[Vec<f64>; 3],
    params: i64,
) -> Judgement {
    let l0 = (before.iter().sum::<f64>() / before.len().max(1) as f64)
        .abs()
        .max(1e-12);
    let (total, total_se) = paired_gain(before, after);
    let mut judgement = Judgement {
        neurons: step.proposal.neurons(),
        parameters_added: params,
        gain: total / l0,
        standard_error: total_se / l0,
        total: total / l0,
        existing: None,
        existing_scale: None,
        loss_before: l0,
        samples: Some(before.len() as i64),
    };
    if let Some(e) = step.existing {
        let (g, se) = paired_gain(base, after);
        judgement.gain = g / l0;
        judgement.standard_error = se / l0;
        judgement.existing = Some(paired_gain(before, base).0 / l0);
        judgement.existing_scale = Some(e);
    }
    judgement
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::amplitude;
    use tch::Kind;

    #[test]
    fn paired_gain_is_the_mean_difference_with_its_standard_error() {
        let before = [1.0, 2.0, 3.0, 4.0];
        let after = [0.5, 1.0, 3.0, 3.5];
        // differences 0.5, 1, 0, 0.5: mean 0.5, sample variance 1/6, se √(1/24)
        let (m, se) = paired_gain(&before, &after);
        assert!((m - 0.5).abs() < 1e-12);
        assert!((se - (1.0f64 / 24.0).sqrt()).abs() < 1e-12);
        assert_eq!(paired_gain(&[], &[]), (0.0, 0.0));
        assert_eq!(paired_gain(&[2.0], &[1.5]), (0.5, 0.0));
    }

    fn setup() -> (Network, Proposal, Dataset) {
        use crate::nn::{Activation, Architecture};
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let arch = Architecture::mlp(3, &[2], 2, Activation::Relu);
        let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
        tch::manual_seed(5);
        let r = |shape: &[i64]| Tensor::randn(shape, (Kind::Float, tch::Device::Cpu));
        let mut p = Proposal::neurons_only(0, r(&[3, 3]), Some(r(&[3])), r(&[2, 3]));
        p.delta_w = Some(r(&[2, 2]) * 0.1);
        p.delta_b = Some(r(&[2]) * 0.1);
        p.function_preserving = false;
        let data = Dataset {
            x: r(&[40, 3]),
            y: Tensor::from_slice(&[0i64, 1]).repeat([20]),
        };
        (net, p, data)
    }

    /// No cost and no significance asked: any positive gain is kept.
    const ANY_GAIN: Acceptance = Acceptance {
        threshold: 0.0,
        per_neuron: 0.0,
        per_parameter: 0.0,
        significance: 0.0,
    };

    /// [`choose`] on the first and last 20 samples of `data`, the cross-entropy loss and no
    /// stems.
    fn judge(
        net: &Network,
        p: &Proposal,
        data: &Dataset,
        what: AutoGain,
        grid: &LineSearch,
    ) -> Choice {
        let halves = (&data.slice(0, 20), &data.slice(20, 20));
        let judging = Judging {
            gain: what,
            line_search: grid,
            rule: ANY_GAIN,
            fast: false,
            parts: 1,
        };
        choose(net, Loss::CrossEntropy, halves, p, &judging, None)
    }

    fn preview(net: &Network, p: &Proposal, data: &Dataset, s: f64) -> Tensor {
        amplitude::forward_extended(net, &data.x, p, s)
    }

    #[test]
    fn cached_previews_match_the_extended_forward() {
        let (net, p, data) = setup();
        assert_eq!(prefix(&p, 2).neurons(), 2);
        assert_eq!(parameters_added(&prefix(&p, 2)), 2 * (3 + 1 + 2));
        let previews = Previews::new(&net, &p, &data);
        assert!(previews.is_cached());
        for k in 0..=3 {
            for s in [0.0, 0.3, 1.0] {
                let want = preview(&net, &prefix(&p, k), &data, s);
                let got = previews.output(k, s);
                assert!(got.allclose(&want, 1e-5, 1e-6, false), "k {k}, s {s}");
            }
        }
        assert!(preview(&net, &prefix(&p, 3), &data, 0.7).equal(&preview(&net, &p, &data, 0.7)));
        // No new neuron: the δ step alone, which changes the output.
        assert!(!previews
            .output(0, 0.7)
            .allclose(&previews.output(0, 0.0), 1e-4, 1e-4, false));
        // Scale 0 is the unchanged network for every k, bit for bit (its loss is computed once).
        for k in [3, 0, 2] {
            let direct = Loss::CrossEntropy.mean(&previews.output(k, 0.0), &data.y);
            assert_eq!(
                previews.loss(Loss::CrossEntropy, k, 0.0),
                direct.double_value(&[])
            );
        }
        let l = previews.per_sample_losses(Loss::CrossEntropy, 2, 0.7);
        let m = previews.loss(Loss::CrossEntropy, 2, 0.7);
        assert!((l.mean(Kind::Double).double_value(&[]) - m).abs() < 1e-5);
        // The grid search picks the scale of the lowest loss, as amplitude::search does.
        let grid = LineSearch::Grid {
            scales: vec![0.1, 0.5, 1.0],
        };
        let a = previews.amplitude(Loss::CrossEntropy, 3, &grid);
        let b = amplitude::search(&net, Loss::CrossEntropy, &data, &p, &grid);
        assert_eq!(a.scale, b.scale);
        assert!((a.loss_after - b.loss_after).abs() < 1e-5);
    }

    #[test]
    fn neurons_that_add_nothing_are_refused() {
        let (net, mut p, data) = setup();
        p.omega = p.omega.zeros_like();
        let grid = LineSearch::Grid {
            scales: vec![0.5, 1.0],
        };
        let c = judge(&net, &p, &data, AutoGain::Neurons, &grid);
        assert_eq!(c.judgement.gain, 0.0);
        assert!(c.judgement.existing.is_some());
        assert!(c.refusal.is_some());
        assert_eq!(c.tried.len(), prefix_sizes(3).len());
        // Judged as a whole, the same step counts the δ step's gain (or loss).
        let t = judge(&net, &p, &data, AutoGain::Total, &grid);
        assert!(t.judgement.existing.is_none());
        assert_eq!(t.judgement.gain, t.judgement.total);
    }

    #[test]
    fn own_scale_keeps_the_delta_step_at_its_best_scale() {
        let (net, p, data) = setup();
        let grid = LineSearch::Grid {
            scales: vec![0.25, 0.5, 1.0, 2.0],
        };
        let c = judge(&net, &p, &data, AutoGain::NeuronsOwnScale, &grid);
        let choosing = data.slice(0, 20);
        let pc = Previews::new(&net, &p, &choosing);
        let e = pc.amplitude(Loss::CrossEntropy, 0, &grid);
        assert_eq!(c.delta_scale, Some(e.scale));
        assert_eq!(c.judgement.existing_scale, Some(e.scale));
        // The units are previewed on top of δ at its own scale; "before" is the unchanged loss.
        let (k, s) = (c.judgement.neurons, c.amplitude.scale);
        let want = pc.loss_scaled(Loss::CrossEntropy, k, s, e.scale);
        assert_eq!(c.amplitude.loss_after, want);
        assert_eq!(c.amplitude.loss_before, pc.loss(Loss::CrossEntropy, k, 0.0));
        // Applied as δ·(s_δ/s)² at s: the same network as δ at s_δ and the units at s.
        let (s, sd) = (0.5, 2.0);
        let q = with_delta_scale(prefix(&p, 3), sd / s);
        let applied = amplitude::forward_extended(&net, &data.x, &q, s);
        let previewed = Previews::new(&net, &p, &data).output_scaled(3, s, sd);
        assert!(applied.allclose(&previewed, 1e-5, 1e-6, false));
        assert!(!previewed.allclose(
            &Previews::new(&net, &p, &data).output(3, s),
            1e-4,
            1e-4,
            false
        ));
        // The one-scale rule judges the same proposal with δ at the units' scale.
        let one = judge(&net, &p, &data, AutoGain::Neurons, &grid);
        assert_eq!(one.delta_scale, None);
    }

    /// [`judge_in_parts`] of `p`'s units at scale 0.8 on the top of δ at 0.5 against δ alone,
    /// on `verify` in `parts` parts under `rule`.
    fn judged_in_parts(
        p: &Proposal,
        verify: &Dataset,
        parts: usize,
        rule: Acceptance,
    ) -> Judgement {
        let (net, _, _) = setup();
        let step = JudgedStep {
            proposal: p,
            scale: 0.8,
            own: Some(0.5),
            existing: Some(0.5),
        };
        let grid = LineSearch::default();
        let judging = Judging {
            gain: AutoGain::NeuronsOwnScale,
            line_search: &grid,
            rule,
            fast: false,
            parts,
        };
        judge_in_parts(&net, Loss::CrossEntropy, verify, &step, &judging, None)
    }

    #[test]
    fn judging_in_parts_stops_once_the_verdict_is_clear() {
        let (net, p, _) = setup();
        tch::manual_seed(11);
        let verify = Dataset {
            x: Tensor::randn([100, 3], (Kind::Float, tch::Device::Cpu)),
            y: Tensor::from_slice(&[0i64, 1]).repeat([50]),
        };
        // One part: the paired gain of the per-sample losses on every sample.
        let whole = judged_in_parts(&p, &verify, 1, ANY_GAIN);
        let pv = Previews::new(&net, &p, &verify);
        let v = |t: Tensor| Vec::<f64>::try_from(&t).unwrap();
        let before = v(pv.per_sample_losses(Loss::CrossEntropy, 3, 0.0));
        let after = v(pv.per_sample_losses_scaled(Loss::CrossEntropy, 3, 0.8, 0.5));
        let base = v(pv.per_sample_losses(Loss::CrossEntropy, 0, 0.5));
        let l0 = before.iter().sum::<f64>() / 100.0;
        let (g, se) = paired_gain(&base, &after);
        assert_eq!(whole.samples, Some(100));
        assert!(
            (whole.gain - g / l0).abs() < 1e-12 && (whole.standard_error - se / l0).abs() < 1e-12
        );
        assert!((whole.existing.unwrap() - paired_gain(&before, &base).0 / l0).abs() < 1e-12);
        // A cost no gain can pay: refused after the first of four parts, as that part alone.
        let dear = Acceptance {
            per_neuron: 1.0,
            ..ANY_GAIN
        };
        let early = judged_in_parts(&p, &verify, 4, dear);
        let first = judged_in_parts(&p, &verify.slice(0, 25), 1, dear);
        assert_eq!(early.samples, Some(25));
        assert_eq!(
            (early.gain, early.standard_error),
            (first.gain, first.standard_error)
        );
        assert!(refusal(&early, dear).is_some());
        // A verdict that never gets clear: every part, the whole sample's judgement.
        let never = Acceptance {
            significance: 1e12,
            ..ANY_GAIN
        };
        let all = judged_in_parts(&p, &verify, 4, never);
        assert_eq!(all.samples, Some(100));
        assert!((all.gain - whole.gain).abs() < 1e-9 * whole.gain.abs().max(1e-6));
        assert!((all.standard_error - whole.standard_error).abs() < 1e-9);
        // Kept early only beyond INTERIM_SIGNIFICANCE standard errors.
        let j = |gain| Judgement {
            gain,
            standard_error: 1.0,
            neurons: 1,
            ..Judgement::default()
        };
        assert!(clear(&j(3.1), ANY_GAIN) && !clear(&j(2.9), ANY_GAIN));
        assert!(clear(&j(-0.1), ANY_GAIN));
    }

    #[test]
    fn prefix_sizes_shrink_by_four_down_to_one() {
        assert_eq!(prefix_sizes(32), vec![32, 8, 2, 1]);
        assert_eq!(prefix_sizes(9), vec![9, 3, 1]);
        assert_eq!(prefix_sizes(5), vec![5, 2, 1]);
        assert_eq!(prefix_sizes(1), vec![1]);
        assert!(prefix_sizes(0).is_empty());
    }

    #[test]
    fn refusal_needs_size_net_benefit_and_significance() {
        let j = |gain, standard_error, neurons, parameters_added| Judgement {
            gain,
            standard_error,
            neurons,
            parameters_added,
            ..Judgement::default()
        };
        let rule = Acceptance {
            threshold: 0.001,
            per_neuron: 1e-4,
            per_parameter: 1e-7,
            significance: 2.0,
        };
        // cost of 10 neurons and 10 000 parameters: 1e-3 + 1e-3
        assert!((rule.cost(10, 10_000) - 2e-3).abs() < 1e-15);
        assert!(refusal(&j(0.0021, 0.001, 10, 10_000), rule).is_none());
        let r = |j| refusal(&j, rule).unwrap();
        assert!(r(j(0.0009, 0.0001, 1, 1)).contains("below the threshold 1e-3"));
        assert!(r(j(0.0019, 0.0001, 10, 10_000)).contains("below the cost 2.00e-3"));
        assert!(r(j(0.0021, 0.0011, 10, 10_000)).contains("not significant"));
        assert!(refusal(&j(f64::NAN, 0.0, 1, 1), rule).is_some());
        // No thresholds and significance 0: any positive gain.
        let any = ANY_GAIN;
        assert!(refusal(&j(1e-9, 0.5, 100, 1_000_000), any).is_none());
        assert!(refusal(&j(-1e-9, 0.5, 1, 1), any).is_some());
    }
}
