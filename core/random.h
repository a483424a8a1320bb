// Random tensors from the Philox generator. A Generator is a (seed, offset) pair: each draw
// takes the next offset, and element i of the draw is a pure function of (seed, offset, i)
// (core/philox.h), so the numbers do not depend on the device or the number of threads, and
// the state saved in a checkpoint is just two integers.
//
// The pair lives on the host, or, after to_device(cuda:N), in device memory: then every draw
// (made on that device) reads the pair there and its kernel moves the offset on, so a training
// step captured into a CUDA graph draws fresh numbers at every replay, the same numbers as the
// host generator would.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace duel {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  // On a device generator these read the device (the host waits for it).
  uint64_t seed() const;
  uint64_t offset() const;
  void set_state(uint64_t seed, uint64_t offset);
  uint64_t take_offset();  // reserves one draw (a host generator's)

  // Moves the state to device d's memory (or back to the host with cpu).
  void to_device(Device d);
  Device device() const { return state_.defined() ? state_.device() : Device::cpu(); }
  bool on_device() const { return state_.defined(); }
  // The device state, int64 [3]: seed, offset, and the draw kernels' ticket (0 between draws).
  const Tensor& device_state() const { return state_; }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
  Tensor state_;
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
