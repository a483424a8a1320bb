// Optimisers with PyTorch semantics: SGD (with momentum), Adam (bias-corrected, eps 1e-8) and
// RMSProp. A parameter whose gradient is undefined is skipped, as in PyTorch. Their state
// (moments and step counts, by parameter name) is saved in checkpoints.
//
// All of the state lives on the parameters' device, the step counts included (int64 scalars,
// read and advanced by the update kernels), so step() never reads the device from the host and
// an update captured into a CUDA graph is the same at every replay as the eager one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/tensor_io.h"

namespace duel::nn {

class Optimizer {
 public:
  explicit Optimizer(NamedTensors params);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  // Moments and counters as named tensors ("<param>.exp_avg", "<param>.step", ...).
  virtual NamedTensors state() const = 0;
  // Restores state() output; throws naming `source` if a tensor is missing or mismatched.
  virtual void load_state(const std::map<std::string, Tensor>& s, const std::string& source) = 0;
  const NamedTensors& params() const { return params_; }
  // The squared norm of the gradients the last step() applied, in parts: f32 on the device, one
  // sum per fixed-size chunk (sum_squares_chunks), left by the update kernel itself when
  // tracking is on (Adam on CUDA); undefined otherwise. The tensor is the same at every step.
  virtual void track_grad_norm(bool on) { (void)on; }
  virtual Tensor grad_sq_partials() const { return Tensor(); }

 protected:
  NamedTensors params_;
  double lr_ = 1e-3;
  std::vector<Tensor> steps_;  // int64 [] per parameter, on its device
  Tensor ticket_;              // int64 [1] on the parameters' device: the update kernels' ticket
  Tensor step_state(size_t i) const;  // steps_[i] as a CPU tensor (for state())
  void load_steps(const std::map<std::string, Tensor>& s, const std::string& source);
  void check_steps(const std::map<std::string, Tensor>& s, const std::string& source) const;
};

class Adam : public Optimizer {
 public:
  Adam(NamedTensors params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999,
       double eps = 1e-8, double weight_decay = 0);
  void step() override;
  NamedTensors state() const override;
  void load_state(const std::map<std::string, Tensor>& s, const std::string& source) override;
  void track_grad_norm(bool on) override { track_ = on; }
  Tensor grad_sq_partials() const override { return grad_sq_; }
  double beta1, beta2, eps, weight_decay;

 private:
  std::vector<Tensor> m_, v_;
  bool track_ = false;
  Tensor grad_sq_;
};

class RMSProp : public Optimizer {
 public:
  RMSProp(NamedTensors params, double lr = 1e-2, double alpha = 0.99, double eps = 1e-8);
  void step() override;
  NamedTensors state() const override;
  void load_state(const std::map<std::string, Tensor>& s, const std::string& source) override;
  double alpha, eps;

 private:
  std::vector<Tensor> square_avg_;
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, double lr, double momentum = 0);
  void step() override;
  NamedTensors state() const override;
  void load_state(const std::map<std::string, Tensor>& s, const std::string& source) override;
  double momentum;

 private:
  std::vector<Tensor> buf_;
};

}  // namespace duel::nn
