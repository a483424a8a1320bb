#include "core/inplace.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/cuda_backend.h"
#include "kernels/cpu/optim.h"

namespace duel {

namespace {

void check_update(const char* op, const Tensor& param, std::initializer_list<const Tensor*> others) {
  DUEL_CHECK(param.defined() && is_floating(param.dtype()), op, ": parameter must be a floating-point tensor");
  DUEL_CHECK(!param.impl()->read_only, op, ": ", describe(param), " is a shared constant (scalar_like on cuda)");
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

// A step count: an int64 scalar on `device`.
void check_step(const char* op, const Tensor& step, Device device) {
  DUEL_CHECK(step.defined() && step.dtype() == DType::i64 && step.numel() == 1 && step.device() == device, op,
             ": the step count must be an int64 scalar on ", device.str(), ", got ", describe(step));
}

// The kernels' ticket: the given one, or a fresh zero.
unsigned long long* ticket_ptr(const Tensor& ticket, Device device, Tensor& fresh) {
  if (!ticket.defined()) fresh = zeros({1}, DType::i64, device);
  const Tensor& t = ticket.defined() ? ticket : fresh;
  DUEL_CHECK(t.dtype() == DType::i64 && t.numel() >= 1 && t.device() == device,
             "optimiser ticket must be an int64 tensor on ", device.str(), ", got ", describe(t));
  return reinterpret_cast<unsigned long long*>(t.data<int64_t>());
}

kernels::StepCounter counter_of(const Tensor& step, const Tensor& ticket, Tensor& fresh) {
  return {step.data<int64_t>(), ticket_ptr(ticket, step.device(), fresh)};
}

}  // namespace

void adam_step_(const std::vector<AdamSlot>& slots, const AdamHyper& h, const Tensor& ticket,
                const Tensor& grad_sumsq) {
  std::vector<kernels::AdamTensor> cuda;
  Device cuda_device;
  for (const AdamSlot& s : slots) {
    check_update("adam", s.param, {&s.grad, &s.exp_avg, &s.exp_avg_sq});
    check_step("adam", s.step, s.param.device());
    if (s.param.device().is_cuda()) {
      DUEL_CHECK(cuda.empty() || cuda_device == s.param.device(), "adam: parameters on ", cuda_device.str(),
                 " and ", s.param.device().str(), " in one update");
      cuda_device = s.param.device();
      cuda.push_back({s.param.data<float>(), s.grad.data<float>(), s.exp_avg.data<float>(),
                      s.exp_avg_sq.data<float>(), s.param.numel(), s.step.data<int64_t>()});
      continue;
    }
    // As PyTorch: bias corrections in double, the update in the parameter's precision.
    int64_t& count = s.step.data<int64_t>()[0];
    const double step = double(count + 1);
    const double bc1 = 1 - std::pow(h.beta1, step);
    const double bc2 = 1 - std::pow(h.beta2, step);
    dispatch_floating(s.param.dtype(), "adam", [&]<class T>() {
      kernels::cpu::adam_step(s.param.data<T>(), s.grad.data<T>(), s.exp_avg.data<T>(), s.exp_avg_sq.data<T>(),
                              s.param.numel(), h.beta1, h.beta2, h.eps, h.weight_decay, h.lr / bc1, std::sqrt(bc2));
    });
    ++count;
  }
  if (cuda.empty()) return;
  Tensor fresh;
  unsigned long long* t = ticket_ptr(ticket, cuda_device, fresh);
  float* sumsq = nullptr;
  if (grad_sumsq.defined()) {
    std::vector<int64_t> sizes;
    for (const kernels::AdamTensor& a : cuda) sizes.push_back(a.n);
    const int64_t chunks = kernels::cuda_emu::sum_squares_chunks(sizes.data(), int(sizes.size()));
    DUEL_CHECK(grad_sumsq.dtype() == DType::f32 && grad_sumsq.device() == cuda_device && grad_sumsq.numel() >= chunks,
               "adam: grad_sumsq must be f32 on ", cuda_device.str(), " with ", chunks, " elements, got ",
               describe(grad_sumsq));
    sumsq = grad_sumsq.data<float>();
  }
  DUEL_CUDA_CALL(cuda_device, adam_step_f32, cuda.data(), int(cuda.size()), h.lr, h.beta1, h.beta2, h.eps,
                 h.weight_decay, t, sumsq);
}

void rmsprop_step_(const Tensor& param, const Tensor& grad, const Tensor& s, double lr, double alpha,
                   double eps, const Tensor& step, const Tensor& ticket) {
  check_update("rmsprop", param, {&grad, &s});
  check_step("rmsprop", step, param.device());
  if (param.device().is_cuda()) {
    Tensor fresh;
    DUEL_CUDA_CALL(param.device(), rmsprop_step_f32, param.data<float>(), grad.data<float>(),
                   s.data<float>(), param.numel(), lr, alpha, eps, counter_of(step, ticket, fresh));
    return;
  }
  dispatch_floating(param.dtype(), "rmsprop", [&]<class T>() {
    kernels::cpu::rmsprop_step(param.data<T>(), grad.data<T>(), s.data<T>(), param.numel(), lr, alpha, eps);
  });
  ++step.data<int64_t>()[0];
}

void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& buf, double lr, double momentum,
               const Tensor& step, const Tensor& ticket) {
  check_update("sgd", param, {&grad, &buf});
  check_step("sgd", step, param.device());
  if (param.device().is_cuda()) {
    Tensor fresh;
    DUEL_CUDA_CALL(param.device(), sgd_step_f32, param.data<float>(), grad.data<float>(),
                   buf.defined() ? buf.data<float>() : nullptr, param.numel(), lr, momentum,
                   counter_of(step, ticket, fresh));
    return;
  }
  int64_t& count = step.data<int64_t>()[0];
  dispatch_floating(param.dtype(), "sgd", [&]<class T>() {
    kernels::cpu::sgd_step(param.data<T>(), grad.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                           param.numel(), lr, momentum, count == 0);
  });
  ++count;
}

void add_(const Tensor& t, int64_t value) {
  DUEL_CHECK(t.defined() && t.dtype() == DType::i64, "add_: expected an int64 tensor, got ", describe(t));
  DUEL_CHECK(!t.impl()->read_only, "add_: ", describe(t), " is a shared constant");
  DUEL_CHECK(!grad_mode_enabled() || !t.grad_fn(), "add_: ", describe(t), " is the output of a recorded op");
  if (t.device().is_cuda()) {
    cuda_backend::check_usable(t.device());
    DUEL_CUDA_CALL(t.device(), add_i64, t.data<int64_t>(), t.numel(), value);
    return;
  }
  int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] += value;
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
