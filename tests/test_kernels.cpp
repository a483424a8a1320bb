// Fast CPU kernels against the reference kernels, called directly on larger odd shapes than the
// op samples (several im2col groups, rows that do not divide a vector width, ...). Output
// buffers start as NaN so an element that is not written fails the comparison.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/config.h"
#include "core/random.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm.h"
#include "kernels/reference/reference.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace fast = duel::kernels::cpu;
using kernels::ConvShape;

namespace {

template <class T>
std::vector<T> random_vec(int64_t n, uint64_t seed) {
  Generator g(seed);
  const std::vector<double> v = randn({n}, g, DType::f64).to_vector();
  return std::vector<T>(v.begin(), v.end());
}

template <class T>
std::vector<T> poisoned(int64_t n) {
  return std::vector<T>(size_t(n), std::numeric_limits<T>::quiet_NaN());
}

// max |a-b| relative to max |b|; NaN anywhere gives infinity.
template <class T>
double rel_diff(const std::vector<T>& a, const std::vector<T>& b) {
  double scale = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(double(a[i])) || std::isnan(double(b[i]))) return INFINITY;
    scale = std::max(scale, std::abs(double(b[i])));
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
  }
  return diff / (scale + 1e-30);
}

template <class T>
double tol() { return sizeof(T) == 8 ? 1e-12 : 2e-5; }

ConvShape make_conv(int64_t n, int64_t ci, int64_t h, int64_t w, int64_t co, int64_t kh, int64_t kw,
                    int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  ConvShape s{n, ci, h, w, co, kh, kw, sh, sw, ph, pw, 0, 0};
  s.h_out = (h + 2 * ph - kh) / sh + 1;
  s.w_out = (w + 2 * pw - kw) / sw + 1;
  return s;
}

template <class T>
void check_conv(const ConvShape& s) {
  INFO("conv n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w << " c_out=" << s.c_out
                 << " k=" << s.kh << "x" << s.kw << " stride=" << s.stride_h << "," << s.stride_w
                 << " pad=" << s.pad_h << "," << s.pad_w);
  const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                ny = s.n * s.c_out * s.h_out * s.w_out;
  const auto x = random_vec<T>(nx, 1), w = random_vec<T>(nw, 2), dy = random_vec<T>(ny, 3);
  const auto bias_out = random_vec<T>(s.c_out, 4), bias_in = random_vec<T>(s.c_in, 5);

  auto y_ref = poisoned<T>(ny), y_fast = poisoned<T>(ny);
  ref::conv2d_forward(y_ref.data(), x.data(), w.data(), bias_out.data(), s);
  fast::conv2d_forward(y_fast.data(), x.data(), w.data(), bias_out.data(), s);
  CHECK(rel_diff(y_fast, y_ref) < tol<T>());

  auto dx_ref = poisoned<T>(nx), dx_fast = poisoned<T>(nx);
  ref::conv2d_input_grad(dx_ref.data(), dy.data(), w.data(), bias_in.data(), s);
  fast::conv2d_input_grad(dx_fast.data(), dy.data(), w.data(), bias_in.data(), s);
  CHECK(rel_diff(dx_fast, dx_ref) < tol<T>());

  auto dw_ref = poisoned<T>(nw), dw_fast = poisoned<T>(nw);
  ref::conv2d_weight_grad(dw_ref.data(), x.data(), dy.data(), s);
  fast::conv2d_weight_grad(dw_fast.data(), x.data(), dy.data(), s);
  CHECK(rel_diff(dw_fast, dw_ref) < tol<T>());
}

}  // namespace

TEMPLATE_TEST_CASE("conv kernels: fast path matches reference on odd shapes", "[kernels][conv]", float, double) {
  check_conv<TestType>(make_conv(3, 5, 11, 9, 7, 3, 3, 2, 1, 1, 2));
  check_conv<TestType>(make_conv(2, 3, 7, 7, 4, 7, 7, 1, 1, 0, 0));    // kernel covers the image
  check_conv<TestType>(make_conv(5, 1, 13, 10, 3, 4, 4, 2, 2, 1, 1));  // dcgan-like stride 2
  check_conv<TestType>(make_conv(1, 2, 5, 6, 3, 1, 1, 1, 1, 0, 0));    // 1x1
  check_conv<TestType>(make_conv(2, 3, 4, 4, 2, 3, 3, 3, 3, 2, 2));    // stride 3, wide padding
  // Enough samples that the im2col buffer is split into several groups (8M-element budget).
  check_conv<TestType>(make_conv(61, 16, 32, 32, 3, 3, 3, 1, 1, 1, 1));
}

TEMPLATE_TEST_CASE("matmul kernel: fast path matches reference with every transpose", "[kernels]", float, double) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int64_t batch = 3, m = 37, n = 29, k = 53;
      const auto a = random_vec<TestType>(batch * m * k, 6), b = random_vec<TestType>(batch * k * n, 7);
      auto c_ref = poisoned<TestType>(batch * m * n), c_fast = poisoned<TestType>(batch * m * n);
      ref::matmul(c_ref.data(), a.data(), b.data(), batch, m, n, k, ta, tb);
      fast::matmul(c_fast.data(), a.data(), b.data(), batch, m, n, k, ta, tb);
      INFO("ta=" << ta << " tb=" << tb);
      CHECK(rel_diff(c_fast, c_ref) < tol<TestType>());
    }
}

TEMPLATE_TEST_CASE("sum kernel: every pattern of reduced dimensions", "[kernels]", float, double) {
  using T = TestType;
  const int64_t sizes[4] = {5, 3, 7, 9};
  const auto x = random_vec<T>(5 * 3 * 7 * 9, 8);
  for (int mask = 1; mask < 16; ++mask) {
    kernels::Reduction r;
    r.ndim = 4;
    r.numel_in = 5 * 3 * 7 * 9;
    r.numel_out = 1;
    for (int d = 0; d < 4; ++d) {
      r.size[d] = sizes[d];
      r.reduced[d] = (mask >> d) & 1;
      if (!r.reduced[d]) r.numel_out *= sizes[d];
    }
    auto out_ref = poisoned<T>(r.numel_out), out_fast = poisoned<T>(r.numel_out);
    ref::sum(out_ref.data(), x.data(), r, 0.5);
    fast::sum(out_fast.data(), x.data(), r, 0.5);
    INFO("reduced mask " << mask);
    CHECK(rel_diff(out_fast, out_ref) < tol<T>());
  }
  // A long full reduction splits across threads in fixed chunks.
  const auto big = random_vec<T>(300001, 9);
  kernels::Reduction all;
  all.ndim = 1;
  all.size[0] = 300001;
  all.reduced[0] = true;
  all.numel_in = 300001;
  T a = std::numeric_limits<T>::quiet_NaN(), b = a;
  ref::sum(&a, big.data(), all, 1.0);
  fast::sum(&b, big.data(), all, 1.0);
  CHECK(std::abs(double(a) - double(b)) < 1e-9 * 300001);
}

TEMPLATE_TEST_CASE("binary broadcast kernel: strided and broadcast operands", "[kernels]", float, double) {
  using T = TestType;
  // out [4, 5, 6]: a is [4, 1, 6] (stride 0 in the middle), b is [5, 1] (broadcast at both ends)
  kernels::Broadcast bc;
  bc.ndim = 3;
  bc.size[0] = 4; bc.size[1] = 5; bc.size[2] = 6;
  bc.stride_a[0] = 6; bc.stride_a[1] = 0; bc.stride_a[2] = 1;
  bc.stride_b[0] = 0; bc.stride_b[1] = 1; bc.stride_b[2] = 0;
  bc.numel = 120;
  const auto a = random_vec<T>(24, 10), b = random_vec<T>(5, 11);
  for (auto op : {kernels::BinaryOp::add, kernels::BinaryOp::sub, kernels::BinaryOp::mul, kernels::BinaryOp::div}) {
    auto r = poisoned<T>(120), f = poisoned<T>(120);
    ref::binary(op, r.data(), a.data(), b.data(), bc);
    fast::binary(op, f.data(), a.data(), b.data(), bc);
    CHECK(rel_diff(f, r) == 0.0);
  }
}

TEMPLATE_TEST_CASE("batch norm and layer norm kernels: fast path matches reference", "[kernels]", float, double) {
  using T = TestType;
  const int64_t n = 7, c = 5, hw = 33;
  const auto x = random_vec<T>(n * c * hw, 12), dy = random_vec<T>(n * c * hw, 13);
  const auto w = random_vec<T>(c, 14), b = random_vec<T>(c, 15);
  auto m_r = poisoned<T>(c), v_r = poisoned<T>(c), i_r = poisoned<T>(c);
  auto m_f = poisoned<T>(c), v_f = poisoned<T>(c), i_f = poisoned<T>(c);
  ref::batch_norm_stats(m_r.data(), v_r.data(), i_r.data(), x.data(), n, c, hw, 1e-5);
  fast::batch_norm_stats(m_f.data(), v_f.data(), i_f.data(), x.data(), n, c, hw, 1e-5);
  CHECK(rel_diff(m_f, m_r) < tol<T>());
  CHECK(rel_diff(v_f, v_r) < tol<T>());
  auto y_r = poisoned<T>(n * c * hw), y_f = poisoned<T>(n * c * hw);
  ref::batch_norm_apply(y_r.data(), x.data(), m_r.data(), i_r.data(), w.data(), b.data(), n, c, hw);
  fast::batch_norm_apply(y_f.data(), x.data(), m_r.data(), i_r.data(), w.data(), b.data(), n, c, hw);
  CHECK(rel_diff(y_f, y_r) < tol<T>());
  auto dx_r = poisoned<T>(n * c * hw), dx_f = poisoned<T>(n * c * hw);
  auto dw_r = poisoned<T>(c), dw_f = poisoned<T>(c), db_r = poisoned<T>(c), db_f = poisoned<T>(c);
  ref::batch_norm_backward(dx_r.data(), dw_r.data(), db_r.data(), dy.data(), x.data(), m_r.data(), i_r.data(), w.data(), n, c, hw);
  fast::batch_norm_backward(dx_f.data(), dw_f.data(), db_f.data(), dy.data(), x.data(), m_r.data(), i_r.data(), w.data(), n, c, hw);
  CHECK(rel_diff(dx_f, dx_r) < tol<T>() * 10);
  CHECK(rel_diff(dw_f, dw_r) < tol<T>());
  CHECK(rel_diff(db_f, db_r) < tol<T>());

  const int64_t rows = 11, cols = 300;  // more columns than one column block
  const auto lx = random_vec<T>(rows * cols, 16), ldy = random_vec<T>(rows * cols, 17);
  const auto lw = random_vec<T>(cols, 18), lb = random_vec<T>(cols, 19);
  auto ly_r = poisoned<T>(rows * cols), ly_f = poisoned<T>(rows * cols);
  auto lm_r = poisoned<T>(rows), lm_f = poisoned<T>(rows), li_r = poisoned<T>(rows), li_f = poisoned<T>(rows);
  ref::layer_norm_forward(ly_r.data(), lm_r.data(), li_r.data(), lx.data(), lw.data(), lb.data(), rows, cols, 1e-5);
  fast::layer_norm_forward(ly_f.data(), lm_f.data(), li_f.data(), lx.data(), lw.data(), lb.data(), rows, cols, 1e-5);
  CHECK(rel_diff(ly_f, ly_r) < tol<T>());
  auto ldx_r = poisoned<T>(rows * cols), ldx_f = poisoned<T>(rows * cols);
  auto ldw_r = poisoned<T>(cols), ldw_f = poisoned<T>(cols), ldb_r = poisoned<T>(cols), ldb_f = poisoned<T>(cols);
  ref::layer_norm_backward(ldx_r.data(), ldw_r.data(), ldb_r.data(), ldy.data(), lx.data(), lm_r.data(), li_r.data(), lw.data(), rows, cols);
  fast::layer_norm_backward(ldx_f.data(), ldw_f.data(), ldb_f.data(), ldy.data(), lx.data(), lm_r.data(), li_r.data(), lw.data(), rows, cols);
  CHECK(rel_diff(ldx_f, ldx_r) < tol<T>() * 10);
  CHECK(rel_diff(ldw_f, ldw_r) < tol<T>());
  CHECK(rel_diff(ldb_f, ldb_r) < tol<T>());
}

TEMPLATE_TEST_CASE("loss and embedding kernels: fast path matches reference", "[kernels]", float, double) {
  using T = TestType;
  const int64_t n = 70001;  // long enough to split the reduction across chunks
  auto x = random_vec<T>(n, 20), t = random_vec<T>(n, 21);
  for (auto& v : x) v *= T(5);  // logits well into both tails
  for (auto r : {kernels::Reduce::mean, kernels::Reduce::sum, kernels::Reduce::none}) {
    const int64_t m = r == kernels::Reduce::none ? n : 1;
    auto b_r = poisoned<T>(m), b_f = poisoned<T>(m), s_r = poisoned<T>(m), s_f = poisoned<T>(m);
    ref::bce_with_logits(b_r.data(), x.data(), t.data(), n, r);
    fast::bce_with_logits(b_f.data(), x.data(), t.data(), n, r);
    ref::mse(s_r.data(), x.data(), t.data(), n, r);
    fast::mse(s_f.data(), x.data(), t.data(), n, r);
    CHECK(rel_diff(b_f, b_r) < tol<T>());
    CHECK(rel_diff(s_f, s_r) < tol<T>());
  }
  const int64_t num = 13, dim = 150, n_idx = 41;
  std::vector<int64_t> idx(n_idx);
  for (int64_t i = 0; i < n_idx; ++i) idx[size_t(i)] = (i * 7) % num;
  const auto w = random_vec<T>(num * dim, 22), g = random_vec<T>(n_idx * dim, 23);
  auto e_r = poisoned<T>(n_idx * dim), e_f = poisoned<T>(n_idx * dim);
  ref::embedding_forward(e_r.data(), idx.data(), w.data(), n_idx, dim);
  fast::embedding_forward(e_f.data(), idx.data(), w.data(), n_idx, dim);
  CHECK(rel_diff(e_f, e_r) == 0.0);
  auto dw_r = poisoned<T>(num * dim), dw_f = poisoned<T>(num * dim);
  ref::embedding_backward(dw_r.data(), g.data(), idx.data(), n_idx, dim, num);
  fast::embedding_backward(dw_f.data(), g.data(), idx.data(), n_idx, dim, num);
  CHECK(rel_diff(dw_f, dw_r) < tol<T>());
}

// ---- The same bits at any thread count ------------------------------------------------------

namespace {

// Runs f at 1, 2 and 3 threads and returns the three outputs.
template <class F>
auto at_thread_counts(F f) {
  const int before = num_threads();
  std::vector<decltype(f())> out;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    out.push_back(f());
  }
  set_num_threads(before);
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("gemm: every split matches the reference and is bitwise the same at 1, 2 and 3 threads and "
                   "any alignment",
                   "[kernels][threads]", float, double) {
  using T = TestType;
  struct Case { int64_t m, n, k; const char* what; };
  for (const Case& c : {Case{7, 5, 3, "tiny: one serial call"}, Case{300, 530, 40, "several tiles of C"},
                        Case{70, 20, 5000, "few tiles, k split into chunks"},
                        Case{257, 3, 4100, "one tile row, k split, odd sizes"}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (bool accumulate : {false, true}) {
          INFO(c.what << ": m=" << c.m << " n=" << c.n << " k=" << c.k << " ta=" << ta << " tb=" << tb
                      << " accumulate=" << accumulate);
          const auto a = random_vec<T>(c.m * c.k, 30), b = random_vec<T>(c.k * c.n, 31);
          const auto c0 = random_vec<T>(c.m * c.n, 32);
          auto expect = poisoned<T>(c.m * c.n);
          ref::matmul(expect.data(), a.data(), b.data(), 1, c.m, c.n, c.k, ta, tb);
          if (accumulate)
            for (size_t i = 0; i < expect.size(); ++i) expect[i] += c0[i];
          // Each run also places the operands at another offset from a 64-byte boundary: the
          // bits must not depend on the addresses either.
          int shift = 0;
          const auto runs = at_thread_counts([&] {
            ++shift;
            std::vector<T> pa(a.size() + 16), pb(b.size() + 16), pc(c0.size() + 16);
            std::copy(a.begin(), a.end(), pa.begin() + shift);
            std::copy(b.begin(), b.end(), pb.begin() + 2 * shift);
            T* out = pc.data() + 3 * shift;
            if (accumulate) std::copy(c0.begin(), c0.end(), out);
            else std::fill(out, out + c0.size(), std::numeric_limits<T>::quiet_NaN());
            fast::gemm(out, pa.data() + shift, pb.data() + 2 * shift, c.m, c.n, c.k, ta, tb, accumulate);
            return std::vector<T>(out, out + c0.size());
          });
          CHECK(rel_diff(runs[0], expect) < tol<T>() * 4);
          CHECK(runs[0] == runs[1]);
          CHECK(runs[0] == runs[2]);
        }
  }
}

TEMPLATE_TEST_CASE("conv kernels are bitwise the same at 1, 2 and 3 threads", "[kernels][threads][conv]", float,
                   double) {
  using T = TestType;
  for (const ConvShape& s : {make_conv(64, 64, 14, 14, 128, 4, 4, 2, 2, 1, 1),   // dcgan28's second critic layer
                             make_conv(64, 1, 28, 28, 64, 4, 4, 2, 2, 1, 1),     // its first: a long k in dW
                             make_conv(64, 128, 7, 7, 1, 7, 7, 1, 1, 0, 0),      // its last: dense
                             make_conv(61, 16, 32, 32, 3, 3, 3, 1, 1, 1, 1)}) {  // several im2col groups
    INFO("conv n=" << s.n << " c_in=" << s.c_in << " " << s.h << "x" << s.w << " c_out=" << s.c_out);
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    const auto x = random_vec<T>(nx, 40), w = random_vec<T>(nw, 41), dy = random_vec<T>(ny, 42);
    const auto runs = at_thread_counts([&] {
      auto y = poisoned<T>(ny), dx = poisoned<T>(nx), dw = poisoned<T>(nw);
      fast::conv2d_forward(y.data(), x.data(), w.data(), static_cast<const T*>(nullptr), s);
      fast::conv2d_input_grad(dx.data(), dy.data(), w.data(), static_cast<const T*>(nullptr), s);
      fast::conv2d_weight_grad(dw.data(), x.data(), dy.data(), s);
      return std::vector<std::vector<T>>{y, dx, dw};
    });
    for (size_t i = 0; i < 3; ++i) {
      INFO("output " << i << " (y, dx, dw)");
      CHECK(runs[0][i] == runs[1][i]);
      CHECK(runs[0][i] == runs[2][i]);
    }
  }
}
