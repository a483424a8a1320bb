// The counter-based inputs of the training golden test, bit for bit as
// scripts/golden_train_torch.py makes them: splitmix64 of (index, salt) -> [0, 1) in double.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "gan/models.h"

namespace duel::test {

inline double hashed_uniform(uint64_t i, uint64_t salt) {
  uint64_t x = i * 0x9E3779B97F4A7C15ULL + (salt + 1) * 0xD1B54A32D192ED03ULL;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return double(x >> 11) * (1.0 / 9007199254740992.0);
}

inline Tensor hashed_tensor(const Shape& s, uint64_t salt, double lo, double hi, DType t) {
  std::vector<double> v(static_cast<size_t>(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = lo + (hi - lo) * hashed_uniform(i, salt);
  return from_vector(v, s, t);
}

// Weights U(+-0.02 sqrt 3), batch-norm weight around 1 and bias 0; salt = position in state order.
inline void init_from_hash(nn::Module& m, uint64_t salt_base, DType t) {
  const double half = 0.02 * std::sqrt(3.0);
  NoGradGuard no_grad;
  uint64_t k = 0;
  for (auto& [name, tensor] : m.state()) {
    const uint64_t salt = salt_base + k++;
    if (name.find("num_batches_tracked") != std::string::npos || name.find("running_") != std::string::npos) continue;
    const bool is_bn = tensor.dim() == 1;
    Tensor dst = tensor.detach();
    if (is_bn && name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) dst.fill_(0.0);
    else if (is_bn) dst.copy_(hashed_tensor(tensor.shape(), salt, 1 - half, 1 + half, t));
    else dst.copy_(hashed_tensor(tensor.shape(), salt, -half, half, t));
  }
}

struct StepInputs {
  Tensor real, z, eps;
};
inline StepInputs hashed_inputs(int iteration, int64_t batch, DType t) {
  const uint64_t base = 1000 + 10 * uint64_t(iteration);
  const double r3 = 1.7320508075688772;
  return {hashed_tensor({batch, 1, 28, 28}, base, -1.0, 1.0, t), hashed_tensor({batch, 100, 1, 1}, base + 1, -r3, r3, t),
          hashed_tensor({batch, 1, 1, 1}, base + 2, 0.0, 1.0, t)};
}

}  // namespace duel::test
