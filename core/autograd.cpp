// The autograd engine: records nodes (record) and runs backward passes (grad, backward).
#include "core/autograd.h"

#include <atomic>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/ops.h"
#include "kernels/cpu/util.h"

namespace duel {

namespace {

thread_local bool t_grad_mode = true;
thread_local GraphLevel t_graph_level = 0;
thread_local std::vector<std::string> t_scopes;
std::atomic<bool> g_anomaly{false};
std::atomic<uint64_t> g_sequence{0};
// The nodes the running backward pass needs (null outside a pass): Node::needs_grad consults it.
thread_local const std::unordered_set<Node*>* t_needed = nullptr;
thread_local GraphTrace* t_trace = nullptr;

// While a backward function runs under a trace, the nodes it records belong to the scope of the
// node it differentiates (see GraphTrace).
class ScopeOverride {
 public:
  explicit ScopeOverride(const std::string& scope) : active_(t_trace != nullptr) {
    if (!active_) return;
    saved_.swap(t_scopes);
    if (!scope.empty()) t_scopes.push_back(scope);
  }
  ~ScopeOverride() {
    if (active_) t_scopes.swap(saved_);
  }
 private:
  bool active_;
  std::vector<std::string> saved_;
};

class NeededGuard {
 public:
  explicit NeededGuard(const std::unordered_set<Node*>* needed) : prev_(t_needed) { t_needed = needed; }
  ~NeededGuard() { t_needed = prev_; }
 private:
  const std::unordered_set<Node*>* prev_;
};

struct FunctionNode final : Node {
  BackwardFn fn;
  std::vector<Tensor> apply(const Tensor& grad_output) override { return fn(*this, grad_output); }
};

// The sink for a leaf's gradient: adds what arrives into leaf.grad().
struct AccumulateGrad final : Node {
  std::weak_ptr<TensorImpl> leaf;
  bool is_accumulator() const override { return true; }
  std::shared_ptr<TensorImpl> accumulates_into() const override { return leaf.lock(); }
  std::vector<Tensor> apply(const Tensor& g) override {
    auto impl = leaf.lock();
    if (!impl || !g.defined()) return {};
    if (!impl->grad.defined()) {
      // Without create_graph the incoming tensor may be shared (add passes one gradient to both
      // of its inputs), so the leaf gets its own copy; with create_graph it keeps the graph.
      impl->grad = grad_mode_enabled() ? g : g.clone();
    } else {
      impl->grad = add(impl->grad, g);
    }
    return {};
  }
};

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  std::shared_ptr<Node> acc = leaf.impl()->grad_accumulator.lock();
  if (!acc) {
    auto node = std::make_shared<AccumulateGrad>();
    node->op = "accumulate_grad";
    node->leaf = leaf.impl_ptr();
    node->sequence = g_sequence.fetch_add(1);
    node->out_shape = leaf.shape();
    node->out_dtype = leaf.dtype();
    node->out_device = leaf.device();
    leaf.impl()->grad_accumulator = node;
    acc = node;
  }
  return acc;
}

// The node a gradient for tensor t flows into: its grad_fn, or its accumulator for a leaf.
std::shared_ptr<Node> gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  return t.grad_fn() ? t.grad_fn() : grad_accumulator(t);
}

std::string where_created(const Node& n) {
  std::string s = str_cat(" (node #", n.sequence);
  if (!n.context.empty()) s += str_cat(", created in '", n.context, "'");
  if (n.level > 0) s += str_cat(", recorded during backward level ", n.level);
  return s + ")";
}

class LevelGuard {
 public:
  LevelGuard() { ++t_graph_level; }
  ~LevelGuard() { --t_graph_level; }
};

class LevelScope {
 public:
  explicit LevelScope(GraphLevel level) : prev_(t_graph_level) { t_graph_level = level; }
  ~LevelScope() { t_graph_level = prev_; }
 private:
  GraphLevel prev_;
};

// Runs the backward pass shared by grad() and backward(). With `inputs` null, every leaf's
// accumulator runs; otherwise the gradients reaching `inputs` are captured and returned.
std::vector<Tensor> run_engine(const char* caller, const std::vector<Tensor>& outputs,
                               const std::vector<Tensor>& grad_outputs, bool create_graph,
                               const std::vector<Tensor>* inputs, bool allow_unused) {
  DUEL_CHECK(!outputs.empty(), caller, ": no outputs given");
  DUEL_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(), caller, ": ",
             grad_outputs.size(), " grad_outputs for ", outputs.size(), " outputs");

  // Roots and their seed gradients.
  std::vector<std::pair<std::shared_ptr<Node>, Tensor>> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    DUEL_CHECK(out.defined(), caller, ": output ", i, " is undefined");
    DUEL_CHECK(out.requires_grad(), caller, ": output ", i, " (", describe(out),
               ") does not require grad: nothing it was computed from requires grad, or it was "
               "computed under NoGradGuard");
    Tensor seed = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!seed.defined()) {
      DUEL_CHECK(out.numel() == 1, caller, ": output ", i, " ", describe(out),
                 " has more than one element; pass its gradient explicitly");
      seed = out.dim() == 0 ? scalar_like(out, 1.0) : ones_like(out);  // a constant on cuda: no fill
    } else {
      DUEL_CHECK(seed.shape() == out.shape() && seed.dtype() == out.dtype() &&
                     seed.device() == out.device(),
                 caller, ": grad_output ", i, " ", describe(seed), " does not match output ",
                 describe(out));
    }
    roots.emplace_back(gradient_edge(out), seed);
  }

  // Capture targets for grad().
  std::unordered_map<Node*, std::vector<size_t>> capture;
  std::vector<std::shared_ptr<Node>> target_nodes;
  if (inputs) {
    for (size_t i = 0; i < inputs->size(); ++i) {
      const Tensor& in = (*inputs)[i];
      DUEL_CHECK(in.defined() && in.requires_grad(), caller, ": input ", i, " (", describe(in),
                 ") does not require grad");
      auto node = gradient_edge(in);
      capture[node.get()].push_back(i);
      target_nodes.push_back(node);
    }
  }

  // Discover the graph (iteratively: graphs can be deep) in post-order.
  std::vector<Node*> post_order;
  std::unordered_set<Node*> seen;
  {
    std::vector<std::pair<Node*, size_t>> stack;
    for (auto& [node, seed] : roots) {
      if (seen.insert(node.get()).second) stack.emplace_back(node.get(), 0);
      while (!stack.empty()) {
        auto& [n, next_child] = stack.back();
        if (next_child < n->next.size()) {
          Node* c = n->next[next_child++].node.get();
          if (c && seen.insert(c).second) stack.emplace_back(c, 0);
        } else {
          post_order.push_back(n);
          stack.pop_back();
        }
      }
    }
  }

  // A node is needed if it leads to a target (grad) or always (backward).
  std::unordered_set<Node*> needed;
  for (Node* n : post_order) {  // children come before parents in post-order
    bool need = !inputs || capture.count(n);
    for (const Edge& e : n->next)
      if (e.node && needed.count(e.node.get())) need = true;
    if (need) needed.insert(n);
  }

  std::unordered_map<Node*, int> deps;
  for (Node* n : needed)
    for (const Edge& e : n->next)
      if (e.node && needed.count(e.node.get())) ++deps[e.node.get()];

  GradModeGuard mode(create_graph);
  LevelGuard level;
  NeededGuard needed_guard(&needed);
  std::unordered_map<Node*, Tensor> buffers;
  auto accumulate = [&](Node* n, const Tensor& g) {
    Tensor& b = buffers[n];
    b = b.defined() ? add(b, g) : g;
  };
  std::vector<Node*> ready;
  for (auto& [node, seed] : roots) {
    if (!needed.count(node.get())) continue;
    const bool first = !buffers.count(node.get());
    accumulate(node.get(), seed);
    if (first && deps[node.get()] == 0) ready.push_back(node.get());
  }

  std::vector<Tensor> captured(inputs ? inputs->size() : 0);
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(buffers[n]);
    buffers.erase(n);
    if (t_trace && g.defined()) t_trace->on_gradient(*n, g);
    if (auto it = capture.find(n); it != capture.end())
      for (size_t idx : it->second) captured[idx] = g;

    bool run = g.defined();
    if (inputs && (n->is_accumulator() || capture.count(n))) {
      // In grad() a target only runs to reach another target further up the graph.
      bool leads_on = false;
      for (const Edge& e : n->next)
        if (e.node && needed.count(e.node.get())) leads_on = true;
      run = run && leads_on && !n->is_accumulator();
    }
    std::vector<Tensor> grads;
    if (run) {
      try {
        // What this backward records is one derivative deeper than the node it differentiates:
        // backward of forward nodes is level 1, backward of those (WGAN-GP's penalty) level 2.
        LevelScope scope(n->level + 1);
        ScopeOverride in_scope_of(n->context);
        grads = n->apply(g);
      } catch (const Error& e) {
        const std::string what = e.what();
        if (what.rfind("in the backward of ", 0) == 0) throw;  // already located by a nested pass
        fail("in the backward of ", n->op, where_created(*n), ": ", what);
      }
      if (!n->is_accumulator()) {
        DUEL_CHECK(grads.size() == n->next.size(), "internal: backward of ", n->op, " returned ",
                   grads.size(), " gradients for ", n->next.size(), " inputs");
      }
      for (size_t i = 0; i < grads.size(); ++i) {
        const Tensor& gi = grads[i];
        if (!gi.defined() || !n->next[i].node) continue;
        const Edge& e = n->next[i];
        DUEL_CHECK(gi.shape() == e.shape && gi.dtype() == e.dtype, "internal: backward of ", n->op,
                   " returned a gradient ", describe(gi), " for input ", i, " of shape ",
                   shape_str(e.shape), " ", dtype_name(e.dtype));
        if (anomaly_mode_enabled() && has_non_finite(gi)) {
          fail("anomaly: the backward of ", n->op, where_created(*n),
               " produced NaN or Inf in the gradient for input ", i, " ", describe(gi));
        }
      }
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* c = n->next[i].node.get();
      if (!c || !needed.count(c)) continue;
      if (i < grads.size() && grads[i].defined()) accumulate(c, grads[i]);
      if (--deps[c] == 0) ready.push_back(c);
    }
  }

  if (!inputs) return {};
  for (size_t i = 0; i < captured.size(); ++i) {
    if (captured[i].defined()) continue;
    if (seen.count(target_nodes[i].get())) {
      // Reached, but every path contributed nothing: the gradient is zero.
      captured[i] = zeros_like((*inputs)[i]);
    } else {
      DUEL_CHECK(allow_unused, caller, ": input ", i, " (", describe((*inputs)[i]),
                 ") was not used to compute the outputs (pass allow_unused to get an undefined "
                 "gradient instead)");
    }
  }
  return captured;
}

}  // namespace

bool Node::needs_grad(size_t input) const {
  if (input >= next.size() || !next[input].node) return false;
  return !t_needed || t_needed->count(next[input].node.get()) > 0;
}

Tensor Node::output() {
  DUEL_CHECK(saved_output.defined(), "internal: the backward of ", op,
             " asked for its output, which the op did not save");
  if (!grad_mode_enabled()) return saved_output;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = saved_output.impl()->storage;
  impl->shape = saved_output.shape();
  impl->dtype = saved_output.dtype();
  impl->requires_grad = true;
  impl->grad_fn = shared_from_this();
  return Tensor(impl);
}

Tensor record(const char* op, Tensor out, const std::vector<Tensor>& inputs, BackwardFn backward,
              bool save_output) {
  if (anomaly_mode_enabled() && has_non_finite(out)) {
    std::string ins;
    for (const Tensor& t : inputs)
      if (t.defined()) ins += (ins.empty() ? "" : ", ") + describe(t);
    const std::string scope = current_name_scope();
    fail("anomaly: ", op, " produced NaN or Inf in its output ", describe(out),
         scope.empty() ? std::string() : str_cat(" in '", scope, "'"), "; inputs: ", ins);
  }
  if (!grad_mode_enabled()) return out;
  bool any = false;
  for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (!any) return out;

  auto node = std::make_shared<FunctionNode>();
  node->op = op;
  node->fn = std::move(backward);
  node->sequence = g_sequence.fetch_add(1);
  node->level = t_graph_level;
  if (anomaly_mode_enabled() || t_trace) node->context = current_name_scope();
  node->out_shape = out.shape();
  node->out_dtype = out.dtype();
  node->out_device = out.device();
  node->next.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    e.node = gradient_edge(t);
    if (t.defined()) {
      e.shape = t.shape();
      e.dtype = t.dtype();
      e.device = t.device();
    }
    node->next.push_back(std::move(e));
  }
  if (save_output) node->saved_output = out.detach();
  out.impl()->grad_fn = node;
  out.impl()->requires_grad = true;
  if (t_trace) t_trace->on_record(*node, out, inputs);
  return out;
}

Tensor record(const char* op, Tensor out, std::initializer_list<Tensor> inputs, BackwardFn backward,
              bool save_output) {
  return record(op, std::move(out), std::vector<Tensor>(inputs), std::move(backward), save_output);
}

BackwardFn first_derivative_only(const char* op, BackwardFn backward) {
  return [op, backward = std::move(backward)](Node& node, const Tensor& g) {
    DUEL_CHECK(!grad_mode_enabled(), op, " has no second derivative: its gradient cannot be "
               "differentiated again (create_graph=true)");
    return backward(node, g);
  };
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool create_graph,
                         bool allow_unused) {
  DUEL_CHECK(!inputs.empty(), "grad: no inputs given");
  return run_engine("grad", outputs, grad_outputs, create_graph, &inputs, allow_unused);
}

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool create_graph) {
  run_engine("backward", outputs, grad_outputs, create_graph, nullptr, false);
}

bool grad_mode_enabled() { return t_grad_mode; }
GradModeGuard::GradModeGuard(bool enabled) : prev_(t_grad_mode) { t_grad_mode = enabled; }
GradModeGuard::~GradModeGuard() { t_grad_mode = prev_; }

bool anomaly_mode_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_mode(bool on) { g_anomaly.store(on, std::memory_order_relaxed); }

NameScope::NameScope(std::string name) { t_scopes.push_back(std::move(name)); }
NameScope::~NameScope() { t_scopes.pop_back(); }
std::string current_name_scope() {
  std::string s;
  for (const std::string& part : t_scopes) s += (s.empty() ? "" : "/") + part;
  return s;
}

GraphLevel current_graph_level() { return t_graph_level; }

// ---------------------------------------------------------------------------------------------
// GraphTrace
// ---------------------------------------------------------------------------------------------

GraphTrace::GraphTrace() : previous_(t_trace) { t_trace = this; }
GraphTrace::~GraphTrace() { t_trace = previous_; }

GraphTrace* active_graph_trace() { return t_trace; }

const TracedNode* GraphTrace::find(const Node* n) const {
  auto it = nodes_.find(n);
  return it == nodes_.end() ? nullptr : &it->second;
}

const TracedInput* GraphTrace::input_for(const Tensor& t) const {
  if (!t.defined()) return nullptr;
  for (const TracedInput& in : inputs_)
    if (in.value.impl()->storage == t.impl()->storage) return &in;
  return nullptr;
}

void GraphTrace::on_record(Node& node, const Tensor& out, const std::vector<Tensor>& inputs) {
  TracedNode& rec = nodes_[&node];
  rec.value = out.detach();
  keep_alive_.push_back(node.shared_from_this());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined()) continue;
    if (!t.requires_grad()) {
      rec.constants.emplace_back(i, t.detach());
    } else if (t.is_leaf() && node.next[i].node && !nodes_.count(node.next[i].node.get())) {
      // A parameter (or x_hat): its value now, before the optimiser changes it in place.
      NoGradGuard no_grad;
      TracedNode& leaf = nodes_[node.next[i].node.get()];
      leaf.value = t.detach().clone();
      leaf.leaf = t;
      keep_alive_.push_back(node.next[i].node);
    }
  }
}

void GraphTrace::on_gradient(Node& node, const Tensor& g) {
  NoGradGuard no_grad;
  TracedNode& rec = nodes_[&node];
  rec.grad = rec.grad.defined() ? add(rec.grad, g.detach()) : g.detach();
  ++rec.grad_passes;
  keep_alive_.push_back(node.shared_from_this());
}

void GraphTrace::on_input(const Tensor& t, std::string name, std::vector<std::string> from,
                          std::shared_ptr<Node> detached_from) {
  if (!t.defined()) return;
  if (detached_from) keep_alive_.push_back(detached_from);
  for (TracedInput& in : inputs_)
    if (in.value.impl()->storage == t.impl()->storage) {
      in.name = std::move(name);  // renamed
      in.from = std::move(from);
      in.detached_from = std::move(detached_from);
      return;
    }
  inputs_.push_back({std::move(name), t.detach(), std::move(from), std::move(detached_from)});
}

void trace_input(const Tensor& t, std::string name, std::vector<std::string> from, const Tensor& detached_from) {
  if (t_trace)
    t_trace->on_input(t, std::move(name), std::move(from), detached_from.defined() ? detached_from.grad_fn() : nullptr);
}

bool has_non_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return false;
  const Tensor host = t.to(Device::cpu());
  if (t.dtype() == DType::f32) return kernels::cpu::any_non_finite(host.data<float>(), t.numel());
  return kernels::cpu::any_non_finite(host.data<double>(), t.numel());
}

}  // namespace duel
