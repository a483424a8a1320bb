#include "nn/module.h"

#include <cstdint>
#include <set>

#include "core/autograd.h"

namespace duel::nn {

Tensor Module::operator()(const Tensor& x) {
  NameScope scope(name_.empty() ? type_ : name_ + " (" + type_ + ")");
  return forward(x);
}

NamedTensors Module::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) {
    NamedTensors sub = m->named_parameters(prefix + n + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

NamedTensors Module::named_buffers(const std::string& prefix) const {
  NamedTensors out;
  for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) {
    NamedTensors sub = m->named_buffers(prefix + n + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

NamedTensors Module::state(const std::string& prefix) const {
  NamedTensors out;  // torch's state_dict order: own parameters, own buffers, then children
  for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) {
    NamedTensors sub = m->state(prefix + n + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

void Module::to_dtype(DType t) {
  NoGradGuard no_grad;
  for (auto& [n, p] : params_) {
    Tensor converted = p.detach().to(t).clone();
    converted.requires_grad_(true);
    p = converted;
  }
  for (auto& [n, b] : buffers_)
    if (is_floating(b.dtype())) b = b.to(t).clone();
  for (auto& [n, m] : children_) m->to_dtype(t);
}

void Module::to_device(Device d) {
  NoGradGuard no_grad;
  for (auto& [n, p] : params_) {
    if (p.device() == d) continue;
    Tensor moved = p.detach().to(d);
    moved.requires_grad_(true);
    p = moved;
  }
  // Counters too (batch norm's num_batches_tracked): they are advanced on the device, so a
  // training step captured into a CUDA graph keeps counting at every replay.
  for (auto& [n, b] : buffers_) b = b.to(d);
  for (auto& [n, m] : children_) m->to_device(d);
}

Device Module::device() const {
  const std::vector<Tensor> ps = parameters();
  return ps.empty() ? Device::cpu() : ps.front().device();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad() {
  for (Tensor& t : parameters()) t.set_grad(Tensor());
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Tensor& t : parameters()) n += t.numel();
  return n;
}

Tensor& Module::add_parameter(const std::string& name, Tensor t) {
  t.requires_grad_(true);
  params_.emplace_back(name, t);
  return params_.back().second;
}

Tensor& Module::add_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return buffers_.back().second;
}

void Module::add_module(const std::string& name, std::shared_ptr<Module> m) {
  m->name_ = name;
  children_.emplace_back(name, std::move(m));
}

Tensor& Module::parameter(const std::string& name) {
  for (auto& [n, t] : params_)
    if (n == name) return t;
  fail(type_, ": no parameter named ", name);
}

Tensor& Module::buffer(const std::string& name) {
  for (auto& [n, t] : buffers_)
    if (n == name) return t;
  fail(type_, ": no buffer named ", name);
}

void save_module(const Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata) {
  NamedTensors state;
  for (auto& [n, t] : module.state()) state.emplace_back(n, t.detach());
  save_safetensors(path, state, metadata);
}

void load_state(Module& module, const std::map<std::string, Tensor>& tensors, const std::string& source) {
  const NamedTensors state = module.state();
  std::set<std::string> expected;
  // Check everything before changing anything: a mismatched file leaves the module as it was.
  for (const auto& [name, t] : state) {
    expected.insert(name);
    auto it = tensors.find(name);
    DUEL_CHECK(it != tensors.end(), source, ": missing tensor '", name, "' (expected ", describe(t), ")");
    DUEL_CHECK(it->second.shape() == t.shape() && it->second.dtype() == t.dtype(), source, ": tensor '",
               name, "' is ", describe(it->second), " but the model needs ", describe(t));
  }
  for (const auto& [name, t] : tensors)
    DUEL_CHECK(expected.count(name), source, ": unexpected tensor '", name,
               "' (not part of this model; wrong architecture or options?)");
  NoGradGuard no_grad;
  for (const auto& [name, t] : state) t.detach().copy_(tensors.at(name).to(t.device()));
}

void load_module(Module& module, const std::string& path, const std::string& what) {
  load_state(module, load_safetensors_map(path), path + " (" + what + ")");
}

}  // namespace duel::nn
