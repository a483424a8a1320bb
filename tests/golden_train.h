// The training golden test, shared by the CPU suite (tests/test_train.cpp: CPU float64 and
// float32, the emulated CUDA device) and the GPU suite (tests/cuda/test_cuda_train.cpp): five
// dcgan28 iterations from the counter-based inputs of tests/train_inputs.h against the PyTorch
// trajectories that scripts/golden_train_torch.py wrote into tests/golden/.
#pragma once

#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "gan/step.h"
#include "nn/safetensors.h"
#include "tests/train_inputs.h"

namespace duel::test {

// max |a - b| / max(max |b|, floor)
inline double rel(const std::vector<double>& a, const std::vector<double>& b, double floor = 1e-30) {
  REQUIRE(a.size() == b.size());
  double d = 0, s = floor;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    s = std::max(s, std::abs(b[i]));
  }
  return d / s;
}

inline std::vector<double> strided_sample(const Tensor& t) {
  const std::vector<double> v = t.to_vector();
  const size_t stride = std::max<size_t>(1, v.size() / 2048);
  std::vector<double> out;
  for (size_t i = 0; i < v.size() && out.size() < 2048; i += stride) out.push_back(v[i]);
  return out;
}

struct GoldenRun {
  std::vector<double> loss_d, loss_g, gp;
  NamedTensors d_grads, g_grads;
  std::unique_ptr<gan::Gan> gan;
};

inline GoldenRun run_five(gan::LossKind loss, DType t, Device dev, int iterations = 5) {
  gan::ModelConfig m;
  m.critic_norm = loss == gan::LossKind::wgan_gp ? gan::CriticNorm::none : gan::CriticNorm::batchnorm;
  GoldenRun r;
  r.gan = std::make_unique<gan::Gan>(m);
  r.gan->G().to_dtype(t);
  r.gan->D().to_dtype(t);
  init_from_hash(r.gan->G(), 100, t);
  init_from_hash(r.gan->D(), 200, t);
  r.gan->G().to_device(dev);
  r.gan->D().to_device(dev);
  gan::GanStep step(*r.gan, gan::defaults_for(loss));
  for (int it = 0; it < iterations; ++it) {
    const StepInputs in = hashed_inputs(it, 8, t);
    const Tensor fake = r.gan->generate(in.z.to(dev));
    const gan::DStats d = step.d_update(in.real.to(dev), Tensor(), fake, in.eps.defined() ? in.eps.to(dev) : in.eps);
    const gan::GStats g = step.g_update(fake, Tensor());
    r.loss_d.push_back(d.loss.item());
    r.loss_g.push_back(g.loss.item());
    if (d.gp.defined()) r.gp.push_back(d.gp.item());
    r.d_grads.clear();
    r.g_grads.clear();
    const NamedTensors dp = r.gan->D().named_parameters(), gp = r.gan->G().named_parameters();
    for (size_t i = 0; i < dp.size(); ++i) r.d_grads.emplace_back(dp[i].first, d.grads[i]);
    for (size_t i = 0; i < gp.size(); ++i) r.g_grads.emplace_back(gp[i].first, g.grads[i]);
  }
  return r;
}

// On `dev`: the CPU in float64 and float32, or CUDA (float32 only). `golden_tag` overrides which
// of the golden trajectories a float32 run is held to ("f64": the exact one); without `tensors`
// only the losses of every iteration are compared, not the gradients and weights at the end.
inline void compare_with_golden(const std::string& file, gan::LossKind loss, Device dev = Device::cpu(),
                         const std::string& golden_tag = "", bool tensors = true) {
  const auto golden = load_safetensors_map(std::string(DUEL_SOURCE_DIR) + "/tests/golden/" + file);
  for (DType t : {DType::f64, DType::f32}) {
    if (dev.is_cuda() && t == DType::f64) continue;
    const std::string tag = !golden_tag.empty() ? golden_tag : t == DType::f64 ? "f64" : "f32";
    INFO(file << " " << tag);
    // float64 agrees to summation order; float32 losses to the foundation issue's 2e-4, and the
    // weights after five Adam steps to 1e-3 of each tensor's largest element (Adam's first steps
    // move each weight by about +-lr whatever the gradient's size, so a gradient that is zero up to
    // rounding can move a weight either way: a few such elements are expected in float32).
    const double loss_tol = t == DType::f64 ? 1e-9 : 2e-4, tensor_tol = t == DType::f64 ? 1e-7 : 1e-3;
    GoldenRun r = run_five(loss, t, dev);
    CHECK(rel(r.loss_d, golden.at(tag + ".loss_D").to_vector(), 1.0) < loss_tol);
    CHECK(rel(r.loss_g, golden.at(tag + ".loss_G").to_vector(), 1.0) < loss_tol);
    if (!r.gp.empty()) CHECK(rel(r.gp, golden.at(tag + ".gp").to_vector(), 1.0) < loss_tol);
    if (!tensors) continue;
    auto check_tensor = [&](const std::string& key, const Tensor& on_device) {
      INFO(key);
      const Tensor value = on_device.to(Device::cpu());
      if (value.dtype() == DType::i64) {
        CHECK(value.to_vector() == golden.at(tag + "." + key).to_vector());
        return;
      }
      CHECK(rel(strided_sample(value), golden.at(tag + "." + key + ".sample").to_vector()) < tensor_tol);
      const std::vector<double> norm = golden.at(tag + "." + key + ".norm").to_vector();
      double l2 = 0;
      for (double v : value.to_vector()) l2 += v * v;
      CHECK(std::abs(std::sqrt(l2) - norm[0]) <= tensor_tol * norm[0]);
    };
    for (auto& [n, g] : r.d_grads) check_tensor("D.grad." + n, g);
    for (auto& [n, g] : r.g_grads) check_tensor("G.grad." + n, g);
    for (auto& [n, v] : r.gan->D().state()) check_tensor("D." + n, v);
    for (auto& [n, v] : r.gan->G().state()) check_tensor("G." + n, v);
  }
}

}  // namespace duel::test
