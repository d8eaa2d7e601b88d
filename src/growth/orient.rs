//! The full conv neuron's new channels oriented by their measured first order (docs/tiny.md
//! §9, "The full neuron's orientation"). The closed form linearises the way from a new
//! channel's pre-activation to the consumer (the activation as its slope at zero, max pooling
//! as average pooling); through ReLU and the real max pooling a channel's first-order effect
//! on the loss can have the other sign. Its effect is linear in its fan-out ω_k, so it is
//! measured on the statistics pass's first images and a channel whose effect raises the loss
//! has its fan-out flipped.
//!
//! ```
//! use grownet::growth::orient;
//! use grownet::nn::{Activation, Architecture, Network};
//! use rand::SeedableRng;
//! use tch::{Device, Kind, Tensor};
//! let arch = Architecture::vgg([3, 8, 8], &[2, 3], 1, 10, Activation::Relu, true);
//! let net = Network::new(&arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0), Device::Cpu).unwrap();
//! tch::manual_seed(0);
//! let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu));
//! let g = Tensor::randn([4, 3, 4, 4], (Kind::Float, Device::Cpu));
//! let (alpha, omega) = (Tensor::randn([2, 3, 3, 3], (Kind::Float, Device::Cpu)), Tensor::randn([3, 2, 3, 3], (Kind::Float, Device::Cpu)));
//! let shares = orient::shares(&net, 0, (&x, &g), (&alpha, None, &omega));
//! let (flipped, n) = orient::flip(&omega, &shares);
//! let again = orient::shares(&net, 0, (&x, &g), (&alpha, None, &flipped));
//! assert!(again.iter().all(|&c| c >= 0.0));
//! assert_eq!(n, shares.iter().filter(|&&c| c < 0.0).count());
//! ```
use tch::{Kind, Tensor};

use super::site::units_pre;
use crate::nn::Network;

/// Each new channel's first-order decrease of the mean loss, `−E⟨g, ω_k ∗ pool(σ(α_k ∗ x))⟩`,
/// at site `site` on images `x` (the producer's input) with `g` the gradient at the consumer's
/// pre-activation (of the summed loss: one row per image). The channel's way is the preview's
/// (`units_pre`: `/√(1+ε)` behind a BatchNorm; the producer's activation and pooling; the
/// consumer's conv without bias), at scale 1.
pub fn shares(
    net: &Network,
    site: usize,
    (x, g): (&Tensor, &Tensor),
    (alpha_w, alpha_b, omega): (&Tensor, Option<&Tensor>, &Tensor),
) -> Vec<f64> {
    let (producer, consumer) = (&net.stages[site], &net.stages[site + 1]);
    let images = x.size()[0].max(1) as f64;
    let e = tch::no_grad(|| {
        let pre = units_pre(producer, x, alpha_w, alpha_b);
        producer.apply_pool(&producer.activation.forward(&pre))
    });
    let e = e.detach().set_requires_grad(true);
    let out = consumer
        .layer
        .forward_with(&consumer.layer.input(&e), omega, None);
    let inner = (out * g.to_kind(e.kind())).sum(Kind::Double);
    // The consumer's conv is linear in its input: channel k's share of ⟨g, out⟩ is
    // ⟨∂⟨g, out⟩/∂e_k, e_k⟩.
    let Ok(grads) = Tensor::f_run_backward(&[&inner], &[&e], false, false) else {
        return Vec::new();
    };
    let per =
        (&grads[0] * e.detach()).sum_dim_intlist([0i64, 2, 3].as_slice(), false, Kind::Double);
    Vec::<f64>::try_from(&(per / -images)).unwrap_or_default()
}

/// `omega` (`[d, K, kh, kw]`) with the fan-out of every channel whose share is negative
/// negated, and how many were.
pub fn flip(omega: &Tensor, shares: &[f64]) -> (Tensor, usize) {
    let signs: Vec<f64> = shares
        .iter()
        .map(|&c| if c < 0.0 { -1.0 } else { 1.0 })
        .collect();
    let flipped = signs.iter().filter(|&&s| s < 0.0).count();
    if flipped == 0 || signs.len() as i64 != omega.size()[1] {
        return (omega.shallow_clone(), 0);
    }
    let mut shape = vec![1i64; omega.dim()];
    shape[1] = signs.len() as i64;
    let s = Tensor::from_slice(&signs)
        .to_kind(omega.kind())
        .to_device(omega.device())
        .view(shape.as_slice());
    (omega * s, flipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture};
    use rand::SeedableRng;
    use tch::Device;

    /// Brute force: a channel's share is the loss's first-order change when it alone is
    /// added at a small scale, measured by finite differences of `⟨g, out⟩` (the loss's
    /// linearisation at the consumer's pre-activation), through the real max pooling.
    #[test]
    fn shares_are_each_channels_inner_product_with_the_gradient() {
        let arch = Architecture::vgg([3, 8, 8], &[3, 4], 1, 10, Activation::Relu, true);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let net = Network::new(&arch, &mut rng, Device::Cpu).unwrap();
        tch::manual_seed(5);
        let r = |s: &[i64]| Tensor::randn(s, (Kind::Double, Device::Cpu));
        let (x, g) = (r(&[5, 3, 8, 8]), r(&[5, 4, 4, 4]));
        let (alpha, bias, omega) = (r(&[3, 3, 3, 3]), r(&[3]), r(&[4, 3, 3, 3]));
        let net = {
            let mut n = net;
            n.to_kind(Kind::Double);
            n
        };
        let shares = shares(&net, 0, (&x, &g), (&alpha, Some(&bias), &omega));
        assert_eq!(shares.len(), 3);
        let (producer, consumer) = (&net.stages[0], &net.stages[1]);
        for k in 0..3 {
            // Channel k alone: its pre-activation as a new BatchNorm channel passes it, ReLU,
            // 2×2 max pooling, its 3×3 fan-out.
            let pre = producer.layer.forward_with(
                &x,
                &alpha.narrow(0, k, 1),
                Some(&bias.narrow(0, k, 1)),
            ) / (1.0 + producer.norm.as_ref().unwrap().eps).sqrt();
            let e = pre.relu().max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            let out = consumer
                .layer
                .forward_with(&e, &omega.narrow(1, k, 1), None);
            let brute = -(out * &g).sum(Kind::Double).double_value(&[]) / 5.0;
            assert!(
                (shares[k as usize] - brute).abs() <= 1e-10 * brute.abs().max(1.0),
                "{k}"
            );
        }
        let (flipped, n) = flip(&omega, &shares);
        let again = super::shares(&net, 0, (&x, &g), (&alpha, Some(&bias), &flipped));
        for (a, b) in shares.iter().zip(&again) {
            assert!((a.abs() - b).abs() <= 1e-10 * a.abs().max(1.0));
        }
        assert_eq!(n, shares.iter().filter(|&&c| c < 0.0).count());
    }
}
