// duel studio [--port P] [--host ADDR] [--max-sessions N]
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "studio/studio.h"

namespace duel::cli {

int cmd_studio(int argc, char** argv) {
  const Args args("studio", argc, argv, 2, {"port", "host", "max-sessions", "threads"}, {"help"});
  if (args.has("help")) {
    std::puts("usage: duel studio [--port 8765] [--host 127.0.0.1] [--max-sessions 32]\n"
              "  The 2D GAN lab as a live web page served by duel: open the printed address in a browser.\n"
              "  Choose the data (ring8, grid25, spiral, or draw your own), the loss (minimax, ns, wgan,\n"
              "  wgan-gp, hinge, lsgan), each network's optimiser and learning rate, critic updates per\n"
              "  generator update, lambda; play, pause, step the critic or the generator by hand, reset.\n"
              "  The page shows the critic's heat map, real and generated points, where a grid of z lands,\n"
              "  the generator's gradient arrows, curves, and the autograd graph of the last step with\n"
              "  each node's value and gradient statistics. Each tab has its own session.\n"
              "  --port 0 picks a free port. It listens on 127.0.0.1 (this machine only) unless --host says\n"
              "  otherwise. Ctrl-C stops it.");
    return 0;
  }
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  studio::StudioOptions o;
  o.port = int(args.get_int("port", o.port));
  o.host = args.get_or("host", o.host);
  o.max_sessions = int(args.get_int("max-sessions", o.max_sessions));
  return studio::run_studio(o);
}

}  // namespace duel::cli
