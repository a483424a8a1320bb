// Fast elementwise kernels: the op switch sits outside the loops so each loop is a tight,
// vectorisable body; OpenMP splits long loops.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/cpu.h"
#include "kernels/cpu/parallel.h"

namespace duel::kernels::cpu {

template <class T, class F>
static void map1(T* out, const T* x, int64_t n, F f) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i]);
}

template <class T>
void unary(UnaryOp op, T* out, const T* x, int64_t n, double p0, double p1) {
  const T a = T(p0), b = T(p1);
  switch (op) {
    case UnaryOp::neg: map1(out, x, n, [](T v) { return -v; }); break;
    case UnaryOp::exp: map1(out, x, n, [](T v) { return std::exp(v); }); break;
    case UnaryOp::log: map1(out, x, n, [](T v) { return std::log(v); }); break;
    case UnaryOp::sqrt: map1(out, x, n, [](T v) { return std::sqrt(v); }); break;
    case UnaryOp::abs: map1(out, x, n, [](T v) { return std::abs(v); }); break;
    case UnaryOp::sign: map1(out, x, n, [](T v) { return T((v > 0) - (v < 0)); }); break;
    case UnaryOp::relu: map1(out, x, n, [](T v) { return v > 0 ? v : T(0); }); break;
    case UnaryOp::tanh: map1(out, x, n, [](T v) { return std::tanh(v); }); break;
    case UnaryOp::sigmoid: map1(out, x, n, [](T v) { return T(1) / (T(1) + std::exp(-v)); }); break;
    case UnaryOp::pow:
      if (p0 == 2.0) map1(out, x, n, [](T v) { return v * v; });
      else map1(out, x, n, [a](T v) { return std::pow(v, a); });
      break;
    case UnaryOp::leaky_relu:
      // Both sides computed, then selected: with a * v inside the branch GCC kept a scalar,
      // branching loop (a mispredicted branch per element on a layer's random signs).
      map1(out, x, n, [a](T v) {
        const T scaled = a * v;
        return v > 0 ? v : scaled;
      });
      break;
    case UnaryOp::clamp: map1(out, x, n, [a, b](T v) { return std::min(std::max(v, a), b); }); break;
    case UnaryOp::softplus:
      map1(out, x, n, [a, b](T v) { return a * v > b ? v : std::log1p(std::exp(a * v)) / a; });
      break;
  }
}

template <class T>
void mask_backward(MaskOp op, T* out, const T* grad, const T* x, int64_t n, double p0, double p1) {
  const T a = T(p0), b = T(p1);
  if (op == MaskOp::leaky_relu) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const T g = grad[i], scaled = g * a;  // both sides, then a select (see unary's leaky_relu)
      out[i] = x[i] > 0 ? g : scaled;
    }
  } else {
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] >= a && x[i] <= b) ? grad[i] : T(0);
  }
}

// Applies f along every row of the broadcast iteration space: the last dimension is the row,
// with operand strides sa, sb in {0, 1} after merging (or general ones).
template <class T, class F>
static void broadcast_rows(T* out, const T* a, const T* b, const Broadcast& bc, F f) {
  const int last = bc.ndim - 1;
  const int64_t inner = bc.ndim > 0 ? bc.size[last] : 1;
  const int64_t sa = bc.ndim > 0 ? bc.stride_a[last] : 0;
  const int64_t sb = bc.ndim > 0 ? bc.stride_b[last] : 0;
  const int64_t rows = inner > 0 ? bc.numel / inner : 0;
#pragma omp parallel for schedule(static) if (bc.numel >= kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t oa = 0, ob = 0, rem = r;
    for (int d = last - 1; d >= 0; --d) {
      const int64_t coord = rem % bc.size[d];
      rem /= bc.size[d];
      oa += coord * bc.stride_a[d];
      ob += coord * bc.stride_b[d];
    }
    const T* ar = a + oa;
    const T* br = b + ob;
    T* orow = out + r * inner;
    if (sa == 1 && sb == 1) {
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) orow[i] = f(ar[i], br[i]);
    } else if (sa == 1 && sb == 0) {
      const T bv = br[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) orow[i] = f(ar[i], bv);
    } else if (sa == 0 && sb == 1) {
      const T av = ar[0];
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) orow[i] = f(av, br[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) orow[i] = f(ar[i * sa], br[i * sb]);
    }
  }
}

template <class T>
void binary(BinaryOp op, T* out, const T* a, const T* b, const Broadcast& bc) {
  switch (op) {
    case BinaryOp::add: broadcast_rows(out, a, b, bc, [](T x, T y) { return x + y; }); break;
    case BinaryOp::sub: broadcast_rows(out, a, b, bc, [](T x, T y) { return x - y; }); break;
    case BinaryOp::mul: broadcast_rows(out, a, b, bc, [](T x, T y) { return x * y; }); break;
    case BinaryOp::div: broadcast_rows(out, a, b, bc, [](T x, T y) { return x / y; }); break;
  }
}

template <class T>
void broadcast_copy(T* out, const T* x, const Broadcast& bc) {
  // b is unused: pass x with stride_a twice.
  Broadcast same = bc;
  std::copy(bc.stride_a, bc.stride_a + kMaxDims, same.stride_b);
  broadcast_rows(out, x, x, same, [](T v, T) { return v; });
}

template <class T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows,
               int64_t cols) {
  if (dst_stride == cols && src_stride == cols) {
    std::memcpy(dst, src, size_t(rows * cols) * sizeof(T));
    return;
  }
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelGrain)
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(dst + r * dst_stride, src + r * src_stride, size_t(cols) * sizeof(T));
}

#define DUEL_INSTANTIATE(T)                                                                   \
  template void unary<T>(UnaryOp, T*, const T*, int64_t, double, double);                   \
  template void mask_backward<T>(MaskOp, T*, const T*, const T*, int64_t, double, double);   \
  template void binary<T>(BinaryOp, T*, const T*, const T*, const Broadcast&);               \
  template void broadcast_copy<T>(T*, const T*, const Broadcast&);                           \
  template void copy_rows<T>(T*, int64_t, const T*, int64_t, int64_t, int64_t);
DUEL_INSTANTIATE(float)
DUEL_INSTANTIATE(double)
#undef DUEL_INSTANTIATE
template void broadcast_copy<int64_t>(int64_t*, const int64_t*, const Broadcast&);
template void copy_rows<int64_t>(int64_t*, int64_t, const int64_t*, int64_t, int64_t, int64_t);

}  // namespace duel::kernels::cpu
