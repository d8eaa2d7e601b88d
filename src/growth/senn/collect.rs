//! One pass over a statistics sample collecting, for every stage (as a consumer layer), what
//! SENN's scores need (docs/senn.md §1.3): the per-sample inputs `ā`, the per-sample loss gradients
//! `g = ∂ℓ/∂z` of its pre-activations, and the output-side K-FAC factor
//! `S = E[J_zᵀ J_z]` of the Euclidean output metric, computed exactly by back-propagating each
//! output unit vector (O backward passes, cheap for the small output layers of MLPs). Also
//! `λ = E‖∂ℓ/∂y‖²`. Gradients come from zero probes (`run_backward`), so the training graph
//! and the parameters' `.grad` are untouched. Everything is accumulated in f64.
//!
//! ```
//! use grownet::growth::senn::collect::collect;
//! use grownet::nn::{Activation, Architecture, Loss, Network};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(3, &[4], 2, Activation::Relu);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), tch::Device::Cpu).unwrap();
//! let x = tch::Tensor::randn([10, 3], (tch::Kind::Float, tch::Device::Cpu));
//! let y = tch::Tensor::from_slice(&[0i64, 1, 0, 1, 1, 0, 0, 1, 1, 0]);
//! let st = collect(&net, Loss::CrossEntropy, &x, &y, 4).unwrap();
//! assert_eq!(st.stages[1].inputs.size(), vec![10, 5]); // 4 hidden units and the bias 1
//! assert_eq!(st.stages[1].s.size(), vec![2, 2]);
//! ```
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::growth::unfold::augment;
use crate::nn::{Hooks, Layer, Loss, Network, Stage};

/// What one stage, as a consumer, contributes to the scores.
pub struct StageData {
    /// Per-sample inputs, augmented with a 1 when the layer has a bias (N×n̄).
    pub inputs: Tensor,
    /// Per-sample gradients of the summed loss w.r.t. the pre-activations (N×m).
    pub grads: Tensor,
    /// `S = E[J_zᵀ J_z]` (m×m).
    pub s: Tensor,
}

/// Statistics of every stage over one sample.
pub struct SennStatistics {
    pub stages: Vec<StageData>,
    /// `λ = E‖∂ℓ/∂y‖²`, the largest score any network could reach (docs/senn.md §1.2).
    pub lambda: f64,
    /// Mean loss over the sample.
    pub loss: f64,
    pub samples: i64,
}

impl SennStatistics {
    /// Updates the statistics after a unit with **zero fan-out** was appended to hidden site
    /// `k` of `net` (the last output of stage `k`), without another pass: the forward pass and
    /// every gradient are unchanged, so only the consumer's inputs gain the unit's activation
    /// (before the bias feature) and the producer gains a zero gradient column and a zero row
    /// and column of S.
    pub fn add_zero_fan_out_unit(&mut self, net: &Network, k: usize) -> Result<()> {
        let (Some(producer), Some(consumer)) = (net.stages.get(k), net.stages.get(k + 1)) else {
            return Err(Error::Growth(format!("site {k} has no consumer")));
        };
        let w = producer.layer.augmented_weight();
        let last = w.size()[0] - 1;
        let fan_in = w.get(last);
        let pre = self.stages[k].inputs.matmul(&fan_in.view([-1, 1]));
        let a_p = match &producer.rational {
            Some(theta) => crate::nn::rational::forward(
                &pre,
                &theta.detach().to_kind(Kind::Double).narrow(0, last, 1),
            ),
            None => producer.activation.forward(&pre),
        };
        let inputs = &self.stages[k + 1].inputs;
        let n_in = inputs.size()[1];
        self.stages[k + 1].inputs = if consumer.layer.bias().is_some() {
            Tensor::cat(
                &[
                    inputs.narrow(1, 0, n_in - 1),
                    a_p,
                    inputs.narrow(1, n_in - 1, 1),
                ],
                1,
            )
        } else {
            Tensor::cat(&[inputs, &a_p], 1)
        };
        let p = &mut self.stages[k];
        p.grads = Tensor::cat(&[&p.grads, &p.grads.narrow(1, 0, 1).zeros_like()], 1);
        p.s = p.s.constant_pad_nd([0, 1, 0, 1]);
        Ok(())
    }
}

/// SENN's hooks on the one traversal: record every stage's augmented input (f64) and probe
/// its pre-activation after BatchNorm.
struct Probes {
    inputs: Vec<Tensor>,
    probes: Vec<Tensor>,
}

impl Hooks for Probes {
    fn input(&mut self, _: usize, stage: &Stage, input: &Tensor) {
        let bias = stage.layer.bias().is_some();
        self.inputs
            .push(augment(&input.detach().to_kind(Kind::Double), bias));
    }

    fn normalised(&mut self, _: usize, z: Tensor) -> Tensor {
        let probe = Tensor::zeros(z.size(), (z.kind(), z.device())).set_requires_grad(true);
        // Out of place: autograd may have saved the pre-activation.
        let z = z + &probe;
        self.probes.push(probe);
        z
    }
}

/// Running sums over the statistics sample.
struct Sums {
    inputs: Vec<Vec<Tensor>>,
    grads: Vec<Vec<Tensor>>,
    s: Vec<Option<Tensor>>,
    lambda: f64,
    loss: f64,
}

impl Sums {
    /// One minibatch: per-sample gradients at every probe, λ, and `S = Σ_o E[ǧ_o ǧ_oᵀ]` with
    /// `ǧ_o = J_zᵀ e_o` (the exact Euclidean-metric GGN factor), one backward pass per output.
    fn add_batch(&mut self, net: &Network, loss: Loss, xb: &Tensor, yb: &Tensor) -> Result<()> {
        let stages = net.stages.len();
        let mut hooks = Probes {
            inputs: Vec::with_capacity(stages),
            probes: Vec::with_capacity(stages),
        };
        let (h, _) = net.run(xb, None, 0..stages, false, &mut hooks);
        let out_probe = h.zeros_like().detach().set_requires_grad(true);
        let out = &h + &out_probe;
        let total = loss.per_sample(&out, yb).sum(Kind::Double);
        let lv = total.double_value(&[]);
        if !lv.is_finite() {
            return Err(Error::Growth(format!(
                "non-finite loss ({lv}) while collecting SENN statistics"
            )));
        }
        self.loss += lv;
        let mut wrt: Vec<&Tensor> = hooks.probes.iter().collect();
        wrt.push(&out_probe);
        let g = Tensor::f_run_backward(&[&total], &wrt, true, false)?;
        self.lambda += g[stages]
            .to_kind(Kind::Double)
            .square()
            .sum(Kind::Double)
            .double_value(&[]);
        for (i, input) in hooks.inputs.into_iter().enumerate() {
            self.inputs[i].push(input);
            self.grads[i].push(g[i].to_kind(Kind::Double));
        }
        let outputs = out.size()[1];
        for o in 0..outputs {
            let keep = o + 1 < outputs;
            let unit = out.select(1, o).sum(Kind::Double);
            let gs = Tensor::f_run_backward(&[&unit], &hooks.probes, keep, false)?;
            for (i, gi) in gs.iter().enumerate() {
                let gi = gi.to_kind(Kind::Double);
                let outer = gi.tr().matmul(&gi);
                self.s[i] = Some(match self.s[i].take() {
                    Some(acc) => acc + outer,
                    None => outer,
                });
            }
        }
        Ok(())
    }
}

/// Collects [`SennStatistics`] of `net` on inputs `x` and targets `y`, in minibatches of
/// `batch_size`.
pub fn collect(
    net: &Network,
    loss: Loss,
    x: &Tensor,
    y: &Tensor,
    batch_size: i64,
) -> Result<SennStatistics> {
    if net
        .stages
        .iter()
        .any(|s| !matches!(s.layer, Layer::Linear(_)))
    {
        return Err(Error::Growth(
            "SENN growth supports fully connected networks only".into(),
        ));
    }
    let n = x.size()[0];
    if n == 0 {
        return Err(Error::Growth("empty statistics sample".into()));
    }
    let stages = net.stages.len();
    let mut sums = Sums {
        inputs: (0..stages).map(|_| Vec::new()).collect(),
        grads: (0..stages).map(|_| Vec::new()).collect(),
        s: (0..stages).map(|_| None).collect(),
        lambda: 0.0,
        loss: 0.0,
    };
    let mut start = 0;
    while start < n {
        let len = batch_size.max(1).min(n - start);
        let (xb, yb) = (x.narrow(0, start, len), y.narrow(0, start, len));
        start += len;
        sums.add_batch(net, loss, &xb, &yb)?;
    }
    let inv = 1.0 / n as f64;
    let stages = sums
        .inputs
        .into_iter()
        .zip(sums.grads)
        .zip(sums.s)
        .map(|((a, g), s)| StageData {
            inputs: Tensor::cat(&a, 0),
            grads: Tensor::cat(&g, 0),
            s: s.map(|s| s * inv).unwrap_or_else(Tensor::new),
        })
        .collect();
    Ok(SennStatistics {
        stages,
        lambda: sums.lambda * inv,
        loss: sums.loss * inv,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::growth::senn::score::Factors;
    use crate::nn::{Activation, Architecture};
    use rand::SeedableRng;
    use tch::Device;

    #[test]
    fn single_linear_layer_has_identity_output_factor_and_batching_invariance() {
        let arch = Architecture::mlp(3, &[], 2, Activation::Relu);
        let net = Network::new(
            &arch,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
            Device::Cpu,
        )
        .unwrap();
        let x = Tensor::randn([17, 3], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([17, 2], (Kind::Float, Device::Cpu));
        let a = collect(&net, Loss::Mse, &x, &y, 17).unwrap();
        let b = collect(&net, Loss::Mse, &x, &y, 5).unwrap();
        let eye = Tensor::eye(2, (Kind::Double, Device::Cpu));
        assert!((&a.stages[0].s - &eye).abs().max().double_value(&[]) < 1e-12);
        // The forward pass is f32: a batch of 17 and batches of 5 may round differently (MKL's
        // AVX-512 kernels do), so batching changes λ and the score by f32 rounding, not more.
        let f32_rounding = 1e-6;
        assert!((a.lambda - b.lambda).abs() < f32_rounding * a.lambda.max(1.0));
        let fa = Factors::new(&a.stages[0].inputs, &a.stages[0].grads, &a.stages[0].s, 0.1);
        let fb = Factors::new(&b.stages[0].inputs, &b.stages[0].grads, &b.stages[0].s, 0.1);
        assert!((fa.score() - fb.score()).abs() < f32_rounding * fa.score().max(1e-9));
        // λ is the mean squared output gradient: for this loss, E‖∂ℓ/∂y‖².
        let gy = &a.stages[0].grads;
        let direct = gy.square().sum(Kind::Double).double_value(&[]) / 17.0;
        assert!((direct - a.lambda).abs() < 1e-9 * direct.max(1.0));
    }

    #[test]
    fn zero_fan_out_update_equals_a_fresh_pass() {
        for act in [Activation::Relu, Activation::Rational] {
            let arch = Architecture::mlp(3, &[4, 3], 2, act);
            let mut net = Network::new(
                &arch,
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(5),
                Device::Cpu,
            )
            .unwrap();
            let x = Tensor::randn([12, 3], (Kind::Float, Device::Cpu));
            let y = Tensor::from_slice(&[0i64, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1]);
            let mut st = collect(&net, Loss::CrossEntropy, &x, &y, 5).unwrap();
            let mut opt = crate::optim::Optimizer::new(crate::optim::OptimizerConfig::sgd(0.0));
            let fan_in = Tensor::from_slice(&[0.4f64, -1.1, 0.7, 0.2]);
            let theta = Tensor::from_slice(&[0.5f64, 1.2, -0.3]);
            crate::growth::senn::insert::add_unit(&mut net, &mut opt, 0, &fan_in, Some(&theta))
                .unwrap();
            st.add_zero_fan_out_unit(&net, 0).unwrap();
            let fresh = collect(&net, Loss::CrossEntropy, &x, &y, 5).unwrap();
            for (a, b) in st.stages.iter().zip(&fresh.stages) {
                for (u, v) in [(&a.inputs, &b.inputs), (&a.grads, &b.grads), (&a.s, &b.s)] {
                    assert_eq!(u.size(), v.size(), "{act}");
                    assert!((u - v).abs().max().double_value(&[]) < 1e-5, "{act}");
                }
            }
        }
    }

    #[test]
    fn output_factor_matches_explicit_jacobians() {
        let arch = Architecture::mlp(2, &[3], 2, Activation::Tanh);
        let net = Network::new(
            &arch,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
            Device::Cpu,
        )
        .unwrap();
        let x = Tensor::randn([6, 2], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 1, 0, 1, 0]);
        let st = collect(&net, Loss::CrossEntropy, &x, &y, 4).unwrap();
        // J_z of the hidden pre-activation: ∂y/∂z₀ = W₁ diag(tanh'(z₀)).
        let w0 = net.stages[0].layer.weight().to_kind(Kind::Double);
        let b0 = net.stages[0].layer.bias().unwrap().to_kind(Kind::Double);
        let w1 = net.stages[1].layer.weight().to_kind(Kind::Double);
        let z0 = x.to_kind(Kind::Double).linear(&w0, Some(&b0));
        let d: Tensor = 1.0 - z0.tanh().square();
        let mut s = Tensor::zeros([3, 3], (Kind::Double, Device::Cpu));
        for i in 0..6 {
            let j = &w1 * d.get(i).unsqueeze(0);
            s += j.tr().matmul(&j);
        }
        s /= 6.0;
        let diff = (&s - &st.stages[0].s).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "{diff}");
    }
}
