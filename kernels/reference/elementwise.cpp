// Reference elementwise kernels: unary ops, their masks, broadcast binary ops and copies.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/reference/reference.h"

namespace duel::kernels::reference {

template <class T>
static T unary_one(UnaryOp op, T x, double p0, double p1) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::abs: return std::abs(x);
    case UnaryOp::sign: return T((x > 0) - (x < 0));
    case UnaryOp::relu: return x > 0 ? x : T(0);
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::pow: return std::pow(x, T(p0));
    case UnaryOp::leaky_relu: return x > 0 ? x : T(p0) * x;
    case UnaryOp::clamp: return std::min(std::max(x, T(p0)), T(p1));
    case UnaryOp::softplus: {
      // log(1 + e^{beta x}) / beta, linear above the threshold where it equals x to rounding
      const T bx = T(p0) * x;
      return bx > T(p1) ? x : std::log1p(std::exp(bx)) / T(p0);
    }
  }
  return std::numeric_limits<T>::quiet_NaN();
}

template <class T>
void unary(UnaryOp op, T* out, const T* x, int64_t n, double p0, double p1) {
  for (int64_t i = 0; i < n; ++i) out[i] = unary_one(op, x[i], p0, p1);
}

template <class T>
void mask_backward(MaskOp op, T* out, const T* grad, const T* x, int64_t n, double p0, double p1) {
  for (int64_t i = 0; i < n; ++i) {
    if (op == MaskOp::leaky_relu) {
      out[i] = x[i] > 0 ? grad[i] : grad[i] * T(p0);
    } else {  // clamp: the gradient passes where the input was inside [p0, p1]
      out[i] = (x[i] >= T(p0) && x[i] <= T(p1)) ? grad[i] : T(0);
    }
  }
}

// Offset of output element `linear` in an operand with the given strides.
static int64_t operand_offset(int64_t linear, const Broadcast& bc, const int64_t* stride) {
  int64_t offset = 0;
  for (int d = bc.ndim - 1; d >= 0; --d) {
    const int64_t coord = linear % bc.size[d];
    linear /= bc.size[d];
    offset += coord * stride[d];
  }
  return offset;
}

template <class T>
void binary(BinaryOp op, T* out, const T* a, const T* b, const Broadcast& bc) {
  for (int64_t i = 0; i < bc.numel; ++i) {
    const T x = a[operand_offset(i, bc, bc.stride_a)];
    const T y = b[operand_offset(i, bc, bc.stride_b)];
    switch (op) {
      case BinaryOp::add: out[i] = x + y; break;
      case BinaryOp::sub: out[i] = x - y; break;
      case BinaryOp::mul: out[i] = x * y; break;
      case BinaryOp::div: out[i] = x / y; break;
    }
  }
}

template <class T>
void broadcast_copy(T* out, const T* x, const Broadcast& bc) {
  for (int64_t i = 0; i < bc.numel; ++i) out[i] = x[operand_offset(i, bc, bc.stride_a)];
}

template <class T>
void copy_rows(T* dst, int64_t dst_stride, const T* src, int64_t src_stride, int64_t rows,
               int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * dst_stride + c] = src[r * src_stride + c];
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

}  // namespace duel::kernels::reference
