//! SGD with momentum, Nesterov and L2 weight decay (PyTorch's `torch.optim.SGD` semantics).
use tch::Tensor;

use super::OptimizerConfig;

/// `g ← ∇ + wd·p; b ← μ b + g; p ← p − lr·(nesterov ? g + μ b : b)`.
pub(super) fn update(
    p: &mut Tensor,
    grad: &Tensor,
    state: &mut [Tensor],
    c: &OptimizerConfig,
    lr: f64,
) {
    let mut g = if c.weight_decay != 0.0 {
        grad + &*p * c.weight_decay
    } else {
        grad.shallow_clone()
    };
    if let Some(buf) = state.first_mut() {
        *buf = &*buf * c.momentum + &g;
        g = if c.nesterov {
            g + &*buf * c.momentum
        } else {
            buf.shallow_clone()
        };
    }
    let _ = p.f_sub_(&(g * lr));
}
