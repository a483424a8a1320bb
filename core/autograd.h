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
#include <unordered_map>
#include <utility>
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

// ---------------------------------------------------------------------------------------------
// Graph tracing, for the teaching tools (`duel graph --values`, `duel studio`).
//
// While a GraphTrace is alive on a thread, every node recorded on that thread remembers
//   - the name scope it belongs to (Node::context): for forward code the scope it was created
//     in; for a node recorded by a backward function, the scope of the node being
//     differentiated, so the backward of "D on real" is found next to its forward;
//   - its output value (a handle, not a copy: op outputs are never written in place);
//   - the gradient that reached it in every backward pass run while tracing (summed);
//   - its inputs that take no gradient (data such as the real batch, z, eps).
// Parameters (leaves) are remembered with a copy of their value when first used, because the
// optimiser updates them in place afterwards. Tracing keeps every node it saw alive until the
// trace is destroyed. Without a trace nothing of this is recorded or kept.
// ---------------------------------------------------------------------------------------------
struct TracedNode {
  Tensor value;                                  // the node's output (a leaf's value for accumulators)
  Tensor grad;                                   // sum of the gradients that reached the node
  int grad_passes = 0;                           // how many backward passes delivered one
  std::vector<std::pair<size_t, Tensor>> constants;  // (input index, tensor) for inputs without grad
  Tensor leaf;                                   // accumulators: the leaf itself (kept alive)
};

// A tensor the graph should draw as a named input (the real batch, z, eps, x_hat), found again by
// its storage when it (or a reshape of it) feeds an op; `from` names what it was computed from.
struct TracedInput {
  std::string name;
  Tensor value;
  std::vector<std::string> from;
  std::shared_ptr<Node> detached_from;  // the node that made it, for a detached result
};

class GraphTrace {
 public:
  GraphTrace();   // installs itself as this thread's trace (traces nest: the previous one returns)
  ~GraphTrace();
  GraphTrace(const GraphTrace&) = delete;
  GraphTrace& operator=(const GraphTrace&) = delete;

  const TracedNode* find(const Node* n) const;
  // The named input that owns the storage of `t`, or null.
  const TracedInput* input_for(const Tensor& t) const;
  const std::vector<TracedInput>& inputs() const { return inputs_; }

  // Engine hooks.
  void on_record(Node& node, const Tensor& out, const std::vector<Tensor>& inputs);
  void on_gradient(Node& node, const Tensor& g);
  void on_input(const Tensor& t, std::string name, std::vector<std::string> from, std::shared_ptr<Node> detached_from);

 private:
  std::unordered_map<const Node*, TracedNode> nodes_;
  std::vector<std::shared_ptr<Node>> keep_alive_;
  std::vector<TracedInput> inputs_;
  GraphTrace* previous_;
};

// This thread's trace, or null.
GraphTrace* active_graph_trace();
// Names `t` as an input of the traced graph (no-op without a trace). `detached_from`: the tensor
// with a graph that `t` is a detach() of (G(z) for the critic's fake batch).
void trace_input(const Tensor& t, std::string name, std::vector<std::string> from = {},
                 const Tensor& detached_from = Tensor());

}  // namespace duel
