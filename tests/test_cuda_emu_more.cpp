// The tensor-plumbing and op-table CUDA kernels (kernels/cuda/misc.cu, kernels/cuda/layer_norm.cu)
// on the CPU emulator against the reference kernels and the CPU optimiser/utility functions, as
// tests/test_cuda_emu.cpp does for the others: odd shapes (partial warps and blocks, unaligned
// pointers for the float4 paths, split reductions), every output poisoned with NaN first so each
// element must be written, normalised mean squared error <= 1e-7 for float results and exact
// equality for copies, fills, casts and integers.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/random.h"
#include "kernels/cpu/optim.h"
#include "kernels/cpu/util.h"
#include "kernels/cuda/emu_api.h"
#include "kernels/reference/reference.h"
#include "tests/emu_helpers.h"

using namespace duel;
namespace ref = duel::kernels::reference;
namespace emu = duel::kernels::cuda_emu;
using duel::test::nmse;
using duel::test::poisoned;
using duel::test::random_vec;

namespace {

// Bitwise equality (NaN poison included: a gap that must stay untouched compares equal only if
// it was left alone).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

constexpr double kBound = 1e-7;
constexpr int64_t kPoisonI64 = -0x5a5a5a5a5a5a5a5;

}  // namespace

TEST_CASE("emulated CUDA fills, row copies, casts and broadcast copies are exact",
          "[cuda-emu][misc]") {
  // 1031 floats: a float4 body and a tail of 3; shifted by one float the pointer is unaligned
  // and the scalar path runs.
  for (int shift : {0, 1}) {
    INFO("shift " << shift);
    const int64_t n = 1031;
    auto want = poisoned(n + 1), got = poisoned(n + 1);
    kernels::cpu::fill(want.data() + shift, n, -2.5f);
    emu::fill_f32(got.data() + shift, n, -2.5f, nullptr);
    CHECK(same_bits(got, want));
  }
  {
    std::vector<int64_t> want(37, kPoisonI64), got(37, kPoisonI64);
    kernels::cpu::fill(want.data(), 37, int64_t(-1234567890123));
    emu::fill_i64(got.data(), 37, int64_t(-1234567890123), nullptr);
    CHECK(got == want);
  }

  // 37 rows of 33 columns between row strides 41 and 35: the gaps must stay untouched.
  const int64_t rows = 37, cols = 33, ds = 41, ss = 35;
  const auto src = random_vec(rows * ss, 1);
  {
    auto want = poisoned(rows * ds), got = poisoned(rows * ds);
    ref::copy_rows(want.data(), ds, src.data(), ss, rows, cols);
    emu::copy_rows_f32(got.data(), ds, src.data(), ss, rows, cols, nullptr);
    CHECK(same_bits(got, want));
  }
  {
    std::vector<int64_t> src_i(size_t(rows * ss));
    for (size_t i = 0; i < src_i.size(); ++i) src_i[i] = int64_t(i * i) * 1000003 - 77;
    std::vector<int64_t> want(size_t(rows * ds), kPoisonI64), got = want;
    ref::copy_rows(want.data(), ds, src_i.data(), ss, rows, cols);
    emu::copy_rows_i64(got.data(), ds, src_i.data(), ss, rows, cols, nullptr);
    CHECK(got == want);
    // One column, one row.
    std::vector<int64_t> want1(3, kPoisonI64), got1 = want1;
    ref::copy_rows(want1.data(), 2, src_i.data() + 5, 7, 2, 1);
    emu::copy_rows_i64(got1.data(), 2, src_i.data() + 5, 7, 2, 1, nullptr);
    CHECK(got1 == want1);
  }

  // Casts: integers beyond float's 24-bit mantissa round the same way; float to integer
  // truncates toward zero.
  {
    const int64_t n = 1031;
    std::vector<int64_t> in(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) in[size_t(i)] = (i % 2 ? -1 : 1) * (i * i * i * 7919 + i);
    auto want = poisoned(n), got = poisoned(n);
    kernels::cpu::cast(want.data(), in.data(), n);
    emu::cast_i64_to_f32(got.data(), in.data(), n, nullptr);
    CHECK(same_bits(got, want));

    auto x = random_vec(n, 2);
    for (float& v : x) v *= 1000.0f;
    x[0] = -0.75f;
    x[1] = 0.999f;
    x[2] = -3.0f;
    std::vector<int64_t> want_i(size_t(n), kPoisonI64), got_i = want_i;
    kernels::cpu::cast(want_i.data(), x.data(), n);
    emu::cast_f32_to_i64(got_i.data(), x.data(), n, nullptr);
    CHECK(got_i == want_i);
    CHECK(got_i[0] == 0);
    CHECK(got_i[2] == -3);
  }

  // Broadcast copies: x [5, 1, 7] into [5, 6, 7]; a transposed read [7, 5] of x [5, 7]; and a
  // single element into 37.
  const auto x = random_vec(5 * 7, 3);
  auto check_copy = [&](std::vector<int64_t> sizes, std::vector<int64_t> strides, int64_t offset) {
    kernels::Broadcast bc;
    bc.ndim = int(sizes.size());
    bc.numel = 1;
    for (int d = 0; d < bc.ndim; ++d) {
      bc.size[d] = sizes[size_t(d)];
      bc.stride_a[d] = strides[size_t(d)];
      bc.numel *= sizes[size_t(d)];
    }
    INFO("broadcast copy of " << bc.ndim << " dims, offset " << offset);
    auto want = poisoned(bc.numel), got = poisoned(bc.numel);
    ref::broadcast_copy(want.data(), x.data() + offset, bc);
    emu::broadcast_copy_f32(got.data(), x.data() + offset, bc, nullptr);
    CHECK(same_bits(got, want));
  };
  check_copy({5, 6, 7}, {7, 0, 1}, 0);
  check_copy({7, 5}, {1, 7}, 0);
  check_copy({37}, {0}, 4);
}

TEST_CASE("emulated CUDA embedding: lookup, and a gradient accumulated in index order",
          "[cuda-emu][misc]") {
  const int64_t num_weights = 11, dim = 33, n_idx = 37;
  const auto w = random_vec(num_weights * dim, 4), g = random_vec(n_idx * dim, 5);
  std::vector<int64_t> idx(static_cast<size_t>(n_idx));
  for (int64_t i = 0; i < n_idx; ++i) idx[size_t(i)] = (i * 7 + 3) % 9;  // rows 9, 10 unused
  idx[5] = 10;  // row 10 once; row 9 never

  auto want = poisoned(n_idx * dim), got = poisoned(n_idx * dim);
  ref::embedding_forward(want.data(), idx.data(), w.data(), n_idx, dim);
  emu::embedding_forward_f32(got.data(), idx.data(), w.data(), n_idx, dim, nullptr);
  CHECK(same_bits(got, want));

  auto want_dw = poisoned(num_weights * dim), got_dw = poisoned(num_weights * dim),
       again = poisoned(num_weights * dim);
  ref::embedding_backward(want_dw.data(), g.data(), idx.data(), n_idx, dim, num_weights);
  emu::embedding_backward_f32(got_dw.data(), g.data(), idx.data(), n_idx, dim, num_weights,
                              nullptr);
  emu::embedding_backward_f32(again.data(), g.data(), idx.data(), n_idx, dim, num_weights,
                              nullptr);
  CHECK(nmse(got_dw, want_dw) <= kBound);
  CHECK(same_bits(got_dw, again));
  for (int64_t k = 0; k < dim; ++k) CHECK(got_dw[size_t(9 * dim + k)] == 0.0f);

  // A single index into a single row.
  const int64_t one = 0;
  auto want1 = poisoned(dim), got1 = poisoned(dim);
  ref::embedding_backward(want1.data(), g.data(), &one, 1, dim, 1);
  emu::embedding_backward_f32(got1.data(), g.data(), &one, 1, dim, 1, nullptr);
  CHECK(nmse(got1, want1) <= kBound);
}

TEST_CASE("emulated CUDA nearest upsampling: the float2 path, other factors, and the block sums",
          "[cuda-emu][misc]") {
  struct Case {
    int64_t planes, h, w, sh, sw;
  };
  // (2, 2): the float2 stores and loads; odd planes and widths leave partial warps and blocks.
  for (const Case& c : {Case{7, 5, 9, 2, 2}, Case{3, 4, 37, 3, 1}, Case{2, 3, 5, 1, 4}, Case{1, 1, 1, 3, 3},
                        Case{5, 17, 13, 2, 3}}) {
    INFO(c.planes << " planes " << c.h << "x" << c.w << " by " << c.sh << "x" << c.sw);
    const int64_t small = c.planes * c.h * c.w, big = small * c.sh * c.sw;
    const auto x = random_vec(small, 31), dy = random_vec(big, 32);
    auto want = poisoned(big), got = poisoned(big);
    ref::upsample_nearest2d(want.data(), x.data(), c.planes, c.h, c.w, c.sh, c.sw);
    emu::upsample_nearest2d_f32(got.data(), x.data(), c.planes, c.h, c.w, c.sh, c.sw, nullptr);
    CHECK(same_bits(got, want));
    auto want_dx = poisoned(small), got_dx = poisoned(small), again = poisoned(small);
    ref::upsample_nearest2d_backward(want_dx.data(), dy.data(), c.planes, c.h, c.w, c.sh, c.sw);
    emu::upsample_nearest2d_backward_f32(got_dx.data(), dy.data(), c.planes, c.h, c.w, c.sh, c.sw, nullptr);
    emu::upsample_nearest2d_backward_f32(again.data(), dy.data(), c.planes, c.h, c.w, c.sh, c.sw, nullptr);
    CHECK(nmse(got_dx, want_dx) <= kBound);
    CHECK(same_bits(got_dx, again));
  }
  // An output beyond 32-bit indexing is refused before any launch.
  CHECK_THROWS_WITH(emu::upsample_nearest2d_f32(nullptr, nullptr, 1 << 20, 64, 64, 2, 2, nullptr),
                    Catch::Contains("32 bits"));
}

TEST_CASE("emulated CUDA log_softmax: thread-per-line and block-per-line paths",
          "[cuda-emu][misc]") {
  struct Shape {
    int64_t outer, n, inner;
  };
  const Shape shapes[] = {
      {3, 1031, 1},  // long contiguous lines: a block per line, partial last stride
      {2, 200, 5},   // long strided lines: a block per line
      {5, 37, 3},    // short lines: a thread per line
      {2, 130, 33},  // inner >= 32: a thread per line, coalesced across lines
      {7, 10, 1},    // classifier logits
      {4, 1, 3},     // a single class: all zeros
  };
  for (const Shape& s : shapes) {
    INFO("outer " << s.outer << " n " << s.n << " inner " << s.inner);
    const int64_t total = s.outer * s.n * s.inner;
    auto x = random_vec(total, 6);
    for (float& v : x) v *= 8.0f;  // exp(x) alone would overflow for some lines without the max
    x[0] += 90.0f;
    auto want = poisoned(total), got = poisoned(total);
    ref::log_softmax(want.data(), x.data(), s.outer, s.n, s.inner);
    emu::log_softmax_f32(got.data(), x.data(), s.outer, s.n, s.inner, nullptr);
    if (s.n == 1) {
      CHECK(same_bits(got, want));  // exact zeros: nmse would divide by zero
    } else {
      CHECK(nmse(got, want) <= kBound);
    }
  }
}

TEST_CASE("emulated CUDA layer norm: forward and backward, split row reductions",
          "[cuda-emu][norm]") {
  // The emulator switches fibers at every barrier and shuffle, so the per-row kernels cost about
  // a hundred microseconds per thread here: modest row counts, with and without w and b spread
  // over the shapes.
  struct Shape {
    int64_t rows, cols;
    bool affine;
  };
  const Shape shapes[] = {
      {2, 2100, true},   // 512-thread rows, a partial last stride; one chunk for dw/db
      {19, 130, false},  // 128-thread rows; dw/db over 2 chunks of rows
      {70, 5, true},     // 32-thread rows; dw/db over 5 chunks, a partial column block
      {1, 37, false},    // one row
      {5, 1, true},      // one column: xhat, dx and dw exactly zero
  };
  for (const Shape& s : shapes) {
    const int64_t rows = s.rows, cols = s.cols, total = rows * cols;
    INFO("rows " << rows << " cols " << cols << " affine " << s.affine);
    auto x = random_vec(total, 7);
    for (float& v : x) v = 3.0f + 2.0f * v;  // a mean far from zero: the two-pass variance
    const auto dy = random_vec(total, 8), w = random_vec(cols, 9), b = random_vec(cols, 10);
    const float* wp = s.affine ? w.data() : nullptr;
    const float* bp = s.affine ? b.data() : nullptr;
    auto y_r = poisoned(total), y_g = poisoned(total);
    auto mean_r = poisoned(rows), mean_g = poisoned(rows);
    auto is_r = poisoned(rows), is_g = poisoned(rows);
    ref::layer_norm_forward(y_r.data(), mean_r.data(), is_r.data(), x.data(), wp, bp, rows, cols,
                            1e-5);
    emu::layer_norm_forward_f32(y_g.data(), mean_g.data(), is_g.data(), x.data(), wp, bp, rows,
                                cols, 1e-5, nullptr);
    CHECK(nmse(y_g, y_r) <= kBound);
    CHECK(nmse(mean_g, mean_r) <= kBound);
    CHECK(nmse(is_g, is_r) <= kBound);

    std::vector<float> workspace(size_t(emu::layer_norm_backward_workspace(rows, cols)),
                                 std::numeric_limits<float>::quiet_NaN());
    auto dx_r = poisoned(total), dx_g = poisoned(total);
    auto dw_r = poisoned(cols), dw_g = poisoned(cols), db_r = poisoned(cols),
         db_g = poisoned(cols);
    ref::layer_norm_backward(dx_r.data(), dw_r.data(), db_r.data(), dy.data(), x.data(),
                             mean_r.data(), is_r.data(), wp, rows, cols);
    emu::layer_norm_backward_f32(dx_g.data(), dw_g.data(), db_g.data(), dy.data(), x.data(),
                                 mean_r.data(), is_r.data(), wp, rows, cols, workspace.data(),
                                 nullptr);
    CHECK(nmse(dx_g, dx_r) <= kBound);
    CHECK(nmse(dw_g, dw_r) <= kBound);
    CHECK(nmse(db_g, db_r) <= kBound);

    // dw and db each on their own (the other outputs null), bitwise the same as together.
    auto dw_only = poisoned(cols), db_only = poisoned(cols);
    emu::layer_norm_backward_f32(nullptr, dw_only.data(), nullptr, dy.data(), x.data(),
                                 mean_r.data(), is_r.data(), wp, rows, cols, workspace.data(),
                                 nullptr);
    emu::layer_norm_backward_f32(nullptr, nullptr, db_only.data(), dy.data(), x.data(),
                                 mean_r.data(), is_r.data(), wp, rows, cols, workspace.data(),
                                 nullptr);
    CHECK(same_bits(dw_only, dw_g));
    CHECK(same_bits(db_only, db_g));
    if (rows <= 5) {  // dx alone, where it is cheap to emulate
      auto dx_only = poisoned(total);
      emu::layer_norm_backward_f32(dx_only.data(), nullptr, nullptr, dy.data(), x.data(),
                                   mean_r.data(), is_r.data(), wp, rows, cols, workspace.data(),
                                   nullptr);
      CHECK(same_bits(dx_only, dx_g));
    }
  }
}

TEST_CASE("emulated CUDA layer norm dw and db over many rows: the capped chunk count",
          "[cuda-emu][norm]") {
  // 2100 rows: more than 128 chunks of 16 rows, so chunks grow to 17 rows (124 of them). Only the
  // dw/db kernels run (no barriers: cheap to emulate); the statistics come from the reference.
  const int64_t rows = 2100, cols = 3, total = rows * cols;
  const auto x = random_vec(total, 20), dy = random_vec(total, 21);
  auto y = poisoned(total), mean = poisoned(rows), invstd = poisoned(rows);
  ref::layer_norm_forward(y.data(), mean.data(), invstd.data(), x.data(),
                          static_cast<const float*>(nullptr), static_cast<const float*>(nullptr),
                          rows, cols, 1e-5);
  const int64_t ws = emu::layer_norm_backward_workspace(rows, cols);
  CHECK(ws > 0);
  CHECK(ws <= 2 * 128 * cols);
  std::vector<float> workspace(size_t(ws), std::numeric_limits<float>::quiet_NaN());
  auto dw_r = poisoned(cols), dw_g = poisoned(cols), db_r = poisoned(cols), db_g = poisoned(cols);
  ref::layer_norm_backward(static_cast<float*>(nullptr), dw_r.data(), db_r.data(), dy.data(),
                           x.data(), mean.data(), invstd.data(), static_cast<const float*>(nullptr),
                           rows, cols);
  emu::layer_norm_backward_f32(nullptr, dw_g.data(), db_g.data(), dy.data(), x.data(),
                               mean.data(), invstd.data(), nullptr, rows, cols, workspace.data(),
                               nullptr);
  CHECK(nmse(dw_g, dw_r) <= kBound);
  CHECK(nmse(db_g, db_r) <= kBound);
}

TEST_CASE("emulated CUDA batch norm running statistics", "[cuda-emu][norm]") {
  const int64_t c = 37;
  const auto mean = random_vec(c, 11), rm0 = random_vec(c, 13);
  auto var = random_vec(c, 12), rv0 = random_vec(c, 14);
  for (float& v : var) v = v * v;
  for (float& v : rv0) v = v * v + 0.5f;
  for (int64_t count : {int64_t(1), int64_t(2), int64_t(1568)}) {
    INFO("count " << count);
    auto rm_r = rm0, rv_r = rv0, rm_g = rm0, rv_g = rv0;
    ref::batch_norm_update_running(rm_r.data(), rv_r.data(), mean.data(), var.data(), c, count,
                                   0.1);
    emu::batch_norm_update_running_f32(rm_g.data(), rv_g.data(), mean.data(), var.data(), c, count,
                                       0.1, nullptr);
    CHECK(nmse(rm_g, rm_r) <= kBound);
    CHECK(nmse(rv_g, rv_r) <= kBound);
  }
}

TEST_CASE("emulated CUDA RMSprop, SGD and clamp match the CPU updates", "[cuda-emu][misc]") {
  const int64_t n = 1031;
  const auto p0 = random_vec(n, 15), g = random_vec(n, 16);
  auto s0 = random_vec(n, 17);
  for (float& v : s0) v = v * v;

  {
    auto p_c = p0, s_c = s0, p_g = p0, s_g = s0;
    int64_t count = 0;
    unsigned long long ticket = 0;
    for (int step = 0; step < 2; ++step) {
      kernels::cpu::rmsprop_step(p_c.data(), g.data(), s_c.data(), n, 1e-3, 0.99, 1e-8);
      emu::rmsprop_step_f32(p_g.data(), g.data(), s_g.data(), n, 1e-3, 0.99, 1e-8, {&count, &ticket}, nullptr);
    }
    CHECK(nmse(p_g, p_c) <= kBound);
    CHECK(nmse(s_g, s_c) <= kBound);
    CHECK(count == 2);  // advanced on the device, once per update
    CHECK(ticket == 0);
  }
  {
    // With momentum: the first step sets buf = g (the poisoned buf must not be read), the
    // second accumulates.
    // The first step is the one whose device count reads 0.
    auto p_c = p0, p_g = p0, buf_c = poisoned(n), buf_g = poisoned(n);
    int64_t count = 0;
    unsigned long long ticket = 0;
    for (bool first : {true, false}) {
      kernels::cpu::sgd_step(p_c.data(), g.data(), buf_c.data(), n, 0.05, 0.9, first);
      emu::sgd_step_f32(p_g.data(), g.data(), buf_g.data(), n, 0.05, 0.9, {&count, &ticket}, nullptr);
    }
    CHECK(nmse(p_g, p_c) <= kBound);
    CHECK(nmse(buf_g, buf_c) <= kBound);
    CHECK(count == 2);
    // Without momentum: no buffer.
    kernels::cpu::sgd_step(p_c.data(), g.data(), static_cast<float*>(nullptr), n, 0.05, 0.0,
                           false);
    emu::sgd_step_f32(p_g.data(), g.data(), nullptr, n, 0.05, 0.0, {&count, &ticket}, nullptr);
    CHECK(nmse(p_g, p_c) <= kBound);
  }
  // Clamp: float4 and scalar paths; a NaN stays NaN as in the CPU version.
  for (int shift : {0, 1}) {
    INFO("clamp shift " << shift);
    auto x_c = random_vec(n + 1, 18);
    x_c[size_t(shift + 6)] = std::numeric_limits<float>::quiet_NaN();
    x_c[size_t(shift + n - 1)] = std::numeric_limits<float>::quiet_NaN();  // in the tail
    auto x_g = x_c;
    kernels::cpu::clamp_inplace(x_c.data() + shift, n, -0.5, 0.75);
    emu::clamp_inplace_f32(x_g.data() + shift, n, -0.5, 0.75, nullptr);
    CHECK(same_bits(x_g, x_c));
    CHECK(std::isnan(x_g[size_t(shift + 6)]));
  }
}

TEST_CASE("emulated CUDA any_non_finite flags NaN and Inf anywhere", "[cuda-emu][misc]") {
  const int64_t n = 1031;
  const auto base = random_vec(n + 1, 19);
  for (int shift : {0, 1}) {
    const float* x = base.data() + shift;
    int flag = -7;
    emu::any_non_finite_f32(&flag, x, n, nullptr);
    CHECK(flag == 0);
    CHECK(kernels::cpu::any_non_finite(x, n) == false);
    const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                                std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity()};
    for (float bad : bad_values)
      for (int64_t at : {int64_t(0), int64_t(517), n - 1}) {  // body and tail
        INFO("shift " << shift << " value " << bad << " at " << at);
        auto y = base;
        y[size_t(shift + at)] = bad;
        flag = -7;
        emu::any_non_finite_f32(&flag, y.data() + shift, n, nullptr);
        CHECK(flag == 1);
        CHECK(kernels::cpu::any_non_finite(y.data() + shift, n) == true);
      }
  }
  // Large finite values are finite; nothing is non-finite in an empty tensor.
  std::vector<float> big(37, std::numeric_limits<float>::max());
  big[3] = -std::numeric_limits<float>::max();
  int flag = -7;
  emu::any_non_finite_f32(&flag, big.data(), 37, nullptr);
  CHECK(flag == 0);
  flag = -7;
  emu::any_non_finite_f32(&flag, big.data(), 0, nullptr);
  CHECK(flag == 0);
}
