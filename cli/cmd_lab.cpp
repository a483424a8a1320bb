// duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan|wgan --steps N --out DIR
// duel lab dirac [--updates ...] [--penalty none|r1|wgan-gp] ... --out DIR
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

const Command kLabDirac{
    "lab dirac",
    "The Dirac GAN (Mescheder et al. 2018): data at 0, generator at theta, critic D(x) = psi x, both\n"
    "trained by plain gradient descent with step --lr. Writes DIR/dirac.svg (the trajectory over the\n"
    "gradient field) and DIR/trajectory.csv, and prints the distance to the equilibrium (0, 0).",
    "",
    0,
    0,
    {text_flag("out", "DIR", "the folder for the pictures (required)"),
     choice_flag("updates", {"simultaneous", "alternating"}, "both players at the same point, or the critic first",
                 "simultaneous"),
     choice_flag("penalty", {"none", "r1", "wgan-gp"}, "the critic's gradient penalty", "none"),
     real_flag("gamma", "G", "the penalty's weight (R1's gamma, WGAN-GP's lambda)", Range::reals(0, 1e6), "0.3"),
     choice_flag("loss", {"minimax", "ns", "wgan", "hinge", "lsgan"}, "the game", "minimax"),
     real_flag("lr", "LR", "gradient-descent step of both players", Range::reals(0, 100, true), "0.1"),
     int_flag("steps", "N", "updates", Range::ints(1, 1000000), "500"),
     text_flag("start", "THETA,PSI", "the starting point", "1,1"),
     switch_flag("all", "the six combinations of update order and penalty in DIR/dirac_all.svg")},
    ""};

int cmd_lab_dirac(int argc, char** argv) {
  const Args args(kLabDirac, argc, argv, 3);
  if (args.help()) return print_help(kLabDirac);
  gan::DiracConfig c;
  c.order = gan::parse_update_order(args.get_or("updates", "simultaneous"));
  c.penalty = gan::parse_dirac_penalty(args.get_or("penalty", "none"));
  c.gamma = args.get_double("gamma", c.gamma);
  c.loss = gan::parse_loss(args.get_or("loss", "minimax"));
  c.lr = args.get_double("lr", c.lr);
  c.steps = args.get_int("steps", c.steps);
  const std::string out = args.required("out");
  if (const auto start = args.get("start")) {
    // Two numbers of at most 1e6 in size: the field is drawn around the trajectory.
    const size_t comma = start->find(',');
    DUEL_CHECK(comma != std::string::npos, "lab dirac: --start expects THETA,PSI, got '", start->substr(0, 60), "'");
    const Range r = Range::reals(-1e6, 1e6);
    c.theta0 = parse_real_in(start->substr(0, comma), r, "lab dirac: --start's THETA");
    c.psi0 = parse_real_in(start->substr(comma + 1), r, "lab dirac: --start's PSI");
  }
  return gan::run_dirac(c, args.has("all"), out);
}

Command make_lab_command() {
  Command c{"lab",
            "A 2D GAN with MLP generator and critic. Writes DIR/frames/*.png (real and generated points, the\n"
            "critic's output as a heat map, arrows of the generator's gradient), DIR/metrics.jsonl (modes\n"
            "covered, high-quality fraction, losses, D(x), D(G(z)), gradient norms), DIR/curves.svg and\n"
            "DIR/lab.html, a self-contained page that plays the frames offline with the curves.",
            "",
            0,
            0,
            {choice_flag("dist", {"ring8", "grid25", "spiral"}, "the real distribution", "ring8"),
             choice_flag("loss", {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "the adversarial loss", "ns"),
             int_flag("steps", "N", "generator updates", Range::ints(1, 1e9), "2000"),
             text_flag("out", "DIR", "the experiment's folder (required)"),
             int_flag("batch", "B", "points per update", Range::ints(1, 65536), "256"),
             int_flag("seed", "S", "weights, latents and data", Range::ints(0, 9.2e18), "0"),
             int_flag("z-dim", "D", "latent size", Range::ints(1, 256), "2"),
             int_flag("hidden", "H", "units per hidden layer", Range::ints(1, 4096), "128"),
             int_flag("frame-every", "K", "a frame every K steps (0: about 100 frames)", Range::ints(0, 1e9), "0"),
             int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0"),
             choice_flag("opt-g", {"adam", "rmsprop", "sgd"}, "the generator's optimiser",
                         "RMSProp for wgan, Adam otherwise"),
             choice_flag("opt-d", {"adam", "rmsprop", "sgd"}, "the critic's optimiser",
                         "RMSProp for wgan, Adam otherwise"),
             choice_flag("updates", {"alternating", "simultaneous"},
                         "the critic first, or both gradients at the same parameters", "alternating"),
             text_flag("note", "TEXT", "a line of text shown on lab.html")},
            "Defaults are the image GANs' except for wgan-gp, which uses the WGAN-GP paper's toy settings:\n"
            "lambda 0.1, betas (0.5, 0.9). `duel studio` runs the same lab live; `duel lab dirac --help`\n"
            "shows the Dirac GAN, the smallest GAN that does not converge."};
  for (Flag f : optim_flags()) c.flags.push_back(f);
  return c;
}

}  // namespace

int cmd_lab(int argc, char** argv) {
  if (argc > 2 && std::string(argv[2]) == "dirac") return cmd_lab_dirac(argc, argv);
  static const Command kLab = make_lab_command();
  const Args args(kLab, argc, argv, 2);
  if (args.help()) return print_help(kLab);
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
  c.seed = uint64_t(args.get_int("seed", 0));
  c.out = args.required("out");
  return gan::run_lab(c);
}

}  // namespace duel::cli
