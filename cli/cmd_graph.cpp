// duel graph --model dcgan28|mlp --loss ns|wgan-gp --out step.dot [--batch B]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/graph.h"

namespace duel::cli {

int cmd_graph(int argc, char** argv) {
  const Args args("graph", argc, argv, 2, {"model", "loss", "out", "batch"}, {"help"});
  if (args.has("help")) {
    std::puts("usage: duel graph --model dcgan28|mlp --loss ns|wgan-gp|... --out step.dot [--batch 4]\n"
              "  The autograd graph of one training iteration in Graphviz DOT: forward (blue), backward\n"
              "  (orange) and double-backward (red) nodes, each with its op and output shape.\n"
              "  Render with: dot -Tsvg step.dot -o step.svg");
    return 0;
  }
  const std::string out = args.required("out");
  const gan::GraphStats s = gan::write_iteration_graph(args.get_or("model", "mlp"),
                                                       gan::parse_loss(args.get_or("loss", "wgan-gp")),
                                                       args.get_int("batch", 4), out);
  std::printf("wrote %s: %lld forward, %lld backward, %lld double-backward nodes, %lld parameters, %lld edges\n",
              out.c_str(), (long long)s.forward, (long long)s.backward, (long long)s.double_backward,
              (long long)s.parameters, (long long)s.edges);
  return 0;
}

}  // namespace duel::cli
