// The CPU's bf16 math mode (kernels/cpu/gemm_bf16.h): the GEMM on every transpose, odd shapes,
// odd k, the k split and accumulation; the convolution family; and the whole op suite on the CPU
// in bf16, each against two references as on the GPU (docs/cuda.md, "Math modes"): the float64
// result of the operands rounded to BF16 (NMSE <= 1e-11: FP32 accumulation of exactly those
// products) and the exact float64 result within bf16's bound (and above 1e-11, so the mode is in
// effect). On a CPU without AVX512_BF16 the mode is refused with one line; the kernel tests then
// report themselves skipped.
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/op_table.h"
#include "core/random.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm.h"
#include "kernels/reference/reference.h"
#include "tests/cuda_compare.h"
#include "tests/run_duel.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace fast = duel::kernels::cpu;
using kernels::ConvShape;
using kernels::MathMode;

namespace {

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Generator g(seed);
  const std::vector<double> v = randn({n}, g, DType::f64).to_vector();
  return std::vector<float>(v.begin(), v.end());
}

std::vector<double> widen(const std::vector<float>& v, bool to_bf16) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = to_bf16 ? fast::round_to_bf16(v[i]) : v[i];
  return out;
}

double nmse(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return den > 0 ? num / den : num;
}

// got against compute(rounded operands) and compute(exact operands).
void check_bf16(const std::vector<float>& got, const std::function<std::vector<double>(bool)>& compute) {
  const double err_model = nmse(got, compute(true)), err_exact = nmse(got, compute(false));
  INFO("NMSE against the BF16-operand model " << err_model << ", against float64 " << err_exact);
  CHECK(err_model <= 1e-11);
  CHECK(err_exact <= test::math_mode_bound(MathMode::bf16));
  CHECK(err_exact > 1e-11);
}

bool skipped() {
  if (cpu_has_bf16()) return false;
  WARN("skipped: this CPU lacks AVX512_BF16, so the CPU's bf16 mode is refused (tested below)");
  return true;
}

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t k, int64_t st, int64_t pad) {
  ConvShape s{n, ci, h, w, co, k, k, st, st, pad, pad, 0, 0};
  s.h_out = (h + 2 * pad - k) / st + 1;
  s.w_out = (w + 2 * pad - k) / st + 1;
  return s;
}

}  // namespace

TEST_CASE("CPU bf16 GEMM: transposes, odd shapes, odd k, the k split and accumulation", "[cpu][bf16]") {
  if (skipped()) return;
  struct Case { int64_t m, n, k; };
  // Edges of the 8x32 register block and the 64x256 tile, k = 1, odd k, one tile with a long k
  // (split into chunks), many tiles.
  const Case cases[] = {{1, 1, 1}, {7, 33, 5}, {9, 31, 64}, {65, 257, 129}, {3, 5, 4099}, {70, 40, 5000},
                        {130, 300, 77}};
  for (const Case& c : cases)
    for (int flags = 0; flags < 8; ++flags) {
      const bool ta = flags & 1, tb = flags & 2, accumulate = flags & 4;
      INFO("m " << c.m << " n " << c.n << " k " << c.k << " ta " << ta << " tb " << tb << " acc " << accumulate);
      const std::vector<float> a = random_floats(c.m * c.k, 1 + flags), b = random_floats(c.k * c.n, 2 + flags);
      const std::vector<float> c0 = random_floats(c.m * c.n, 3);
      std::vector<float> got = c0;
      fast::gemm(got.data(), a.data(), b.data(), c.m, c.n, c.k, ta, tb, accumulate, MathMode::bf16);
      check_bf16(got, [&](bool rounded) {
        const std::vector<double> da = widen(a, rounded), db = widen(b, rounded);
        std::vector<double> want(size_t(c.m * c.n));
        for (int64_t i = 0; i < c.m; ++i)
          for (int64_t j = 0; j < c.n; ++j) {
            double s = accumulate ? c0[size_t(i * c.n + j)] : 0.0;
            for (int64_t p = 0; p < c.k; ++p)
              s += da[size_t(ta ? p * c.m + i : i * c.k + p)] * db[size_t(tb ? j * c.k + p : p * c.n + j)];
            want[size_t(i * c.n + j)] = s;
          }
        return want;
      });
    }
}

TEST_CASE("CPU bf16 GEMM: bitwise the same at 1, 2 and 3 threads", "[cpu][bf16]") {
  if (skipped()) return;
  const int before = num_threads();
  for (const auto& [m, n, k] : {std::array<int64_t, 3>{200, 700, 300}, {64, 16, 12544}, {513, 9, 2100}}) {
    const std::vector<float> a = random_floats(m * k, 4), b = random_floats(k * n, 5);
    std::vector<std::vector<float>> results;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      std::vector<float> c(size_t(m * n));
      fast::gemm(c.data(), a.data(), b.data(), m, n, k, false, true, false, MathMode::bf16);
      results.push_back(c);
    }
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * 4) == 0);
    CHECK(std::memcmp(results[0].data(), results[2].data(), results[0].size() * 4) == 0);
  }
  set_num_threads(before);
}

TEST_CASE("CPU bf16 convolutions: forward, input and weight gradients on odd shapes", "[cpu][bf16][conv]") {
  if (skipped()) return;
  const ConvShape shapes[] = {make_conv(3, 5, 11, 9, 7, 4, 2, 1), make_conv(2, 3, 13, 13, 17, 3, 1, 1),
                              make_conv(5, 19, 7, 7, 1, 7, 1, 0) /* dense */, make_conv(4, 33, 8, 8, 65, 4, 2, 1)};
  for (const ConvShape& s : shapes) {
    INFO("n " << s.n << " c_in " << s.c_in << " h " << s.h << " c_out " << s.c_out << " k " << s.kh);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw, ny = s.n * s.c_out * s.h_out * s.w_out;
    const std::vector<float> x = random_floats(nx, 6), w = random_floats(nw, 7), dy = random_floats(ny, 8);
    const std::vector<float> bias_in = random_floats(s.c_in, 9), bias_out = random_floats(s.c_out, 10);
    std::vector<float> y(static_cast<size_t>(ny)), dx(static_cast<size_t>(nx)), dw(static_cast<size_t>(nw));
    fast::conv2d_forward(y.data(), x.data(), w.data(), bias_out.data(), s, MathMode::bf16);
    fast::conv2d_input_grad(dx.data(), dy.data(), w.data(), bias_in.data(), s, MathMode::bf16);
    fast::conv2d_weight_grad(dw.data(), x.data(), dy.data(), s, MathMode::bf16);
    const std::vector<double> bo(bias_out.begin(), bias_out.end()), bi(bias_in.begin(), bias_in.end());
    check_bf16(y, [&](bool r) {
      std::vector<double> out(static_cast<size_t>(ny));
      ref::conv2d_forward(out.data(), widen(x, r).data(), widen(w, r).data(), bo.data(), s);
      return out;
    });
    check_bf16(dx, [&](bool r) {
      std::vector<double> out(static_cast<size_t>(nx));
      ref::conv2d_input_grad(out.data(), widen(dy, r).data(), widen(w, r).data(), bi.data(), s);
      return out;
    });
    check_bf16(dw, [&](bool r) {
      std::vector<double> out(static_cast<size_t>(nw));
      ref::conv2d_weight_grad(out.data(), widen(x, r).data(), widen(dy, r).data(), s);
      return out;
    });
  }
}

TEST_CASE("CPU bf16 mode: the op suite within bf16's bound of fp32, float64 exact", "[cpu][bf16][ops]") {
  if (skipped()) return;
  const double bound = test::math_mode_bound(MathMode::bf16);
  for (const OpInfo& op : op_table()) {
    Generator gen(2024);
    for (const Sample& s : op.samples(DType::f32, gen)) {
      INFO(op.name << " " << s.label);
      const auto exact = test::evaluate(op, s, Device::cpu());
      CpuMathModeGuard mode(MathMode::bf16);
      const auto got = test::evaluate(op, s, Device::cpu());
      REQUIRE(got.size() == exact.size());
      for (size_t i = 0; i < got.size(); ++i) {
        INFO(got[i].first);
        REQUIRE(got[i].second.shape() == exact[i].second.shape());
        CHECK(test::nmse(got[i].second, exact[i].second) <= bound);
      }
    }
  }
  // The mode reaches the kernels (not bit-equal to fp32), and float64 stays exact.
  Generator g(12);
  const Tensor x = randn({2, 8, 9, 9}, g), w = randn({6, 8, 3, 3}, g);
  const Tensor exact = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  const Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64);
  const Tensor exact64 = conv2d(x64, w64, Tensor(), {1, 1}, {1, 1});
  CpuMathModeGuard mode(MathMode::bf16);
  const double err = test::nmse(conv2d(x, w, Tensor(), {1, 1}, {1, 1}), exact);
  CHECK(err > 1e-10);
  CHECK(err <= bound);
  CHECK(conv2d(x64, w64, Tensor(), {1, 1}, {1, 1}).to_vector() == exact64.to_vector());
}

TEST_CASE("CPU bf16 mode on the command line: runs where the CPU has AVX512_BF16, one line where not", "[cpu][bf16][cli]") {
  const test::Run r = test::run_duel("bench step --model dcgan28 --loss ns --batch 2 --steps 1 --warmup 0 --json --math bf16");
  if (cpu_has_bf16()) {
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("\"math\": \"bf16\"") != std::string::npos);
  } else {
    CHECK(r.code != 0);
    CHECK(r.err.find("--math bf16: this CPU lacks AVX512_BF16") != std::string::npos);
  }
  // set_cpu_math_mode checks the same way in the library.
  if (!cpu_has_bf16()) CHECK_THROWS_WITH(set_cpu_math_mode(MathMode::bf16), Catch::Contains("AVX512_BF16"));
  CHECK_THROWS_WITH(set_cpu_math_mode(MathMode::tf32), Catch::Contains("no TF32"));
  CHECK(cpu_math_mode() == MathMode::fp32);
}
