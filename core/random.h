// Random tensors from the Philox generator. A Generator is a (seed, offset) pair: each draw
// takes the next offset, and element i of the draw is a pure function of (seed, offset, i)
// (core/philox.h), so the numbers do not depend on the device or the number of threads, and
// the state saved in a checkpoint is just two integers.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace duel {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  uint64_t take_offset() { return offset_++; }  // reserves one draw

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// Uniform on [lo, hi) and normal with the given mean and standard deviation.
Tensor uniform(const Shape& s, double lo, double hi, Generator& gen, DType t = DType::f32,
               Device d = Device::cpu());
Tensor normal(const Shape& s, double mean, double std, Generator& gen, DType t = DType::f32,
              Device d = Device::cpu());
inline Tensor rand(const Shape& s, Generator& gen, DType t = DType::f32, Device d = Device::cpu()) {
  return uniform(s, 0.0, 1.0, gen, t, d);
}
inline Tensor randn(const Shape& s, Generator& gen, DType t = DType::f32, Device d = Device::cpu()) {
  return normal(s, 0.0, 1.0, gen, t, d);
}

}  // namespace duel
