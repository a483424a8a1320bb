// duel against values written by PyTorch (scripts/golden_torch.py, files in tests/golden):
// conv2d, conv_transpose2d and batch_norm forward and backward, and the WGAN-GP penalty of a
// tiny conv critic with its gradient with respect to the critic's weights (a double backward).
// float64 must agree to 1e-9 relative, float32 to 2e-4.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/safetensors.h"
#include "nn/tensor_io.h"

using namespace duel;

namespace {

struct Golden {
  std::map<std::string, Tensor> tensors;
  nlohmann::json cases;
  const Tensor& at(const std::string& key, const std::string& name) const {
    auto it = tensors.find(key + "." + name);
    if (it == tensors.end()) fail("golden: no tensor ", key, ".", name);
    return it->second;
  }
};

Golden load_golden(const std::string& file) {
  const std::string path = std::string(DUEL_SOURCE_DIR) + "/tests/golden/" + file;
  Golden g;
  g.tensors = load_safetensors_map(path);
  g.cases = nlohmann::json::parse(safetensors::read_file(path).metadata.at("cases"));
  return g;
}

// max |a - b| / max |b|, the measure the foundation issue states its bounds in.
double rel_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    diff = std::max(diff, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return diff / std::max(scale, 1e-300);
}

double bound(const std::string& key) { return key.ends_with("_f64") ? 1e-9 : 2e-4; }

Int2 pair(const nlohmann::json& j) { return {j[0].get<int64_t>(), j[1].get<int64_t>()}; }

Tensor leaf(const Tensor& t) { return t.clone().requires_grad_(true); }

}  // namespace

TEST_CASE("conv2d matches PyTorch, forward and backward", "[golden]") {
  const Golden g = load_golden("conv2d.safetensors");
  for (const auto& [key, attrs] : g.cases.items()) {
    INFO(key);
    const Tensor x = leaf(g.at(key, "input")), w = leaf(g.at(key, "weight"));
    const bool has_bias = g.tensors.count(key + ".bias");
    const Tensor b = has_bias ? leaf(g.at(key, "bias")) : Tensor();
    const Tensor y = conv2d(x, w, b, pair(attrs["stride"]), pair(attrs["padding"]));
    CHECK(rel_error(y, g.at(key, "out")) < bound(key));
    std::vector<Tensor> wrt{x, w};
    if (has_bias) wrt.push_back(b);
    const auto grads = grad({y}, wrt, {g.at(key, "grad_out")});
    CHECK(rel_error(grads[0], g.at(key, "grad.input")) < bound(key));
    CHECK(rel_error(grads[1], g.at(key, "grad.weight")) < bound(key));
    if (has_bias) CHECK(rel_error(grads[2], g.at(key, "grad.bias")) < bound(key));
  }
}

TEST_CASE("conv_transpose2d matches PyTorch, forward and backward", "[golden]") {
  const Golden g = load_golden("conv_transpose2d.safetensors");
  for (const auto& [key, attrs] : g.cases.items()) {
    INFO(key);
    const Tensor x = leaf(g.at(key, "input")), w = leaf(g.at(key, "weight"));
    const bool has_bias = g.tensors.count(key + ".bias");
    const Tensor b = has_bias ? leaf(g.at(key, "bias")) : Tensor();
    const Tensor y = conv_transpose2d(x, w, b, pair(attrs["stride"]), pair(attrs["padding"]),
                                      pair(attrs["output_padding"]));
    CHECK(rel_error(y, g.at(key, "out")) < bound(key));
    std::vector<Tensor> wrt{x, w};
    if (has_bias) wrt.push_back(b);
    const auto grads = grad({y}, wrt, {g.at(key, "grad_out")});
    CHECK(rel_error(grads[0], g.at(key, "grad.input")) < bound(key));
    CHECK(rel_error(grads[1], g.at(key, "grad.weight")) < bound(key));
    if (has_bias) CHECK(rel_error(grads[2], g.at(key, "grad.bias")) < bound(key));
  }
}

TEST_CASE("batch_norm matches PyTorch: outputs, gradients and running statistics", "[golden]") {
  const Golden g = load_golden("batch_norm.safetensors");
  for (const auto& [key, attrs] : g.cases.items()) {
    INFO(key);
    const Tensor x = leaf(g.at(key, "input")), w = leaf(g.at(key, "weight")), b = leaf(g.at(key, "bias"));
    const Tensor rm = g.at(key, "running_mean").clone(), rv = g.at(key, "running_var").clone();
    const Tensor y = batch_norm(x, rm, rv, w, b, attrs["training"].get<bool>(),
                                attrs["momentum"].get<double>(), attrs["eps"].get<double>());
    CHECK(rel_error(y, g.at(key, "out")) < bound(key));
    CHECK(rel_error(rm, g.at(key, "running_mean_after")) < bound(key));
    CHECK(rel_error(rv, g.at(key, "running_var_after")) < bound(key));
    const auto grads = grad({y}, {x, w, b}, {g.at(key, "grad_out")});
    CHECK(rel_error(grads[0], g.at(key, "grad.input")) < bound(key));
    CHECK(rel_error(grads[1], g.at(key, "grad.weight")) < bound(key));
    CHECK(rel_error(grads[2], g.at(key, "grad.bias")) < bound(key));
  }
}

TEST_CASE("the WGAN-GP penalty and its weight gradient match PyTorch", "[golden][wgan-gp]") {
  const Golden g = load_golden("wgan_gp.safetensors");
  for (const auto& [key, attrs] : g.cases.items()) {
    INFO(key);
    const Tensor w1 = leaf(g.at(key, "w1")), b1 = leaf(g.at(key, "b1"));
    const Tensor w2 = leaf(g.at(key, "w2")), b2 = leaf(g.at(key, "b2"));
    const Tensor& real = g.at(key, "real");
    const Tensor& fake = g.at(key, "fake");
    const Tensor& eps = g.at(key, "eps");
    Tensor x_hat = add(mul(eps, real), mul(1.0 - eps, fake)).detach().requires_grad_(true);
    const double slope = attrs["leaky_slope"].get<double>();
    const Tensor d = conv2d(leaky_relu(conv2d(x_hat, w1, b1, {2, 2}, {1, 1}), slope), w2, b2);
    CHECK(rel_error(d, g.at(key, "critic_out")) < bound(key));
    const Tensor gx = grad({sum(d)}, {x_hat}, {}, /*create_graph=*/true)[0];
    CHECK(rel_error(gx, g.at(key, "grad_x_hat")) < bound(key));
    const Tensor norm = sqrt(sum(mul(gx, gx), {1, 2, 3}));
    const Tensor dev = norm - 1.0;
    const Tensor gp = mean(mul(dev, dev));
    CHECK(rel_error(gp, g.at(key, "gp")) < bound(key));
    const auto grads = grad({gp}, {w1, b1, w2, b2}, {}, false, /*allow_unused=*/true);
    CHECK(rel_error(grads[0], g.at(key, "grad.w1")) < bound(key));
    CHECK(rel_error(grads[1], g.at(key, "grad.b1")) < bound(key));
    CHECK(rel_error(grads[2], g.at(key, "grad.w2")) < bound(key));
    // b2 moves the critic's output, not its input gradient: no gradient reaches it.
    CHECK_FALSE(grads[3].defined());
  }
}
