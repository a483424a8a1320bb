// duel graph --model dcgan28|mlp --loss ns|wgan-gp|... --out step.dot|step.svg [--batch B]
//            [--values] [--view full|summary]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/files.h"
#include "gan/graph.h"

namespace duel::cli {

int cmd_graph(int argc, char** argv) {
  const Args args("graph", argc, argv, 2, {"model", "loss", "out", "batch", "view"}, {"help", "values"});
  if (args.has("help")) {
    std::puts("usage: duel graph --model dcgan28|mlp --loss ns|wgan-gp|... --out step.dot|step.svg\n"
              "                  [--batch 4] [--values] [--view full|summary]\n"
              "  The autograd graph of one training iteration (the critic update, then the generator\n"
              "  update, as `duel train` runs them): forward (blue), backward (orange) and double-backward\n"
              "  (red) nodes, grouped by part (G, D on real, D on fake, D on x̂, penalty, D on G(z),\n"
              "  losses) and pass, with the parameters, the data (real, z, ε, x̂; dashed edges carry no\n"
              "  gradient) and the optimiser steps that take the parameter gradients.\n"
              "  --values      label each node with its value's range and mean and its gradient's norm\n"
              "  --view summary  one box per part and pass (a slide); full (default) draws every node\n"
              "  --out NAME.svg renders with Graphviz; NAME.dot writes the DOT source\n"
              "  (render it with: dot -Tsvg step.dot -o step.svg)");
    return 0;
  }
  const std::string out = args.required("out");
  const std::string view = args.get_or("view", "full");
  DUEL_CHECK(view == "full" || view == "summary", "graph: --view must be full or summary, got '", view, "'");
  const bool svg = out.size() > 4 && out.compare(out.size() - 4, 4, ".svg") == 0;
  const gan::IterationGraph g = gan::trace_iteration(args.get_or("model", "mlp"),
                                                     gan::parse_loss(args.get_or("loss", "wgan-gp")),
                                                     args.get_int("batch", 4));
  gan::DotOptions o;
  o.values = args.has("values");
  o.summary = view == "summary";
  const std::string dot = gan::graph_dot(g, o);
  gan::write_text_atomic(out, svg ? gan::render_svg(dot) : dot);
  const gan::GraphStats s = g.stats();
  std::printf("wrote %s: %lld forward, %lld backward, %lld double-backward nodes, %lld parameters, %lld inputs, "
              "%lld edges in %lld clusters\n",
              out.c_str(), (long long)s.forward, (long long)s.backward, (long long)s.double_backward,
              (long long)s.parameters, (long long)s.inputs, (long long)s.edges, (long long)s.clusters);
  return 0;
}

}  // namespace duel::cli
