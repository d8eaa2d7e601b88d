//! AdamW (Loshchilov & Hutter): Adam with decoupled weight decay.
use tch::Tensor;

use super::OptimizerConfig;

/// `p ← p(1 − lr·wd)`, then the bias-corrected Adam step with moments `m`, `v`.
pub(super) fn update(
    p: &mut Tensor,
    grad: &Tensor,
    state: &mut [Tensor],
    c: &OptimizerConfig,
    lr: f64,
    step: u64,
) {
    if c.weight_decay != 0.0 {
        let _ = p.f_mul_scalar_(1.0 - lr * c.weight_decay);
    }
    let (m, rest) = state.split_at_mut(1);
    let (m, v) = (&mut m[0], &mut rest[0]);
    *m = &*m * c.beta1 + grad * (1.0 - c.beta1);
    *v = &*v * c.beta2 + grad.square() * (1.0 - c.beta2);
    let t = step as i32;
    let bc1 = 1.0 - c.beta1.powi(t);
    let bc2 = 1.0 - c.beta2.powi(t);
    let denom = (&*v / bc2).sqrt() + c.eps;
    let _ = p.f_sub_(&(&*m / denom * (lr / bc1)));
}
