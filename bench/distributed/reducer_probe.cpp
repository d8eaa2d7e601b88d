// Probe: c10d's C++ Reducer (DDP's bucketed, backward-overlapped all-reduce) on plain
// tensors, against one flattened all-reduce after backward (what grownet does). 2 ranks by
// fork(), Gloo over loopback, 1 thread each; docs/distributed.md ("Overlap"). Build (one
// command line) and run:
//   source scripts/env.sh
//   g++ -std=c++17 -w -O2 bench/distributed/reducer_probe.cpp -o /tmp/reducer_probe
//     -I$LIBTORCH/include -I$LIBTORCH/include/torch/csrc/api/include -I$GROWNET_GLOO_INCLUDE
//     -DUSE_C10D_GLOO -D_GLIBCXX_USE_CXX11_ABI=1 -DGLOG_USE_GLOG_EXPORT -L$LIBTORCH/lib
//     -Wl,-rpath,$LIBTORCH/lib -Wl,--no-as-needed -ltorch_cpu -ltorch -lc10
//   /tmp/reducer_probe mlp 29701; /tmp/reducer_probe cnn 29702
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>

using PG = c10::intrusive_ptr<c10d::ProcessGroup>;
struct SumHook : c10d::CppCommHookInterface<PG> {
  using c10d::CppCommHookInterface<PG>::CppCommHookInterface;
  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket &b) override {
    std::vector<at::Tensor> t{b.getBufferRef()};
    return state_->allreduce(t)->getFuture();
  }
};

struct Model {
  std::vector<at::Tensor> p;
  bool cnn;
  at::Tensor forward(const at::Tensor &x) {
    if (!cnn) {
      auto h = at::relu(at::linear(x, p[0], p[1]));
      h = at::relu(at::linear(h, p[2], p[3]));
      return at::linear(h, p[4], p[5]);
    }
    auto h = at::max_pool2d(at::relu(at::conv2d(x, p[0], p[1], 1, 1)), 2);
    h = at::max_pool2d(at::relu(at::conv2d(h, p[2], p[3], 1, 1)), 2);
    h = at::relu(at::conv2d(h, p[4], p[5], 1, 1)).mean({2, 3});
    return at::linear(h, p[6], p[7]);
  }
};

static Model make(bool cnn) {
  torch::manual_seed(0);
  std::vector<std::vector<int64_t>> shapes =
      cnn ? std::vector<std::vector<int64_t>>{{32, 3, 3, 3}, {32}, {64, 32, 3, 3}, {64}, {128, 64, 3, 3}, {128}, {10, 128}, {10}}
          : std::vector<std::vector<int64_t>>{{512, 784}, {512}, {512, 512}, {512}, {10, 512}, {10}};
  Model m{{}, cnn};
  for (auto &s : shapes) m.p.push_back((torch::randn(s) * 0.05).set_requires_grad(true));
  return m;
}

static double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void run(int rank, int port, bool cnn) {
  at::set_num_threads(1);
  c10d::TCPStoreOptions o;
  o.port = port; o.isServer = rank == 0; o.numWorkers = 2; o.waitWorkers = false;
  auto store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
  auto go = c10d::ProcessGroupGloo::Options::create();
  go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  go->threads = 1;
  auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, 2, go);
  auto pg = c10::make_intrusive<c10d::ProcessGroup>(store, rank, 2);
  pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
  pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);

  Model m = make(cnn);
  int64_t B = cnn ? 64 : 128;  // per rank
  auto x = cnn ? torch::randn({B, 3, 32, 32}) : torch::randn({B, 784});
  auto y = torch::randint(10, {B});
  // DDP: buckets in reverse parameter order, first bucket 1 MiB, then 25 MiB.
  auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
      m.p, {1 << 20, 25 << 20}, std::vector<bool>(m.p.size(), false));
  std::reverse(buckets.begin(), buckets.end());
  std::reverse(limits.begin(), limits.end());
  std::vector<int64_t> caps(limits.begin(), limits.end());
  auto reducer = std::make_shared<c10d::Reducer>(
      m.p, buckets, pg, std::vector<bool>(m.p.size(), false), 25 << 20, false, false,
      std::unordered_map<size_t, std::string>{}, 1 << 20, false, false, caps);
  reducer->register_comm_hook(std::make_unique<SumHook>(pg));

  auto step_flat = [&] {
    for (auto &p : m.p) if (p.grad().defined()) p.mutable_grad().zero_();
    auto loss = at::cross_entropy_loss(m.forward(x), y) ;
    loss.backward();
    std::vector<at::Tensor> gs;
    for (auto &p : m.p) gs.push_back(p.grad().flatten());
    auto flat = at::cat(gs);
    std::vector<at::Tensor> v{flat};
    gloo->allreduce(v)->wait();
    int64_t off = 0;
    for (auto &p : m.p) { auto n = p.numel(); p.mutable_grad().copy_(flat.narrow(0, off, n).view_as(p)); off += n; }
    torch::NoGradGuard g;
    for (auto &p : m.p) p.sub_(p.grad() * 0.01);
  };
  auto step_reducer = [&] {
    for (auto &p : m.p) if (p.grad().defined()) p.mutable_grad().zero_();
    reducer->prepare_for_forward();
    auto loss = at::cross_entropy_loss(m.forward(x), y);
    reducer->prepare_for_backward({loss});
    loss.backward();
    torch::NoGradGuard g;
    for (auto &p : m.p) p.sub_(p.grad() * 0.01);
  };
  // Same result? One step each from identical parameters.
  {
    std::vector<at::Tensor> before; for (auto &p : m.p) before.push_back(p.detach().clone());
    step_flat();
    std::vector<at::Tensor> after_flat; for (auto &p : m.p) after_flat.push_back(p.detach().clone());
    { torch::NoGradGuard g; for (size_t i = 0; i < m.p.size(); ++i) m.p[i].copy_(before[i]); }
    step_reducer();
    double d = 0;
    for (size_t i = 0; i < m.p.size(); ++i) d = std::max(d, (m.p[i] - after_flat[i]).abs().max().item<double>());
    if (rank == 0) std::printf("%s: %zu buckets; max |flat - reducer| after one step: %.3g\n", cnn ? "CNN" : "MLP", buckets.size(), d);
  }
  std::vector<double> tf, tr;
  for (int round = 0; round < 8; ++round) {
    for (int k = 0; k < 10; ++k) { gloo->barrier()->wait(); double t = now(); step_flat(); tf.push_back(now() - t); }
    for (int k = 0; k < 10; ++k) { gloo->barrier()->wait(); double t = now(); step_reducer(); tr.push_back(now() - t); }
  }
  auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  if (rank == 0) std::printf("%s per-rank batch %ld: one bucket after backward %.2f ms, reducer %.2f ms (medians of %zu steps, interleaved)\n",
                             cnn ? "CNN" : "MLP", (long)B, 1e3 * med(tf), 1e3 * med(tr), tf.size());
}

int main(int argc, char **argv) {
  bool cnn = argc > 1 && std::string(argv[1]) == "cnn";
  int port = argc > 2 ? atoi(argv[2]) : 29700;
  pid_t c = fork();
  run(c == 0 ? 1 : 0, port, cnn);
  if (c != 0) waitpid(c, nullptr, 0);
  return 0;
}
