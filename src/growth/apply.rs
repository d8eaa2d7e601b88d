//! Applying a proposal (tiny.md §2.8): append `s·α` rows (and biases) to the producer, `s·ω`
//! columns to the consumer, add `−s²δ` to the consumer, and grow the optimiser state to match
//! (old entries untouched, new ones fresh). A snapshot taken before allows a rollback.
use tch::Tensor;

use super::proposal::Proposal;
use crate::error::{Error, Result};
use crate::nn::{Layer, Network};
use crate::optim::Optimizer;

/// The tensors a growth step at one site changes, kept to undo it.
pub struct Snapshot {
    tensors: Vec<(String, Tensor)>,
    optimizer: Vec<(String, Tensor)>,
}

fn site_parameters(net: &Network, site: usize) -> Vec<(String, Tensor)> {
    let prefixes = [format!("stages.{site}."), format!("stages.{}.", site + 1)];
    let mut all = net.named_parameters();
    all.extend(net.named_buffers());
    all.into_iter()
        .filter(|(n, _)| prefixes.iter().any(|p| n.starts_with(p)))
        .collect()
}

/// Copies the parameters and optimiser state of the two layers around `site`.
pub fn snapshot(net: &Network, opt: &Optimizer, site: usize) -> Snapshot {
    let tensors: Vec<(String, Tensor)> = site_parameters(net, site)
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    let optimizer = opt
        .state_tensors()
        .into_iter()
        .filter(|(n, _)| tensors.iter().any(|(p, _)| n.starts_with(&format!("{p}/"))))
        .map(|(n, t)| (n, t.copy()))
        .collect();
    Snapshot { tensors, optimizer }
}

/// Restores the state saved by [`snapshot`] (shapes included).
pub fn rollback(net: &mut Network, opt: &mut Optimizer, snap: Snapshot) {
    for (name, t) in snap.tensors {
        set_tensor(net, &name, t);
    }
    for (name, t) in snap.optimizer {
        opt.set_state_tensor(&name, t);
    }
}

/// Replaces one named parameter or buffer (any shape).
fn set_tensor(net: &mut Network, name: &str, t: Tensor) {
    let parts: Vec<&str> = name.split('.').collect();
    let (Some(i), Some(&part), Some(&field)) = (
        parts.get(1).and_then(|s| s.parse::<usize>().ok()),
        parts.get(2),
        parts.get(3),
    ) else {
        return;
    };
    let Some(stage) = net.stages.get_mut(i) else {
        return;
    };
    let param = |t: Tensor| t.set_requires_grad(true);
    match (part, field, &mut stage.layer) {
        ("layer", "weight", Layer::Linear(l)) => l.weight = param(t),
        ("layer", "bias", Layer::Linear(l)) => l.bias = Some(param(t)),
        ("layer", "weight", Layer::Conv2d(c)) => c.weight = param(t),
        ("layer", "bias", Layer::Conv2d(c)) => c.bias = Some(param(t)),
        ("act", "theta", _) => stage.rational = Some(param(t)),
        ("norm", f, _) => {
            if let Some(bn) = stage.norm.as_mut() {
                match f {
                    "weight" => bn.weight = param(t),
                    "bias" => bn.bias = param(t),
                    "running_mean" => bn.running_mean = t,
                    "running_var" => bn.running_var = t,
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

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

/// Applies `proposal` with scale `s` to the network and grows the optimiser state.
pub fn apply(net: &mut Network, opt: &mut Optimizer, proposal: &Proposal, s: f64) -> Result<()> {
    apply_with(net, opt, proposal, s, false)
}

/// [`apply`], optionally bringing new units behind a BatchNorm to the existing units' norm
/// (function unchanged in eval mode).
pub fn apply_with(
    net: &mut Network,
    opt: &mut Optimizer,
    proposal: &Proposal,
    s: f64,
    rescale_behind_norm: bool,
) -> Result<()> {
    let k = proposal.site;
    if k + 1 >= net.stages.len() {
        return Err(Error::Growth(format!("site {k} has no consumer layer")));
    }
    let added = proposal.neurons();
    let mut alpha_w = &proposal.alpha_w * s;
    let mut alpha_b = proposal.alpha_b.as_ref().map(|b| b * s);
    let omega = &proposal.omega * s;
    // Behind BatchNorm a unit's scale does not change what it computes in training, only how
    // fast it learns (the effective step of a scale-invariant weight goes as 1/‖w‖²). With
    // `rescale_behind_norm`, new units get the existing units' mean norm and their running
    // variance absorbs the factor, so that the network computes exactly what the preview
    // showed.
    let bn_scale = net.stages[k]
        .norm
        .as_ref()
        .filter(|_| rescale_behind_norm && added > 0)
        .map(|_| unit_norm_factors(net.stages[k].layer.weight(), &alpha_w, alpha_b.as_ref()));
    if let Some(c) = &bn_scale {
        let mut shape = vec![1i64; alpha_w.dim()];
        shape[0] = added;
        alpha_w = &alpha_w * c.view(shape.as_slice()).to_kind(alpha_w.kind());
        alpha_b = alpha_b.map(|b| &b * c.to_kind(b.kind()));
    }
    match &mut net.stages[k].layer {
        Layer::Linear(l) => l.grow_outputs(&alpha_w, alpha_b.as_ref()),
        Layer::Conv2d(c) => c.grow_outputs(&alpha_w, alpha_b.as_ref()),
    }
    if let Some(bn) = net.stages[k].norm.as_mut() {
        bn.grow(added);
        if let Some(c) = &bn_scale {
            // √(var + ε) = c·√(1 + ε): eval-mode output c·z/(c·√(1 + ε)), as previewed.
            let eps = bn.eps;
            let var = (c.square() * (1.0 + eps) - eps).to_kind(bn.running_var.kind());
            let n = bn.running_var.size()[0];
            bn.running_var = Tensor::cat(&[bn.running_var.narrow(0, 0, n - added), var], 0);
        }
    }
    if let Some(theta) = net.stages[k].rational.as_mut() {
        // New rational units take the proposal's parameters, else the identity (what the
        // preview used).
        let new = match &proposal.rational {
            Some(th) => th.shallow_clone(),
            None => crate::nn::rational::identity_parameters(added, theta.device()),
        };
        *theta = crate::nn::append(theta, &new, 0);
    }
    let consumer = &mut net.stages[k + 1].layer;
    if let Some(dw) = &proposal.delta_w {
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
    match consumer {
        Layer::Linear(l) => l.grow_inputs(&omega),
        Layer::Conv2d(c) => c.grow_inputs(&omega),
    }
    let p = format!("stages.{k}.");
    opt.grow(&format!("{p}layer.weight"), 0, added)?;
    opt.grow(&format!("{p}layer.bias"), 0, added)?;
    opt.grow(&format!("{p}norm.weight"), 0, added)?;
    opt.grow(&format!("{p}norm.bias"), 0, added)?;
    opt.grow(&format!("{p}act.theta"), 0, added)?;
    opt.grow(&format!("stages.{}.layer.weight", k + 1), 1, added)?;
    Ok(())
}
