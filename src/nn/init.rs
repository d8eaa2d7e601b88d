//! Seeded parameter initialisation on the host, so a seed gives the same network on any device.
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// A tensor of the given shape with entries uniform in `[-bound, bound]`, drawn from `rng`.
pub fn uniform(shape: &[i64], bound: f64, rng: &mut impl Rng, device: Device) -> Tensor {
    let n: i64 = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| (rng.random::<f64>() * 2.0 - 1.0) as f32 * bound as f32)
        .collect();
    Tensor::from_slice(&values)
        .view(shape)
        .to_device(device)
        .to_kind(Kind::Float)
}

/// PyTorch's default bound for layers: `1/sqrt(fan_in)` (0 fan-in gives bound 0).
pub fn default_bound(fan_in: i64) -> f64 {
    if fan_in > 0 {
        1.0 / (fan_in as f64).sqrt()
    } else {
        0.0
    }
}

/// Turns a freshly built tensor into a trainable parameter.
pub fn param(t: Tensor) -> Tensor {
    t.set_requires_grad(true)
}
