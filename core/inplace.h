// In-place updates outside autograd: optimiser steps, weight clipping, counters. They refuse
// tensors that take part in a recorded graph while grad mode is on (run them under NoGradGuard)
// and check that shapes, dtypes and devices match.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace duel {

// The optimisers' step counts are int64 scalar tensors on the parameter's device: an update reads
// the count there and advances it there (on CUDA inside the update's own kernel), so nothing
// about the step is baked into a launch and a step captured into a CUDA graph stays right at
// every replay. `ticket`, on CUDA, is an int64 [1] tensor that is 0 between updates (the
// kernel's last block uses it; an optimiser keeps one); undefined, a fresh one is made.
struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
};
// One Adam step (PyTorch semantics, bias-corrected) for each slot: the step taken is the count
// + 1, and the count is left one higher. On CUDA one kernel launch for all the slots (up to 48).
struct AdamSlot {
  Tensor param, grad, exp_avg, exp_avg_sq;
  Tensor step;  // int64 [], the updates done so far
};
// `grad_sumsq` (CUDA, optional): f32 with a place for each chunk of sum_squares_chunks over the
// slots' sizes, which receives the chunks' sums of squared gradients (the gradient norm's parts).
void adam_step_(const std::vector<AdamSlot>& slots, const AdamHyper& h, const Tensor& ticket = Tensor(),
                const Tensor& grad_sumsq = Tensor());
void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, double lr,
                   double alpha, double eps, const Tensor& step, const Tensor& ticket = Tensor());
// momentum_buf may be undefined (plain SGD); the first step (count 0) initialises it with the
// gradient.
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, double lr,
               double momentum, const Tensor& step, const Tensor& ticket = Tensor());
void clamp_(const Tensor& t, double lo, double hi);
// t += value for an int64 tensor (a counter such as batch norm's num_batches_tracked), on its
// device.
void add_(const Tensor& t, int64_t value);

}  // namespace duel
