// The fused forms of the convolution ops (core/ops.h): act(conv) and conv -> batch-norm
// statistics in one CUDA kernel, recorded as the same autograd graph as the ops run one after
// another. On the emulated CUDA device (and on the CPU, where they are the plain compositions):
// outputs, gradients and second derivatives against the unfused ops, and nn::Sequential with
// fusion on against fusion off, running statistics included.
#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "core/random.h"
#include "nn/layers.h"
#include "tests/cuda_compare.h"

using namespace duel;
using duel::test::nmse;

namespace {

const Device kCuda = Device::cuda(0);

Tensor activate(Activation a, const Tensor& z, double slope) {
  return a == Activation::relu ? relu(z) : a == Activation::leaky_relu ? leaky_relu(z, slope) : tanh(z);
}

// Output, gradients and gradients of <gradients, v> with respect to (x, w, b), brought to the CPU.
std::vector<Tensor> derivatives(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
                                const Tensor& x0, const Tensor& w0, const Tensor& b0, Device d) {
  Tensor x = x0.to(d).detach().requires_grad_(true), w = w0.to(d).detach().requires_grad_(true),
         b = b0.to(d).detach().requires_grad_(true);
  const Tensor y = f(x, w, b);
  Generator g(5);
  const Tensor gy = randn(y.shape(), g).to(d);
  const std::vector<Tensor> g1 = grad({y}, {x, w, b}, {gy}, true, false);
  Tensor total;
  for (const Tensor& t : g1) {
    const Tensor v = randn(t.shape(), g).to(d);
    const Tensor term = sum(mul(t, v));
    total = total.defined() ? add(total, term) : term;
  }
  const std::vector<Tensor> g2 = grad({total}, {x, w, b}, {}, false, true);
  std::vector<Tensor> out{y.detach().to(Device::cpu())};
  for (const Tensor& t : g1) out.push_back(t.detach().to(Device::cpu()));
  for (const Tensor& t : g2) out.push_back(t.defined() ? t.to(Device::cpu()) : Tensor());
  return out;
}

}  // namespace

TEST_CASE("fused conv + activation: the same values and derivatives as the ops in turn", "[cuda-emu][fused]") {
  cuda_backend::EmulatedCudaGuard emulate;
  Generator g(3);
  const Tensor x = randn({2, 3, 9, 9}, g), w = randn({5, 3, 4, 4}, g), b = randn({5}, g);
  const Tensor wt = randn({3, 5, 4, 4}, g), bt = randn({5}, g);
  for (Activation a : {Activation::relu, Activation::leaky_relu, Activation::tanh})
    for (Device d : {Device::cpu(), kCuda})
      for (bool transposed : {false, true}) {
        INFO("act " << int(a) << " on " << d.str() << (transposed ? " transposed" : ""));
        const Tensor& ww = transposed ? wt : w;
        const Tensor& bb = transposed ? bt : b;
        auto fused = [&](const Tensor& xx, const Tensor& w_, const Tensor& b_) {
          return transposed ? conv_transpose2d_activation(xx, w_, b_, {2, 2}, {1, 1}, {1, 1}, a, 0.2)
                            : conv2d_activation(xx, w_, b_, {2, 2}, {1, 1}, a, 0.2);
        };
        auto plain = [&](const Tensor& xx, const Tensor& w_, const Tensor& b_) {
          return activate(a, transposed ? conv_transpose2d(xx, w_, b_, {2, 2}, {1, 1}, {1, 1})
                                        : conv2d(xx, w_, b_, {2, 2}, {1, 1}), 0.2);
        };
        const auto want = derivatives(plain, x, ww, bb, d), got = derivatives(fused, x, ww, bb, d);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < got.size(); ++i) {
          INFO("result " << i);
          REQUIRE(got[i].defined() == want[i].defined());
          if (got[i].defined()) CHECK(nmse(got[i], want[i]) <= 1e-14);
        }
        // Without a graph the pre-activation is never written; the output is the same.
        NoGradGuard no_grad;
        CHECK(nmse(fused(x.to(d), ww.to(d), bb.to(d)).to(Device::cpu()), want[0]) <= 1e-14);
      }
}

TEST_CASE("nn::Sequential with fused layers matches the layers run one by one", "[cuda-emu][fused]") {
  cuda_backend::EmulatedCudaGuard emulate;
  for (MathMode m : {MathMode::fp32, MathMode::tf32}) {
    MathModeGuard mode(m);
    std::vector<std::map<std::string, Tensor>> results;
    for (bool fuse : {false, true}) {
      nn::set_fused_layers(fuse);
      nn::Sequential net;  // a small critic and generator in one: every fused pattern
      net.add(std::make_shared<nn::Conv2d>(3, 8, 4, 2, 1, false));
      net.add(std::make_shared<nn::LeakyReLU>(0.2));
      net.add(std::make_shared<nn::Conv2d>(8, 16, 4, 2, 1, false));
      net.add(std::make_shared<nn::BatchNorm2d>(16));
      net.add(std::make_shared<nn::LeakyReLU>(0.2));
      net.add(std::make_shared<nn::ConvTranspose2d>(16, 8, 4, 2, 1, 0, false));
      net.add(std::make_shared<nn::BatchNorm2d>(8));
      net.add(std::make_shared<nn::ReLU>());
      net.add(std::make_shared<nn::ConvTranspose2d>(8, 3, 4, 2, 1, 0, true));
      net.add(std::make_shared<nn::Tanh>());
      Generator g(11);
      nn::dcgan_init(net, g);
      net.to_device(kCuda);
      const Tensor x = randn({4, 3, 12, 12}, g).to(kCuda);
      const Tensor y = net(x);
      const Tensor loss = sum(mul(y, y));
      std::vector<Tensor> params;
      for (auto& [n, t] : net.named_parameters()) params.push_back(t);
      const std::vector<Tensor> grads = grad({loss}, params, {}, false, false);
      std::map<std::string, Tensor> r{{"y", y.detach().to(Device::cpu())}};
      const NamedTensors named = net.named_parameters();
      for (size_t i = 0; i < grads.size(); ++i) r["grad." + named[i].first] = grads[i].to(Device::cpu());
      for (auto& [n, t] : net.state()) r[n] = t.to(Device::cpu());
      results.push_back(r);
    }
    nn::set_fused_layers(true);
    // The fused path really ran: batch norm's statistics came from the convolutions' tile
    // partials, combined in another order, so some results differ in their last bits.
    double largest = 0;
    for (const auto& [name, t] : results[0])
      if (is_floating(t.dtype())) largest = std::max(largest, nmse(results[1].at(name), t));
    CHECK(largest > 0);
    for (const auto& [name, t] : results[0]) {
      INFO(name << " math " << math_mode_name(m));
      if (is_floating(t.dtype()))
        CHECK(nmse(results[1].at(name), t) <= 1e-11);  // statistics combined in another order
      else
        CHECK(results[1].at(name).to_vector() == t.to_vector());
    }
  }
}
