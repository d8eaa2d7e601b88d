//! Applying a proposal (docs/tiny.md §2.8): append `s·α` rows (and biases) to the producer, `s·ω`
//! columns to the consumer, add `−s²δ` to the consumer, and grow the optimiser state to match
//! (old entries untouched, new ones fresh), through [`crate::surgery`]. A
//! [`crate::surgery::Snapshot`] taken before allows a rollback.
use tch::Tensor;

use super::proposal::Proposal;
use crate::error::{Error, Result};
use crate::nn::{Layer, Network};
use crate::optim::Optimizer;
use crate::surgery::{append_units, NewUnits, NormAffine};

/// Per new unit, the factor that brings its fan-in (weights and bias) to the mean norm of the
/// layer's existing units (or, for an empty layer, of PyTorch's default initialisation).
fn unit_norm_factors(weight: &Tensor, new_w: &Tensor, new_b: Option<&Tensor>) -> Tensor {
    let kind = tch::Kind::Double;
    let norms = |w: &Tensor, b: Option<&Tensor>| {
        let sq =
            w.flatten(1, -1)
                .to_kind(kind)
                .square()
                .sum_dim_intlist([1i64].as_slice(), false, kind);
        match b {
            Some(b) => sq + b.to_kind(kind).square(),
            None => sq,
        }
        .sqrt()
    };
    let target = if weight.size()[0] > 0 {
        norms(&weight.detach(), None).mean(kind).double_value(&[])
    } else {
        // Uniform(±1/√fan_in): norm √(fan_in/3)/√fan_in.
        (1.0f64 / 3.0).sqrt()
    };
    let new = norms(new_w, new_b);
    let c = (new.clamp_min(1e-30).reciprocal() * target).to_device(weight.device());
    // Units without a usable norm (zero fan-in) keep their scale.
    let ok = new.gt(0.0).logical_and(&c.isfinite());
    c.where_self(&ok, &c.ones_like())
}

/// How new units behind a producer BatchNorm start (docs/tiny.md §3.3). The default gives
/// them identity channels (γ = 1, β = 0, running mean 0, variance 1).
#[derive(Clone, Copy, Default)]
pub struct BehindNorm<'a> {
    /// Bring each new unit's fan-in to the existing units' mean norm (`--grow-bn-rescale`).
    pub rescale: bool,
    /// The producer's input on a sample: the new channels' running statistics, γ and β are
    /// set from their pre-activations on it, so that they compute what the preview showed in
    /// training mode too (`--grow-bn-match`).
    pub matched_on: Option<&'a Tensor>,
}

/// Applies `proposal` with scale `s` to the network and grows the optimiser state.
pub fn apply(net: &mut Network, opt: &mut Optimizer, proposal: &Proposal, s: f64) -> Result<()> {
    apply_with(net, opt, proposal, s, BehindNorm::default())
}

/// [`apply`], with new units behind a BatchNorm started as `norm` says (the function is
/// unchanged in eval mode either way).
pub fn apply_with(
    net: &mut Network,
    opt: &mut Optimizer,
    proposal: &Proposal,
    s: f64,
    norm: BehindNorm<'_>,
) -> Result<()> {
    let k = proposal.site;
    if k + 1 >= net.stages.len() {
        return Err(Error::Growth(format!("site {k} has no consumer layer")));
    }
    let added = proposal.neurons();
    let mut alpha_w = &proposal.alpha_w * s;
    let mut alpha_b = proposal.alpha_b.as_ref().map(|b| b * s);
    let mut omega = &proposal.omega * s;
    // Behind BatchNorm a unit's scale does not change what it computes in training, only how
    // fast it learns (the effective step of a scale-invariant weight goes as 1/‖w‖²). With
    // `norm.rescale`, new units get the existing units' mean norm and their running
    // variance absorbs the factor, so that the network computes exactly what the preview
    // showed.
    let bn_scale = net.stages[k]
        .norm
        .as_ref()
        .filter(|_| norm.rescale && added > 0)
        .map(|_| unit_norm_factors(net.stages[k].layer.weight(), &alpha_w, alpha_b.as_ref()));
    if let Some(c) = &bn_scale {
        alpha_w = scale_units(&alpha_w, c, 0);
        alpha_b = alpha_b.map(|b| scale_units(&b, c, 0));
    }
    let mut running_var = bn_scale
        .as_ref()
        .zip(net.stages[k].norm.as_ref())
        .map(|(c, bn)| {
            // √(var + ε) = c·√(1 + ε): eval-mode output c·z/(c·√(1 + ε)), as previewed.
            c.square() * (1.0 + bn.eps) - bn.eps
        });
    let norm_affine = match (norm.matched_on, &net.stages[k].norm) {
        (Some(h), Some(bn)) if added > 0 && matchable(net, k) => {
            let layer = &net.stages[k].layer;
            let x = layer.forward_with(&layer.input(h), &alpha_w, alpha_b.as_ref());
            let (affine, var, kappa) = matched_norm(&x, bn.eps, bn_scale.as_ref());
            omega = scale_units(&omega, &kappa, 1);
            running_var = Some(var);
            Some(affine)
        }
        _ => None,
    };
    if let Some(dw) = &proposal.delta_w {
        let consumer = &mut net.stages[k + 1].layer;
        let (w, b) = match consumer {
            Layer::Linear(l) => (&mut l.weight, l.bias.as_mut()),
            Layer::Conv2d(c) => (&mut c.weight, c.bias.as_mut()),
        };
        tch::no_grad(|| {
            let _ = w.f_sub_(&(dw * (s * s)));
            if let (Some(b), Some(db)) = (b, &proposal.delta_b) {
                let _ = b.f_sub_(&(db * (s * s)));
            }
        });
    }
    // New rational units take the proposal's parameters, else the identity (what the
    // preview used).
    let units = NewUnits {
        fan_in: alpha_w,
        bias: alpha_b,
        fan_out: omega,
        rational: proposal.rational.as_ref().map(Tensor::shallow_clone),
        running_var,
        norm_affine,
    };
    append_units(net, opt, k, &units)
}

/// Whether new units at `site` can start as matched BatchNorm channels: the producer has a
/// BatchNorm and a positively homogeneous activation (ReLU, identity), so that their scale can
/// move to the fan-out (docs/tiny.md §3.3).
pub fn matchable(net: &Network, site: usize) -> bool {
    let stage = &net.stages[site];
    stage.norm.is_some() && stage.activation.positively_homogeneous()
}

/// `t` with its units along `dim` multiplied by the per-unit factors `c` (`[k]`).
fn scale_units(t: &Tensor, c: &Tensor, dim: usize) -> Tensor {
    let mut shape = vec![1i64; t.dim()];
    shape[dim] = c.size()[0];
    t * c.view(shape.as_slice()).to_kind(t.kind())
}

/// BatchNorm parameters of new channels with pre-activations `x` (`[n, k]` or `[n, k, h, w]`)
/// whose fan-in was multiplied by `c` (1 when `None`), such that the grown network computes
/// what the preview showed in eval mode and, up to the batch's own statistics, in training mode
/// too (docs/tiny.md §3.3). The preview passes the new channels as `z = x/(c√(1+ε))`. With the
/// channels' mean `m` and biased variance `v` on `x` as running statistics, `γ = 1` and
/// `β = m/√(v+ε)`, a channel computes `(x − m)/√(v+ε) + β = z/κ`, `κ = √(v+ε)/(c√(1+ε))`;
/// the activation and the pooling are positively homogeneous, so the fan-out multiplied by `κ`
/// restores `z`'s contribution. Returns the parameters, `v` and `κ`.
fn matched_norm(x: &Tensor, eps: f64, c: Option<&Tensor>) -> (NormAffine, Tensor, Tensor) {
    let kind = tch::Kind::Double;
    let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
    let x = x.detach().to_kind(kind);
    let m = x.mean_dim(dims.as_slice(), false, kind);
    let v = x.var_dim(dims.as_slice(), false, false);
    let c = c.map_or_else(|| m.ones_like(), |c| c.to_kind(kind).to_device(m.device()));
    let sd = (&v + eps).sqrt();
    let kappa = &sd / (c * (1.0 + eps).sqrt());
    let affine = NormAffine {
        bias: &m / &sd,
        weight: m.ones_like(),
        running_mean: m,
    };
    (affine, v, kappa)
}
