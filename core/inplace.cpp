#include "core/inplace.h"

#include <cmath>

#include "core/autograd.h"
#include "kernels/cpu/optim.h"

namespace duel {

namespace {

void check_update(const char* op, const Tensor& param, std::initializer_list<const Tensor*> others) {
  DUEL_CHECK(param.defined() && is_floating(param.dtype()), op, ": parameter must be a floating-point tensor");
  DUEL_CHECK(!grad_mode_enabled() || !param.grad_fn(), op, ": the parameter ", describe(param),
             " is the output of a recorded op; update leaves only");
  DUEL_CHECK(param.device().is_cpu(), op, ": no kernel for ", param.device().str(), " in this build");
  for (const Tensor* t : others) {
    if (!t->defined()) continue;
    DUEL_CHECK(t->shape() == param.shape() && t->dtype() == param.dtype() && t->device() == param.device(),
               op, ": ", describe(*t), " does not match the parameter ", describe(param));
  }
}

}  // namespace

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v,
                const AdamHyper& h, int64_t step) {
  check_update("adam", param, {&grad, &m, &v});
  DUEL_CHECK(step >= 1, "adam: step must be >= 1, got ", step);
  // As PyTorch: bias corrections in double, the update in the parameter's precision.
  const double bc1 = 1 - std::pow(h.beta1, double(step));
  const double bc2 = 1 - std::pow(h.beta2, double(step));
  dispatch_floating(param.dtype(), "adam", [&]<class T>() {
    kernels::cpu::adam_step(param.data<T>(), grad.data<T>(), m.data<T>(), v.data<T>(), param.numel(),
                            h.beta1, h.beta2, h.eps, h.weight_decay, h.lr / bc1, std::sqrt(bc2));
  });
}

void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& s, double lr, double alpha,
                   double eps) {
  check_update("rmsprop", param, {&grad, &s});
  dispatch_floating(param.dtype(), "rmsprop", [&]<class T>() {
    kernels::cpu::rmsprop_step(param.data<T>(), grad.data<T>(), s.data<T>(), param.numel(), lr, alpha, eps);
  });
}

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& buf, double lr, double momentum,
               bool first) {
  check_update("sgd", param, {&grad, &buf});
  dispatch_floating(param.dtype(), "sgd", [&]<class T>() {
    kernels::cpu::sgd_step(param.data<T>(), grad.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                           param.numel(), lr, momentum, first);
  });
}

void clamp_(const Tensor& t, double lo, double hi) {
  check_update("clamp_", t, {});
  DUEL_CHECK(lo <= hi, "clamp_: lo ", lo, " is above hi ", hi);
  dispatch_floating(t.dtype(), "clamp_", [&]<class T>() {
    kernels::cpu::clamp_inplace(t.data<T>(), t.numel(), lo, hi);
  });
}

}  // namespace duel
