// The C ABI of grownet's fused optimiser steps (src/optim/fused.rs): ATen's multi-tensor
// `_fused_adamw_` and `_fused_sgd_` kernels (what torch.optim runs with `fused=True`), one call
// for every parameter instead of a dozen element-wise operations per parameter. A tch `Tensor`
// is a `torch::Tensor*`. Exceptions come back as a malloc'd message; nothing unwinds into Rust.
#include <cstdlib>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/_fused_adamw.h>
#include <ATen/ops/_fused_sgd.h>
#include <ATen/ops/full.h>

#include "guarded.h"

template <typename F> static int guarded(char **err, F f) {
  return guarded_in("the fused optimiser shim", err, f);
}

static std::vector<at::Tensor> tensors(void **ptrs, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(*static_cast<at::Tensor *>(ptrs[i]));
  }
  return out;
}

extern "C" {

void grownet_fused_free_message(char *s) { std::free(s); }

// AdamW over n parameters at Adam step `step` (bias corrections 1 - beta^step).
int grownet_fused_adamw(void **params, void **grads, void **exp_avgs, void **exp_avg_sqs,
                        int64_t n, double step, double lr, double beta1, double beta2,
                        double weight_decay, double eps, char **err) {
  return guarded(err, [&] {
    auto p = tensors(params, n);
    auto g = tensors(grads, n);
    auto m = tensors(exp_avgs, n);
    auto v = tensors(exp_avg_sqs, n);
    // The kernels read each parameter's step from a float tensor on its device (one device
    // for the whole call: src/optim/fused.rs's Batch), here the same tensor for all.
    std::vector<at::Tensor> steps(p.size(),
                                  at::full({}, step, p.at(0).options().dtype(at::kFloat)));
    at::_fused_adamw_(p, g, m, v, {}, steps, lr, beta1, beta2, weight_decay, eps,
                      /*amsgrad=*/false, /*maximize=*/false);
  });
}

// SGD with momentum (n buffers, or none when `with_momentum` is 0), L2 decay and Nesterov.
int grownet_fused_sgd(void **params, void **grads, void **buffers, int64_t n,
                      int32_t with_momentum, double weight_decay, double momentum, double lr,
                      int32_t nesterov, char **err) {
  return guarded(err, [&] {
    auto p = tensors(params, n);
    auto g = tensors(grads, n);
    std::vector<at::Tensor> b;
    if (with_momentum != 0) {
      b = tensors(buffers, n);
    }
    at::_fused_sgd_(p, g, b, weight_decay, momentum, lr, /*dampening=*/0.0, nesterov != 0,
                    /*maximize=*/false, /*is_first_step=*/false);
  });
}
}
