//! Amplitude of a proposal: the extended forward that previews it at scale `s` without
//! changing the network (docs/tiny.md §2.8), and the line search that picks `s` (§2.9).
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::proposal::Proposal;
use super::site::units_pre;
use crate::data::Dataset;
use crate::nn::{Hooks, Loss, Network, Stage};

/// The network's output as if `proposal` had been applied with scale `s`: the producer also
/// emits the new units `pool(σ(BN(s·(α b̃))))`, and the consumer computes
/// `W b̃ − s²δ b̃ + s·ω·ext`. A producer BatchNorm passes the new units through as its new
/// channels will after growth (γ = 1, β = 0, running mean 0, variance 1: `x/√(1+ε)` in eval
/// mode; docs/tiny.md §3.3). Nothing is stored; the network is unchanged.
pub fn forward_extended(net: &Network, x: &Tensor, proposal: &Proposal, s: f64) -> Tensor {
    forward_extended_from(net, &stem(net, x, proposal.site), proposal, s)
}

/// The inputs of stages `site` and `site − 1` (eval mode): what every scale's extended
/// forward shares.
pub fn stem(net: &Network, x: &Tensor, site: usize) -> (Tensor, Option<Tensor>) {
    net.forward_range(x, None, 0..site.min(net.stages.len()), false)
}

/// [`forward_extended`] from the producer's input and its block input (see [`stem`]).
pub fn forward_extended_from(
    net: &Network,
    stem: &(Tensor, Option<Tensor>),
    proposal: &Proposal,
    s: f64,
) -> Tensor {
    forward_extended_scaled(net, stem, proposal, s, s)
}

/// [`forward_extended_from`] with the new units at scale `s` and the existing weights' update
/// at its own scale `sd` (`−sd²δ b̃`).
pub fn forward_extended_scaled(
    net: &Network,
    (h, block_input): &(Tensor, Option<Tensor>),
    proposal: &Proposal,
    s: f64,
    sd: f64,
) -> Tensor {
    let block_input = block_input.as_ref().map(Tensor::shallow_clone);
    let mut hooks = Extension {
        proposal,
        s,
        sd,
        ext: None,
    };
    let range = proposal.site..net.stages.len();
    net.run(h, block_input, range, false, &mut hooks).0
}

/// The preview's hooks on the one traversal: the producer also emits the new units, the
/// consumer adds `−s²δ b̃` and `s·ω` on them to its layer output.
struct Extension<'a> {
    proposal: &'a Proposal,
    s: f64,
    /// The scale of the existing weights' update.
    sd: f64,
    /// The new units' output after the producer's activation and pooling.
    ext: Option<Tensor>,
}

impl Hooks for Extension<'_> {
    fn input(&mut self, i: usize, stage: &Stage, input: &Tensor) {
        let (p, s) = (self.proposal, self.s);
        if i != p.site || p.neurons() == 0 {
            return;
        }
        let pre = units_pre(
            stage,
            input,
            &(&p.alpha_w * s),
            p.alpha_b.as_ref().map(|b| b * s).as_ref(),
        );
        // `activation` of a rational stage is the identity: new rational units start there
        // (what apply gives them).
        self.ext = Some(stage.apply_pool(&stage.activation.forward(&pre)));
    }

    fn layer_output(&mut self, i: usize, stage: &Stage, input: &Tensor) -> Tensor {
        let mut z = stage.layer.forward(input);
        let (p, s, sd) = (self.proposal, self.s, self.sd);
        if i != p.site + 1 {
            return z;
        }
        if let Some(dw) = &p.delta_w {
            z -= stage.layer.forward_with(
                input,
                &(dw * (sd * sd)),
                p.delta_b.as_ref().map(|b| b * (sd * sd)).as_ref(),
            );
        }
        if let Some(e) = self.ext.as_ref().filter(|_| p.neurons() > 0) {
            let e = stage.layer.input(e);
            z += stage.layer.forward_with(&e, &(&p.omega * s), None);
        }
        z
    }
}

/// The nonzero scales of a [`LineSearch::Descend`] in the order it tries them: largest first,
/// each once.
pub fn descending(scales: &[f64]) -> Vec<f64> {
    let mut order: Vec<f64> = scales.iter().copied().filter(|&s| s != 0.0).collect();
    order.sort_by(|a, b| b.total_cmp(a));
    order.dedup();
    order
}

/// Mean loss of the extended network at scale `s` on `data`.
pub fn loss_at(net: &Network, loss: Loss, data: &Dataset, proposal: &Proposal, s: f64) -> f64 {
    Preview::new(net, loss, data, proposal).loss(s)
}

/// A proposal previewed on fixed data at several scales: the stages before the site run
/// once, each scale runs the rest.
pub struct Preview<'a> {
    net: &'a Network,
    loss: Loss,
    proposal: &'a Proposal,
    prefix: (Tensor, Option<Tensor>),
    targets: &'a Tensor,
}

impl<'a> Preview<'a> {
    pub fn new(net: &'a Network, loss: Loss, data: &'a Dataset, proposal: &'a Proposal) -> Self {
        let prefix = tch::no_grad(|| stem(net, &data.x, proposal.site));
        Preview {
            net,
            loss,
            proposal,
            prefix,
            targets: &data.y,
        }
    }

    /// Mean loss of the extended network at scale `s`.
    pub fn loss(&self, s: f64) -> f64 {
        tch::no_grad(|| {
            let out = forward_extended_from(self.net, &self.prefix, self.proposal, s);
            self.loss.mean(&out, self.targets).double_value(&[])
        })
    }
}

/// How the amplitude is chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LineSearch {
    /// Armijo backtracking on γ = s² (docs/tiny.md §2.9): start at 2·L0/FO, accept when
    /// L(γ) < L0 − c·γ·FO, extend by doubling while the loss drops, else halve.
    Armijo { c: f64, max_iterations: usize },
    /// The best of a fixed grid of scales `s` (0 is always a candidate).
    Grid { scales: Vec<f64> },
    /// The same grid from its largest scale down, stopping after the first scale whose loss
    /// is above the one before it: the grid's best whenever the loss along the grid falls and
    /// then rises, in fewer evaluations when the best scale is a large one (docs/tiny.md §2.9).
    Descend { scales: Vec<f64> },
}

/// The largest scale a grid may hold: new neurons far beyond the existing ones' size.
pub const MAX_GRID_SCALE: f64 = 1e3;

impl LineSearch {
    /// Checks the search's numbers (keys as in config.toml).
    pub fn validate(&self) -> crate::error::Result<()> {
        use crate::error::Error;
        match self {
            LineSearch::Armijo { c, max_iterations } => {
                crate::error::check::in_open_unit("growth.line_search.c", *c, "")?;
                crate::error::check::at_least(
                    "growth.line_search.max_iterations",
                    *max_iterations,
                    1,
                )
            }
            LineSearch::Grid { scales } | LineSearch::Descend { scales } => {
                let ok = |s: &f64| (0.0..=MAX_GRID_SCALE).contains(s);
                if scales.iter().all(ok) && scales.iter().any(|s| *s > 0.0) {
                    Ok(())
                } else {
                    Err(Error::invalid(
                        "growth.line_search.scales",
                        scales,
                        format!(
                            "scales in [0, {MAX_GRID_SCALE}], at least one of them > 0 (0 is \
                             always tried)"
                        ),
                    ))
                }
            }
        }
    }
}

impl Default for LineSearch {
    fn default() -> Self {
        LineSearch::Armijo {
            c: 0.1,
            max_iterations: 20,
        }
    }
}

/// The outcome of a line search.
#[derive(Clone, Debug, Serialize)]
pub struct Amplitude {
    /// Chosen scale `s` (0: do not grow).
    pub scale: f64,
    /// Loss at s = 0 and at the chosen scale, on the line-search data.
    pub loss_before: f64,
    pub loss_after: f64,
    /// Extended forwards evaluated.
    pub evaluations: usize,
}

/// Chooses the scale of `proposal` on `data` (held-out batches).
pub fn search(
    net: &Network,
    loss: Loss,
    data: &Dataset,
    proposal: &Proposal,
    method: &LineSearch,
) -> Amplitude {
    let preview = Preview::new(net, loss, data, proposal);
    search_with(method, proposal.info.first_order(), &mut |s| {
        preview.loss(s)
    })
}

/// The line search `method` on the loss at scale `s` given by `loss_at(s)` (`fo`: the
/// proposal's first order, for Armijo); a non-finite loss counts as +∞.
pub fn search_with(method: &LineSearch, fo: f64, loss_at: &mut dyn FnMut(f64) -> f64) -> Amplitude {
    let l0 = loss_at(0.0);
    let mut evals = 1;
    let mut eval = |s: f64| {
        evals += 1;
        let l = loss_at(s);
        if l.is_finite() {
            l
        } else {
            f64::INFINITY
        }
    };
    let (scale, loss_after) = match method {
        LineSearch::Grid { scales } => {
            let mut best = (0.0, l0);
            for &s in scales.iter().filter(|&&s| s != 0.0) {
                let l = eval(s);
                if l < best.1 {
                    best = (s, l);
                }
            }
            best
        }
        LineSearch::Descend { scales } => descend(scales, l0, &mut eval),
        LineSearch::Armijo { c, max_iterations } => {
            if !(fo.is_finite() && fo > 0.0 && l0.is_finite()) {
                (0.0, l0)
            } else {
                armijo(l0, fo, *c, *max_iterations, &mut |g: f64| eval(g.sqrt()))
            }
        }
    };
    Amplitude {
        scale,
        loss_before: l0,
        loss_after,
        evaluations: evals,
    }
}

/// [`LineSearch::Descend`]: the nonzero `scales` from the largest down while the loss
/// `loss_at(s)` does not rise; returns (s, loss) of the lowest seen, or (0, `l0`) when none is
/// below `l0`.
fn descend(scales: &[f64], l0: f64, loss_at: &mut dyn FnMut(f64) -> f64) -> (f64, f64) {
    let (mut best, mut previous) = ((0.0, l0), f64::INFINITY);
    for s in descending(scales) {
        let l = loss_at(s);
        if l < best.1 {
            best = (s, l);
        }
        if l > previous {
            break;
        }
        previous = l;
    }
    best
}

/// Armijo backtracking on γ (docs/tiny.md §2.9); returns (s = √γ, loss), or (0, L0) when no γ ≥ 1e-7
/// satisfies the condition. `loss_of(γ)` evaluates the loss at amplitude γ = s².
fn armijo(
    l0: f64,
    fo: f64,
    c: f64,
    max_iterations: usize,
    loss_of: &mut dyn FnMut(f64) -> f64,
) -> (f64, f64) {
    let ok = |g: f64, l: f64| l < l0 - c * g * fo;
    let mut gamma = 2.0 * l0 / fo;
    let mut l = loss_of(gamma);
    if ok(gamma, l) {
        // Extended search: keep doubling while the loss keeps dropping.
        for _ in 0..max_iterations {
            let l2 = loss_of(2.0 * gamma);
            if l2 < l {
                gamma *= 2.0;
                l = l2;
            } else {
                break;
            }
        }
        return (gamma.sqrt(), l);
    }
    for _ in 0..max_iterations {
        gamma /= 2.0;
        if gamma < 1e-7 {
            break;
        }
        l = loss_of(gamma);
        if ok(gamma, l) {
            // Keep halving while the loss still drops.
            for _ in 0..max_iterations {
                let l2 = loss_of(gamma / 2.0);
                if l2 < l {
                    gamma /= 2.0;
                    l = l2;
                } else {
                    break;
                }
            }
            return (gamma.sqrt(), l);
        }
    }
    (0.0, l0)
}

/// Mean loss of the network itself on `data` (eval mode).
pub fn plain_loss(net: &Network, loss: Loss, data: &Dataset) -> f64 {
    tch::no_grad(|| {
        loss.mean(&net.forward(&data.x, false), &data.y)
            .double_value(&[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armijo_finds_the_minimum_of_a_parabola() {
        // L(γ) = L0 − FO·γ + γ²: minimum at γ = FO/2.
        let (l0, fo) = (1.0, 0.5);
        let mut f = |g: f64| l0 - fo * g + g * g;
        let (s, l) = armijo(l0, fo, 0.1, 20, &mut f);
        // From γ = 2·L0/FO = 4, halving: 4, 2, 1 and 0.5 fail the Armijo condition, 0.25
        // passes (L = 0.9375 < 0.9875) and 0.125 does not lower the loss further.
        assert_eq!((s * s, l), (0.25, 0.9375));
    }

    /// Descending the grid gives the grid's best when the loss falls then rises along it,
    /// and stops after the first rise; a loss with two valleys shows where they differ.
    #[test]
    fn descend_is_the_grids_best_on_one_valley_in_fewer_evaluations() {
        let scales = vec![0.1, 0.25, 0.5, 1.0, 2.0];
        let grid = LineSearch::Grid {
            scales: scales.clone(),
        };
        let down = LineSearch::Descend {
            scales: scales.clone(),
        };
        for best in [0.1, 0.25, 0.5, 1.0, 2.0] {
            // One valley at `best`.
            let f = |s: f64| 1.0 - 0.1 * s * (2.0 * best - s) / (best * best);
            let (a, b) = (
                search_with(&grid, 1.0, &mut |s| f(s)),
                search_with(&down, 1.0, &mut |s| f(s)),
            );
            assert_eq!(
                (a.scale, a.loss_after),
                (b.scale, b.loss_after),
                "best {best}"
            );
            assert_eq!(a.evaluations, 6);
            // From 2 down to `best`, one scale past it (none past the smallest), and s = 0.
            let past = usize::from(best > 0.1);
            let seen = scales.iter().filter(|&&s| s >= best).count() + past + 1;
            assert_eq!(b.evaluations, seen, "best {best}");
        }
        // Two valleys (0.1 the deeper, 1 the nearer to the top): the descent stops at 1.
        let two = |s: f64| match s {
            0.0 => 1.0,
            s if s < 0.3 => 0.5 + s,
            s => 0.9 + (s - 1.0).abs() * 0.05,
        };
        assert_eq!(search_with(&grid, 1.0, &mut |s| two(s)).scale, 0.1);
        assert_eq!(search_with(&down, 1.0, &mut |s| two(s)).scale, 1.0);
        // Nothing below the loss at 0: scale 0.
        assert_eq!(search_with(&down, 1.0, &mut |s| 1.0 + s).scale, 0.0);
    }

    #[test]
    fn armijo_returns_zero_when_nothing_helps() {
        let mut f = |g: f64| 1.0 + g;
        assert_eq!(armijo(1.0, 0.5, 0.1, 20, &mut f), (0.0, 1.0));
    }
}
