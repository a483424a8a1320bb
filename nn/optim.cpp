#include "nn/optim.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/inplace.h"
#include "kernels/cuda/emu_api.h"

namespace duel::nn {

namespace {

Tensor step_tensor(int64_t s) { return full({}, double(s), DType::i64); }

const Tensor& need(const std::map<std::string, Tensor>& s, const std::string& name, const Tensor& like,
                   const std::string& source) {
  auto it = s.find(name);
  DUEL_CHECK(it != s.end(), source, ": missing optimiser state '", name, "'");
  DUEL_CHECK(it->second.shape() == like.shape() && it->second.dtype() == like.dtype(), source,
             ": optimiser state '", name, "' is ", describe(it->second), ", expected ", describe(like));
  return it->second;
}

// Moments read from a file are held to what an optimiser can produce: finite, and for second
// moments (running means of squares) not negative; anything else would poison every update.
const Tensor& need_finite(const std::map<std::string, Tensor>& s, const std::string& name, const Tensor& like,
                          const std::string& source, bool non_negative) {
  const Tensor& t = need(s, name, like, source);
  DUEL_CHECK(!has_non_finite(t), source, ": optimiser state '", name, "' holds NaN or infinity");
  if (non_negative) {
    const Tensor host = t.to(Device::cpu());
    bool negative = false;
    if (host.dtype() == DType::f32) {
      const float* p = host.data<float>();
      for (int64_t i = 0; i < host.numel(); ++i) negative = negative || p[i] < 0;
    } else {
      const double* p = host.data<double>();
      for (int64_t i = 0; i < host.numel(); ++i) negative = negative || p[i] < 0;
    }
    DUEL_CHECK(!negative, source, ": optimiser state '", name, "' holds negative values (a mean of squares cannot)");
  }
  return t;
}

int64_t need_step(const std::map<std::string, Tensor>& s, const std::string& name, const std::string& source) {
  const Tensor& t = need(s, name, step_tensor(0), source);
  const int64_t v = t.data<int64_t>()[0];
  DUEL_CHECK(v >= 0, source, ": optimiser state '", name, "' holds a negative step ", v);
  return v;
}

void copy_into(const Tensor& dst, const Tensor& src) {
  NoGradGuard no_grad;
  dst.detach().copy_(src.to(dst.device()));
}

}  // namespace

Optimizer::Optimizer(NamedTensors params) : params_(std::move(params)) {
  Device device = params_.empty() ? Device::cpu() : params_.front().second.device();
  for (const auto& [name, p] : params_) {
    DUEL_CHECK(p.requires_grad() && p.is_leaf(), "optimizer: parameter '", name,
               "' must be a leaf tensor that requires grad");
    DUEL_CHECK(p.device() == device, "optimizer: parameter '", name, "' is on ", p.device().str(), ", the first on ",
               device.str(), "; all must share one device");
    steps_.push_back(zeros({}, DType::i64, device));
  }
  ticket_ = zeros({1}, DType::i64, device);
}

Tensor Optimizer::step_state(size_t i) const { return steps_[i].to(Device::cpu()); }

void Optimizer::check_steps(const std::map<std::string, Tensor>& s, const std::string& source) const {
  for (const auto& [name, p] : params_) need_step(s, name + ".step", source);
}

void Optimizer::load_steps(const std::map<std::string, Tensor>& s, const std::string& source) {
  for (size_t i = 0; i < params_.size(); ++i) {
    need_step(s, params_[i].first + ".step", source);
    copy_into(steps_[i], s.at(params_[i].first + ".step"));
  }
}

void Optimizer::zero_grad() {
  for (auto& [name, p] : params_) Tensor(p).set_grad(Tensor());
}

// ----- Adam ---------------------------------------------------------------------------------------

Adam::Adam(NamedTensors params, double lr, double b1, double b2, double e, double wd)
    : Optimizer(std::move(params)), beta1(b1), beta2(b2), eps(e), weight_decay(wd) {
  DUEL_CHECK(lr >= 0, "Adam: invalid learning rate ", lr);
  DUEL_CHECK(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1, "Adam: betas must be in [0, 1), got (", b1, ", ", b2, ")");
  DUEL_CHECK(e >= 0, "Adam: invalid eps ", e);
  lr_ = lr;
  for (const auto& [name, p] : params_) {
    m_.push_back(zeros_like(p));
    v_.push_back(zeros_like(p));
  }
}

void Adam::step() {
  NoGradGuard no_grad;
  const AdamHyper h{lr_, beta1, beta2, eps, weight_decay};
  std::vector<AdamSlot> slots;  // all at once: one kernel launch on CUDA
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    slots.push_back({p.detach(), g, m_[i], v_[i], steps_[i]});
  }
  const bool cuda = !slots.empty() && slots.front().param.device().is_cuda();
  if (track_ && cuda) {
    std::vector<int64_t> sizes;
    for (const AdamSlot& s : slots) sizes.push_back(s.param.numel());
    const int64_t chunks = std::max<int64_t>(1, kernels::cuda_emu::sum_squares_chunks(sizes.data(), int(sizes.size())));
    if (!grad_sq_.defined() || grad_sq_.numel() != chunks) grad_sq_ = zeros({chunks}, DType::f32, slots.front().param.device());
  } else {
    grad_sq_ = Tensor();
  }
  adam_step_(slots, h, ticket_, grad_sq_);
}

NamedTensors Adam::state() const {
  NamedTensors s;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].first;
    s.emplace_back(n + ".exp_avg", m_[i]);
    s.emplace_back(n + ".exp_avg_sq", v_[i]);
    s.emplace_back(n + ".step", step_state(i));
  }
  return s;
}

void Adam::load_state(const std::map<std::string, Tensor>& s, const std::string& source) {
  for (size_t i = 0; i < params_.size(); ++i) {  // check all, then copy
    const std::string& n = params_[i].first;
    need_finite(s, n + ".exp_avg", m_[i], source, false);
    need_finite(s, n + ".exp_avg_sq", v_[i], source, true);
  }
  check_steps(s, source);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& n = params_[i].first;
    copy_into(m_[i], s.at(n + ".exp_avg"));
    copy_into(v_[i], s.at(n + ".exp_avg_sq"));
  }
  load_steps(s, source);
}

// ----- RMSProp ------------------------------------------------------------------------------------

RMSProp::RMSProp(NamedTensors params, double lr, double a, double e)
    : Optimizer(std::move(params)), alpha(a), eps(e) {
  DUEL_CHECK(lr >= 0, "RMSProp: invalid learning rate ", lr);
  DUEL_CHECK(a >= 0 && a < 1, "RMSProp: alpha must be in [0, 1), got ", a);
  lr_ = lr;
  for (const auto& [name, p] : params_) square_avg_.push_back(zeros_like(p));
}

void RMSProp::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    rmsprop_step_(p.detach(), g, square_avg_[i], lr_, alpha, eps, steps_[i], ticket_);
  }
}

NamedTensors RMSProp::state() const {
  NamedTensors s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s.emplace_back(params_[i].first + ".square_avg", square_avg_[i]);
    s.emplace_back(params_[i].first + ".step", step_state(i));
  }
  return s;
}

void RMSProp::load_state(const std::map<std::string, Tensor>& s, const std::string& source) {
  for (size_t i = 0; i < params_.size(); ++i)
    need_finite(s, params_[i].first + ".square_avg", square_avg_[i], source, true);
  check_steps(s, source);
  for (size_t i = 0; i < params_.size(); ++i) copy_into(square_avg_[i], s.at(params_[i].first + ".square_avg"));
  load_steps(s, source);
}

// ----- SGD ----------------------------------------------------------------------------------------

SGD::SGD(NamedTensors params, double lr, double mom) : Optimizer(std::move(params)), momentum(mom) {
  DUEL_CHECK(lr >= 0, "SGD: invalid learning rate ", lr);
  DUEL_CHECK(mom >= 0, "SGD: invalid momentum ", mom);
  lr_ = lr;
  for (const auto& [name, p] : params_) buf_.push_back(momentum > 0 ? zeros_like(p) : Tensor());
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    sgd_step_(p.detach(), g, buf_[i], lr_, momentum, steps_[i], ticket_);
  }
}

NamedTensors SGD::state() const {
  NamedTensors s;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (buf_[i].defined()) s.emplace_back(params_[i].first + ".momentum_buffer", buf_[i]);
    s.emplace_back(params_[i].first + ".step", step_state(i));
  }
  return s;
}

void SGD::load_state(const std::map<std::string, Tensor>& s, const std::string& source) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (buf_[i].defined()) need_finite(s, params_[i].first + ".momentum_buffer", buf_[i], source, false);
  check_steps(s, source);
  for (size_t i = 0; i < params_.size(); ++i)
    if (buf_[i].defined()) copy_into(buf_[i], s.at(params_[i].first + ".momentum_buffer"));
  load_steps(s, source);
}

}  // namespace duel::nn
