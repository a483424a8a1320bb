// The emulator's tensor-core and cp.async models (kernels/cuda/emulate_mma.h) and the GEMM kernels
// that use them, in every math mode and on every tile shape, against float64 references:
// * mma.sync: fragments placed by the PTX ISA's layout tables as written here, exact on small
//   integers, and within FP32 accumulation of the exact product of the rounded operands on random
//   values; a swapped fragment is caught;
// * cp.async: nothing lands before its group is waited for, and zero-fill;
// * the GEMM family (matmul, conv2d, its input and weight gradients) on odd shapes with every tile
//   and split: (1) against the float64 product of the operands rounded as the mode rounds them,
//   at FP32 accumulation accuracy (this pins the rounding itself), and (2) against the exact
//   float64 result within the mode's documented bound (docs/cuda.md).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "kernels/cuda/emu_api.h"
#include "kernels/cuda/emulate_mma.h"
#include "kernels/reference/reference.h"
#include "tests/emu_helpers.h"
#include "tests/mma_layout.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace kemu = duel::kernels::cuda_emu;
using duel::test::nmse;
using duel::test::poisoned;
using duel::test::random_vec;
using kernels::ConvShape;
using kernels::MathMode;

namespace mma = duel::test::mma;

namespace {

std::vector<float> run_probe(MathMode mode, const mma::Fragments& f) {
  std::vector<float> d(128, NAN);
  kemu::mma_probe(mode, d.data(), f.a.data(), f.b.data(), f.c.data(), nullptr);
  return d;
}

}  // namespace

// The same checks as the hardware probe (tests/cuda/test_mma_probe.cpp), here on the model.
TEST_CASE("emulator: mma.sync TF32 and BF16 compute A B + C with the PTX fragment layouts", "[cuda-emu][mma]") {
  for (MathMode m : {MathMode::tf32, MathMode::bf16})
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      INFO((m == MathMode::tf32 ? "tf32" : "bf16") << " seed " << seed);
      const mma::Problem ints = mma::make_problem(m, true, seed), real = mma::make_problem(m, false, seed);
      CHECK(mma::worst_error(ints, m, run_probe(m, mma::fragments(ints, m))) == 0);
      CHECK(mma::worst_error(real, m, run_probe(m, mma::fragments(real, m))) <= 1e-6);
    }
}

TEST_CASE("emulator: an mma.sync with a swapped fragment register computes a different product",
          "[cuda-emu][mma][mutation]") {
  for (MathMode m : {MathMode::tf32, MathMode::bf16}) {
    const mma::Problem p = mma::make_problem(m, true, 7);
    mma::Fragments f = mma::fragments(p, m);
    for (int l = 0; l < 32; ++l) std::swap(f.a[size_t(l * 4 + 1)], f.a[size_t(l * 4 + 2)]);  // a1 <-> a2
    CHECK(mma::worst_error(p, m, run_probe(m, f)) > 0.01);
    mma::Fragments g = mma::fragments(p, m);
    for (int l = 0; l < 32; ++l) std::swap(g.b[size_t(l * 2)], g.b[size_t(l * 2 + 1)]);  // b0 <-> b1
    CHECK(mma::worst_error(p, m, run_probe(m, g)) > 0.01);
  }
}

TEST_CASE("emulator: TF32 and BF16 conversions round as cvt.rna.tf32 and cvt.rn.bf16", "[cuda-emu][mma]") {
  // 1 + 2^-11 is a tie for TF32 (10 mantissa bits): away from zero. 1 + 2^-8 for BF16: to even.
  CHECK(duel::emu::tf32_operand(duel::emu::cvt_rna_tf32(1.0f + std::ldexp(1.0f, -11))) == 1.0 + std::ldexp(1.0, -10));
  CHECK(duel::emu::tf32_operand(duel::emu::cvt_rna_tf32(-(1.0f + std::ldexp(1.0f, -11)))) == -(1.0 + std::ldexp(1.0, -10)));
  CHECK(duel::emu::tf32_operand(duel::emu::cvt_rna_tf32(1.0f + std::ldexp(1.0f, -12))) == 1.0);
  CHECK(duel::emu::bf16_operand(duel::emu::cvt_rn_bf16(1.0f + std::ldexp(1.0f, -8))) == 1.0);
  CHECK(duel::emu::bf16_operand(duel::emu::cvt_rn_bf16(1.0f + 3 * std::ldexp(1.0f, -8))) == 1.0 + std::ldexp(1.0, -6));
  CHECK(std::isinf(duel::emu::tf32_operand(duel::emu::cvt_rna_tf32(INFINITY))));
  CHECK(std::isnan(duel::emu::bf16_operand(duel::emu::cvt_rn_bf16(NAN))));
}

// ---- cp.async

namespace {

constexpr int kT = 64;

// Each thread copies in[(t + shift) % kT] into slot t; then reads slot (t + 1) % kT either
// before waiting, after waiting without a barrier, or after the wait and the barrier.
__global__ void cp_async_kernel(float* out, const float* in, int mode) {
  DUEL_EMU_DYNAMIC_SHARED(float, tile);
  const int t = int(threadIdx.x);
  duel::emu::cp_async(&tile[t], &in[t], 4, t % 5 == 0 ? 0 : 4);  // every fifth zero-filled
  duel::emu::cp_async_commit_group();
  if (mode >= 1) duel::emu::cp_async_wait_group(0);
  if (mode >= 2) __syncthreads();
  out[t] = tile[(t + 1) % kT];
}

}  // namespace

TEST_CASE("emulator: cp.async lands only when its group is waited for, zero-filling", "[cuda-emu][cp-async]") {
  std::vector<float> in(kT);
  for (int i = 0; i < kT; ++i) in[size_t(i)] = float(i + 1);
  auto run = [&](int mode) {
    std::vector<float> out(kT, -1.0f);
    duel::emu::launch_shared(cp_async_kernel, dim3(1), dim3(kT), kT * sizeof(float), out.data(),
                             static_cast<const float*>(in.data()), mode);
    int right = 0;
    for (int t = 0; t < kT; ++t) {
      const int src = (t + 1) % kT;
      right += out[size_t(t)] == (src % 5 == 0 ? 0.0f : in[size_t(src)]);
    }
    return right;
  };
  CHECK(run(2) == kT);  // wait, then barrier: every value, zeros where src_size was 0
  // No wait: a thread's copies land when it exits at the latest, so only the slot of a thread that
  // has already finished (thread 0, read by the last thread) holds its value.
  CHECK(run(0) <= 1);
  CHECK(run(1) <= 1);  // wait without the barrier: the next thread's copy is still in flight
}

// ---- the GEMM family in every mode and tile

namespace {

constexpr MathMode kModes[] = {MathMode::fp32, MathMode::tf32, MathMode::bf16};

const char* name(MathMode m) { return m == MathMode::tf32 ? "tf32" : m == MathMode::bf16 ? "bf16" : "fp32"; }

// The mode's documented bound on NMSE against float64 (docs/cuda.md): relative RMS error
// 3.2e-4 (fp32, the CUDA suite's bound), 1e-3 (tf32), 1e-2 (bf16).
double mode_bound(MathMode m) { return m == MathMode::fp32 ? 1e-7 : m == MathMode::tf32 ? 1e-6 : 1e-4; }

std::vector<double> to_double(const std::vector<float>& v, MathMode round_as) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (round_as == MathMode::tf32)
      out[i] = duel::emu::tf32_operand(duel::emu::cvt_rna_tf32(v[i]));
    else if (round_as == MathMode::bf16)
      out[i] = duel::emu::bf16_operand(duel::emu::cvt_rn_bf16(v[i]));
    else
      out[i] = v[i];
  }
  return out;
}

double nmse_d(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return den > 0 ? num / den : num;
}

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t k, int64_t st, int64_t pad) {
  ConvShape s{n, ci, h, w, co, k, k, st, st, pad, pad, 0, 0};
  s.h_out = (h + 2 * pad - k) / st + 1;
  s.w_out = (w + 2 * pad - k) / st + 1;
  return s;
}

// Checks one kernel result against both references. `compute(rounding)` gives the float64
// result of the reference kernel on the inputs rounded as `rounding` says.
void check_mode(const std::vector<float>& got, MathMode mode, const std::function<std::vector<double>(MathMode)>& compute) {
  const std::vector<double> exact = compute(MathMode::fp32);
  const std::vector<double> model = compute(mode);
  const double err_model = nmse_d(got, model), err_exact = nmse_d(got, exact);
  INFO("NMSE against the rounded-operand model " << err_model << ", against float64 " << err_exact);
  CHECK(err_model <= 1e-11);             // FP32 accumulation of exactly these products
  CHECK(err_exact <= mode_bound(mode));  // the mode's documented bound
  if (mode != MathMode::fp32) CHECK(err_exact > 1e-11);  // the mode really rounded its operands
}

struct Override {
  Override(int tile, int splits) { kemu::set_gemm_override(tile, splits); }
  ~Override() { kemu::set_gemm_override(-1, -1); }
};

}  // namespace

TEST_CASE("emulated GEMM kernels: the conv family in every math mode, tile and split", "[cuda-emu][conv][mma]") {
  const ConvShape shapes[] = {
      make_conv(2, 3, 9, 7, 21, 4, 2, 1),   // 3 input channels, odd spatial sizes, stride 2
      make_conv(1, 20, 6, 6, 3, 3, 1, 1),   // M = 3 (the small tile), kernel 3x3, stride 1
      make_conv(2, 9, 5, 5, 17, 5, 1, 0),   // 5x5 kernel: phases are trivial, K not a multiple of 8
      make_conv(2, 5, 7, 7, 6, 3, 3, 1),    // stride larger than half the kernel: empty phases
  };
  const int tiles[] = {-1, 0, 1, 2};
  for (const ConvShape& s : shapes)
    for (MathMode mode : kModes)
      for (int tile : tiles)
        for (int splits : {-1, 3}) {
          INFO(name(mode) << " tile " << tile << " splits " << splits << " n=" << s.n << " c_in=" << s.c_in << " "
                          << s.h << "x" << s.w << " c_out=" << s.c_out << " k=" << s.kh << " stride=" << s.stride_h
                          << " pad=" << s.pad_h);
          Override o(tile, splits);
          const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                        ny = s.n * s.c_out * s.h_out * s.w_out;
          const auto x = random_vec(nx, 1), w = random_vec(nw, 2), dy = random_vec(ny, 3);
          const auto b_out = random_vec(s.c_out, 4), b_in = random_vec(s.c_in, 5);
          const std::vector<double> bo(b_out.begin(), b_out.end()), bi(b_in.begin(), b_in.end());
          {
            auto got = poisoned(ny);
            std::vector<float> ws(size_t(kemu::conv2d_forward_workspace(s, mode)) + 1, NAN);
            kemu::conv2d_forward_f32(got.data(), x.data(), w.data(), b_out.data(), s, mode, ws.data(), nullptr);
            check_mode(got, mode, [&](MathMode r) {
              std::vector<double> y(static_cast<size_t>(ny));
              ref::conv2d_forward(y.data(), to_double(x, r).data(), to_double(w, r).data(), bo.data(), s);
              return y;
            });
          }
          {
            auto got = poisoned(nx);
            std::vector<float> ws(size_t(kemu::conv2d_input_grad_workspace(s, mode)) + 1, NAN);
            kemu::conv2d_input_grad_f32(got.data(), dy.data(), w.data(), b_in.data(), s, mode, ws.data(), nullptr);
            check_mode(got, mode, [&](MathMode r) {
              std::vector<double> dx(static_cast<size_t>(nx));
              ref::conv2d_input_grad(dx.data(), to_double(dy, r).data(), to_double(w, r).data(), bi.data(), s);
              return dx;
            });
          }
          {
            auto got = poisoned(nw);
            std::vector<float> ws(size_t(kemu::conv2d_weight_grad_workspace(s, mode)) + 1, NAN);
            kemu::conv2d_weight_grad_f32(got.data(), x.data(), dy.data(), s, mode, ws.data(), nullptr);
            check_mode(got, mode, [&](MathMode r) {
              std::vector<double> dw(static_cast<size_t>(nw));
              ref::conv2d_weight_grad(dw.data(), to_double(x, r).data(), to_double(dy, r).data(), s);
              return dw;
            });
          }
        }
}

TEST_CASE("emulated GEMM kernels: matmul in every math mode, transpose, tile and split", "[cuda-emu][mma]") {
  const int64_t batch = 2, m = 133, n = 37, k = 41;  // over one 128-row tile; K not a multiple of 8
  const auto a = random_vec(batch * m * k, 8), b = random_vec(batch * k * n, 9);
  for (MathMode mode : kModes)
    for (int tile : {0, 1, 2})
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          const int splits = tile == 2 ? 2 : -1;
          INFO(name(mode) << " tile " << tile << " ta=" << ta << " tb=" << tb);
          Override o(tile, splits);
          auto got = poisoned(batch * m * n);
          std::vector<float> ws(size_t(kemu::matmul_workspace(batch, m, n, k, mode)) + 1, NAN);
          kemu::matmul_f32(got.data(), a.data(), b.data(), batch, m, n, k, ta, tb, mode, ws.data(), nullptr);
          check_mode(got, mode, [&](MathMode r) {
            std::vector<double> c(static_cast<size_t>(batch * m * n));
            ref::matmul(c.data(), to_double(a, r).data(), to_double(b, r).data(), batch, m, n, k, ta, tb);
            return c;
          });
        }
}

TEST_CASE("emulated GEMM kernels: the critic's last layer (M = 1, long K) splits K deterministically",
          "[cuda-emu][conv]") {
  const ConvShape s = make_conv(3, 64, 4, 4, 1, 4, 1, 0);  // dcgan64 D.11 at a small width: K = 1024
  REQUIRE(kemu::conv2d_forward_workspace(s, MathMode::fp32) > 0);  // the plan splits K
  const auto x = random_vec(s.n * s.c_in * 16, 10), w = random_vec(s.c_in * 16, 11);
  std::vector<float> ws(size_t(kemu::conv2d_forward_workspace(s, MathMode::tf32)) + 1);
  auto first = poisoned(s.n), second = poisoned(s.n);
  kemu::conv2d_forward_f32(first.data(), x.data(), w.data(), nullptr, s, MathMode::tf32, ws.data(), nullptr);
  kemu::conv2d_forward_f32(second.data(), x.data(), w.data(), nullptr, s, MathMode::tf32, ws.data(), nullptr);
  CHECK(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)) == 0);
  check_mode(first, MathMode::tf32, [&](MathMode r) {
    std::vector<double> y(static_cast<size_t>(s.n));
    ref::conv2d_forward(y.data(), to_double(x, r).data(), to_double(w, r).data(), static_cast<const double*>(nullptr), s);
    return y;
  });
}

// Not run by CI (hidden tag): random conv shapes through every kernel in every mode with the
// plan's own choice of tile and split. `duel_tests "[fuzz]"` runs it.
TEST_CASE("emulated GEMM kernels: random conv shapes", "[.][fuzz]") {
  uint64_t state = 12345;
  auto next = [&](int64_t lo, int64_t hi) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + int64_t((state >> 33) % uint64_t(hi - lo + 1));
  };
  for (int trial = 0; trial < 150; ++trial) {
    const int64_t k = next(1, 5), st = next(1, 3), pad = next(0, k - 1);
    const int64_t h = next(std::max<int64_t>(1, k - 2 * pad), 11);
    const ConvShape s = make_conv(next(1, 3), next(1, 20), h, next(1, 12) + (next(0, 1) ? 0 : 1), next(1, 40), k, st, pad);
    if (s.h_out < 1 || s.w_out < 1) continue;
    for (MathMode mode : kModes) {
      INFO("trial " << trial << " " << name(mode) << " n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w
                    << " c_out=" << s.c_out << " k=" << s.kh << " stride=" << s.stride_h << " pad=" << s.pad_h);
      const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                    ny = s.n * s.c_out * s.h_out * s.w_out;
      const auto x = random_vec(nx, 1 + trial), w = random_vec(nw, 2 + trial), dy = random_vec(ny, 3 + trial);
      auto got = poisoned(ny);
      std::vector<float> ws(size_t(kemu::conv2d_forward_workspace(s, mode)) + 1);
      kemu::conv2d_forward_f32(got.data(), x.data(), w.data(), nullptr, s, mode, ws.data(), nullptr);
      check_mode(got, mode, [&](MathMode r) {
        std::vector<double> y(static_cast<size_t>(ny));
        ref::conv2d_forward(y.data(), to_double(x, r).data(), to_double(w, r).data(), static_cast<const double*>(nullptr), s);
        return y;
      });
      auto gdx = poisoned(nx);
      std::vector<float> ws2(size_t(kemu::conv2d_input_grad_workspace(s, mode)) + 1);
      kemu::conv2d_input_grad_f32(gdx.data(), dy.data(), w.data(), nullptr, s, mode, ws2.data(), nullptr);
      check_mode(gdx, mode, [&](MathMode r) {
        std::vector<double> dx(static_cast<size_t>(nx));
        ref::conv2d_input_grad(dx.data(), to_double(dy, r).data(), to_double(w, r).data(), static_cast<const double*>(nullptr), s);
        return dx;
      });
      auto gdw = poisoned(nw);
      std::vector<float> ws3(size_t(kemu::conv2d_weight_grad_workspace(s, mode)) + 1);
      kemu::conv2d_weight_grad_f32(gdw.data(), x.data(), dy.data(), s, mode, ws3.data(), nullptr);
      check_mode(gdw, mode, [&](MathMode r) {
        std::vector<double> dw(static_cast<size_t>(nw));
        ref::conv2d_weight_grad(dw.data(), to_double(x, r).data(), to_double(dy, r).data(), s);
        return dw;
      });
    }
  }
}
