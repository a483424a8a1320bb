// duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan|wgan --steps N --out DIR
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/dirac.h"
#include "gan/lab.h"
#include "gan/lab_session.h"

namespace duel::cli {

namespace {

// duel lab dirac [--updates simultaneous|alternating] [--penalty none|r1|wgan-gp] [--gamma G]
//                [--loss ns] [--lr 0.1] [--steps 500] [--start THETA,PSI] [--all] --out DIR
int cmd_lab_dirac(int argc, char** argv) {
  const Args args("lab dirac", argc, argv, 3, {"updates", "penalty", "gamma", "loss", "lr", "steps", "start", "out"},
                  {"help", "all"});
  if (args.has("help")) {
    std::puts(
        "usage: duel lab dirac [--updates simultaneous|alternating] [--penalty none|r1|wgan-gp] [--gamma 0.3]\n"
        "                      [--loss minimax|ns|wgan|hinge|lsgan] [--lr 0.1] [--steps 500] [--start 1,1]\n"
        "                      [--all] --out DIR\n"
        "  The Dirac GAN (Mescheder et al. 2018): data at 0, generator at theta, critic D(x) = psi x,\n"
        "  both trained by plain gradient descent with step --lr. Writes DIR/dirac.svg (the trajectory\n"
        "  over the gradient field) and DIR/trajectory.csv, and prints the distance to the\n"
        "  equilibrium (0, 0). --all draws the six combinations of update order and penalty in\n"
        "  DIR/dirac_all.svg.");
    return 0;
  }
  gan::DiracConfig c;
  c.order = gan::parse_update_order(args.get_or("updates", "simultaneous"));
  c.penalty = gan::parse_dirac_penalty(args.get_or("penalty", "none"));
  c.gamma = args.get_double("gamma", c.gamma);
  c.loss = gan::parse_loss(args.get_or("loss", "minimax"));
  c.lr = args.get_double("lr", c.lr);
  c.steps = args.get_int("steps", c.steps);
  if (const auto start = args.get("start")) {
    const size_t comma = start->find(',');
    DUEL_CHECK(comma != std::string::npos, "lab dirac: --start expects THETA,PSI, got '", *start, "'");
    char* end = nullptr;
    c.theta0 = std::strtod(start->c_str(), &end);
    DUEL_CHECK(end == start->c_str() + comma, "lab dirac: --start expects THETA,PSI, got '", *start, "'");
    c.psi0 = std::strtod(start->c_str() + comma + 1, &end);
    DUEL_CHECK(end == start->c_str() + start->size() && comma + 1 < start->size(),
               "lab dirac: --start expects THETA,PSI, got '", *start, "'");
  }
  return gan::run_dirac(c, args.has("all"), args.required("out"));
}

}  // namespace

int cmd_lab(int argc, char** argv) {
  if (argc > 2 && std::string(argv[2]) == "dirac") return cmd_lab_dirac(argc, argv);
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
