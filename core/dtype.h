// Element types: f32 everywhere, f64 on the CPU (gradient checks), i64 for labels and counters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace duel {

enum class DType : uint8_t { f32, f64, i64 };

constexpr size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
constexpr bool is_floating(DType t) { return t != DType::i64; }
constexpr std::string_view dtype_name(DType t) {
  return t == DType::f32 ? "f32" : t == DType::f64 ? "f64" : "i64";
}
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

// Parses "f32" | "float32" | "f64" | "float64" | "i64" | "int64".
DType parse_dtype(std::string_view name);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() { return DType::f32; }
template <>
constexpr DType dtype_of<double>() { return DType::f64; }
template <>
constexpr DType dtype_of<int64_t>() { return DType::i64; }

// Calls fn.template operator()<T>() with T = float or double, or throws naming the op.
template <class F>
decltype(auto) dispatch_floating(DType t, std::string_view op, F&& fn) {
  switch (t) {
    case DType::f32: return fn.template operator()<float>();
    case DType::f64: return fn.template operator()<double>();
    default: fail(op, ": expected a floating-point tensor (f32 or f64), got ", dtype_name(t));
  }
}

}  // namespace duel
