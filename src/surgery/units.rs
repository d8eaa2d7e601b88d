//! Appending units to a growth site: new outputs of the producer stage, new inputs of the
//! consumer stage.
use tch::Tensor;

use crate::error::{Error, Result};
use crate::nn::{Layer, Network, ParamPath, Part};
use crate::optim::Optimizer;

/// `k` new units of the producer stage of a site and their fan-out into the consumer, as they
/// are to be appended (already scaled).
pub struct NewUnits {
    /// Fan-in rows in the producer weight's shape with `k` outputs (`[k, d]` or
    /// `[k, C, kh, kw]`), and their biases `[k]` (zeros when `None` and the layer has one).
    pub fan_in: Tensor,
    pub bias: Option<Tensor>,
    /// Fan-out in the consumer weight's shape with `k` inputs (`[d, k]` or `[C, k, kh, kw]`).
    pub fan_out: Tensor,
    /// Rational-activation parameters `[k, 3]` of a rational producer (`None`: identity).
    pub rational: Option<Tensor>,
    /// Running variance of the new channels of a producer BatchNorm (`None`: 1).
    pub running_var: Option<Tensor>,
    /// Running mean, γ and β of the new channels of a producer BatchNorm (`None`: 0, 1, 0).
    pub norm_affine: Option<NormAffine>,
}

/// Running mean, scale γ and shift β of new BatchNorm channels, `[k]` each.
pub struct NormAffine {
    pub running_mean: Tensor,
    pub weight: Tensor,
    pub bias: Tensor,
}

impl NewUnits {
    pub fn count(&self) -> i64 {
        self.fan_in.size()[0]
    }
}

/// Appends `units` to site `site`: producer stage `site` gains their fan-in (BatchNorm: identity
/// channels; rational: their parameters), consumer stage `site + 1` their fan-out; the
/// optimiser state grows in place (old entries bit for bit, [`Optimizer::grow`]).
pub fn append_units(
    net: &mut Network,
    opt: &mut Optimizer,
    site: usize,
    units: &NewUnits,
) -> Result<()> {
    if site + 1 >= net.stages.len() {
        return Err(Error::Growth(format!("site {site} has no consumer layer")));
    }
    let added = units.count();
    let producer = &mut net.stages[site];
    match &mut producer.layer {
        Layer::Linear(l) => l.grow_outputs(&units.fan_in, units.bias.as_ref()),
        Layer::Conv2d(c) => c.grow_outputs(&units.fan_in, units.bias.as_ref()),
    }
    if let Some(bn) = producer.norm.as_mut() {
        bn.grow(added);
        // Given values replace the tails of the identity channels `grow` appended.
        let n = bn.running_var.size()[0];
        let tail =
            |old: &Tensor, new: &Tensor| crate::nn::append(&old.narrow(0, 0, n - added), new, 0);
        if let Some(var) = &units.running_var {
            bn.running_var = tail(&bn.running_var, var);
        }
        if let Some(a) = &units.norm_affine {
            bn.running_mean = tail(&bn.running_mean, &a.running_mean);
            bn.weight = tail(&bn.weight, &a.weight);
            bn.bias = tail(&bn.bias, &a.bias);
        }
    }
    if let Some(theta) = producer.rational.as_mut() {
        let new = match &units.rational {
            Some(th) => th.shallow_clone(),
            None => crate::nn::rational::identity_parameters(added, theta.device()),
        };
        *theta = crate::nn::append(theta, &new, 0);
    }
    match &mut net.stages[site + 1].layer {
        Layer::Linear(l) => l.grow_inputs(&units.fan_out),
        Layer::Conv2d(c) => c.grow_inputs(&units.fan_out),
    }
    for (part, tensor) in [
        (Part::Layer, "weight"),
        (Part::Layer, "bias"),
        (Part::Norm, "weight"),
        (Part::Norm, "bias"),
        (Part::Act, "theta"),
    ] {
        opt.grow(&ParamPath::new(site, part, tensor).to_string(), 0, added)?;
    }
    let consumer = ParamPath::new(site + 1, Part::Layer, "weight");
    opt.grow(&consumer.to_string(), 1, added)
}
