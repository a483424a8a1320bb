// `duel graph`: the autograd graph of one training iteration as Graphviz DOT.
//
// The iteration is recorded with create_graph everywhere, so the backward computation appears as
// nodes too: forward nodes (level 0), backward nodes (level 1, recorded while the gradients of
// the losses were taken; for wgan-gp this includes the gradient of the critic with respect to
// its input inside the penalty) and double-backward nodes (level 2: the backward of those
// backward nodes, which the penalty's weight gradient runs through).
#pragma once

#include <cstdint>
#include <string>

#include "gan/losses.h"

namespace duel::gan {

struct GraphStats {
  int64_t forward = 0, backward = 0, double_backward = 0, parameters = 0, edges = 0;
};

// model: "dcgan28" or "mlp" (the lab's networks). Writes DOT to `path`.
GraphStats write_iteration_graph(const std::string& model, LossKind loss, int64_t batch, const std::string& path);

}  // namespace duel::gan
