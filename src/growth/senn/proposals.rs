//! SENN's candidate expansions, chosen to maximise the lower bound `Δη'` (docs/senn.md §1.4, §1.6,
//! §1.7): a pool of single-neuron proposals for width (the linearised closed form with both
//! signs, plus random LeCun-normal ones) refined together by Adam ascent on `Δη'` through the
//! nonlinearity, and full-width layer proposals `σ_θ(B h̄)` for depth, refined the same way.
//!
//! ```
//! use grownet::growth::senn::proposals::{width, RefineOptions, Samples, UnitActivation};
//! use grownet::growth::senn::score::Factors;
//! use rand::SeedableRng;
//! use tch::{Kind, Tensor};
//! let h = Tensor::randn([100, 3], (Kind::Double, tch::Device::Cpu));
//! let target = h.narrow(1, 0, 1).clamp_min(0.0); // a ReLU feature the layer lacks
//! let a = Tensor::ones([100, 1], (Kind::Double, tch::Device::Cpu));
//! let f = Factors::new(&a, &target, &Tensor::eye(1, (Kind::Double, tch::Device::Cpu)), 0.1);
//! let g_perp = f.residual(&a, &target);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let all = Samples { h: &h, g_perp: &g_perp };
//! let opts = RefineOptions::default();
//! let (c, _pool) = width(all, all, &f.s_inv, UnitActivation::Relu, &opts, None, &mut rng);
//! assert!(c.score > 0.0);
//! ```
use rand::Rng;
use tch::{Kind, Tensor};

use super::score::{closed_form, lower_bound, lower_bound_each};
use crate::nn::{rational, Activation};

/// The nonlinearity of the new units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnitActivation {
    Relu,
    /// A fixed activation without parameters.
    Fixed(Activation),
    /// SENN's rational activation; its per-unit parameters are optimised too.
    Rational,
}

impl UnitActivation {
    pub fn of(a: Activation) -> Self {
        match a {
            Activation::Relu => UnitActivation::Relu,
            Activation::Rational => UnitActivation::Rational,
            other => UnitActivation::Fixed(other),
        }
    }

    fn apply(self, pre: &Tensor, theta: Option<&Tensor>) -> Tensor {
        match (self, theta) {
            (UnitActivation::Rational, Some(th)) => rational::forward(pre, th),
            (UnitActivation::Relu, _) => pre.clamp_min(0.0),
            (UnitActivation::Fixed(a), _) => a.forward(pre),
            (UnitActivation::Rational, None) => pre.shallow_clone(),
        }
    }

    /// Whether scaling the fan-in scales the unit's output (so `Δη'` ignores the norm).
    pub fn homogeneous(self) -> bool {
        matches!(
            self,
            UnitActivation::Relu | UnitActivation::Fixed(Activation::Identity)
        )
    }
}

/// How proposals are refined.
#[derive(Clone, Debug)]
pub struct RefineOptions {
    /// Proposals in the width pool.
    pub proposals: usize,
    /// Depth proposals per gap.
    pub depth_proposals: usize,
    /// Adam steps of ascent on `Δη'`.
    pub steps: usize,
    /// Adam step size (relative: each proposal's fan-in is kept at unit scale).
    pub step_size: f64,
    /// Ascent steps when a pool from the previous round is refined again.
    pub warm_steps: usize,
    /// Samples the ascent runs on (the candidates are then scored on all).
    pub refine_samples: usize,
}

impl Default for RefineOptions {
    fn default() -> Self {
        RefineOptions {
            proposals: 32,
            depth_proposals: 4,
            steps: 60,
            step_size: 0.05,
            warm_steps: 15,
            refine_samples: 512,
        }
    }
}

/// The best width proposal of a site.
#[derive(Debug)]
pub struct WidthCandidate {
    /// Fan-in over the producer's (augmented) inputs `[n̄]`, f64.
    pub fan_in: Tensor,
    /// Rational parameters `[3]` when the producer is rational.
    pub theta: Option<Tensor>,
    /// `Δη'` of the unit.
    pub score: f64,
    /// `Δη'` of the best linearised closed-form unit before refinement.
    pub closed_form_score: f64,
}

/// The best depth proposal of a gap.
#[derive(Debug)]
pub struct DepthCandidate {
    /// `[B, s]` over the consumer's augmented inputs (d×n̄), f64.
    pub layer: Tensor,
    /// `Δη'` of the layer's outputs `σ_θ(B h̄)` as new inputs (before the depth cost).
    pub score: f64,
}

fn normal(shape: &[i64], std: f64, rng: &mut impl Rng) -> Tensor {
    let n: i64 = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| std * rational::standard_normal(rng))
        .collect();
    Tensor::from_slice(&v).view(shape)
}

/// Keeps, per proposal (the first dimension of every parameter), the parameters whose score
/// beats the best so far.
fn keep_improved(
    best: &mut [Tensor],
    best_scores: &mut Tensor,
    params: &[Tensor],
    scores: &Tensor,
) {
    let improved = scores.gt_tensor(best_scores);
    for (b, p) in best.iter_mut().zip(params) {
        let shape: Vec<i64> = std::iter::once(-1)
            .chain(std::iter::repeat_n(1, p.dim() - 1))
            .collect();
        *b = p.detach().where_self(&improved.view(shape.as_slice()), b);
    }
    *best_scores = best_scores.maximum(scores);
}

/// Adam ascent on `objective` (which returns one score per proposal) over `params`;
/// returns the per-proposal best scores and the parameters at which they were reached. The
/// update is written out rather than taken from [`crate::optim`]: its gradients come from
/// `run_backward`, not `.grad`, and its operation order fixes the measured SENN results.
fn ascend(
    params: Vec<Tensor>,
    steps: usize,
    step_size: f64,
    objective: impl Fn(&[Tensor]) -> Tensor,
) -> (Tensor, Vec<Tensor>) {
    let params: Vec<Tensor> = params
        .into_iter()
        .map(|p| p.detach().set_requires_grad(true))
        .collect();
    let mut best_scores = tch::no_grad(|| objective(&params));
    let mut best: Vec<Tensor> = params.iter().map(|p| p.detach().copy()).collect();
    let (b1, b2, eps) = (0.9, 0.999, 1e-12);
    let mut m: Vec<Tensor> = params.iter().map(|p| p.zeros_like()).collect();
    let mut v: Vec<Tensor> = params.iter().map(|p| p.zeros_like()).collect();
    // Normalise by the initial best so that the step size means the same at any scale.
    let norm = best_scores.max().double_value(&[]).abs().max(1e-300);
    for step in 1..=steps {
        let scores = objective(&params);
        let total = scores.sum(Kind::Double) / norm;
        let grads = Tensor::run_backward(&[&total], &params, false, false);
        tch::no_grad(|| {
            keep_improved(&mut best, &mut best_scores, &params, &scores.detach());
            for (i, p) in params.iter().enumerate() {
                let g = grads[i].nan_to_num(0.0, 0.0, 0.0);
                m[i] = &m[i] * b1 + &g * (1.0 - b1);
                v[i] = &v[i] * b2 + g.square() * (1.0 - b2);
                let mh = &m[i] / (1.0 - b1.powi(step as i32));
                let vh = &v[i] / (1.0 - b2.powi(step as i32));
                let mut p = p.shallow_clone();
                let _ = p.f_add_(&(mh / (vh.sqrt() + eps) * step_size));
            }
        });
    }
    let scores = tch::no_grad(|| objective(&params));
    keep_improved(&mut best, &mut best_scores, &params, &scores);
    (best_scores, best)
}

/// Producer inputs `h` (N×n̄, augmented) and the consumer's residual gradients `g_perp`
/// (N×m) of a set of samples.
#[derive(Clone, Copy)]
pub struct Samples<'a> {
    pub h: &'a Tensor,
    pub g_perp: &'a Tensor,
}

/// A refined pool of width proposals, kept to warm-start the next round of a check.
#[derive(Debug)]
pub struct Pool {
    /// Fan-ins `[P, n̄]`, f64.
    pub fan_in: Tensor,
    /// Rational parameters `[P, 3]` when the producer is rational.
    pub theta: Option<Tensor>,
}

/// The first `k` rows (the statistics sample is already shuffled).
fn head(t: &Tensor, k: usize) -> Tensor {
    t.narrow(0, 0, (k as i64).min(t.size()[0]))
}

/// The best single-neuron proposal for a site, given the consumer's damped inverse factor
/// `s_inv`. Proposals are built and refined on `fit` (the ascent on its first
/// `refine_samples` rows) and judged on `score`: with hundreds of fan-in weights a unit can
/// correlate with the residual of a few thousand samples by chance, so only a score on other
/// samples says whether the gain generalises (pass the same samples twice to skip this). A
/// `warm` pool (from the previous round) is refined with `warm_steps` instead of a fresh one.
pub fn width(
    fit: Samples<'_>,
    score: Samples<'_>,
    s_inv: &Tensor,
    act: UnitActivation,
    opts: &RefineOptions,
    warm: Option<Pool>,
    rng: &mut impl Rng,
) -> (WidthCandidate, Pool) {
    let (h, g_perp) = (fit.h, fit.g_perp);
    let (n_in, device) = (h.size()[1], h.device());
    let (hs, gs) = (
        head(h, opts.refine_samples),
        head(g_perp, opts.refine_samples),
    );
    let mut closed_form_score = 0.0;
    let (init, theta, steps) = match warm {
        Some(p) if p.fan_in.size()[1] == n_in => (p.fan_in, p.theta, opts.warm_steps),
        _ => {
            let pool = opts.proposals.max(2) as i64;
            // Linearised optimum (both signs: ReLU units are not odd), then LeCun-normal.
            let (cf, sv2) = closed_form(h, g_perp, s_inv, (pool / 4).max(1), 1e-3);
            closed_form_score = sv2.first().copied().unwrap_or(0.0);
            let kc = cf.size()[0];
            let std = 1.0 / (n_in as f64).sqrt();
            let random = normal(&[pool - 2 * kc, n_in], std, rng).to_device(device);
            let theta = (act == UnitActivation::Rational).then(|| {
                let random_theta = normal(&[pool - 2 * kc, 3], 1.0, rng).to_device(device);
                let id = rational::identity_parameters(2 * kc, device).to_kind(Kind::Double);
                Tensor::cat(&[&id, &random_theta], 0)
            });
            (Tensor::cat(&[&cf, &(-&cf), &random], 0), theta, opts.steps)
        }
    };
    // Unit directions times a fixed per-proposal scale giving pre-activations of unit RMS,
    // so that one step size fits every proposal.
    let dirs = &init / init.norm_scalaropt_dim(2, [1], true).clamp_min(1e-300);
    let rms = (hs
        .matmul(&dirs.tr())
        .square()
        .mean_dim(0, true, Kind::Double))
    .sqrt();
    let norms = rms.clamp_min(1e-150).reciprocal().tr(); // [P, 1]
    let mut params = vec![dirs];
    params.extend(theta);
    let objective = |p: &[Tensor], h: &Tensor, g: &Tensor| {
        let pre = h.matmul(&(&p[0] * &norms).tr()); // N×P
        lower_bound_each(g, s_inv, &act.apply(&pre, p.get(1)))
    };
    let (_, best) = ascend(params, steps, opts.step_size, |p| objective(p, &hs, &gs));
    let scores = tch::no_grad(|| objective(&best, score.h, score.g_perp)).nan_to_num(0.0, 0.0, 0.0);
    let i = scores.argmax(0, false).int64_value(&[]);
    let fan_in = &best[0] * &norms;
    let candidate = WidthCandidate {
        fan_in: fan_in.get(i),
        theta: best.get(1).map(|t| t.get(i)),
        score: scores.double_value(&[i]),
        closed_form_score,
    };
    let pool = Pool {
        fan_in,
        theta: best.get(1).map(|t| t.shallow_clone()),
    };
    (candidate, pool)
}

/// The best depth proposal for inserting a layer before a consumer whose augmented inputs
/// are `h` (N×n̄, the last column the bias 1 when `bias`): `d = n̄ − bias` rational units
/// `σ_θ(B h̄)` with random θ (docs/senn.md §1.7), refined on `Δη'` over `fit` and judged on
/// `score` (as in [`width`]).
pub fn depth(
    fit: Samples<'_>,
    score: Samples<'_>,
    bias: bool,
    s_inv: &Tensor,
    opts: &RefineOptions,
    rng: &mut impl Rng,
) -> Option<DepthCandidate> {
    let (h, g_perp) = (fit.h, fit.g_perp);
    let (n_in, device) = (h.size()[1], h.device());
    let d = n_in - i64::from(bias);
    let (hs, gs) = (
        head(h, opts.refine_samples),
        head(g_perp, opts.refine_samples),
    );
    if d == 0 {
        return None;
    }
    let mut best: Option<DepthCandidate> = None;
    for _ in 0..opts.depth_proposals.max(1) {
        let eye = Tensor::eye(d, (Kind::Double, device));
        let b = if bias {
            Tensor::cat(&[eye, Tensor::zeros([d, 1], (Kind::Double, device))], 1)
        } else {
            eye
        };
        let b = b + normal(&[d, n_in], 0.1, rng).to_device(device);
        let theta = normal(&[d, 3], 1.0, rng).to_device(device);
        // One proposal at a time: the objective returns a [1] score.
        let objective = |p: &[Tensor], h: &Tensor, g: &Tensor| {
            let a_p = rational::forward(&h.matmul(&p[0].squeeze_dim(0).tr()), &p[1].squeeze_dim(0));
            lower_bound(g, s_inv, &a_p, 1e-6).view([1])
        };
        let (_, params) = ascend(
            vec![b.unsqueeze(0), theta.unsqueeze(0)],
            opts.steps,
            opts.step_size,
            |p| objective(p, &hs, &gs),
        );
        let value = tch::no_grad(|| objective(&params, score.h, score.g_perp)).double_value(&[0]);
        if best.as_ref().is_none_or(|c| value > c.score) && value.is_finite() {
            best = Some(DepthCandidate {
                layer: params[0].squeeze_dim(0),
                score: value,
            });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::senn::score::Factors;
    use rand::SeedableRng;
    use tch::Device;

    #[test]
    fn refinement_finds_a_missing_relu_feature_better_than_random() {
        tch::manual_seed(0);
        let n = 200;
        let x = Tensor::randn([n, 2], (Kind::Double, Device::Cpu));
        let ones = Tensor::ones([n, 1], (Kind::Double, Device::Cpu));
        let h = Tensor::cat(&[&x, &ones], 1);
        // The consumer sees only a constant; the residual is a ReLU ridge of the inputs.
        let g = (x.narrow(1, 0, 1) - x.narrow(1, 1, 1) * 0.5 - 0.3).clamp_min(0.0);
        let f = Factors::new(&ones, &g, &Tensor::eye(1, (Kind::Double, Device::Cpu)), 0.1);
        let gp = f.residual(&ones, &g);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let opts = RefineOptions::default();
        let all = Samples { h: &h, g_perp: &gp };
        let (c, pool) = width(
            all,
            all,
            &f.s_inv,
            UnitActivation::Relu,
            &opts,
            None,
            &mut rng,
        );
        let no_refine = RefineOptions {
            steps: 0,
            ..opts.clone()
        };
        let (c0, _) = width(
            all,
            all,
            &f.s_inv,
            UnitActivation::Relu,
            &no_refine,
            None,
            &mut rng,
        );
        // A warm pool keeps (at least) its best.
        let (cw, _) = width(
            all,
            all,
            &f.s_inv,
            UnitActivation::Relu,
            &opts,
            Some(pool),
            &mut rng,
        );
        assert!(cw.score >= c.score * (1.0 - 1e-9));
        assert!(c.score >= c0.score, "{} < {}", c.score, c0.score);
        // Nearly as good as the ReLU unit that generated the gradient.
        let truth = lower_bound_each(&gp, &f.s_inv, &g).double_value(&[0]);
        assert!(c.score > 0.95 * truth, "{} vs {truth}", c.score);
        assert!(c.score <= f.exact_increase(&ones, &g, &g) + 1e-12);
        // The candidate's score is what its unit really scores.
        let a_p = h.matmul(&c.fan_in.view([-1, 1])).clamp_min(0.0);
        let rescored = lower_bound_each(&gp, &f.s_inv, &a_p).double_value(&[0]);
        assert!((rescored - c.score).abs() < 1e-9 * c.score.max(1.0));
    }

    #[test]
    fn depth_proposal_scores_its_rational_layer() {
        tch::manual_seed(2);
        let n = 150;
        let x = Tensor::randn([n, 2], (Kind::Double, Device::Cpu));
        let h = Tensor::cat(&[&x, &Tensor::ones([n, 1], (Kind::Double, Device::Cpu))], 1);
        let g = (x.narrow(1, 0, 1) * x.narrow(1, 1, 1)).tanh();
        let f = Factors::new(&h, &g, &Tensor::eye(1, (Kind::Double, Device::Cpu)), 0.1);
        let gp = f.residual(&h, &g);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let all = Samples { h: &h, g_perp: &gp };
        let c = depth(
            all,
            all,
            true,
            &f.s_inv,
            &RefineOptions::default(),
            &mut rng,
        )
        .unwrap();
        assert_eq!(c.layer.size(), vec![2, 3]);
        assert!(c.score > 0.0 && c.score.is_finite());
    }
}
