#include "core/inplace.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include <map>

#include "core/autograd.h"
#include "core/cuda_backend.h"
#include "kernels/cpu/optim.h"

namespace duel {

namespace {

void check_update(const char* op, const Tensor& param, std::initializer_list<const Tensor*> others) {
  DUEL_CHECK(param.defined() && is_floating(param.dtype()), op, ": parameter must be a floating-point tensor");
  DUEL_CHECK(!grad_mode_enabled() || !param.grad_fn(), op, ": the parameter ", describe(param),
             " is the output of a recorded op; update leaves only");
  if (param.device().is_cuda()) {
    cuda_backend::check_usable(param.device());
    DUEL_CHECK(param.dtype() == DType::f32, op, ": ", describe(param), ": the CUDA kernels are float32 only");
  }
  for (const Tensor* t : others) {
    if (!t->defined()) continue;
    DUEL_CHECK(t->shape() == param.shape() && t->dtype() == param.dtype() && t->device() == param.device(),
               op, ": ", describe(*t), " does not match the parameter ", describe(param));
  }
}

// One launch of the CUDA Adam kernel over `count` float32 tensors sharing a step count.
void adam_cuda(Device d, const kernels::AdamTensor* t, int count, const AdamHyper& h,
               int64_t step) {
  const double bc1 = 1 - std::pow(h.beta1, double(step));
  const double bc2 = 1 - std::pow(h.beta2, double(step));
#ifdef DUEL_HAVE_CUDA
  if (!cuda_backend::emulated()) {
    kernels::cuda::adam_step_f32(t, count,
                                 h.beta1, h.beta2, h.eps, h.weight_decay, h.lr / bc1,
                                 std::sqrt(bc2), cuda_backend::stream(d));
    return;
  }
#endif
  kernels::cuda_emu::adam_step_f32(t, count, h.beta1, h.beta2, h.eps, h.weight_decay, h.lr / bc1,
                                   std::sqrt(bc2), nullptr);
}

}  // namespace

void adam_step_(const std::vector<AdamSlot>& slots, const AdamHyper& h) {
  std::map<std::pair<int64_t, int>, std::vector<kernels::AdamTensor>> cuda_groups;
  for (const AdamSlot& s : slots) {
    if (!s.param.device().is_cuda()) {
      adam_step_(s.param, s.grad, s.exp_avg, s.exp_avg_sq, h, s.step);
      continue;
    }
    check_update("adam", s.param, {&s.grad, &s.exp_avg, &s.exp_avg_sq});
    DUEL_CHECK(s.step >= 1, "adam: step must be >= 1, got ", s.step);
    cuda_groups[{s.step, s.param.device().index}].push_back(
        {s.param.data<float>(), s.grad.data<float>(), s.exp_avg.data<float>(),
         s.exp_avg_sq.data<float>(), s.param.numel()});
  }
  for (const auto& [key, tensors] : cuda_groups)
    adam_cuda(Device::cuda(key.second), tensors.data(), int(tensors.size()), h, key.first);
}

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamHyper& h, int64_t step) {
  check_update("adam", param, {&grad, &m, &v});
  DUEL_CHECK(step >= 1, "adam: step must be >= 1, got ", step);
  // As PyTorch: bias corrections in double, the update in the parameter's precision.
  const double bc1 = 1 - std::pow(h.beta1, double(step));
  const double bc2 = 1 - std::pow(h.beta2, double(step));
  if (param.device().is_cuda()) {
    const kernels::AdamTensor t{param.data<float>(), grad.data<float>(), m.data<float>(),
                                          v.data<float>(), param.numel()};
    adam_cuda(param.device(), &t, 1, h, step);
    return;
  }
  dispatch_floating(param.dtype(), "adam", [&]<class T>() {
    kernels::cpu::adam_step(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(),
                            h.beta1, h.beta2, h.eps, h.weight_decay, h.lr / bc1, std::sqrt(bc2));
  });
}

void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& s, double lr, double alpha,
                   double eps) {
  check_update("rmsprop", param, {&grad, &s});
  if (param.device().is_cuda()) {
    DUEL_CUDA_CALL(param.device(), rmsprop_step_f32, param.data<float>(), grad.data<float>(),
                   s.data<float>(), param.numel(), lr, alpha, eps);
    return;
  }
  dispatch_floating(param.dtype(), "rmsprop", [&]<class T>() {
    kernels::cpu::rmsprop_step(param.data<T>(), grad.data<T>(), s.data<T>(), param.numel(), lr, alpha, eps);
  });
}

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& buf, double lr, double momentum,
               bool first) {
  check_update("sgd", param, {&grad, &buf});
  if (param.device().is_cuda()) {
    DUEL_CUDA_CALL(param.device(), sgd_step_f32, param.data<float>(), grad.data<float>(),
                   buf.defined() ? buf.data<float>() : nullptr, param.numel(), lr, momentum, first);
    return;
  }
  dispatch_floating(param.dtype(), "sgd", [&]<class T>() {
    kernels::cpu::sgd_step(param.data<T>(), grad.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                           param.numel(), lr, momentum, first);
  });
}

void clamp_(const Tensor& t, double lo, double hi) {
  check_update("clamp_", t, {});
  DUEL_CHECK(lo <= hi, "clamp_: lo ", lo, " is above hi ", hi);
  if (t.device().is_cuda()) {
    DUEL_CUDA_CALL(t.device(), clamp_inplace_f32, t.data<float>(), t.numel(), lo, hi);
    return;
  }
  dispatch_floating(t.dtype(), "clamp_", [&]<class T>() {
    kernels::cpu::clamp_inplace(t.data<T>(), t.numel(), lo, hi);
  });
}

}  // namespace duel
