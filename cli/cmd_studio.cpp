// duel studio [--port P] [--host ADDR] [--max-sessions N] [--threads T]
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "studio/studio.h"

namespace duel::cli {

namespace {
const Command kStudio{
    "studio",
    "The 2D GAN lab as a live web page served by duel: open the printed address in a browser.\n"
    "Choose the data (ring8, grid25, spiral, or draw your own), the loss (minimax, ns, wgan, wgan-gp,\n"
    "hinge, lsgan), each network's optimiser and learning rate, critic updates per generator update,\n"
    "lambda; play, pause, step the critic or the generator by hand, reset. The page shows the critic's\n"
    "heat map, real and generated points, where a grid of z lands, the generator's gradient arrows,\n"
    "curves, and the autograd graph of the last step with each node's value and gradient statistics.\n"
    "Each tab has its own session.",
    "",
    0,
    0,
    {int_flag("port", "P", "the port to listen on (0: any free port, printed on start-up)", Range::ints(0, 65535),
              "8765"),
     text_flag("host", "ADDR", "the address to listen on; 127.0.0.1 is this machine only", "127.0.0.1"),
     int_flag("max-sessions", "N", "sessions kept; the least recently used goes first", Range::ints(1, 10000), "32"),
     int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0")},
    "Ctrl-C stops it."};
}  // namespace

int cmd_studio(int argc, char** argv) {
  const Args args(kStudio, argc, argv, 2);
  if (args.help()) return print_help(kStudio);
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  studio::StudioOptions o;
  o.port = int(args.get_int("port", o.port));
  o.host = args.get_or("host", o.host);
  o.max_sessions = int(args.get_int("max-sessions", o.max_sessions));
  return studio::run_studio(o);
}

}  // namespace duel::cli
