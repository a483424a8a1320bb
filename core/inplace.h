// In-place updates outside autograd: optimiser steps, weight clipping, counters. They refuse
// tensors that take part in a recorded graph while grad mode is on (run them under NoGradGuard)
// and check that shapes, dtypes and devices match.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace duel {

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};
// One Adam step (PyTorch semantics, bias-corrected) for a parameter at step `step` (1-based).
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg,
                const Tensor& exp_avg_sq, const AdamHyper& h, int64_t step);
// The same for many parameters at once: on CUDA one kernel launch per distinct step count
// (normally one launch for the whole model), on the CPU one update after another.
struct AdamSlot {
  Tensor param, grad, exp_avg, exp_avg_sq;
  int64_t step = 1;
};
void adam_step_(const std::vector<AdamSlot>& slots, const AdamHyper& h);
void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, double lr,
                   double alpha, double eps);
// momentum_buf may be undefined (plain SGD); `first` initialises it with the gradient.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
               double momentum, bool first);
void clamp_(const Tensor& t, double lo, double hi);

}  // namespace duel
