// The autograd graph of one GAN iteration, for `duel graph` and `duel studio`.
//
// The iteration runs under a GraphTrace (core/autograd.h), so every node keeps its value, the
// gradient that reached it and the name scope it belongs to. The training step (gan/step.cpp)
// names its parts, and the graph groups its nodes by part and pass:
//   G, D on real, D on fake (the critic update, on G(z) detached), D on x̂ and penalty
//   (WGAN-GP), D on G(z) (the generator update), losses, each split into forward (level 0),
//   backward (level 1: recorded while the losses' gradients were taken) and double backward
//   (level 2: the backward of backward nodes, which WGAN-GP's penalty runs through);
// plus the parameters of each network, the data (real, z, ε, x̂) and the optimiser that
// consumes the parameter gradients.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/autograd.h"
#include "gan/losses.h"
#include "nn/tensor_io.h"

namespace duel::gan {

struct GraphStats {
  int64_t forward = 0, backward = 0, double_backward = 0, parameters = 0, inputs = 0, edges = 0, clusters = 0;
};

enum class GraphNodeKind { op, parameter, input, output, optimiser };

struct GraphNode {
  GraphNodeKind kind = GraphNodeKind::op;
  std::string label;    // op name, parameter name ("D.0.weight"), input or output name
  std::string scope;    // the name scope it was recorded in
  std::string cluster;  // "D on real · backward", "G parameters", "data", "optimiser"
  int level = 0;        // ops: 0 forward, 1 backward, 2 double backward
  Shape shape;
  Tensor value, grad;   // undefined where not known
  int grad_passes = 0;
};

struct GraphEdge {
  int from = 0, to = 0;
  bool carries_gradient = true;  // false: data that takes no gradient (real, z, a detached G(z))
  std::string label;
};

struct IterationGraph {
  std::vector<GraphNode> nodes;
  std::vector<GraphEdge> edges;
  std::vector<std::string> clusters;  // in order of first appearance
  std::string title;
  GraphStats stats() const;
};

// What a traced iteration produced: the losses, each network's parameter gradients (in the
// order of `params`), and the optimiser that applies them.
struct TracedUpdate {
  std::string network;       // "D" or "G"
  std::string optimiser;     // "Adam", "RMSProp", "SGD"
  Tensor loss;
  NamedTensors params;       // names without the network prefix
  std::vector<Tensor> grads;
};

IterationGraph build_iteration_graph(const GraphTrace& trace, const std::vector<TracedUpdate>& updates,
                                     const std::string& title);

struct DotOptions {
  bool values = false;                  // label nodes with value and gradient statistics
  bool summary = false;                 // one box per part and pass
  std::set<std::string> collapsed;      // clusters drawn as one box
  bool legend = true;
};
std::string graph_dot(const IterationGraph& g, const DotOptions& options);

// Statistics of one node for the studio: op, shape, cluster, and for its value and gradient
// min, max, mean, standard deviation, L2 norm and a 24-bin histogram.
nlohmann::json node_details(const IterationGraph& g, int node);

// The cluster keys as `graph_dot` names them ("cluster_3"), for the studio's collapse buttons.
std::string cluster_id(const IterationGraph& g, const std::string& cluster);

// Renders DOT to SVG with Graphviz's `dot` program; throws with dot's message on failure.
std::string render_svg(const std::string& dot);

// One iteration of `model` ("dcgan28" or "mlp": the lab's networks) with `loss`, traced: the
// critic update (with the penalty for wgan-gp) and the generator update of gan/step.h, with the
// loss's default optimiser settings, on random data.
IterationGraph trace_iteration(const std::string& model, LossKind loss, int64_t batch);

}  // namespace duel::gan
