//! The fused optimiser steps: ATen's multi-tensor AdamW and SGD kernels (what `torch.optim`
//! runs with `fused=True`), through the C ABI of `csrc/fused_optim.cpp`. One call updates every
//! parameter and its state in place, in one pass over memory, instead of a dozen element-wise
//! operations (and as many temporaries) per parameter: the same update as `adamw.rs` and
//! `sgd.rs` up to rounding (docs/architecture.md, `src/optim/`). A build without libtorch's
//! headers (`grownet_no_fused`) has no fused kernels; [`available`] says so and the optimiser
//! takes its op-by-op path.
#[cfg(not(grownet_no_fused))]
use std::ffi::{c_char, c_void, CStr};

use tch::Tensor;

use super::{OptimizerConfig, OptimizerKind};
use crate::error::Result;

#[cfg(not(grownet_no_fused))]
extern "C" {
    fn grownet_fused_free_message(s: *mut c_char);
    #[allow(clippy::too_many_arguments)]
    fn grownet_fused_adamw(
        params: *mut *mut c_void,
        grads: *mut *mut c_void,
        exp_avgs: *mut *mut c_void,
        exp_avg_sqs: *mut *mut c_void,
        n: i64,
        step: f64,
        lr: f64,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        err: *mut *mut c_char,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    fn grownet_fused_sgd(
        params: *mut *mut c_void,
        grads: *mut *mut c_void,
        buffers: *mut *mut c_void,
        n: i64,
        with_momentum: i32,
        weight_decay: f64,
        momentum: f64,
        lr: f64,
        nesterov: i32,
        err: *mut *mut c_char,
    ) -> i32;
}

/// Whether this build has the fused kernels.
pub fn available() -> bool {
    cfg!(not(grownet_no_fused))
}

/// The parameters, gradients and state slots of one fused call: dense tensors of one kind on
/// one device (the kernels' requirement; anything else takes the op-by-op path).
#[derive(Default)]
pub(super) struct Batch {
    params: Vec<Tensor>,
    grads: Vec<Tensor>,
    /// `slots[k][i]`: state slot `k` of parameter `i`.
    slots: Vec<Vec<Tensor>>,
}

impl Batch {
    /// Adds a parameter if the kernels can take it with the ones already there; `false` if not.
    pub(super) fn push(&mut self, p: &Tensor, grad: &Tensor, state: &[Tensor]) -> bool {
        let floating = matches!(
            p.kind(),
            tch::Kind::Float | tch::Kind::Double | tch::Kind::Half | tch::Kind::BFloat16
        );
        let like = |t: &Tensor| t.kind() == p.kind() && t.device() == p.device() && !t.is_sparse();
        let fits = self
            .params
            .first()
            .is_none_or(|q| q.kind() == p.kind() && q.device() == p.device());
        if !(floating && fits && like(grad) && state.iter().all(like)) {
            return false;
        }
        self.params.push(p.shallow_clone());
        self.grads.push(grad.shallow_clone());
        self.slots.resize_with(state.len(), Vec::new);
        for (slot, t) in self.slots.iter_mut().zip(state) {
            slot.push(t.shallow_clone());
        }
        true
    }

    /// One fused step of every parameter in the batch at learning rate `lr` (`step`: Adam's
    /// step count, for its bias corrections).
    pub(super) fn step(self, c: &OptimizerConfig, lr: f64, step: u64) -> Result<()> {
        if self.params.is_empty() {
            return Ok(());
        }
        run(self, c, lr, step)
    }
}

#[cfg(not(grownet_no_fused))]
fn run(batch: Batch, c: &OptimizerConfig, lr: f64, step: u64) -> Result<()> {
    let ptrs = |ts: &[Tensor]| -> Vec<*mut c_void> {
        ts.iter().map(|t| t.as_ptr() as *mut c_void).collect()
    };
    let n = batch.params.len() as i64;
    let (mut p, mut g) = (ptrs(&batch.params), ptrs(&batch.grads));
    let mut slots: Vec<Vec<*mut c_void>> = batch.slots.iter().map(|s| ptrs(s)).collect();
    let mut err = std::ptr::null_mut();
    // SAFETY: every pointer is a live `torch::Tensor*` owned by `batch` for the call's duration;
    // the slot vectors have `n` entries each (one per parameter, pushed together); `err` is
    // written only on failure.
    let rc = unsafe {
        match c.kind {
            OptimizerKind::AdamW => {
                let [m, v] = slots.as_mut_slice() else {
                    return Err(torch_error("AdamW needs two state slots".into()));
                };
                grownet_fused_adamw(
                    p.as_mut_ptr(),
                    g.as_mut_ptr(),
                    m.as_mut_ptr(),
                    v.as_mut_ptr(),
                    n,
                    step as f64,
                    lr,
                    c.beta1,
                    c.beta2,
                    c.weight_decay,
                    c.eps,
                    &mut err,
                )
            }
            OptimizerKind::Sgd => {
                let with_momentum = !slots.is_empty();
                let mut none = Vec::new();
                let b = slots.first_mut().unwrap_or(&mut none);
                grownet_fused_sgd(
                    p.as_mut_ptr(),
                    g.as_mut_ptr(),
                    b.as_mut_ptr(),
                    n,
                    i32::from(with_momentum),
                    c.weight_decay,
                    c.momentum,
                    lr,
                    i32::from(c.nesterov),
                    &mut err,
                )
            }
        }
    };
    if rc == 0 {
        return Ok(());
    }
    let message = if err.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here once.
        unsafe {
            let s = CStr::from_ptr(err).to_string_lossy().into_owned();
            grownet_fused_free_message(err);
            s
        }
    };
    Err(torch_error(format!(
        "fused optimiser step: {} (train.fused_optimizer = false takes the op-by-op path)",
        message.trim()
    )))
}

fn torch_error(message: String) -> crate::error::Error {
    tch::TchError::Torch(message).into()
}

#[cfg(grownet_no_fused)]
fn run(_: Batch, _: &OptimizerConfig, _: f64, _: u64) -> Result<()> {
    Err(torch_error(
        "this grownet was built without the fused optimiser kernels (LIBTORCH unset at build \
         time); set train.fused_optimizer = false"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_call_takes_dense_parameters_of_one_kind_and_device() {
        assert!(
            available(),
            "built without the fused kernels (LIBTORCH unset)"
        );
        let float = Tensor::from_slice(&[1.0f32, -2.0]);
        let strided = Tensor::from_slice(&[3.0f32, 4.0, 5.0, 6.0])
            .view([2, 2])
            .transpose(0, 1);
        let double = Tensor::from_slice(&[1.0f64]);
        let grad = |p: &Tensor| p.sign() * 0.5;
        let state = |p: &Tensor| vec![p.zeros_like(), p.zeros_like()];
        let mut batch = Batch::default();
        assert!(batch.push(&float, &grad(&float), &state(&float)));
        assert!(batch.push(&strided, &grad(&strided), &state(&strided)));
        assert!(!batch.push(&double, &grad(&double), &state(&double)));
        let (before, before_strided) = (float.copy(), strided.copy());
        batch
            .step(&OptimizerConfig::adamw(0.0), 0.1, 1)
            .expect("fused AdamW step");
        // A fresh Adam's first step is lr·sign(g), here −0.1·sign(p).
        let moved = |a: &Tensor, b: &Tensor| (a - b + b.sign() * 0.1).abs().max().double_value(&[]);
        assert!(moved(&float, &before) < 1e-6, "{float}");
        assert!(moved(&strided, &before_strided) < 1e-6, "{strided}");
    }
}
