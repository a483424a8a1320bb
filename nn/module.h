// Modules: named parameters and buffers, composed into Sequential models.
//
// State is kept in declaration order and named the way torch.nn names the same layer list
// ("0.weight", "1.running_mean", "1.num_batches_tracked"): own parameters, own buffers, then
// each child under "<child>.", so a duel checkpoint loads into PyTorch with
// load_state_dict(strict=True) and back.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "nn/tensor_io.h"

namespace duel::nn {

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Runs forward inside a NameScope of this module's name (anomaly messages say where).
  Tensor operator()(const Tensor& x);
  virtual Tensor forward(const Tensor& x) = 0;

  const std::string& type() const { return type_; }  // "Conv2d", "BatchNorm2d", ...
  const std::string& name() const { return name_; }  // its key in the parent ("3")

  NamedTensors named_parameters(const std::string& prefix = "") const;
  NamedTensors named_buffers(const std::string& prefix = "") const;
  // Parameters and buffers in state_dict order.
  NamedTensors state(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  // Converts every floating-point parameter and buffer to `t` (new tensors: create optimisers
  // after this).
  void to_dtype(DType t);
  // Moves every floating-point parameter and buffer to device `d` (new tensors: create
  // optimisers after this). Integer buffers (num_batches_tracked) stay on the host, where they
  // are counted; no kernel reads them.
  void to_device(Device d);
  Device device() const;  // of the first parameter (cpu for a module without parameters)

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }
  void zero_grad();
  int64_t parameter_count() const;

  // The default initialisation of this layer's own parameters (PyTorch's for the same layer).
  virtual void reset_parameters(Generator& gen) {}

 protected:
  Tensor& add_parameter(const std::string& name, Tensor t);
  Tensor& add_buffer(const std::string& name, Tensor t);
  void add_module(const std::string& name, std::shared_ptr<Module> m);
  Tensor& parameter(const std::string& name);
  Tensor& buffer(const std::string& name);

 private:
  std::string type_, name_;
  std::vector<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Saves `module.state()` to a safetensors file (atomically) and loads it back with strict checks:
// every name present, no unknown name, shapes and dtypes equal. Loading copies into the existing
// tensors, so optimisers holding them keep working. `what` names the module in errors.
void save_module(const Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata = {});
void load_module(Module& module, const std::string& path, const std::string& what);
void load_state(Module& module, const std::map<std::string, Tensor>& tensors, const std::string& source);

}  // namespace duel::nn
