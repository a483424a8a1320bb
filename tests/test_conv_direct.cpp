// The direct convolution of the fast CPU path (kernels/cpu/conv_direct.h), on every instruction
// set this CPU runs (AVX2 and AVX-512 here): the three passes against the reference loops on odd
// shapes (channels that do not fill a lane block, strides and paddings that leave taps or pixels
// out, kernels smaller than the stride, one pixel, many samples), AVX2 against AVX-512 bit for bit,
// the same bits at 1, 2 and 3 threads, and the fast path's choice (automatic, im2col, direct)
// giving the same values. Outputs start as NaN, so an element left unwritten fails.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/config.h"
#include "core/random.h"
#include "kernels/cpu/conv_direct.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm_bf16.h"
#include "kernels/reference/reference.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace fast = duel::kernels::cpu;
using fast::DirectIsa;
using kernels::ConvShape;

namespace {

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  Generator g(seed);
  const std::vector<double> v = randn({n}, g, DType::f64).to_vector();
  return std::vector<float>(v.begin(), v.end());
}

std::vector<double> widen(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

std::vector<float> poisoned(int64_t n) { return std::vector<float>(size_t(n), std::numeric_limits<float>::quiet_NaN()); }

// max |got - want| over max |want|; NaN anywhere gives infinity.
double rel_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double scale = 0, diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) || std::isnan(want[i])) return INFINITY;
    scale = std::max(scale, std::abs(want[i]));
    diff = std::max(diff, std::abs(double(got[i]) - want[i]));
  }
  return diff / (scale + 1e-30);
}

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t kh, int64_t kw, int64_t sh,
                    int64_t sw, int64_t ph, int64_t pw) {
  ConvShape s{n, ci, h, w, co, kh, kw, sh, sw, ph, pw, 0, 0};
  s.h_out = (h + 2 * ph - kh) / sh + 1;
  s.w_out = (w + 2 * pw - kw) / sw + 1;
  return s;
}

std::vector<DirectIsa> isas() {
  std::vector<DirectIsa> out;
  const DirectIsa best = fast::direct_isa_available();
  if (best == DirectIsa::avx2 || best == DirectIsa::avx512) out.push_back(DirectIsa::avx2);
  if (best == DirectIsa::avx512) out.push_back(DirectIsa::avx512);
  return out;
}

const char* isa_name(DirectIsa isa) { return isa == DirectIsa::avx512 ? "avx512" : "avx2"; }

struct Outputs {
  std::vector<float> y, dx, dw;
};

Outputs run_direct(const ConvShape& s, DirectIsa isa, const std::vector<float>& x, const std::vector<float>& w,
                   const std::vector<float>& dy, const float* bias_out, const float* bias_in) {
  Outputs o{poisoned(s.n * s.c_out * s.h_out * s.w_out), poisoned(s.n * s.c_in * s.h * s.w),
            poisoned(s.c_out * s.c_in * s.kh * s.kw)};
  fast::conv2d_direct_forward(o.y.data(), x.data(), w.data(), bias_out, s, isa);
  fast::conv2d_direct_input_grad(o.dx.data(), dy.data(), w.data(), bias_in, s, isa);
  fast::conv2d_direct_weight_grad(o.dw.data(), x.data(), dy.data(), s, isa);
  return o;
}

// The shapes: dcgan's layers at a small batch, and odd ones.
std::vector<ConvShape> shapes() {
  return {
      make_conv(3, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1),  // dcgan28 D.2
      make_conv(2, 128, 16, 16, 256, 4, 4, 2, 2, 1, 1),  // dcgan64 D.5
      make_conv(2, 256, 8, 8, 512, 4, 4, 2, 2, 1, 1),    // dcgan64 D.8 (4x4 output)
      make_conv(2, 128, 14, 14, 256, 4, 4, 2, 2, 1, 1),  // dcgan28 G.3 read as a convolution
      make_conv(5, 1, 28, 28, 64, 4, 4, 2, 2, 1, 1),     // dcgan28 D.0: one input channel
      make_conv(3, 5, 11, 9, 7, 3, 3, 2, 1, 1, 2),       // channels far below a lane block
      make_conv(2, 37, 13, 10, 45, 4, 3, 2, 3, 1, 2),    // channels past one block, mixed strides and pads
      make_conv(2, 19, 9, 9, 33, 1, 1, 2, 2, 0, 0),      // kernel smaller than the stride: pixels with no tap
      make_conv(2, 17, 4, 4, 18, 3, 3, 3, 3, 2, 2),      // stride 3, padding wider than the image's taps
      make_conv(1, 20, 7, 7, 21, 7, 7, 1, 1, 0, 0),      // dense (one output pixel)
      make_conv(2, 16, 5, 6, 16, 3, 3, 1, 1, 2, 1),      // stride 1, wide padding
      make_conv(9, 24, 3, 3, 40, 2, 2, 1, 1, 0, 0),      // tiny planes, many samples
  };
}

}  // namespace

TEST_CASE("direct convolution: the three passes match the reference loops on odd shapes, on every ISA",
          "[kernels][conv][direct]") {
  if (isas().empty()) {
    WARN("this CPU lacks AVX2+FMA: the direct convolution is not used, nothing to test");
    return;
  }
  for (const ConvShape& s : shapes()) {
    INFO("conv n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w << " c_out=" << s.c_out << " k=" << s.kh
                   << "x" << s.kw << " stride=" << s.stride_h << "," << s.stride_w << " pad=" << s.pad_h << ","
                   << s.pad_w);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    const auto x = random_floats(nx, 1), w = random_floats(nw, 2), dy = random_floats(ny, 3);
    const auto bias_out = random_floats(s.c_out, 4), bias_in = random_floats(s.c_in, 5);
    // The reference in float64 on the same float inputs: the error measured is the direct path's.
    const auto xd = widen(x), wd = widen(w), dyd = widen(dy), bod = widen(bias_out), bid = widen(bias_in);
    std::vector<double> y_ref(static_cast<size_t>(ny)), dx_ref(static_cast<size_t>(nx)), dw_ref(static_cast<size_t>(nw));
    ref::conv2d_forward(y_ref.data(), xd.data(), wd.data(), bod.data(), s);
    ref::conv2d_input_grad(dx_ref.data(), dyd.data(), wd.data(), bid.data(), s);
    ref::conv2d_weight_grad(dw_ref.data(), xd.data(), dyd.data(), s);
    std::vector<Outputs> per_isa;
    for (DirectIsa isa : isas()) {
      INFO("isa " << isa_name(isa));
      per_isa.push_back(run_direct(s, isa, x, w, dy, bias_out.data(), bias_in.data()));
      const Outputs& o = per_isa.back();
      // FP32 sums of up to a few thousand products (the weight gradient's in chunks of 2048).
      CHECK(rel_diff(o.y, y_ref) < 2e-6);
      CHECK(rel_diff(o.dx, dx_ref) < 2e-6);
      CHECK(rel_diff(o.dw, dw_ref) < 2e-6);
      // Without a bias the outputs are the sums alone.
      Outputs nb{poisoned(ny), poisoned(nx), {}};
      fast::conv2d_direct_forward(nb.y.data(), x.data(), w.data(), nullptr, s, isa);
      fast::conv2d_direct_input_grad(nb.dx.data(), dy.data(), w.data(), nullptr, s, isa);
      for (int64_t i = 0; i < ny; ++i) y_ref[size_t(i)] -= bod[size_t(i / (s.h_out * s.w_out) % s.c_out)];
      for (int64_t i = 0; i < nx; ++i) dx_ref[size_t(i)] -= bid[size_t(i / (s.h * s.w) % s.c_in)];
      CHECK(rel_diff(nb.y, y_ref) < 2e-6);
      CHECK(rel_diff(nb.dx, dx_ref) < 2e-6);
      for (int64_t i = 0; i < ny; ++i) y_ref[size_t(i)] += bod[size_t(i / (s.h_out * s.w_out) % s.c_out)];
      for (int64_t i = 0; i < nx; ++i) dx_ref[size_t(i)] += bid[size_t(i / (s.h * s.w) % s.c_in)];
    }
    if (per_isa.size() == 2) {
      INFO("AVX2 (16 lanes, 6 rows) against AVX-512 (32 lanes, 8 rows): the same FMAs in the same order");
      CHECK(per_isa[0].y == per_isa[1].y);
      CHECK(per_isa[0].dx == per_isa[1].dx);
      CHECK(per_isa[0].dw == per_isa[1].dw);
    }
  }
}

TEST_CASE("direct convolution: a long weight-gradient sum stays accurate and the same at 1, 2 and 3 threads",
          "[kernels][conv][direct][threads]") {
  if (isas().empty()) return;
  // dcgan64's first critic layer at batch 12: 12288 (sample, pixel) terms per weight-gradient sum.
  const ConvShape s = make_conv(12, 3, 64, 64, 64, 4, 4, 2, 2, 1, 1);
  const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                ny = s.n * s.c_out * s.h_out * s.w_out;
  const auto x = random_floats(nx, 11), w = random_floats(nw, 12), dy = random_floats(ny, 13);
  std::vector<double> dw_ref(static_cast<size_t>(nw));
  ref::conv2d_weight_grad(dw_ref.data(), widen(x).data(), widen(dy).data(), s);
  const int before = num_threads();
  for (DirectIsa isa : isas()) {
    INFO("isa " << isa_name(isa));
    std::vector<Outputs> runs;
    for (int t : {1, 2, 3}) {
      set_num_threads(t);
      runs.push_back(run_direct(s, isa, x, w, dy, nullptr, nullptr));
    }
    set_num_threads(before);
    CHECK(rel_diff(runs[0].dw, dw_ref) < 2e-6);
    for (int i : {1, 2}) {
      CHECK(runs[0].y == runs[size_t(i)].y);
      CHECK(runs[0].dx == runs[size_t(i)].dx);
      CHECK(runs[0].dw == runs[size_t(i)].dw);
    }
  }
}

TEST_CASE("fast path: automatic, im2col and direct convolutions agree; double and bf16 keep im2col",
          "[kernels][conv][direct]") {
  const ConvShape s = make_conv(4, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1);
  const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                ny = s.n * s.c_out * s.h_out * s.w_out;
  const auto x = random_floats(nx, 21), w = random_floats(nw, 22), dy = random_floats(ny, 23);
  const auto bias = random_floats(s.c_out, 24);
  const fast::ConvAlgo before = fast::conv_algo();
  std::vector<Outputs> runs;
  for (fast::ConvAlgo a : {fast::ConvAlgo::automatic, fast::ConvAlgo::im2col, fast::ConvAlgo::direct}) {
    fast::set_conv_algo(a);
    Outputs o{poisoned(ny), poisoned(nx), poisoned(nw)};
    fast::conv2d_forward(o.y.data(), x.data(), w.data(), bias.data(), s);
    fast::conv2d_input_grad(o.dx.data(), dy.data(), w.data(), static_cast<const float*>(nullptr), s);
    fast::conv2d_weight_grad(o.dw.data(), x.data(), dy.data(), s);
    runs.push_back(o);
  }
  fast::set_conv_algo(before);
  const auto close = [](const std::vector<float>& a, const std::vector<float>& b) { return rel_diff(a, widen(b)) < 2e-5; };
  CHECK(close(runs[1].y, runs[2].y));
  CHECK(close(runs[1].dx, runs[2].dx));
  CHECK(close(runs[1].dw, runs[2].dw));
  if (fast::direct_isa_available() != DirectIsa::none) {
    // This layer is one the automatic choice runs directly: bitwise the forced direct path.
    CHECK(fast::conv_direct_pays(s, fast::ConvPass::forward));
    CHECK(runs[0].y == runs[2].y);
    CHECK(runs[0].dx == runs[2].dx);
    CHECK(runs[0].dw == runs[2].dw);
  }
  // A 3-channel input's gradient fills 3 of 16 or 32 lanes: left to im2col.
  CHECK_FALSE(fast::conv_direct_pays(make_conv(2, 3, 8, 8, 64, 4, 4, 2, 2, 1, 1), fast::ConvPass::input_grad));
}

namespace {

std::vector<double> widen_bf16(const std::vector<float>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = fast::round_to_bf16(v[i]);
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

Outputs run_direct_bf16(const ConvShape& s, const std::vector<float>& x, const std::vector<float>& w,
                        const std::vector<float>& dy, const float* bias_out, const float* bias_in) {
  Outputs o{poisoned(s.n * s.c_out * s.h_out * s.w_out), poisoned(s.n * s.c_in * s.h * s.w),
            poisoned(s.c_out * s.c_in * s.kh * s.kw)};
  fast::conv2d_direct_bf16_forward(o.y.data(), x.data(), w.data(), bias_out, s);
  fast::conv2d_direct_bf16_input_grad(o.dx.data(), dy.data(), w.data(), bias_in, s);
  fast::conv2d_direct_bf16_weight_grad(o.dw.data(), x.data(), dy.data(), s);
  return o;
}

}  // namespace

TEST_CASE("direct convolution in bf16: the three passes against the BF16-operand model and float64",
          "[kernels][conv][direct][bf16]") {
  if (!fast::cpu_has_avx512_bf16()) {
    WARN("this CPU lacks AVX512_BF16: --math bf16 is refused on it, nothing to test");
    return;
  }
  for (const ConvShape& s : shapes()) {
    INFO("conv n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w << " c_out=" << s.c_out << " k=" << s.kh
                   << "x" << s.kw << " stride=" << s.stride_h << "," << s.stride_w << " pad=" << s.pad_h << ","
                   << s.pad_w);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    const auto x = random_floats(nx, 31), w = random_floats(nw, 32), dy = random_floats(ny, 33);
    const auto bias_out = random_floats(s.c_out, 34), bias_in = random_floats(s.c_in, 35);
    const Outputs o = run_direct_bf16(s, x, w, dy, bias_out.data(), bias_in.data());
    const auto bo = widen(bias_out), bi = widen(bias_in);
    for (bool rounded : {true, false}) {
      INFO((rounded ? "against float64 on BF16-rounded operands" : "against float64 on the float operands"));
      const auto xd = rounded ? widen_bf16(x) : widen(x), wd = rounded ? widen_bf16(w) : widen(w),
                 dyd = rounded ? widen_bf16(dy) : widen(dy);
      std::vector<double> y_ref(static_cast<size_t>(ny)), dx_ref(static_cast<size_t>(nx)),
          dw_ref(static_cast<size_t>(nw));
      ref::conv2d_forward(y_ref.data(), xd.data(), wd.data(), bo.data(), s);
      ref::conv2d_input_grad(dx_ref.data(), dyd.data(), wd.data(), bi.data(), s);
      ref::conv2d_weight_grad(dw_ref.data(), xd.data(), dyd.data(), s);
      // The model: FP32 sums of exact products (NMSE about 1e-14); float64 itself: BF16's rounding
      // of the operands (NMSE about 1e-5, the bound of docs/cuda.md's bf16 mode is 1e-4).
      const double bound = rounded ? 1e-11 : 1e-4;
      CHECK(nmse(o.y, y_ref) <= bound);
      CHECK(nmse(o.dx, dx_ref) <= bound);
      CHECK(nmse(o.dw, dw_ref) <= bound);
      if (!rounded) CHECK(nmse(o.dw, dw_ref) > 1e-11);  // the operands really were rounded
    }
    const int before = num_threads();
    set_num_threads(3);
    const Outputs o3 = run_direct_bf16(s, x, w, dy, bias_out.data(), bias_in.data());
    set_num_threads(before);
    CHECK(o.y == o3.y);
    CHECK(o.dx == o3.dx);
    CHECK(o.dw == o3.dw);
  }
}

TEST_CASE("direct convolution in bf16: an infinite input reaches exactly the outputs that read it",
          "[kernels][conv][direct][bf16]") {
  if (!fast::cpu_has_avx512_bf16()) return;
  // Odd kernel widths and output widths: the pairs of BF16 operands have lone members, whose
  // partner half is masked; an Inf next to such a member must not leak into it (0 * Inf = NaN).
  for (const ConvShape& s : {make_conv(2, 17, 9, 9, 19, 3, 3, 1, 1, 1, 1), make_conv(2, 17, 11, 11, 19, 3, 5, 2, 2, 1, 2),
                             make_conv(1, 16, 7, 7, 16, 1, 3, 1, 1, 0, 1)}) {
    INFO("conv c_in=" << s.c_in << " " << s.h << "x" << s.w << " k=" << s.kh << "x" << s.kw << " stride="
                      << s.stride_h << " pad=" << s.pad_h << "," << s.pad_w);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    // An Inf in x reaches y and dw; an Inf in dy reaches dx. (dy's Inf is not put through the
    // weight gradient: there it meets the zero padding of x, 0 * Inf, which the reference loops
    // skip and the fast paths, im2col as well, multiply out.)
    for (int64_t at : {int64_t(0), int64_t(3), int64_t(s.w - 1), int64_t(s.h * s.w / 2)}) {
      auto x = random_floats(nx, 41), dy = random_floats(ny, 43);
      const auto w = random_floats(nw, 42);
      const auto same_finite = [](const std::vector<float>& got, const std::vector<double>& want) {
        for (size_t i = 0; i < got.size(); ++i)
          if (std::isfinite(got[i]) != std::isfinite(want[i])) return false;
        return true;
      };
      INFO("Inf at element " << at);
      std::vector<double> y_ref(static_cast<size_t>(ny)), dx_ref(static_cast<size_t>(nx)),
          dw_ref(static_cast<size_t>(nw));
      {
        auto xi = x;
        xi[size_t(at)] = INFINITY;
        const Outputs o = run_direct_bf16(s, xi, w, dy, nullptr, nullptr);
        const auto xd = widen_bf16(xi), wd = widen_bf16(w), dyd = widen_bf16(dy);
        ref::conv2d_forward(y_ref.data(), xd.data(), wd.data(), static_cast<const double*>(nullptr), s);
        ref::conv2d_weight_grad(dw_ref.data(), xd.data(), dyd.data(), s);
        CHECK(same_finite(o.y, y_ref));
        CHECK(same_finite(o.dw, dw_ref));
        CHECK(std::count_if(o.y.begin(), o.y.end(), [](float v) { return !std::isfinite(v); }) > 0);
      }
      {
        auto dyi = dy;
        dyi[size_t(at % (s.h_out * s.w_out))] = INFINITY;
        const Outputs o = run_direct_bf16(s, x, w, dyi, nullptr, nullptr);
        ref::conv2d_input_grad(dx_ref.data(), widen_bf16(dyi).data(), widen_bf16(w).data(),
                               static_cast<const double*>(nullptr), s);
        CHECK(same_finite(o.dx, dx_ref));
      }
    }
  }
}
