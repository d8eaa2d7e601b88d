//! Shrink and perturb (Ash & Adams, "On Warm-Starting Neural Network Training", NeurIPS 2020;
//! docs/tiny.md §2.18): every parameter `θ ← λ·θ`, and every weight (a parameter of two or more
//! dimensions: linear and conv weights, not biases or normalisation parameters) gets `σ` times a
//! fresh draw of PyTorch's default initialisation, `U(−b, b)` with `b = 1/√fan_in`. Applied
//! once, when growth has ended, to a network trained while it grew.
//!
//! ```
//! use grownet::nn::{shrink_perturb, Activation, Architecture, Network};
//! use rand::SeedableRng;
//! let arch = Architecture::mlp(4, &[3], 2, Activation::Relu);
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let net = Network::new(&arch, &mut rng, tch::Device::Cpu).unwrap();
//! let before = net.stages[0].layer.weight().copy();
//! shrink_perturb(&net, 0.5, 0.0, &mut rng);
//! assert!(net.stages[0].layer.weight().allclose(&(before * 0.5), 0.0, 0.0, false));
//! ```
use rand::Rng;

use super::init;
use super::Network;

/// Shrinks every parameter of `net` by `shrink` and adds `perturb` times a fresh default
/// initialisation to every weight, drawn from `rng` in the order of
/// [`Network::parameter_paths`] (in place).
pub fn shrink_perturb(net: &Network, shrink: f64, perturb: f64, rng: &mut impl Rng) {
    tch::no_grad(|| {
        for (_, p) in net.parameter_paths() {
            let mut p = p.shallow_clone();
            let _ = p.g_mul_scalar_(shrink);
            if perturb > 0.0 && p.dim() >= 2 {
                let size = p.size();
                let fan_in: i64 = size[1..].iter().product();
                let draw = init::uniform(&size, init::default_bound(fan_in), rng, p.device());
                let _ = p.g_add_(&(draw.to_kind(p.kind()) * perturb));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, Architecture};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use tch::Tensor;

    fn copies(net: &Network) -> Vec<(usize, Tensor)> {
        net.parameter_paths()
            .into_iter()
            .map(|(_, t)| (t.dim(), t.copy()))
            .collect()
    }

    /// Biases are shrunk only; weights move from `λθ` by at most `σ/√fan_in`, not all by
    /// zero; the same seed gives the same network.
    #[test]
    fn shrinks_every_parameter_and_perturbs_the_weights_within_their_bound() {
        let arch = Architecture::mlp(9, &[5, 4], 3, Activation::Relu);
        let make = || Network::new(&arch, &mut ChaCha8Rng::seed_from_u64(1), tch::Device::Cpu);
        let (a, b) = (make().unwrap(), make().unwrap());
        let before = copies(&a);
        shrink_perturb(&a, 0.5, 0.2, &mut ChaCha8Rng::seed_from_u64(7));
        shrink_perturb(&b, 0.5, 0.2, &mut ChaCha8Rng::seed_from_u64(7));
        let fan_ins = [9.0_f64, 9.0, 5.0, 5.0, 4.0, 4.0];
        for (((dim, old), (_, new)), fan_in) in before.iter().zip(a.parameter_paths()).zip(fan_ins)
        {
            let moved = (&new - old * 0.5).abs().max().double_value(&[]);
            if *dim >= 2 {
                assert!(
                    moved > 0.0 && moved <= 0.2 / fan_in.sqrt() + 1e-6,
                    "{moved}"
                );
            } else {
                assert!(moved < 1e-7, "a bias moved by {moved}");
            }
        }
        for ((_, x), (_, y)) in a.parameter_paths().iter().zip(b.parameter_paths()) {
            assert!(x.equal(&y));
        }
    }
}
