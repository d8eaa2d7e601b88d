// The C ABI grownet's `dist` module calls (src/distributed/ffi.rs): a c10d store and process group
// (Gloo; NCCL when compiled with GROWNET_NCCL) and the collectives grownet uses, on tch
// tensors (a tch `Tensor` is a `torch::Tensor*`): in-place sum, broadcast, barrier, and a
// differentiable sum (an autograd function, for synchronised BatchNorm). Every entry point
// catches C++ exceptions and returns them as a malloc'd message: nothing unwinds into Rust.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include "guarded.h"
#ifdef GROWNET_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

struct grownet_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

template <typename F> static int guarded(char **err, F f) {
  return guarded_in("the c10d shim", err, f);
}

static void wait_for(std::chrono::milliseconds timeout,
                     const c10::intrusive_ptr<c10d::Work> &work) {
  if (!work->wait(timeout)) {
    throw std::runtime_error("collective timed out");
  }
}

static void wait(grownet_pg *pg, const c10::intrusive_ptr<c10d::Work> &work) {
  wait_for(pg->timeout, work);
}

// Sums the dense, contiguous `t` over the ranks of `backend`, in place.
static void sum_in_place(c10d::Backend &backend, std::chrono::milliseconds timeout,
                         at::Tensor &t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = timeout;
  wait_for(timeout, backend.allreduce(v, o));
}

// What the differentiable sum's backward needs, kept alive by its autograd node (a capsule in
// the node's saved data) for as long as the graph lives, whatever becomes of the Rust group.
struct reducer : torch::CustomClassHolder {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
  reducer(c10::intrusive_ptr<c10d::Backend> b, std::chrono::milliseconds t)
      : backend(std::move(b)), timeout(t) {}
};

// y = Σ_ranks x, differentiable: the gradient of every rank's x is Σ_ranks ∂L/∂y (as
// torch.distributed.nn.functional.all_reduce). Every rank must call forward and backward the
// same number of times, in the same order.
struct differentiable_sum : public torch::autograd::Function<differentiable_sum> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x,
                            grownet_pg *pg) {
    ctx->saved_data["reducer"] =
        c10::IValue::make_capsule(c10::make_intrusive<reducer>(pg->backend, pg->timeout));
    at::Tensor y = x.clone(at::MemoryFormat::Contiguous);
    sum_in_place(*pg->backend, pg->timeout, y);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto r = c10::static_intrusive_pointer_cast<reducer>(ctx->saved_data["reducer"].toCapsule());
    // Undefined incoming gradients arrive as zeros (materialised): every rank reduces.
    at::Tensor g = grads[0].clone(at::MemoryFormat::Contiguous);
    try {
      sum_in_place(*r->backend, r->timeout, g);
    } catch (const c10::Error &e) {
      throw std::runtime_error(std::string("all-reduce in the backward pass: ") +
                               e.what_without_backtrace());
    } catch (const std::exception &e) {
      throw std::runtime_error(std::string("all-reduce in the backward pass: ") + e.what());
    }
    return {g, at::Tensor()};
  }
};

extern "C" {

// 1 when the shim was compiled with NCCL.
int grownet_c10d_has_nccl() {
#ifdef GROWNET_NCCL
  return 1;
#else
  return 0;
#endif
}

// Connects to (rank 0: hosts, unless `agent_store`) the TCP store at host:port and creates
// the process group. `agent_store`: torchrun's agent already hosts the store; workers join it
// under the prefix `/worker/attempt_{restart}` as torch.distributed does.
grownet_pg *grownet_c10d_new(const char *backend, const char *host, int port, int rank,
                             int size, int agent_store, int restart, long long timeout_ms,
                             char **err) {
  grownet_pg *out = nullptr;
  guarded(err, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = !agent_store && rank == 0;
    opts.numWorkers = size;
    opts.waitWorkers = false;
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store =
        c10::make_intrusive<c10d::TCPStore>(std::string(host), opts);
    if (agent_store) {
      store = c10::make_intrusive<c10d::PrefixStore>(
          "/worker/attempt_" + std::to_string(restart), store);
    }
    store = c10::make_intrusive<c10d::PrefixStore>("grownet", store);
    std::string name(backend);
    c10::intrusive_ptr<c10d::Backend> pg;
    if (name == "gloo") {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 1;
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, o);
    } else if (name == "nccl") {
#ifdef GROWNET_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, o);
#else
      throw std::runtime_error("this grownet was built without NCCL (nccl.h and the CUDA "
                               "headers were not found at build time)");
#endif
    } else {
      throw std::runtime_error("unknown backend '" + name + "'");
    }
    out = new grownet_pg{store, pg, timeout};
  });
  return out;
}

void grownet_c10d_free(grownet_pg *pg) { delete pg; }

void grownet_c10d_free_message(char *s) { std::free(s); }

// Sums `t` (dense, contiguous) over the ranks, in place.
int grownet_c10d_all_reduce_sum(grownet_pg *pg, at::Tensor *t, char **err) {
  return guarded(err, [&] { sum_in_place(*pg->backend, pg->timeout, *t); });
}

// A new tensor, the sum of `t` over the ranks, with an autograd node whose backward sums the
// incoming gradient over the ranks (`differentiable_sum`). Null (and `*err`) on failure.
at::Tensor *grownet_c10d_all_reduce_sum_differentiable(grownet_pg *pg, at::Tensor *t,
                                                        char **err) {
  at::Tensor *out = nullptr;
  guarded(err, [&] { out = new at::Tensor(differentiable_sum::apply(*t, pg)); });
  return out;
}

// A second owner of `pg`'s store and group (freed on its own by grownet_c10d_free).
grownet_pg *grownet_c10d_share(grownet_pg *pg) { return new grownet_pg(*pg); }

// Replaces `t` on every rank by its value on `root`, in place.
int grownet_c10d_broadcast(grownet_pg *pg, at::Tensor *t, int root, char **err) {
  return guarded(err, [&] {
    std::vector<at::Tensor> v{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = pg->timeout;
    wait(pg, pg->backend->broadcast(v, o));
  });
}

int grownet_c10d_barrier(grownet_pg *pg, char **err) {
  return guarded(err, [&] {
    c10d::BarrierOptions o;
    o.timeout = pg->timeout;
    wait(pg, pg->backend->barrier(o));
  });
}
}
