// The DCGAN family (gan/models.h): every size of the family builds with the layer list of the
// PyTorch DCGAN example generalised, the named configurations keep their exact state, nearest
// upsampling shifts the torch.nn.Sequential names as torch does, and one training step runs at
// each size on the CPU and on the emulated CUDA device with the same result.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "gan/models.h"
#include "gan/step.h"
#include "tests/cuda_compare.h"

using namespace duel;
using Catch::Matchers::Contains;

namespace {

gan::ModelConfig family(int64_t size, int64_t ngf, int64_t ndf, int64_t channels = 3,
                        gan::UpsampleKind up = gan::UpsampleKind::convT) {
  gan::ModelConfig m;
  m.kind = gan::ModelKind::dcgan;
  m.size = size;
  m.ngf = ngf;
  m.ndf = ndf;
  m.channels = channels;
  m.upsample = up;
  return m;
}

std::vector<std::pair<std::string, Shape>> state_shapes(const nn::Module& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (const auto& [name, t] : m.state()) out.emplace_back(name, t.shape());
  return out;
}

}  // namespace

TEST_CASE("the DCGAN family builds at every size, makes S x S images and scores them", "[models]") {
  for (int64_t size : {16, 28, 32, 64, 128, 256}) {
    for (gan::UpsampleKind up : {gan::UpsampleKind::convT, gan::UpsampleKind::nearest}) {
      INFO("size " << size << " " << gan::upsample_name(up));
      gan::Gan g(family(size, 4, 4, 3, up));
      Generator rng(1);
      g.init_dcgan(rng);
      NoGradGuard no_grad;
      const Tensor images = g.generate(randn({2, 100, 1, 1}, rng));
      CHECK(images.shape() == Shape{2, 3, size, size});
      CHECK(g.critic(images).shape() == Shape{2});
      // The generator's first layer projects to ngf * S/8 channels (ngf * 4 at 28), as the
      // example's ngf * 8 at 64; the critic's last layer reads ndf * S/8 channels at 4x4 (7x7).
      const NamedTensors gs = g.G().state(), ds = g.D().state();
      CHECK(gs.front().second.shape() == Shape{100, size == 28 ? 16 : 4 * size / 8, size == 28 ? 7 : 4,
                                                size == 28 ? 7 : 4});
      CHECK(ds.back().second.shape() == Shape{1, size == 28 ? 8 : 4 * size / 8, size == 28 ? 7 : 4,
                                               size == 28 ? 7 : 4});
    }
  }
}

TEST_CASE("dcgan28 and dcgan64 are the family's configurations, state for state", "[models]") {
  gan::ModelConfig d28;  // defaults: dcgan28, 1 channel
  gan::ModelConfig f28 = family(28, 64, 64, 1);
  CHECK(state_shapes(gan::Gan(d28).G()) == state_shapes(gan::Gan(f28).G()));
  CHECK(state_shapes(gan::Gan(d28).D()) == state_shapes(gan::Gan(f28).D()));
  gan::ModelConfig d64;
  d64.kind = gan::ModelKind::dcgan64;
  d64.channels = 3;
  gan::Gan g64(d64);
  CHECK(state_shapes(g64.G()) == state_shapes(gan::Gan(family(64, 64, 64)).G()));
  CHECK(state_shapes(g64.D()) == state_shapes(gan::Gan(family(64, 64, 64)).D()));
  // The example's layer list: ConvT 0, BN 1, ..., ConvT 12 (ngf -> 3) in G; Conv 11 (ndf*8 -> 1) in D.
  const NamedTensors gs = g64.G().state(), ds = g64.D().state();
  CHECK(gs.front().first == "0.weight");
  CHECK(gs.front().second.shape() == Shape{100, 512, 4, 4});
  CHECK(gs.back().first == "12.weight");
  CHECK(gs.back().second.shape() == Shape{64, 3, 4, 4});
  CHECK(ds.back().first == "11.weight");
  CHECK(ds.back().second.shape() == Shape{1, 512, 4, 4});
  // dcgan28's layers, unchanged since the first checkpoints.
  const NamedTensors g28 = gan::Gan(d28).G().state();
  CHECK(g28.front().second.shape() == Shape{100, 256, 7, 7});
  CHECK(g28.back().first == "6.weight");
  CHECK(g28.back().second.shape() == Shape{128, 1, 4, 4});
}

TEST_CASE("nearest upsampling: Upsample has no state and shifts the names as torch.nn.Sequential", "[models]") {
  gan::Gan g(family(16, 8, 8, 1, gan::UpsampleKind::nearest));
  std::vector<std::string> names;
  for (const auto& [name, t] : g.G().named_parameters()) names.push_back(name);
  // ConvT 0, BN 1, ReLU 2, Upsample 3, Conv 4 (3x3), BN 5, ReLU 6, Upsample 7, Conv 8, Tanh 9
  CHECK(names == std::vector<std::string>{"0.weight", "1.weight", "1.bias", "4.weight", "5.weight", "5.bias",
                                          "8.weight"});
  CHECK(g.G().state()[6].second.shape() == Shape{8, 16, 3, 3});  // Conv2d(16 -> 8, k3)
}

TEST_CASE("the family refuses sizes and widths it cannot build, in one line", "[models][errors]") {
  CHECK_THROWS_WITH(gan::Gan(family(48, 8, 8)), Contains("power of two from 16 to 256, or 28"));
  CHECK_THROWS_WITH(gan::Gan(family(512, 8, 8)), Contains("got 512"));
  CHECK_THROWS_WITH(gan::Gan(family(32, 0, 8)), Contains("--ngf 0"));
  CHECK_THROWS_WITH(gan::Gan(family(256, 64, 256)), Contains("--ndf 256") && Contains("1 to 128"));
  gan::ModelConfig m = family(32, 8, 8);
  m.channels = 2;
  CHECK_THROWS_WITH(gan::Gan(m), Contains("1 or 3 channels"));
  CHECK_THROWS_WITH(gan::parse_upsample("bilinear"), Contains("convT or nearest"));
}

namespace {

// One critic and one generator update at `size` on `device` from the same initial weights and
// inputs; returns the two losses and the gradients each parameter was updated with (on the CPU:
// the updates themselves are Adam's, whose first step is about lr * sign(gradient) and would turn
// rounding differences in near-zero gradients into whole steps).
NamedTensors one_step(int64_t size, gan::UpsampleKind up, Device device) {
  gan::Gan g(family(size, 4, 4, 3, up));
  Generator rng(5);
  g.init_dcgan(rng);
  const Tensor real = uniform({2, 3, size, size}, -1, 1, rng), z = randn({2, 100, 1, 1}, rng);
  g.G().to_device(device);
  g.D().to_device(device);
  gan::GanStep step(g, gan::defaults_for(gan::LossKind::ns));
  const Tensor fake = g.generate(z.to(device));
  const gan::DStats d = step.d_update(real.to(device), Tensor(), fake, Tensor());
  const gan::GStats gs = step.g_update(fake, Tensor());
  CHECK(std::isfinite(d.loss.item()));
  CHECK(std::isfinite(gs.loss.item()));
  NamedTensors out{{"loss_D", d.loss.to(Device::cpu())}, {"loss_G", gs.loss.to(Device::cpu())}};
  for (size_t i = 0; i < d.grads.size(); ++i) out.emplace_back("D.grad" + std::to_string(i), d.grads[i].to(Device::cpu()));
  for (size_t i = 0; i < gs.grads.size(); ++i) out.emplace_back("G.grad" + std::to_string(i), gs.grads[i].to(Device::cpu()));
  return out;
}

}  // namespace

TEST_CASE("one training step at sizes 16, 32, 64 and 128 on the CPU and the emulated CUDA device agree",
          "[models][cuda-emu]") {
  cuda_backend::EmulatedCudaGuard emulate;
  MathModeGuard fp32(MathMode::fp32);
  for (int64_t size : {16, 32, 64, 128}) {
    const gan::UpsampleKind up = size == 32 ? gan::UpsampleKind::nearest : gan::UpsampleKind::convT;
    INFO("size " << size << " " << gan::upsample_name(up));
    const NamedTensors cpu = one_step(size, up, Device::cpu());
    const NamedTensors dev = one_step(size, up, Device::cuda(0));
    REQUIRE(cpu.size() == dev.size());
    for (size_t i = 0; i < cpu.size(); ++i) {
      INFO(cpu[i].first);
      CHECK(test::nmse(dev[i].second, cpu[i].second) <= test::math_mode_bound(MathMode::fp32));
    }
  }
}
