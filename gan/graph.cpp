#include "gan/graph.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "gan/files.h"
#include "gan/lab.h"
#include "gan/models.h"
#include "gan/step.h"

extern char** environ;

namespace duel::gan {

namespace {

const char* kLevelColour[] = {"#9ecae1", "#fdae6b", "#fb6a4a", "#cb181d"};
const char* kLevelName[] = {"forward", "backward", "double backward", "triple backward"};

// The parts of an iteration, as gan/step.cpp and the models name their scopes. A node belongs to
// the innermost one in its scope ("penalty/D on x̂/D/Sequential/0 (Linear)" -> "D on x̂").
const char* kParts[] = {"G", "D on real", "D on fake", "D on x̂", "penalty", "D on G(z)", "losses"};

std::string part_of(const std::string& scope) {
  std::string part = "losses";  // unscoped arithmetic on the losses
  size_t start = 0;
  while (start <= scope.size()) {
    size_t end = scope.find('/', start);
    if (end == std::string::npos) end = scope.size();
    const std::string component = scope.substr(start, end - start);
    for (const char* p : kParts)
      if (component == p) part = p;
    start = end + 1;
  }
  return part;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

struct Summary {
  double min = 0, max = 0, mean = 0, std = 0, norm = 0;
  int64_t count = 0, non_finite = 0;
  std::vector<int64_t> histogram;
  double lo = 0, hi = 0;
};

Summary summarise(const Tensor& t, int bins = 24) {
  Summary s;
  if (!t.defined() || !is_floating(t.dtype())) return s;
  const std::vector<double> v = t.to_vector();
  double sum = 0, sq = 0;
  bool first = true;
  for (double x : v) {
    if (!std::isfinite(x)) {
      ++s.non_finite;
      continue;
    }
    if (first) s.min = s.max = x, first = false;
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
    sum += x;
    sq += x * x;
    ++s.count;
  }
  if (s.count == 0) return s;
  s.mean = sum / double(s.count);
  s.norm = std::sqrt(sq);
  s.std = std::sqrt(std::max(0.0, sq / double(s.count) - s.mean * s.mean));
  s.lo = s.min;
  s.hi = s.max > s.min ? s.max : s.min + 1;
  s.histogram.assign(size_t(bins), 0);
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    const int b = std::min(bins - 1, int((x - s.lo) / (s.hi - s.lo) * bins));
    ++s.histogram[size_t(std::max(0, b))];
  }
  return s;
}

nlohmann::json summary_json(const Tensor& t) {
  if (!t.defined()) return nullptr;
  const Summary s = summarise(t);
  return {{"shape", t.shape()}, {"count", s.count}, {"non_finite", s.non_finite}, {"min", s.min},
          {"max", s.max}, {"mean", s.mean}, {"std", s.std}, {"norm", s.norm},
          {"histogram", {{"lo", s.lo}, {"hi", s.hi}, {"counts", s.histogram}}}};
}

const char* kind_name(GraphNodeKind k) {
  switch (k) {
    case GraphNodeKind::op: return "op";
    case GraphNodeKind::parameter: return "parameter";
    case GraphNodeKind::input: return "input";
    case GraphNodeKind::output: return "output";
    case GraphNodeKind::optimiser: return "optimiser";
  }
  return "?";
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string html_label_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

}  // namespace

GraphStats IterationGraph::stats() const {
  GraphStats st;
  for (const GraphNode& n : nodes) {
    if (n.kind == GraphNodeKind::parameter) ++st.parameters;
    if (n.kind == GraphNodeKind::input) ++st.inputs;
    if (n.kind != GraphNodeKind::op) continue;
    (n.level == 0 ? st.forward : n.level == 1 ? st.backward : st.double_backward)++;
  }
  st.edges = int64_t(edges.size());
  st.clusters = int64_t(clusters.size());
  return st;
}

IterationGraph build_iteration_graph(const GraphTrace& trace, const std::vector<TracedUpdate>& updates,
                                     const std::string& title) {
  IterationGraph g;
  g.title = title;
  std::map<const TensorImpl*, std::string> param_names;
  for (const TracedUpdate& u : updates)
    for (const auto& [n, t] : u.params) param_names[t.impl()] = u.network + "." + n;

  // Every node reachable from the losses and the parameter gradients.
  std::vector<std::shared_ptr<Node>> stack;
  for (const TracedUpdate& u : updates) {
    if (u.loss.defined() && u.loss.grad_fn()) stack.push_back(u.loss.grad_fn());
    for (const Tensor& t : u.grads)
      if (t.defined() && t.grad_fn()) stack.push_back(t.grad_fn());
  }
  std::map<const Node*, int> id;
  std::vector<std::shared_ptr<Node>> order;
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.back();
    stack.pop_back();
    if (id.count(n.get())) continue;
    id[n.get()] = int(order.size());
    order.push_back(n);
    for (const Edge& e : n->next)
      if (e.node && !id.count(e.node.get())) stack.push_back(e.node);
  }
  // Creation order reads better than discovery order (forward before backward).
  std::stable_sort(order.begin(), order.end(),
                   [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) { return a->sequence < b->sequence; });
  id.clear();
  for (size_t i = 0; i < order.size(); ++i) id[order[i].get()] = int(i);

  auto use_cluster = [&](const std::string& c) {
    if (std::find(g.clusters.begin(), g.clusters.end(), c) == g.clusters.end()) g.clusters.push_back(c);
    return c;
  };
  std::map<std::string, int> input_node;  // traced input name -> node
  auto add_input = [&](const TracedInput& in) {
    auto it = input_node.find(in.name);
    if (it != input_node.end()) return it->second;
    GraphNode n;
    n.kind = GraphNodeKind::input;
    n.label = in.name;
    n.cluster = use_cluster("data");
    n.shape = in.value.shape();
    n.value = in.value;
    g.nodes.push_back(n);
    return input_node[in.name] = int(g.nodes.size() - 1);
  };

  for (const auto& node : order) {
    GraphNode n;
    const TracedNode* rec = trace.find(node.get());
    n.shape = node->out_shape;
    n.scope = node->context;
    if (rec) {
      n.value = rec->value;
      n.grad = rec->grad;
      n.grad_passes = rec->grad_passes;
    }
    if (node->is_accumulator()) {
      Tensor leaf = rec && rec->leaf.defined() ? rec->leaf : Tensor(node->accumulates_into());
      const TracedInput* in = leaf.defined() ? trace.input_for(leaf) : nullptr;
      const auto pn = leaf.defined() ? param_names.find(leaf.impl()) : param_names.end();
      if (in) {
        n.kind = GraphNodeKind::input;
        n.label = in->name;
        n.cluster = use_cluster("data");
      } else {
        n.kind = GraphNodeKind::parameter;
        n.label = pn != param_names.end() ? pn->second : "leaf";
        n.cluster = use_cluster(pn != param_names.end() ? pn->second.substr(0, 1) + " parameters" : "data");
      }
    } else {
      n.kind = GraphNodeKind::op;
      n.label = node->op;
      n.level = std::min(node->level, 3);
      n.cluster = use_cluster(part_of(node->context) + " · " + kLevelName[n.level]);
    }
    g.nodes.push_back(std::move(n));
  }
  // Parameter and input nodes came from accumulators; remember names so inputs are not doubled.
  for (size_t i = 0; i < order.size(); ++i)
    if (g.nodes[i].kind == GraphNodeKind::input) input_node[g.nodes[i].label] = int(i);

  for (const auto& node : order) {
    const int to = id[node.get()];
    for (const Edge& e : node->next)
      if (e.node) g.edges.push_back({id[e.node.get()], to, true, ""});
    if (const TracedNode* rec = trace.find(node.get()))
      for (const auto& [index, t] : rec->constants)
        if (const TracedInput* in = trace.input_for(t)) g.edges.push_back({add_input(*in), to, false, ""});
  }
  // How the inputs were made: x̂ from ε, real and G(z); G(z) detached from G's output.
  for (const TracedInput& in : trace.inputs()) {
    auto it = input_node.find(in.name);
    if (it == input_node.end()) continue;
    for (const std::string& from : in.from)
      for (const TracedInput& source : trace.inputs())
        if (source.name == from) g.edges.push_back({add_input(source), it->second, false, "no grad"});
    if (in.detached_from && id.count(in.detached_from.get()))
      g.edges.push_back({id[in.detached_from.get()], it->second, false, "detach()"});
  }
  // The losses and the optimisers that take the parameter gradients.
  for (const TracedUpdate& u : updates) {
    GraphNode loss;
    loss.kind = GraphNodeKind::output;
    loss.label = "loss_" + u.network;
    loss.cluster = use_cluster("losses · forward");
    loss.value = u.loss.detach();
    loss.shape = u.loss.shape();
    g.nodes.push_back(loss);
    if (u.loss.grad_fn()) g.edges.push_back({id[u.loss.grad_fn().get()], int(g.nodes.size() - 1), true, ""});
    GraphNode opt;
    opt.kind = GraphNodeKind::optimiser;
    opt.label = u.optimiser + " step (" + u.network + ")";
    opt.cluster = use_cluster("optimiser");
    g.nodes.push_back(opt);
    const int opt_id = int(g.nodes.size() - 1);
    for (size_t i = 0; i < u.grads.size() && i < u.params.size(); ++i) {
      const Tensor& gr = u.grads[i];
      if (gr.defined() && gr.grad_fn()) {
        g.edges.push_back({id[gr.grad_fn().get()], opt_id, true, "∇" + u.network + "." + u.params[i].first});
      }
    }
  }
  return g;
}

std::string cluster_id(const IterationGraph& g, const std::string& cluster) {
  const auto it = std::find(g.clusters.begin(), g.clusters.end(), cluster);
  return "cluster_" + std::to_string(it - g.clusters.begin());
}

std::string graph_dot(const IterationGraph& g, const DotOptions& o) {
  std::set<std::string> collapsed = o.collapsed;
  if (o.summary)
    for (const std::string& c : g.clusters)
      if (c != "data") collapsed.insert(c);
  auto cluster_index = [&](const std::string& c) {
    return int(std::find(g.clusters.begin(), g.clusters.end(), c) - g.clusters.begin());
  };
  // Each node's name in the drawing: its own, or its collapsed cluster's.
  std::vector<std::string> drawn(g.nodes.size());
  std::map<std::string, int> cluster_size;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string& c = g.nodes[i].cluster;
    ++cluster_size[c];
    drawn[i] = collapsed.count(c) ? "c" + std::to_string(cluster_index(c)) : "n" + std::to_string(i);
  }

  std::ostringstream os;
  os << "digraph duel_iteration {\n  rankdir=TB; newrank=true; nodesep=0.15; ranksep=0.3;\n"
     << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10, margin=\"0.06,0.03\", height=0.3];\n"
     << "  edge [color=\"#666666\", arrowsize=0.5];\n"
     << "  labelloc=t; fontname=\"Helvetica\"; fontsize=12; label=\"" << dot_escape(g.title) << "\";\n";

  auto node_line = [&](size_t i) {
    const GraphNode& n = g.nodes[i];
    std::ostringstream line;
    line << "n" << i << " [id=\"n" << i << "\", ";
    std::string fill = "#e0e0e0", shape = "box";
    switch (n.kind) {
      case GraphNodeKind::op: fill = kLevelColour[n.level]; break;
      case GraphNodeKind::parameter: shape = "ellipse"; break;
      case GraphNodeKind::input: fill = "#fff3b0"; shape = "cds"; break;
      case GraphNodeKind::output: fill = "#ffffff"; shape = "doubleoctagon"; break;
      case GraphNodeKind::optimiser: fill = "#dadaeb"; shape = "box3d"; break;
    }
    line << "shape=" << shape << ", fillcolor=\"" << fill << "\", tooltip=\""
         << dot_escape(n.scope.empty() ? n.label : n.scope) << "\", label=<" << html_label_escape(n.label);
    if (n.kind != GraphNodeKind::optimiser)
      line << "<BR/><FONT POINT-SIZE=\"8\">" << html_label_escape(shape_str(n.shape)) << "</FONT>";
    if (o.values && n.value.defined()) {
      const Summary v = summarise(n.value);
      line << "<BR/><FONT POINT-SIZE=\"8\">" << (n.value.numel() == 1 ? "= " + fmt(v.mean)
                                                  : "[" + fmt(v.min) + ", " + fmt(v.max) + "] μ " + fmt(v.mean))
           << "</FONT>";
    }
    if (o.values && n.grad.defined()) {
      const Summary gs = summarise(n.grad);
      line << "<BR/><FONT POINT-SIZE=\"8\" COLOR=\"#b2182b\">∇ ‖" << fmt(gs.norm) << "‖</FONT>";
    }
    line << ">];";
    return line.str();
  };

  for (size_t c = 0; c < g.clusters.size(); ++c) {
    const std::string& name = g.clusters[c];
    if (collapsed.count(name)) {
      // One box for the cluster: its level's colour, the number of nodes it hides.
      std::string fill = "#e0e0e0";
      for (int l = 0; l < 4; ++l)
        if (name.size() > std::string(kLevelName[l]).size() &&
            name.compare(name.size() - std::string(kLevelName[l]).size(), std::string::npos, kLevelName[l]) == 0)
          fill = kLevelColour[l];
      if (name == "optimiser") fill = "#dadaeb";
      os << "  c" << c << " [id=\"c" << c << "\", shape=box, style=\"filled,bold\", fillcolor=\"" << fill
         << "\", fontsize=12, label=\"" << dot_escape(name) << "\\n(" << cluster_size[name] << " nodes)\"];\n";
      continue;
    }
    os << "  subgraph cluster_" << c << " {\n    id=\"cluster_" << c << "\"; label=\"" << dot_escape(name)
       << "\"; style=\"rounded,dashed\"; color=\"#999999\"; fontsize=11;\n";
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].cluster == name) os << "    " << node_line(i) << "\n";
    os << "  }\n";
  }
  // Edges between drawn nodes; edges inside a collapsed cluster vanish, parallel ones merge.
  std::map<std::pair<std::string, std::string>, std::pair<int, const GraphEdge*>> merged;
  std::vector<std::pair<std::string, std::string>> edge_order;
  for (const GraphEdge& e : g.edges) {
    const auto key = std::make_pair(drawn[size_t(e.from)], drawn[size_t(e.to)]);
    if (key.first == key.second) continue;
    auto [it, fresh] = merged.try_emplace(key, 0, &e);
    if (fresh) edge_order.push_back(key);
    ++it->second.first;
  }
  for (const auto& key : edge_order) {
    const auto& [count, e] = merged[key];
    os << "  " << key.first << " -> " << key.second;
    std::vector<std::string> attrs;
    if (!e->carries_gradient) attrs.push_back("style=dashed, color=\"#2b8cbe\"");
    const std::string label = count > 1 ? std::to_string(count) + "×" : e->label;
    if (!label.empty()) attrs.push_back("label=\"" + dot_escape(label) + "\", fontsize=8");
    if (!attrs.empty()) {
      os << " [";
      for (size_t i = 0; i < attrs.size(); ++i) os << (i ? ", " : "") << attrs[i];
      os << "]";
    }
    os << ";\n";
  }
  if (o.legend) {
    os << "  subgraph cluster_legend {\n    label=\"legend\"; style=dashed; fontsize=10;\n";
    for (int l = 0; l < 3; ++l)
      os << "    legend" << l << " [id=\"legend" << l << "\", fillcolor=\"" << kLevelColour[l] << "\", label=\""
         << kLevelName[l] << "\"];\n";
    os << "    legendp [id=\"legendp\", shape=ellipse, fillcolor=\"#e0e0e0\", label=\"parameter\"];\n"
       << "    legendi [id=\"legendi\", shape=cds, fillcolor=\"#fff3b0\", label=\"data (no gradient)\"];\n"
       << "    legend0 -> legend1 -> legend2 [style=invis];\n    legendp -> legendi [style=dashed, color=\"#2b8cbe\", "
          "label=\"no gradient\", fontsize=8];\n  }\n";
  }
  os << "}\n";
  return os.str();
}

nlohmann::json node_details(const IterationGraph& g, int node) {
  DUEL_CHECK(node >= 0 && node < int(g.nodes.size()), "graph: no node ", node, " (the graph has ", g.nodes.size(),
             " nodes)");
  const GraphNode& n = g.nodes[size_t(node)];
  nlohmann::json inputs = nlohmann::json::array(), consumers = nlohmann::json::array();
  for (const GraphEdge& e : g.edges) {
    if (e.to == node)
      inputs.push_back({{"node", e.from}, {"label", g.nodes[size_t(e.from)].label}, {"gradient", e.carries_gradient},
                        {"edge", e.label}});
    if (e.from == node) consumers.push_back({{"node", e.to}, {"label", g.nodes[size_t(e.to)].label}});
  }
  return {{"node", node},
          {"kind", kind_name(n.kind)},
          {"label", n.label},
          {"scope", n.scope},
          {"cluster", n.cluster},
          {"level", n.level},
          {"pass", n.kind == GraphNodeKind::op ? kLevelName[n.level] : ""},
          {"shape", n.shape},
          {"value", summary_json(n.value)},
          {"grad", summary_json(n.grad)},
          {"grad_passes", n.grad_passes},
          {"inputs", inputs},
          {"consumers", consumers}};
}

std::string render_svg(const std::string& dot) {
  namespace fs = std::filesystem;
  char dir_template[] = "/tmp/duel-dot-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  DUEL_CHECK(dir != nullptr, "graph: cannot create a temporary directory for Graphviz");
  const std::string in = std::string(dir) + "/graph.dot", out = std::string(dir) + "/graph.svg",
                    err = std::string(dir) + "/dot.err";
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(d, ec);
    }
  } cleanup{dir};
  write_text_atomic(in, dot);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  const std::string arg_out = "-o" + out;
  std::vector<char*> argv{const_cast<char*>("dot"), const_cast<char*>("-Tsvg"), const_cast<char*>(arg_out.c_str()),
                          const_cast<char*>(in.c_str()), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "dot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  DUEL_CHECK(rc == 0, "graph: cannot run Graphviz's `dot` (install graphviz): ", std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string msg = fs::exists(err) ? read_text(err) : std::string();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    fail("graph: Graphviz's dot failed: ", msg.empty() ? "no message" : msg);
  }
  return read_text(out);
}

IterationGraph trace_iteration(const std::string& model, LossKind loss, int64_t batch) {
  DUEL_CHECK(batch >= 2, "graph: --batch must be at least 2");
  Generator rng(0);
  std::unique_ptr<Gan> image_gan;
  std::unique_ptr<MlpGan> mlp;
  Adversaries* adv = nullptr;
  Tensor real, z, eps;
  if (model == "dcgan28") {
    ModelConfig m;
    m.critic_norm = loss == LossKind::wgan_gp ? CriticNorm::none : CriticNorm::batchnorm;
    image_gan = std::make_unique<Gan>(m);
    image_gan->init_dcgan(rng);
    adv = image_gan.get();
    real = uniform({batch, 1, 28, 28}, -1, 1, rng);
    z = randn({batch, m.nz, 1, 1}, rng);
    eps = rand({batch, 1, 1, 1}, rng);
  } else if (model == "mlp") {
    mlp = std::make_unique<MlpGan>(2, 16);
    nn::reset_all(mlp->G(), rng);
    nn::reset_all(mlp->D(), rng);
    adv = mlp.get();
    real = randn({batch, 2}, rng);
    z = randn({batch, 2}, rng);
    eps = rand({batch, 1}, rng);
  } else {
    fail("graph: unknown model '", model, "' (expected dcgan28 or mlp)");
  }
  const OptimConfig config = defaults_for(loss);
  GanStep step(*adv, config);
  GraphTrace trace;
  trace_input(z, "z");
  const Tensor fake = image_gan ? image_gan->generate(z) : mlp->generate(z);
  const DStats d = step.d_update(real, Tensor(), fake, loss == LossKind::wgan_gp ? eps : Tensor());
  const GStats gs = step.g_update(fake, Tensor());
  const char* opt = loss == LossKind::wgan ? "RMSProp" : "Adam";
  const std::vector<TracedUpdate> updates{{"D", opt, d.loss, adv->D().named_parameters(), d.grads},
                                          {"G", opt, gs.loss, adv->G().named_parameters(), gs.grads}};
  return build_iteration_graph(trace, updates,
                               "duel: one " + model + " " + loss_name(loss) + " iteration (batch " +
                                   std::to_string(batch) + "): the critic update, then the generator update");
}

}  // namespace duel::gan
