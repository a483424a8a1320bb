// The `duel` program end to end: `duel op` on files (forward, backward, buffers), and bad input
// answered with one line on stderr and a non-zero exit.
#include <catch2/catch.hpp>

#include "tests/run_duel.h"
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/random.h"
#include "nn/tensor_io.h"

using namespace duel;
namespace fs = std::filesystem;

namespace {

std::string tmp_path(const std::string& name) {
  fs::create_directories(DUEL_TEST_TMP);
  return std::string(DUEL_TEST_TMP) + "/" + name;
}

using test::Run;
using test::run_duel;

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("duel op computes conv2d forward and backward from a file", "[cli]") {
  Generator g(3);
  const Tensor x = randn({2, 3, 7, 6}, g, DType::f64), w = randn({4, 3, 3, 3}, g, DType::f64);
  const Tensor b = randn({4}, g, DType::f64);
  const Tensor gout = randn({2, 4, 4, 6}, g, DType::f64);
  const std::string in = tmp_path("conv_in.safetensors"), out = tmp_path("conv_out.safetensors");
  save_safetensors(in, {{"input", x}, {"weight", w}, {"bias", b}, {"grad_out", gout}});
  const Run r = run_duel("op conv2d --in " + in + " --out " + out +
                         " --attr stride=2,1 --attr padding=1 --backward");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto res = load_safetensors_map(out);
  Tensor xr = x.clone().requires_grad_(true), wr = w.clone().requires_grad_(true),
         br = b.clone().requires_grad_(true);
  const Tensor y = conv2d(xr, wr, br, {2, 1}, {1, 1});
  const auto grads = grad({y}, {xr, wr, br}, {gout});
  CHECK(res.at("out").to_vector() == y.to_vector());
  CHECK(res.at("grad.input").to_vector() == grads[0].to_vector());
  CHECK(res.at("grad.weight").to_vector() == grads[1].to_vector());
  CHECK(res.at("grad.bias").to_vector() == grads[2].to_vector());
  CHECK(res.at("out").dtype() == DType::f64);
}

TEST_CASE("duel op writes batch_norm's updated running statistics", "[cli]") {
  Generator g(4);
  const Tensor x = randn({5, 3, 2, 2}, g), rm = zeros({3}), rv = ones({3});
  const std::string in = tmp_path("bn_in.safetensors"), out = tmp_path("bn_out.safetensors");
  save_safetensors(in, {{"input", x}, {"running_mean", rm}, {"running_var", rv}});
  const Run r = run_duel("op batch_norm --in " + in + " --out " + out + " --attr training=1 --attr momentum=0.5");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto res = load_safetensors_map(out);
  Tensor rm2 = zeros({3}), rv2 = ones({3});
  batch_norm(x, rm2, rv2, {}, {}, true, 0.5);
  CHECK(res.at("running_mean").to_vector() == rm2.to_vector());
  CHECK(res.at("running_var").to_vector() == rv2.to_vector());
  CHECK(res.at("out").dtype() == DType::f32);
}

TEST_CASE("duel answers bad input with one line and a non-zero exit", "[cli][errors]") {
  Generator g(5);
  const std::string in = tmp_path("bad_in.safetensors"), out = tmp_path("bad_out.safetensors");
  save_safetensors(in, {{"input", randn({2, 3}, g)}, {"other", randn({4}, g)}});
  const std::string garbage = tmp_path("garbage.safetensors");
  std::ofstream(garbage) << "definitely not a safetensors file";

  struct Case {
    std::string args, expect;
  } cases[] = {
      {"op add --in " + in + " --out " + out, "cannot be broadcast"},
      {"op nosuchop --in " + in + " --out " + out, "unknown op 'nosuchop'"},
      {"op add --in /nonexistent/x.safetensors --out " + out, "/nonexistent/x.safetensors"},
      {"op add --in " + garbage + " --out " + out, garbage},
      {"op relu --in " + in + " --out " + out, "unknown input 'other'"},
      {"op pow --in " + in + " --out " + out, "missing attribute exponent"},
      {"op leaky_relu --in " + in + " --out " + out + " --attr slope=2", "unknown attribute 'slope'"},
      {"op conv2d --in " + in + " --out " + out + " --attr stride=x", "stride='x' is not"},
      {"op add --in " + in + " --out " + out + " --backward", "grad_out"},
      {"op add --in " + in + " --out " + out + " --device cuda:63", "cuda:63"},
      {"op add --in " + in + " --out " + out + " --device tpu", "unknown device 'tpu'"},
      {"op add --in " + in, "missing --out"},
      {"gradcheck --op conv2d --all", "not both"},
      {"gradcheck --bogus", "unknown flag --bogus"},
      {"gradcheck --cpu-path turbo", "--cpu-path must be one of fast|reference, got 'turbo'"},
  };
  for (const Case& c : cases) {
    const Run r = run_duel(c.args);
    INFO("duel " << c.args << "\n" << r.err);
    CHECK(r.code != 0);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.err.rfind("duel: ", 0) == 0);
  }
  CHECK_FALSE(fs::exists(out));  // nothing half-written
}
