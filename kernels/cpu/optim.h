// Optimiser updates, in place, one implementation each (elementwise: there is no faster CPU
// formulation to check against a reference). Each follows PyTorch 1.13's single-tensor update
// operation by operation, in the parameter's precision, so results match it to rounding.
#pragma once

#include <cstdint>

namespace duel::kernels::cpu {

// m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2   (g += weight_decay p first)
// p -= step_size * m / (sqrt(v) / bias_correction2_sqrt + eps)
template <class T>
void adam_step(T* p, const T* g, T* m, T* v, int64_t n, double beta1, double beta2, double eps,
               double weight_decay, double step_size, double bias_correction2_sqrt);

// s = alpha s + (1 - alpha) g^2;  p -= lr g / (sqrt(s) + eps)
template <class T>
void rmsprop_step(T* p, const T* g, T* s, int64_t n, double lr, double alpha, double eps);

// buf = momentum buf + g (buf = g on the first step); p -= lr buf. Without momentum: p -= lr g.
template <class T>
void sgd_step(T* p, const T* g, T* buf, int64_t n, double lr, double momentum, bool first);

// x = min(max(x, lo), hi)
template <class T>
void clamp_inplace(T* x, int64_t n, double lo, double hi);

}  // namespace duel::kernels::cpu
