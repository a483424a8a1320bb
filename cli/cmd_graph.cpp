// duel graph --model dcgan28|mlp --loss ns|wgan-gp --out step.dot [--batch B]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/graph.h"

namespace duel::cli {

namespace {
const Command kGraph{"graph",
                     "The autograd graph of one training iteration in Graphviz DOT: forward (blue), backward\n"
                     "(orange) and double-backward (red) nodes, each with its op and output shape.",
                     "",
                     0,
                     0,
                     {choice_flag("model", {"dcgan28", "mlp"}, "the networks", "mlp"),
                      choice_flag("loss", {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "the loss", "wgan-gp"),
                      text_flag("out", "FILE.dot", "the graph (required; DOT, .dot or .gv)"),
                      int_flag("batch", "B", "samples in the iteration", Range::ints(1, 64), "4")},
                     "Render with: dot -Tsvg step.dot -o step.svg"};
}  // namespace

int cmd_graph(int argc, char** argv) {
  const Args args(kGraph, argc, argv, 2);
  if (args.help()) return print_help(kGraph);
  const std::string out = args.required("out");
  check_output_extension("graph", out, {".dot", ".gv"}, "Graphviz DOT (render it with dot -Tsvg)");
  const gan::GraphStats s = gan::write_iteration_graph(args.get_or("model", "mlp"),
                                                       gan::parse_loss(args.get_or("loss", "wgan-gp")),
                                                       args.get_int("batch", 4), out);
  std::printf("wrote %s: %lld forward, %lld backward, %lld double-backward nodes, %lld parameters, %lld edges\n",
              out.c_str(), (long long)s.forward, (long long)s.backward, (long long)s.double_backward,
              (long long)s.parameters, (long long)s.edges);
  return 0;
}

}  // namespace duel::cli
