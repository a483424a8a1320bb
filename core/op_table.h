// The op table: one entry per op with its name, inputs and attributes (named as in
// torch.nn.functional), the devices and dtypes it runs on, whether it has first and second
// derivatives, a function that runs it from named tensors and string attributes, and sample
// inputs for tests (odd shapes, values kept away from kinks). Tests, `duel ops`,
// `duel gradcheck`, `duel op` and the benchmarks all iterate over it, so an op cannot be added
// without being wired and tested.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/random.h"

namespace duel {

enum class OpId : int {
  add, sub, mul, div,
  neg, exp, log, sqrt, pow, abs, sign, clamp, clamp_backward,
  relu, leaky_relu, leaky_relu_backward, tanh, sigmoid, softplus,
  sum, mean,
  reshape, broadcast_to, cat, narrow,
  matmul, linear,
  conv2d, conv_transpose2d, conv2d_weight_grad,
  upsample_nearest2d, upsample_nearest2d_backward,
  batch_norm, layer_norm,
  log_softmax,
  binary_cross_entropy_with_logits, mse_loss, sample_norm_penalty,
  embedding, embedding_backward,
  count
};
constexpr int kOpCount = static_cast<int>(OpId::count);
// Pinned: adding an op means adding its table entry, samples and tests, then this number.
static_assert(kOpCount == 40, "an op was added or removed: update the op table and its tests");

enum class InputKind {
  tensor,           // required floating-point tensor
  optional_tensor,  // may be absent (bias, weight, running stats)
  tensor_list,      // cat's tensors: named "<name>.0", "<name>.1", ... in files
  indices,          // i64 tensor, never differentiated
};
struct InputSpec {
  std::string name;
  InputKind kind = InputKind::tensor;
  bool differentiable = true;  // false for buffers such as running_mean
};

enum class AttrKind {
  integer,    // "3"
  real,       // "0.2", "inf"
  boolean,    // "0" / "1" (also false / true)
  ints,       // "2,-1,3" (may be empty: "")
  pair,       // "2" (both) or "2,1" (height, width)
  reduction,  // none | mean | sum
};
struct AttrSpec {
  std::string name;
  AttrKind kind = AttrKind::integer;
  std::string default_value;  // empty and !has_default: the attribute is required
  bool has_default = true;
};

// One evaluation of an op: named tensors and resolved (validated, defaulted) attributes.
struct OpCall {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> attrs;

  Tensor input(const std::string& name) const;            // undefined when absent
  std::vector<Tensor> list(const std::string& name) const;  // name.0, name.1, ...
  int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  bool boolean(const std::string& name) const;
  std::vector<int64_t> ints(const std::string& name) const;
  Int2 pair(const std::string& name) const;
  Reduction reduction(const std::string& name) const;
};

// A test input: tensors by name (lists as name.0, name.1, ...) and attributes as strings.
struct Sample {
  std::string label;
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> attrs;
};

struct OpInfo {
  OpId id = OpId::count;
  std::string name;
  std::string summary;
  std::vector<InputSpec> inputs;
  std::vector<AttrSpec> attrs;
  bool has_backward = true;
  bool has_double_backward = true;
  std::function<Tensor(const OpCall&)> run;
  // Sample inputs of the given floating dtype, drawn from the generator.
  std::function<std::vector<Sample>(DType, Generator&)> samples;
};

const std::vector<OpInfo>& op_table();
const OpInfo& op_info(OpId id);
// By name, or throws listing the known ops.
const OpInfo& find_op(const std::string& name);

// Whether `op` has a kernel for this device type and dtype (the backend's answer).
bool supports(const OpInfo& op, DeviceType device, DType dtype);

// Checks attribute names and values against the spec and fills in defaults; throws one line
// naming the op and the attribute on any problem.
std::map<std::string, std::string> resolve_attrs(const OpInfo& op,
                                                 const std::map<std::string, std::string>& given);

// Runs the op on a sample (or file) input: resolves attributes, checks that required inputs are
// present and that no unknown input is given.
Tensor run_op(const OpInfo& op, const std::map<std::string, Tensor>& tensors,
              const std::map<std::string, std::string>& attrs);

// The names under which `op`'s differentiable floating-point inputs appear in `tensors`
// (expanding lists), in spec order.
std::vector<std::string> differentiable_inputs(const OpInfo& op,
                                               const std::map<std::string, Tensor>& tensors);

}  // namespace duel
