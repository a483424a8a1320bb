// The fused epilogues of the convolution kernels (kernels/params.h ConvEpilogue) on the emulator:
// bias, the pre-activation store, ReLU / LeakyReLU / Tanh, and the per-channel statistics that
// batch norm then combines instead of reading the output twice. Each against the reference
// kernels run one after another (conv, then the activation, then batch-norm statistics), on
// every tile, for conv2d and its input gradient (conv_transpose2d, all stride phases).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda/emu_api.h"
#include "kernels/reference/reference.h"
#include "tests/emu_helpers.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace kemu = duel::kernels::cuda_emu;
using duel::test::nmse;
using duel::test::poisoned;
using duel::test::random_vec;
using kernels::Activation;
using kernels::ConvEpilogue;
using kernels::ConvShape;
using kernels::MathMode;

namespace {

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t co, int64_t k, int64_t st, int64_t pad) {
  ConvShape s{n, ci, h, h, co, k, k, st, st, pad, pad, 0, 0};
  s.h_out = s.w_out = (h + 2 * pad - k) / st + 1;
  return s;
}

struct Override {
  Override(int tile, int splits) { kemu::set_gemm_override(tile, splits); }
  ~Override() { kemu::set_gemm_override(-1, -1); }
};

void activate(std::vector<float>& v, Activation a, float slope) {
  const kernels::UnaryOp op = a == Activation::relu ? kernels::UnaryOp::relu
                              : a == Activation::leaky_relu ? kernels::UnaryOp::leaky_relu
                                                            : kernels::UnaryOp::tanh;
  if (a == Activation::none) return;
  std::vector<float> out(v.size());
  ref::unary(op, out.data(), v.data(), int64_t(v.size()), slope, 0.0);
  v = out;
}

}  // namespace

TEST_CASE("emulated conv epilogues: bias, activation, pre-activation and batch-norm statistics",
          "[cuda-emu][conv][fused]") {
  // conv2d forward of a critic layer, and the input gradient (a generator layer) with stride 2.
  const ConvShape s = make_conv(2, 5, 9, 19, 4, 2, 1);
  const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                ny = s.n * s.c_out * s.h_out * s.w_out;
  const auto x = random_vec(nx, 1), w = random_vec(nw, 2), dy = random_vec(ny, 3);
  const auto b_out = random_vec(s.c_out, 4), b_in = random_vec(s.c_in, 5);
  for (bool transposed : {false, true})
    for (int tile : {0, 1, 2})
      for (Activation act : {Activation::none, Activation::relu, Activation::leaky_relu, Activation::tanh})
        for (MathMode mode : {MathMode::fp32, MathMode::tf32}) {
          if (mode == MathMode::tf32 && act != Activation::none) continue;  // the epilogue is mode-independent
          INFO((transposed ? "input grad" : "forward") << " tile " << tile << " act " << int(act) << " mode " << int(mode));
          Override o(tile, 1);
          const int64_t n_out = transposed ? nx : ny, channels = transposed ? s.c_in : s.c_out;
          const int64_t hw = transposed ? s.h * s.w : s.h_out * s.w_out;
          // The unfused reference: the plain kernel, then the activation, then the statistics.
          std::vector<float> pre_want = poisoned(n_out);
          std::vector<float> ws(size_t(transposed ? kemu::conv2d_input_grad_workspace(s, mode)
                                                  : kemu::conv2d_forward_workspace(s, mode)) + 1);
          if (transposed)
            kemu::conv2d_input_grad_f32(pre_want.data(), dy.data(), w.data(), b_in.data(), s, mode, ws.data(), nullptr);
          else
            kemu::conv2d_forward_f32(pre_want.data(), x.data(), w.data(), b_out.data(), s, mode, ws.data(), nullptr);
          std::vector<float> want = pre_want;
          activate(want, act, 0.2f);
          std::vector<float> mean_r = poisoned(channels), var_r = poisoned(channels), is_r = poisoned(channels);
          ref::batch_norm_stats(mean_r.data(), var_r.data(), is_r.data(), want.data(), s.n, channels, hw, 1e-5);

          const int64_t tiles = transposed ? kemu::conv2d_input_grad_stats_tiles(s, mode)
                                           : kemu::conv2d_forward_stats_tiles(s, mode);
          REQUIRE(tiles > 0);
          std::vector<float> got = poisoned(n_out), pre = poisoned(n_out),
                             stats = poisoned(channels * tiles * 3), stats2 = poisoned(channels * tiles * 3);
          for (std::vector<float>* st : {&stats, &stats2}) {
            ConvEpilogue ep{act, 0.2f, pre.data(), st->data()};
            if (transposed)
              kemu::conv2d_input_grad_fused_f32(got.data(), dy.data(), w.data(), b_in.data(), s, ep, mode, ws.data(), nullptr);
            else
              kemu::conv2d_forward_fused_f32(got.data(), x.data(), w.data(), b_out.data(), s, ep, mode, ws.data(), nullptr);
          }
          CHECK(nmse(pre, pre_want) == 0);  // the same GEMM: bit for bit
          CHECK(nmse(got, want) <= 1e-12);
          CHECK(std::memcmp(stats.data(), stats2.data(), stats.size() * 4) == 0);  // deterministic
          std::vector<float> mean = poisoned(channels), var = poisoned(channels), is = poisoned(channels);
          kemu::batch_norm_stats_from_partials_f32(mean.data(), var.data(), is.data(), stats.data(), tiles, channels,
                                                   1e-5, nullptr);
          CHECK(nmse(mean, mean_r) <= 1e-10);
          CHECK(nmse(var, var_r) <= 1e-10);
          CHECK(nmse(is, is_r) <= 1e-10);
        }
}

TEST_CASE("emulated conv epilogues: no fused statistics where the plan splits K or rows are not channels",
          "[cuda-emu][conv][fused]") {
  const ConvShape s = make_conv(2, 64, 4, 1, 4, 1, 0);  // a critic's last layer: M = 1, K split
  CHECK(kemu::conv2d_forward_stats_tiles(s, MathMode::fp32) == 0);
  const ConvShape g0{2, 7, 4, 4, 9, 4, 4, 1, 1, 0, 0, 1, 1};  // generator's first layer: the 1x1 GEMM
  CHECK(kemu::conv2d_input_grad_stats_tiles(g0, MathMode::fp32) == 0);
  {
    Override o(-1, 3);
    CHECK(kemu::conv2d_forward_stats_tiles(make_conv(2, 5, 9, 19, 4, 2, 1), MathMode::fp32) == 0);
  }
}
