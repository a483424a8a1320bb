// Reverse-mode autograd over a dynamic graph.
//
// A differentiable op computes its output without recording anything, then calls record(),
// which (when grad mode is on and an input requires grad) attaches a Node whose backward
// function is written with Tensor ops. The engine runs backward functions with grad mode set to
// create_graph, so with create_graph=true the backward computation is itself recorded and a
// gradient can be differentiated again (WGAN-GP's penalty needs exactly that).
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace duel {

struct Edge {
  std::shared_ptr<Node> node;  // null: this input needs no gradient
  // What the gradient for this input must look like (checked by the engine).
  Shape shape;
  DType dtype = DType::f32;
  Device device;
};

// How many derivatives deep a node is: 0 for forward code, 1 for nodes recorded by the backward
// of a level-0 node, 2 for nodes recorded by the backward of a level-1 node (WGAN-GP's penalty
// differentiated with respect to the weights), and so on. The graph tool colours nodes by it.
using GraphLevel = int;

struct Node : std::enable_shared_from_this<Node> {
  std::string op;              // the op's name in the table, e.g. "conv2d"
  std::vector<Edge> next;      // one per input, in the op's input order
  uint64_t sequence = 0;       // creation order
  GraphLevel level = 0;
  std::string context;         // the name scope it was created in (anomaly mode only)
  Shape out_shape;
  DType out_dtype = DType::f32;
  Device out_device;
  Tensor saved_output;         // detached output, when the backward formula needs it

  virtual ~Node() = default;
  // Gradients for each input (undefined where none), given the gradient of the output.
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  virtual bool is_accumulator() const { return false; }
  // The leaf tensor an accumulator adds into (null for other nodes, or a leaf that is gone).
  virtual std::shared_ptr<TensorImpl> accumulates_into() const { return nullptr; }

  // Whether the running backward pass wants the gradient for this input: the input requires
  // grad and leads to something the pass computes (grad() of some inputs skips the rest, e.g.
  // the critic's weight gradients during a generator update).
  bool needs_grad(size_t input) const;
  // The op's output as a tensor of this graph: with grad mode on it is attached to this node, so
  // formulas that use the output (exp, tanh, sigmoid, sqrt) stay differentiable. The node keeps
  // only detached data, because a node holding its own output would be a reference cycle.
  Tensor output();
};

// g(node, grad_output) -> one gradient per input.
using BackwardFn = std::function<std::vector<Tensor>(Node& node, const Tensor& grad_output)>;

// Finishes an op: checks the output in anomaly mode and, if grad mode is on and any input
// requires grad, attaches a node running `backward`. Returns `out`.
Tensor record(const char* op, Tensor out, std::initializer_list<Tensor> inputs, BackwardFn backward,
              bool save_output = false);
Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, BackwardFn backward,
              bool save_output = false);

// Wraps the backward of an op that has a first derivative but no second: the wrapped function
// throws, naming the op, when it runs with create_graph (it never returns silent zeros).
BackwardFn first_derivative_only(const char* op, BackwardFn backward);

// Gradients of `outputs` (weighted by grad_outputs; undefined entries mean ones for a one-element
// output) with respect to `inputs`, without touching any .grad(). With create_graph the result is
// recorded and can be differentiated again. An input the outputs do not depend on gets an
// undefined tensor when allow_unused, and an error otherwise.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool create_graph = false,
                         bool allow_unused = false);

// Accumulates gradients of `outputs` into the .grad() of every leaf that requires grad.
void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool create_graph = false);

// Grad mode: whether ops record nodes. Thread-local, on by default.
bool grad_mode_enabled();
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;
 private:
  bool prev_;
};
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// Anomaly mode: every op's output and every gradient a backward function returns is checked for
// NaN/Inf; the first one found throws, naming the op, the shapes and the name scope it was
// created in. Process-wide; off by default (it costs a pass over every output).
bool anomaly_mode_enabled();
void set_anomaly_mode(bool on);
class AnomalyModeGuard {
 public:
  explicit AnomalyModeGuard(bool on) : prev_(anomaly_mode_enabled()) { set_anomaly_mode(on); }
  ~AnomalyModeGuard() { set_anomaly_mode(prev_); }
  AnomalyModeGuard(const AnomalyModeGuard&) = delete;
  AnomalyModeGuard& operator=(const AnomalyModeGuard&) = delete;
 private:
  bool prev_;
};

// A thread-local stack of names ("D", "D.3", ...) that nodes remember in anomaly mode, so an
// error can say where in a model the bad value appeared.
class NameScope {
 public:
  explicit NameScope(std::string name);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;
};
std::string current_name_scope();

// The graph level new nodes get: 0 outside backward, +1 inside each nested backward pass.
GraphLevel current_graph_level();

// Whether any floating-point element is NaN or Inf.
bool has_non_finite(const Tensor& t);

}  // namespace duel
