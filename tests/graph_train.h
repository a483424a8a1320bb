// Training iterations run eagerly or through a StepRunner with CUDA graphs on, with what they
// logged and where they ended, for comparisons bit for bit: on the emulated device
// (tests/test_cuda_graph.cpp) and on a GPU (tests/cuda/test_cuda_graph.cpp).
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/cuda_backend.h"
#include "core/random.h"
#include "gan/step.h"
#include "gan/step_graph.h"

namespace duel::test {

inline std::vector<float> host_floats(const Tensor& t) {
  const Tensor h = t.to(Device::cpu());
  return std::vector<float>(h.data<float>(), h.data<float>() + h.numel());
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() &&
         std::memcmp(ha.raw_data(), hb.raw_data(), ha.nbytes()) == 0;
}

// The scalars of each iteration and the final parameters, buffers and critic optimiser state.
struct Trace {
  std::vector<std::vector<float>> scalars;
  NamedTensors state;
  int64_t kernels = 0, graph_kernels = 0, host_syncs = 0;
  bool graph_live = false;
};

// `iterations` dcgan28 iterations on `device` at batch `batch`, eagerly or with graphs on.
// n_critic: 0 keeps the loss's default. rng_on_device false leaves the generator on the host (the
// mutation: its offsets become launch arguments).
inline Trace train_iterations(Device device, gan::LossKind loss, bool graph, int iterations, int64_t batch,
                              int64_t n_critic = 0, bool rng_on_device = true) {
  gan::ModelConfig m;
  m.critic_norm = loss == gan::LossKind::wgan_gp ? gan::CriticNorm::none : gan::CriticNorm::batchnorm;
  gan::Gan g(m);
  Generator rng(5);
  g.init_dcgan(rng);
  g.G().to_device(device);
  g.D().to_device(device);
  if (rng_on_device) rng.to_device(device);
  gan::OptimConfig oc = gan::defaults_for(loss);
  if (n_critic > 0) oc.n_critic = n_critic;
  gan::GanStep step(g, oc);
  gan::StepRunner runner(g, step, rng, batch, device, graph);
  Generator data(9);
  Trace t;
  for (int k = 0; k < iterations; ++k) {
    std::vector<gan::Batch> batches;
    for (int64_t c = 0; c < oc.n_critic; ++c) batches.push_back({uniform({batch, 1, 28, 28}, -1, 1, data), Tensor()});
    runner.stage(batches);
    const int64_t syncs = cuda_backend::host_syncs();
    runner.run();
    t.host_syncs += cuda_backend::host_syncs() - syncs;
    t.scalars.push_back(host_floats(runner.last().scalars));
  }
  for (auto& [n, v] : g.G().state()) t.state.emplace_back("G." + n, v.to(Device::cpu()));
  for (auto& [n, v] : g.D().state()) t.state.emplace_back("D." + n, v.to(Device::cpu()));
  for (auto& [n, v] : step.opt_d().state()) t.state.emplace_back("opt_D." + n, v.to(Device::cpu()));
  t.state.emplace_back("rng.offset", full({}, double(rng.offset()), DType::i64));
  t.kernels = runner.graph().eager_kernels();
  t.graph_kernels = runner.graph().graph_kernels();
  t.graph_live = runner.graph().graph_live();
  return t;
}

inline void require_same(const Trace& a, const Trace& b) {
  REQUIRE(a.scalars.size() == b.scalars.size());
  for (size_t k = 0; k < a.scalars.size(); ++k) {
    INFO("iteration " << k + 1);
    CHECK(a.scalars[k] == b.scalars[k]);
  }
  REQUIRE(a.state.size() == b.state.size());
  for (size_t i = 0; i < a.state.size(); ++i) {
    INFO(a.state[i].first);
    CHECK(bitwise_equal(a.state[i].second, b.state[i].second));
  }
}

}  // namespace duel::test
