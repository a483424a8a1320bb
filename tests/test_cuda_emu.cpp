// The CUDA kernels' logic on the CPU emulator (kernels/cuda/emulate.h) against the reference
// kernels: the same sources nvcc compiles for the GPU, run thread by thread with real barriers
// and warp shuffles, on odd shapes (partial tiles, strides, padding, split reductions), with every
// output buffer poisoned with NaN first so each element must be written. Agreement is the CUDA
// issue's float32 bound, normalised mean squared error <= 1e-7. This checks indexing, tiling and
// reductions, not device speed or device math-library rounding: tests/cuda/ does that on a GPU.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/random.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/emu_api.h"
#include "kernels/reference/reference.h"
#include "tests/emu_helpers.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace emu = duel::kernels::cuda_emu;
using duel::test::nmse;
using duel::test::poisoned;
using duel::test::random_vec;
using kernels::ConvShape;

namespace {

constexpr double kBound = 1e-7;

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t kh, int64_t kw,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  ConvShape s{n, ci, h, w, co, kh, kw, sh, sw, ph, pw, 0, 0};
  s.h_out = (h + 2 * ph - kh) / sh + 1;
  s.w_out = (w + 2 * pw - kw) / sw + 1;
  return s;
}

}  // namespace

TEST_CASE("emulated CUDA conv family matches the reference on odd shapes", "[cuda-emu][conv]") {
  const ConvShape shapes[] = {
      make_conv(2, 3, 7, 5, 5, 3, 3, 1, 1, 1, 1),     // partial 64x64 tiles everywhere
      make_conv(2, 4, 9, 8, 70, 4, 3, 2, 2, 1, 0),    // c_out over one tile, uneven kernel
      make_conv(2, 6, 14, 14, 9, 4, 4, 2, 2, 1, 1),   // dcgan28's second critic layer, narrow
      make_conv(2, 17, 7, 7, 3, 7, 7, 1, 1, 0, 0),    // the last critic layer: 1x1 output
      make_conv(1, 2, 5, 6, 3, 1, 1, 3, 2, 0, 1),     // 1x1 kernel, stride larger than kernel
  };
  for (const ConvShape& s : shapes) {
    INFO("n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w << " c_out=" << s.c_out
              << " k=" << s.kh << "x" << s.kw << " stride=" << s.stride_h << "," << s.stride_w
              << " pad=" << s.pad_h << "," << s.pad_w);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    const auto x = random_vec(nx, 1), w = random_vec(nw, 2), dy = random_vec(ny, 3);
    const auto b_out = random_vec(s.c_out, 4), b_in = random_vec(s.c_in, 5);

    auto want = poisoned(ny), got = poisoned(ny);
    ref::conv2d_forward(want.data(), x.data(), w.data(), b_out.data(), s);
    std::vector<float> ws_f(size_t(emu::conv2d_forward_workspace(s, kernels::MathMode::fp32)) + 1);
    std::vector<float> ws_d(size_t(emu::conv2d_input_grad_workspace(s, kernels::MathMode::fp32)) + 1);
    emu::conv2d_forward_f32(got.data(), x.data(), w.data(), b_out.data(), s, kernels::MathMode::fp32, ws_f.data(),
                            nullptr);
    CHECK(nmse(got, want) <= kBound);
    emu::conv2d_forward_f32(got.data(), x.data(), w.data(), nullptr, s, kernels::MathMode::fp32, ws_f.data(), nullptr);
    ref::conv2d_forward(want.data(), x.data(), w.data(), static_cast<const float*>(nullptr), s);
    CHECK(nmse(got, want) <= kBound);

    auto want_dx = poisoned(nx), got_dx = poisoned(nx);
    ref::conv2d_input_grad(want_dx.data(), dy.data(), w.data(), b_in.data(), s);
    emu::conv2d_input_grad_f32(got_dx.data(), dy.data(), w.data(), b_in.data(), s, kernels::MathMode::fp32,
                               ws_d.data(), nullptr);
    CHECK(nmse(got_dx, want_dx) <= kBound);

    auto want_dw = poisoned(nw), got_dw = poisoned(nw);
    std::vector<float> workspace(size_t(emu::conv2d_weight_grad_workspace(s, kernels::MathMode::fp32)) + 1,
                                 std::numeric_limits<float>::quiet_NaN());
    ref::conv2d_weight_grad(want_dw.data(), x.data(), dy.data(), s);
    emu::conv2d_weight_grad_f32(got_dw.data(), x.data(), dy.data(), s, kernels::MathMode::fp32, workspace.data(),
                                nullptr);
    CHECK(nmse(got_dw, want_dw) <= kBound);
  }
}

TEST_CASE("emulated CUDA weight gradient splits its reduction and stays deterministic",
          "[cuda-emu][conv]") {
  // n*h_out*w_out = 4*14*14 = 784: more than one split of the K loop.
  const ConvShape s = make_conv(4, 3, 28, 28, 5, 4, 4, 2, 2, 1, 1);
  REQUIRE(emu::conv2d_weight_grad_workspace(s, kernels::MathMode::fp32) > 0);
  const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                ny = s.n * s.c_out * s.h_out * s.w_out;
  const auto x = random_vec(nx, 6), dy = random_vec(ny, 7);
  std::vector<float> workspace(size_t(emu::conv2d_weight_grad_workspace(s, kernels::MathMode::fp32)));
  auto want = poisoned(nw), first = poisoned(nw), second = poisoned(nw);
  ref::conv2d_weight_grad(want.data(), x.data(), dy.data(), s);
  emu::conv2d_weight_grad_f32(first.data(), x.data(), dy.data(), s, kernels::MathMode::fp32, workspace.data(), nullptr);
  emu::conv2d_weight_grad_f32(second.data(), x.data(), dy.data(), s, kernels::MathMode::fp32, workspace.data(), nullptr);
  CHECK(nmse(first, want) <= kBound);
  CHECK(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)) == 0);
}

TEST_CASE("emulated CUDA matmul matches the reference with every transpose", "[cuda-emu]") {
  const int64_t batch = 2, m = 67, n = 5, k = 33;
  const auto a = random_vec(batch * m * k, 8), b = random_vec(batch * k * n, 9);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("ta=" << ta << " tb=" << tb);
      auto want = poisoned(batch * m * n), got = poisoned(batch * m * n);
      ref::matmul(want.data(), a.data(), b.data(), batch, m, n, k, ta, tb);
      std::vector<float> ws(size_t(emu::matmul_workspace(batch, m, n, k, kernels::MathMode::fp32)) + 1);
      emu::matmul_f32(got.data(), a.data(), b.data(), batch, m, n, k, ta, tb, kernels::MathMode::fp32, ws.data(),
                      nullptr);
      CHECK(nmse(got, want) <= kBound);
    }
}

TEST_CASE("emulated CUDA elementwise kernels: vector and scalar paths", "[cuda-emu]") {
  using kernels::UnaryOp;
  using kernels::MaskOp;
  using kernels::BinaryOp;
  // 1031 elements: float4 body and a tail of 3. Offsetting by one float breaks the 16-byte
  // alignment and takes the scalar path.
  const int64_t n = 1031;
  auto x = random_vec(n + 1, 10), y = random_vec(n + 1, 11);
  std::vector<float> pos(x.size());
  for (size_t i = 0; i < x.size(); ++i) pos[i] = std::abs(x[i]) + 0.1f;
  struct Case {
    UnaryOp op;
    double p0, p1;
    bool positive;
  };
  const Case cases[] = {{UnaryOp::neg, 0, 0, false},     {UnaryOp::exp, 0, 0, false},
                        {UnaryOp::log, 0, 0, true},      {UnaryOp::sqrt, 0, 0, true},
                        {UnaryOp::abs, 0, 0, false},     {UnaryOp::sign, 0, 0, false},
                        {UnaryOp::relu, 0, 0, false},    {UnaryOp::tanh, 0, 0, false},
                        {UnaryOp::sigmoid, 0, 0, false}, {UnaryOp::pow, 3, 0, false},
                        {UnaryOp::leaky_relu, 0.2, 0, false}, {UnaryOp::clamp, -0.5, 0.7, false},
                        {UnaryOp::softplus, 2, 3, false}};
  for (int shift : {0, 1}) {
    for (const Case& c : cases) {
      INFO("unary op " << int(c.op) << " shift " << shift);
      const float* in = (c.positive ? pos.data() : x.data()) + shift;
      auto want = poisoned(n + 1), got = poisoned(n + 1);
      ref::unary(c.op, want.data() + shift, in, n, c.p0, c.p1);
      emu::unary_f32(c.op, got.data() + shift, in, n, c.p0, c.p1, nullptr);
      want.erase(want.begin(), want.begin() + shift);
      got.erase(got.begin(), got.begin() + shift);
      want.resize(size_t(n));
      got.resize(size_t(n));
      CHECK(nmse(got, want) <= kBound);
    }
    for (MaskOp op : {MaskOp::leaky_relu, MaskOp::clamp}) {
      auto want = poisoned(n), got = poisoned(n);
      ref::mask_backward(op, want.data(), y.data() + shift, x.data() + shift, n, -0.3, 0.4);
      emu::mask_backward_f32(op, got.data(), y.data() + shift, x.data() + shift, n, -0.3, 0.4,
                             nullptr);
      CHECK(nmse(got, want) <= kBound);
    }
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      kernels::Broadcast bc;
      bc.ndim = 1;
      bc.size[0] = n;
      bc.stride_a[0] = bc.stride_b[0] = 1;
      bc.numel = n;
      auto want = poisoned(n), got = poisoned(n);
      ref::binary(op, want.data(), x.data() + shift, pos.data(), bc);
      emu::binary_f32(op, got.data(), x.data() + shift, pos.data(), bc, nullptr);
      CHECK(nmse(got, want) <= kBound);
    }
  }
  // Broadcasting: a [5, 1, 7] against b [1, 6, 7] into [5, 6, 7].
  kernels::Broadcast bc;
  bc.ndim = 3;
  const int64_t sizes[] = {5, 6, 7}, sa[] = {7, 0, 1}, sb[] = {0, 7, 1};
  for (int d = 0; d < 3; ++d) {
    bc.size[d] = sizes[d];
    bc.stride_a[d] = sa[d];
    bc.stride_b[d] = sb[d];
  }
  bc.numel = 5 * 6 * 7;
  auto want = poisoned(bc.numel), got = poisoned(bc.numel);
  ref::binary(BinaryOp::mul, want.data(), x.data(), y.data(), bc);
  emu::binary_f32(BinaryOp::mul, got.data(), x.data(), y.data(), bc, nullptr);
  CHECK(nmse(got, want) <= kBound);
}

TEST_CASE("emulated CUDA sum: every pattern of reduced dimensions", "[cuda-emu]") {
  const int64_t sizes[] = {3, 5, 2, 7};
  const auto x = random_vec(3 * 5 * 2 * 7, 12);
  for (int mask = 1; mask < 16; ++mask) {
    kernels::Reduction r;
    r.ndim = 4;
    r.numel_in = 3 * 5 * 2 * 7;
    r.numel_out = 1;
    for (int d = 0; d < 4; ++d) {
      r.size[d] = sizes[d];
      r.reduced[d] = (mask >> d) & 1;
      if (!r.reduced[d]) r.numel_out *= sizes[d];
    }
    INFO("reduced mask " << mask);
    auto want = poisoned(r.numel_out), got = poisoned(r.numel_out);
    ref::sum(want.data(), x.data(), r, 0.5);
    emu::sum_f32(got.data(), x.data(), r, 0.5, nullptr);
    CHECK(nmse(got, want) <= kBound);
  }
}

TEST_CASE("emulated CUDA batch norm: statistics, apply and backward", "[cuda-emu][norm]") {
  const int64_t n = 3, c = 5, hw = 37;  // 111 values per channel: partial warps
  const int64_t total = n * c * hw;
  auto x = random_vec(total, 13);
  for (float& v : x) v = 3.0f + 2.0f * v;  // a mean far from zero: the two-pass variance matters
  const auto dy = random_vec(total, 14), w = random_vec(c, 15), b = random_vec(c, 16);
  auto mean_r = poisoned(c), var_r = poisoned(c), is_r = poisoned(c);
  auto mean_g = poisoned(c), var_g = poisoned(c), is_g = poisoned(c);
  ref::batch_norm_stats(mean_r.data(), var_r.data(), is_r.data(), x.data(), n, c, hw, 1e-5);
  emu::batch_norm_stats_f32(mean_g.data(), var_g.data(), is_g.data(), x.data(), n, c, hw, 1e-5,
                            nullptr);
  CHECK(nmse(mean_g, mean_r) <= kBound);
  CHECK(nmse(var_g, var_r) <= kBound);
  CHECK(nmse(is_g, is_r) <= kBound);

  for (bool affine : {true, false}) {
    INFO("affine " << affine);
    const float* wp = affine ? w.data() : nullptr;
    const float* bp = affine ? b.data() : nullptr;
    auto y_r = poisoned(total), y_g = poisoned(total);
    ref::batch_norm_apply(y_r.data(), x.data(), mean_r.data(), is_r.data(), wp, bp, n, c, hw);
    emu::batch_norm_apply_f32(y_g.data(), x.data(), mean_r.data(), is_r.data(), wp, bp, n, c, hw,
                              nullptr);
    CHECK(nmse(y_g, y_r) <= kBound);

    auto dx_r = poisoned(total), dx_g = poisoned(total);
    auto dw_r = poisoned(c), dw_g = poisoned(c), db_r = poisoned(c), db_g = poisoned(c);
    std::vector<float> workspace(size_t(emu::batch_norm_backward_workspace(c)));
    ref::batch_norm_backward(dx_r.data(), dw_r.data(), db_r.data(), dy.data(), x.data(),
                             mean_r.data(), is_r.data(), wp, n, c, hw);
    emu::batch_norm_backward_f32(dx_g.data(), dw_g.data(), db_g.data(), dy.data(), x.data(),
                                 mean_r.data(), is_r.data(), wp, n, c, hw, workspace.data(),
                                 nullptr);
    CHECK(nmse(dx_g, dx_r) <= kBound);
    CHECK(nmse(dw_g, dw_r) <= kBound);
    CHECK(nmse(db_g, db_r) <= kBound);
  }
}

TEST_CASE("emulated CUDA fused losses: every reduction", "[cuda-emu][loss]") {
  using kernels::Reduce;
  const int64_t n = 1500;  // more than one pass of the 1024-thread block
  auto x = random_vec(n, 17), t = random_vec(n, 18);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] *= 30.0f;  // logits up to about +-100: the stable form must not overflow
    t[i] = t[i] > 0 ? 1.0f : 0.0f;
  }
  for (Reduce r : {Reduce::none, Reduce::mean, Reduce::sum}) {
    const int64_t out_n = r == Reduce::none ? n : 1;
    INFO("reduce " << int(r));
    auto want = poisoned(out_n), got = poisoned(out_n);
    ref::bce_with_logits(want.data(), x.data(), t.data(), n, r);
    emu::bce_with_logits_f32(got.data(), x.data(), t.data(), n, r, nullptr);
    CHECK(nmse(got, want) <= kBound);
    auto want_m = poisoned(out_n), got_m = poisoned(out_n);
    ref::mse(want_m.data(), x.data(), t.data(), n, r);
    emu::mse_f32(got_m.data(), x.data(), t.data(), n, r, nullptr);
    CHECK(nmse(got_m, want_m) <= kBound);
  }
}

TEST_CASE("emulated CUDA gradient penalty: norms, mean and derivative on long samples and large batches",
          "[cuda-emu][loss]") {
  // b = 300: the mean's block loops over more samples than it has threads; per = 5000: each
  // norm's block loops, and the derivative covers a sample in three slices, the last partial.
  struct Shape {
    int64_t b, per;
    double target, eps;
  } shapes[] = {{300, 37, 1.0, 1e-12}, {3, 5000, 1.0, 1e-12}, {5, 1, 0.5, 0.1}};
  for (const Shape& sh : shapes) {
    INFO("b " << sh.b << " per " << sh.per);
    const int64_t n = sh.b * sh.per;
    auto x = random_vec(n, 31);
    for (float& v : x) v *= float(1.5 / std::sqrt(double(sh.per)));  // norms about 1.5
    for (int64_t j = 0; j < sh.per; ++j) x[size_t(j)] = 0.0f;        // a zero gradient: norm sqrt(eps)
    auto out_r = poisoned(1), out_g = poisoned(1), norms_r = poisoned(sh.b), norms_g = poisoned(sh.b);
    ref::sample_norm_penalty(out_r.data(), norms_r.data(), x.data(), sh.b, sh.per, sh.target, sh.eps);
    emu::sample_norm_penalty_f32(out_g.data(), norms_g.data(), x.data(), sh.b, sh.per, sh.target, sh.eps, nullptr);
    CHECK(nmse(norms_g, norms_r) <= kBound);
    CHECK(nmse(out_g, out_r) <= kBound);
    const std::vector<float> g{0.75f};
    auto dx_r = poisoned(n), dx_g = poisoned(n);
    ref::sample_norm_penalty_backward(dx_r.data(), g.data(), x.data(), norms_r.data(), sh.b, sh.per, sh.target);
    emu::sample_norm_penalty_backward_f32(dx_g.data(), g.data(), x.data(), norms_r.data(), sh.b, sh.per, sh.target,
                                          nullptr);
    CHECK(nmse(dx_g, dx_r) <= kBound);
  }
}

TEST_CASE("emulated CUDA Adam updates many tensors in one launch like the CPU", "[cuda-emu]") {
  // Sizes that leave partial chunks, an empty tensor, and more tensors than one launch carries.
  std::vector<int64_t> sizes = {5000, 0, 1, 2048, 333};
  for (int i = 0; i < 50; ++i) sizes.push_back(7 + i);
  struct State {
    std::vector<float> p, g, m, v;
  };
  std::vector<State> cpu(sizes.size()), gpu(sizes.size());
  std::vector<int64_t> steps(sizes.size(), 0);
  unsigned long long ticket = 0;
  std::vector<emu::AdamTensor> list;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t n = sizes[i];
    cpu[i] = {random_vec(n, 100 + i), random_vec(n, 200 + i), random_vec(n, 300 + i),
              random_vec(n, 400 + i)};
    for (float& v : cpu[i].v) v = v * v;  // second moments are non-negative
    gpu[i] = cpu[i];
    list.push_back({gpu[i].p.data(), gpu[i].g.data(), gpu[i].m.data(), gpu[i].v.data(), n, &steps[i]});
  }
  // The step counts live with the tensors: the kernel takes step count + 1 (here 1, then 2) and
  // advances every count once (tests/test_cuda_graph.cpp runs the blocks backwards too).
  for (int step = 1; step <= 2; ++step) {
    const double wd = step == 1 ? 0.0 : 0.01;
    INFO("step " << step << ", weight decay " << wd);
    const double bc1 = 1 - std::pow(0.5, step), bc2 = 1 - std::pow(0.999, step);
    for (size_t i = 0; i < sizes.size(); ++i)
      kernels::cpu::adam_step(cpu[i].p.data(), cpu[i].g.data(), cpu[i].m.data(), cpu[i].v.data(),
                              sizes[i], 0.5, 0.999, 1e-8, wd, 2e-4 / bc1, std::sqrt(bc2));
    // The update also leaves each 2048-element chunk's sum of squared gradients (step 2 only).
    std::vector<float> sumsq(size_t(emu::sum_squares_chunks(sizes.data(), int(sizes.size()))), -1.0f);
    emu::adam_step_f32(list.data(), int(list.size()), 2e-4, 0.5, 0.999, 1e-8, wd, &ticket,
                       step == 2 ? sumsq.data() : nullptr, nullptr);
    if (step == 2) {
      double want = 0, got = 0;
      for (const State& st : cpu)
        for (float g : st.g) want += double(g) * g;
      for (float c : sumsq) {
        CHECK(c >= 0.0f);  // every chunk written
        got += c;
      }
      CHECK(std::abs(got - want) <= 1e-6 * want);
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      INFO("tensor " << i << " of size " << sizes[i]);
      CHECK(steps[i] == step);
      CHECK(nmse(gpu[i].p, cpu[i].p) <= kBound);
      CHECK(nmse(gpu[i].m, cpu[i].m) <= kBound);
      CHECK(nmse(gpu[i].v, cpu[i].v) <= kBound);
    }
    CHECK(ticket == 0);
  }
}
