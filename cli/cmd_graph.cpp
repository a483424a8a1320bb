// duel graph --model dcgan28|mlp --loss ns|wgan-gp|... --out step.dot|step.svg [--batch B]
//            [--values] [--view full|summary]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/files.h"
#include "gan/graph.h"

namespace duel::cli {

namespace {
const Command kGraph{
    "graph",
    "The autograd graph of one training iteration (the critic update, then the generator update, as\n"
    "`duel train` runs them): forward (blue), backward (orange) and double-backward (red) nodes,\n"
    "grouped by part (G, D on real, D on fake, D on x̂, penalty, D on G(z), losses) and pass, with the\n"
    "parameters, the data (real, z, ε, x̂; dashed edges carry no gradient) and the optimiser steps\n"
    "that take the parameter gradients.",
    "",
    0,
    0,
    {choice_flag("model", {"dcgan28", "mlp"}, "the networks", "mlp"),
     choice_flag("loss", {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "the loss", "wgan-gp"),
     text_flag("out", "FILE", "the graph (required): .svg renders it with Graphviz, .dot or .gv is the DOT source"),
     int_flag("batch", "B", "samples in the iteration", Range::ints(1, 64), "4"),
     switch_flag("values", "label each node with its value's range and mean and its gradient's norm"),
     choice_flag("view", {"full", "summary"}, "every node, or one box per part and pass (a slide)", "full")},
    "Render a .dot file yourself with: dot -Tsvg step.dot -o step.svg"};
}  // namespace

int cmd_graph(int argc, char** argv) {
  const Args args(kGraph, argc, argv, 2);
  if (args.help()) return print_help(kGraph);
  const std::string out = args.required("out");
  const std::string ext = check_output_extension("graph", out, {".svg", ".dot", ".gv"},
                                                 "SVG (rendered with Graphviz) or Graphviz DOT");
  const gan::IterationGraph g = gan::trace_iteration(args.get_or("model", "mlp"),
                                                     gan::parse_loss(args.get_or("loss", "wgan-gp")),
                                                     args.get_int("batch", 4));
  gan::DotOptions o;
  o.values = args.has("values");
  o.summary = args.get_or("view", "full") == "summary";
  const std::string dot = gan::graph_dot(g, o);
  gan::write_text_atomic(out, ext == ".svg" ? gan::render_svg(dot) : dot);
  const gan::GraphStats s = g.stats();
  std::printf("wrote %s: %lld forward, %lld backward, %lld double-backward nodes, %lld parameters, %lld inputs, "
              "%lld edges in %lld clusters\n",
              out.c_str(), (long long)s.forward, (long long)s.backward, (long long)s.double_backward,
              (long long)s.parameters, (long long)s.inputs, (long long)s.edges, (long long)s.clusters);
  return 0;
}

}  // namespace duel::cli
