// duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan|wgan --steps N --out DIR
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/lab.h"
#include "gan/lab_session.h"

namespace duel::cli {

int cmd_lab(int argc, char** argv) {
  const Args args("lab", argc, argv, 2,
                  {"dist", "loss", "steps", "out", "batch", "seed", "lr-g", "lr-d", "beta1", "beta2", "n-critic",
                   "gp-lambda", "clip", "z-dim", "hidden", "frame-every", "threads", "opt-g", "opt-d", "updates",
                   "note"},
                  {"help"});
  if (args.has("help")) {
    std::puts(
        "usage: duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan|wgan --steps N --out DIR\n"
        "                [--batch 256] [--seed S] [--lr-g LR] [--lr-d LR] [--beta1 B] [--beta2 B]\n"
        "                [--opt-g adam|rmsprop|sgd] [--opt-d adam|rmsprop|sgd] [--updates alternating|simultaneous]\n"
        "                [--n-critic K] [--gp-lambda L] [--clip C] [--z-dim 2] [--hidden 128] [--frame-every K]\n"
        "                [--note TEXT]\n"
        "  A 2D GAN with MLP generator and critic. Writes DIR/frames/*.png (real and generated points,\n"
        "  the critic's output as a heat map, arrows of the generator's gradient), DIR/metrics.jsonl\n"
        "  (modes covered, high-quality fraction, losses, D(x), D(G(z)), gradient norms), DIR/curves.svg\n"
        "  and DIR/lab.html, a self-contained page that plays the frames offline with the curves.\n"
        "  Defaults are the image GANs' except for wgan-gp, which uses the WGAN-GP paper's toy\n"
        "  settings: lambda 0.1, betas (0.5, 0.9). --updates simultaneous takes both gradients at the\n"
        "  same parameters (default: alternating, the critic first). `duel studio` runs the same lab live.");
    return 0;
  }
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::LabConfig c;
  c.dist = args.get_or("dist", "ring8");
  c.optim = gan::lab_defaults_for(gan::parse_loss(args.get_or("loss", "ns")));
  apply_optim_flags(args, c.optim);
  c.optim.opt_g = args.get_or("opt-g", "");
  c.optim.opt_d = args.get_or("opt-d", "");
  c.order = args.get_or("updates", "alternating");
  c.steps = args.get_int("steps", 2000);
  c.batch = args.get_int("batch", 256);
  c.z_dim = args.get_int("z-dim", 2);
  c.hidden = args.get_int("hidden", 128);
  c.frame_every = args.get_int("frame-every", 0);
  c.note = args.get_or("note", "");
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "lab: --seed must be >= 0");
  c.seed = uint64_t(seed);
  c.out = args.required("out");
  return gan::run_lab(c);
}

}  // namespace duel::cli
