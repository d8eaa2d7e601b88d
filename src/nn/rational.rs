//! SENN's rational activation with one parameter triple `(l, c, v)` per unit (docs/senn.md §1.7):
//!
//! σ(x) = [ l·x + (c + 2v·x)/(1 + x²) ] / ‖(l, c, v)‖,
//!
//! the identity at `(1, 0, 0)`, which lets a layer be inserted without changing the network's
//! function. The official code adds 1e-8 under the square root; we clamp the norm instead, so
//! the identity is exact (docs/senn.md §6 check 1).
//!
//! ```
//! use grownet::nn::rational;
//! let x = tch::Tensor::from_slice(&[-3.0f32, 0.5, 7.0]).view([1, 3]);
//! let id = rational::identity_parameters(3, tch::Device::Cpu);
//! assert!(rational::forward(&x, &id).equal(&x));
//! ```
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// Applies the per-unit rational activation: `x` is `[batch, units]` (or `[units]`), `theta`
/// is `[units, 3]` with columns `l, c, v`.
pub fn forward(x: &Tensor, theta: &Tensor) -> Tensor {
    let theta = theta.to_kind(x.kind());
    let l = theta.select(1, 0);
    let c = theta.select(1, 1);
    let v = theta.select(1, 2);
    let norm = theta
        .square()
        .sum_dim_intlist(1, false, x.kind())
        .sqrt()
        .clamp_min(1e-12);
    let bump = (&c + 2.0 * &v * x) / (x.square() + 1.0);
    (&l * x + bump) / norm
}

/// `(1, 0, 0)` for every unit: the identity.
pub fn identity_parameters(units: i64, device: Device) -> Tensor {
    let t = Tensor::zeros([units, 3], (Kind::Float, device));
    if units > 0 {
        let _ = t.select(1, 0).fill_(1.0);
    }
    t
}

/// Standard normal triples, as the official code initialises its networks (docs/senn.md §1.7).
pub fn random_parameters(units: i64, rng: &mut impl Rng, device: Device) -> Tensor {
    let values: Vec<f32> = (0..units * 3)
        .map(|_| standard_normal(rng) as f32)
        .collect();
    Tensor::from_slice(&values)
        .view([units, 3])
        .to_device(device)
}

/// One standard normal draw (Box–Muller), from the host generator so seeds are portable.
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::finite_difference_check;
    use rand::SeedableRng;

    #[test]
    fn identity_is_exact_on_a_wide_range() {
        // docs/senn.md §6 check 1: σ(x) = x on [−100, 100].
        let x = Tensor::linspace(-100.0, 100.0, 2001, (Kind::Double, Device::Cpu)).view([-1, 1]);
        let id = identity_parameters(1, Device::Cpu);
        assert!(forward(&x, &id).equal(&x));
        let x32 = x.to_kind(Kind::Float);
        assert!(forward(&x32, &id).equal(&x32));
    }

    #[test]
    fn parameter_derivatives_at_the_identity() {
        // ∂σ/∂c = 1/(1+x²), ∂σ/∂v = 2x/(1+x²) at (1, 0, 0) (the normalisation terms vanish).
        for &x0 in &[-2.5f64, -0.3, 0.0, 0.7, 4.0] {
            let x = Tensor::from_slice(&[x0]).view([1, 1]);
            let theta = Tensor::from_slice(&[1.0f64, 0.0, 0.0])
                .view([1, 3])
                .set_requires_grad(true);
            forward(&x, &theta).sum(Kind::Double).backward();
            let g = Vec::<f64>::try_from(&theta.grad().flatten(0, -1)).unwrap();
            let d = 1.0 + x0 * x0;
            assert!((g[1] - 1.0 / d).abs() < 1e-12, "{g:?}");
            assert!((g[2] - 2.0 * x0 / d).abs() < 1e-12, "{g:?}");
            assert!(g[0].abs() < 1e-12, "{g:?}");
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let theta = random_parameters(4, &mut rng, Device::Cpu).to_kind(Kind::Double);
        let x = Tensor::from_slice(&[-1.3f64, -0.4, 0.3, 0.9, 2.1, 0.05, -3.0, 1.0]).view([2, 4]);
        finite_difference_check(&x, |x| forward(x, &theta).square().sum(Kind::Double));
        finite_difference_check(&theta, |th| forward(&x, th).square().sum(Kind::Double));
    }

    #[test]
    fn random_parameters_are_seeded() {
        let a = random_parameters(
            5,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
            Device::Cpu,
        );
        let b = random_parameters(
            5,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
            Device::Cpu,
        );
        assert!(a.equal(&b));
        assert_eq!(a.size(), vec![5, 3]);
    }
}
