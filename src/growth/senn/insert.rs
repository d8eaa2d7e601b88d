//! Function-preserving expansions (docs/senn.md §1.6–1.7).
//!
//! * Width: a new unit with the chosen fan-in (and rational parameters) and **zero fan-out**:
//!   the output is unchanged bit for bit, old gradients too, the new fan-in's gradient is 0 and
//!   the new fan-out's gradient is `E[g a_pᵀ]`.
//! * Depth: before consumer stage `j`, insert `h' = σ_id(B h + s)` (rational activation at the
//!   identity) and re-parameterise the consumer as `W' = W B⁻¹`, `b' = b − W B⁻¹ s`, with `B`
//!   made invertible by clipping its singular values. The official code clips at 1e-3 × their
//!   mean (§1.7), which is harmless under its natural-gradient training (invariant to this
//!   re-parameterisation) but leaves `W B⁻¹` up to 1000× larger than `W`, which SGD and Adam
//!   do not survive; we clip at `σ_max / MAX_CONDITION`. The re-parameterisation is done in
//!   f64.
//!
//! ```
//! use grownet::growth::senn::insert::reparameterize;
//! use tch::{Kind, Tensor};
//! let w = Tensor::randn([2, 3], (Kind::Double, tch::Device::Cpu));
//! let b = Tensor::randn([2], (Kind::Double, tch::Device::Cpu));
//! let layer = Tensor::randn([3, 4], (Kind::Double, tch::Device::Cpu)); // [B, s]
//! let (bb, s, w2, b2) = reparameterize(&w, &b, &layer, true);
//! let x = Tensor::randn([5, 3], (Kind::Double, tch::Device::Cpu));
//! let direct = x.linear(&w, Some(&b));
//! let through = x.linear(&bb, Some(&s)).linear(&w2, Some(&b2));
//! assert!((direct - through).abs().max().double_value(&[]) < 1e-10);
//! ```
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::growth::apply;
use crate::growth::proposal::Proposal;
use crate::nn::{rational, Activation, Layer, Linear, Network, Pool, Stage};
use crate::optim::Optimizer;
use crate::surgery::insert_stages;

/// Adds one unit to hidden site `site` with fan-in `fan_in` (over the producer's augmented
/// inputs, f64) and zero fan-out; `theta` sets its rational parameters.
pub fn add_unit(
    net: &mut Network,
    opt: &mut Optimizer,
    site: usize,
    fan_in: &Tensor,
    theta: Option<&Tensor>,
) -> Result<()> {
    let (Some(Layer::Linear(producer)), Some(Layer::Linear(consumer))) = (
        net.stages.get(site).map(|s| &s.layer),
        net.stages.get(site + 1).map(|s| &s.layer),
    ) else {
        return Err(Error::Growth(format!(
            "site {site} is not between two linear layers"
        )));
    };
    let n = producer.in_features();
    let kind = producer.weight.kind();
    let device = producer.weight.device();
    let fan_in = fan_in.to_kind(kind).to_device(device);
    let alpha_w = fan_in.narrow(0, 0, n).view([1, n]);
    let alpha_b = producer
        .bias
        .as_ref()
        .map(|_| fan_in.narrow(0, n, 1).view([1]));
    let omega = Tensor::zeros([consumer.out_features(), 1], (kind, device));
    let mut p = Proposal::neurons_only(site, alpha_w, alpha_b, omega);
    p.rational = theta.map(|t| t.to_kind(kind).to_device(device).view([1, 3]));
    apply::apply(net, opt, &p, 1.0)
}

/// Largest condition number of an inserted layer's `B`.
pub const MAX_CONDITION: f64 = 10.0;

/// `B` with its singular values clipped at `σ_max / MAX_CONDITION`, and its inverse.
fn invertible(b: &Tensor) -> (Tensor, Tensor) {
    let (u, s, v) = b.svd(true, true);
    let vh = v.tr();
    let floor = s.max().double_value(&[]).max(1e-300) / MAX_CONDITION;
    let s = s.clamp_min(floor);
    let clipped = (&u * s.unsqueeze(0)).matmul(&vh);
    let inverse = (vh.tr() * s.reciprocal().unsqueeze(0)).matmul(&u.tr());
    (clipped, inverse)
}

/// The function-preserving re-parameterisation (f64): from the consumer's `w` (m×d), `b` (m)
/// and the proposal `layer` = `[B, s]` (d×(d+1), or d×d without bias), returns
/// `(B', s, W B'⁻¹, b − W B'⁻¹ s)` with `B'` the invertible version of `B`.
pub fn reparameterize(
    w: &Tensor,
    b: &Tensor,
    layer: &Tensor,
    bias: bool,
) -> (Tensor, Tensor, Tensor, Tensor) {
    let d = layer.size()[0];
    let (bmat, inv) = invertible(&layer.narrow(1, 0, d));
    let s = if bias {
        layer.select(1, d)
    } else {
        Tensor::zeros([d], (Kind::Double, layer.device()))
    };
    let w2 = w.matmul(&inv);
    let b2 = b - w2.matmul(&s);
    (bmat, s, w2, b2)
}

/// Inserts a rational layer (at the identity) before consumer stage `gap`, from the proposal
/// `layer` = `[B, s]` over the consumer's augmented inputs; the network's function is
/// unchanged up to rounding. Optimiser state follows the renamed stages; the new layer's
/// state starts fresh ([`Optimizer::init_state`]).
pub fn insert_layer(
    net: &mut Network,
    opt: &mut Optimizer,
    gap: usize,
    layer: &Tensor,
) -> Result<()> {
    let Some(Layer::Linear(consumer)) = net.stages.get(gap).map(|s| &s.layer) else {
        return Err(Error::Growth(format!(
            "stage {gap} is not a linear layer: no layer can be inserted before it"
        )));
    };
    let d = consumer.in_features();
    if layer.size() != [d, d + i64::from(consumer.bias.is_some())] {
        return Err(Error::Growth(format!(
            "depth proposal has shape {:?}, stage {gap} has {d} inputs",
            layer.size()
        )));
    }
    let (kind, device) = (consumer.weight.kind(), consumer.weight.device());
    let bias = consumer.bias.is_some();
    let w = consumer.weight.detach().to_kind(Kind::Double);
    let b = match &consumer.bias {
        Some(b) => b.detach().to_kind(Kind::Double),
        None => Tensor::zeros([w.size()[0]], (Kind::Double, device)),
    };
    let (bmat, s, w2, b2) = reparameterize(&w, &b, &layer.to_device(device), bias);
    let param = |t: Tensor| t.to_kind(kind).detach().set_requires_grad(true);
    let new_stage = Stage {
        layer: Layer::Linear(Linear {
            weight: param(bmat),
            bias: bias.then(|| param(s)),
        }),
        norm: None,
        activation: Activation::Rational,
        rational: Some(param(rational::identity_parameters(d, device))),
        pool: Pool::None,
        skip: None,
    };
    if let Layer::Linear(c) = &mut net.stages[gap].layer {
        c.weight = param(w2);
        if bias {
            c.bias = Some(param(b2));
        }
    }
    insert_stages(net, opt, gap, vec![new_stage]);
    for (path, t) in net.parameter_paths() {
        if path.in_stage(gap) {
            opt.init_state(&path.to_string(), &t);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Architecture, Loss};
    use crate::optim::OptimizerConfig;
    use rand::SeedableRng;
    use tch::Device;

    fn net(hidden: &[i64], act: Activation) -> Network {
        let arch = Architecture::mlp(3, hidden, 2, act);
        Network::new(
            &arch,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(4),
            Device::Cpu,
        )
        .unwrap()
    }

    fn grads(net: &Network, x: &Tensor, y: &Tensor) -> Vec<(String, Tensor)> {
        let params = net.named_parameters();
        Optimizer::zero_grad(&params);
        Loss::CrossEntropy.mean(&net.forward(x, true), y).backward();
        params
            .into_iter()
            .map(|(n, p)| (n, p.grad().copy()))
            .collect()
    }

    #[test]
    fn width_insertion_is_bit_exact() {
        // docs/senn.md §6 check 2.
        for act in [Activation::Relu, Activation::Rational] {
            let mut n = net(&[4, 3], act);
            let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
            let x = Tensor::randn([9, 3], (Kind::Float, Device::Cpu));
            let y = Tensor::from_slice(&[0i64, 1, 1, 0, 1, 0, 0, 1, 1]);
            let before = n.forward(&x, false);
            let g_before = grads(&n, &x, &y);
            opt.step(&n.named_parameters(), 0.01).unwrap();
            let before_step = n.forward(&x, false);
            let _ = before;
            let g_before2 = grads(&n, &x, &y);
            let fan_in = Tensor::from_slice(&[0.3f64, -1.2, 0.8, 0.5]);
            let theta = Tensor::from_slice(&[0.2f64, 1.1, -0.4]);
            add_unit(&mut n, &mut opt, 0, &fan_in, Some(&theta)).unwrap();
            assert_eq!(n.hidden_widths(), vec![5, 3]);
            assert!(n.forward(&x, false).equal(&before_step), "{act}");
            let g_after = grads(&n, &x, &y);
            for ((name, old), (_, new)) in g_before2.iter().zip(&g_after) {
                let old_part = match name.as_str() {
                    "stages.1.layer.weight" => new.narrow(1, 0, 4),
                    _ => new.narrow(0, 0, old.size()[0]),
                };
                assert!(old_part.equal(old), "{name} changed");
            }
            // New fan-in (row 4 of stage 0) has zero gradient; new fan-out gets E[g a_p].
            let w0 = &g_after[0].1;
            assert_eq!(w0.get(4).abs().max().double_value(&[]), 0.0);
            let fan_out = g_after
                .iter()
                .find(|(n, _)| n == "stages.1.layer.weight")
                .unwrap()
                .1
                .select(1, 4);
            assert!(fan_out.abs().max().double_value(&[]) > 0.0);
            let _ = g_before;
        }
    }

    #[test]
    fn depth_reparameterisation_preserves_the_function_in_f64() {
        // docs/senn.md §6 check 3: random B (≤ 1e-12), B = I (exact), ill-conditioned B clipped.
        tch::manual_seed(5);
        let w = Tensor::randn([2, 4], (Kind::Double, Device::Cpu));
        let b = Tensor::randn([2], (Kind::Double, Device::Cpu));
        let x = Tensor::randn([20, 4], (Kind::Double, Device::Cpu));
        let direct = x.linear(&w, Some(&b));
        let random = Tensor::randn([4, 5], (Kind::Double, Device::Cpu))
            + Tensor::cat(
                &[
                    Tensor::eye(4, (Kind::Double, Device::Cpu)) * 2.0,
                    Tensor::zeros([4, 1], (Kind::Double, Device::Cpu)),
                ],
                1,
            );
        let identity = Tensor::cat(
            &[
                Tensor::eye(4, (Kind::Double, Device::Cpu)),
                Tensor::zeros([4, 1], (Kind::Double, Device::Cpu)),
            ],
            1,
        );
        let ill = random.copy();
        ill.get(3).copy_(&(random.get(2) * (1.0 + 1e-9)));
        for (layer, tol) in [(random, 1e-12), (identity, 0.0), (ill, 1e-8)] {
            let (bb, s, w2, b2) = reparameterize(&w, &b, &layer, true);
            let through = x.linear(&bb, Some(&s)).linear(&w2, Some(&b2));
            let err = (&through - &direct).abs().max().double_value(&[])
                / direct.abs().max().double_value(&[]);
            assert!(err <= tol, "relative error {err}");
        }
    }

    #[test]
    fn inserting_a_layer_keeps_the_network_function_and_renames_state() {
        let mut n = net(&[4], Activation::Relu);
        let mut opt = Optimizer::new(OptimizerConfig::adamw(0.0));
        let x = Tensor::randn([7, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 1, 0, 1, 0, 0]);
        grads(&n, &x, &y);
        opt.step(&n.named_parameters(), 0.01).unwrap();
        let before = n.forward(&x, false);
        let v_out = opt
            .state_tensors()
            .into_iter()
            .find(|(k, _)| k == "stages.1.layer.bias/1")
            .unwrap()
            .1;
        tch::manual_seed(6);
        let layer = Tensor::randn([4, 5], (Kind::Double, Device::Cpu)) * 0.3
            + Tensor::cat(
                &[
                    Tensor::eye(4, (Kind::Double, Device::Cpu)),
                    Tensor::zeros([4, 1], (Kind::Double, Device::Cpu)),
                ],
                1,
            );
        insert_layer(&mut n, &mut opt, 1, &layer).unwrap();
        assert_eq!(n.stages.len(), 3);
        assert_eq!(n.hidden_widths(), vec![4, 4]);
        assert_eq!(n.stages[1].activation, Activation::Rational);
        let after = n.forward(&x, false);
        let err = (&after - &before).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{err}");
        let state = opt.state_tensors();
        let moved = state
            .iter()
            .find(|(k, _)| k == "stages.2.layer.bias/1")
            .unwrap();
        assert!(moved.1.equal(&v_out));
        assert!(state.iter().any(|(k, _)| k == "stages.1.layer.weight/0"));
        // Training continues (all names resolve) and a snapshot restores the old network.
        let snap = crate::surgery::NetSnapshot::take(&n, &opt);
        grads(&n, &x, &y);
        opt.step(&n.named_parameters(), 0.01).unwrap();
        snap.restore(&mut n, &mut opt).unwrap();
        assert!(n.forward(&x, false).equal(&after));
        assert_eq!(
            crate::nn::shifted_key("stages.10.act.theta", 3, 1),
            "stages.11.act.theta"
        );
        assert_eq!(
            crate::nn::shifted_key("stages.1.layer.weight", 3, 1),
            "stages.1.layer.weight"
        );
    }
}
