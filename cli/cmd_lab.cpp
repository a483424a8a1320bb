// duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan --steps N --out DIR
#include <cstdint>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/lab.h"

namespace duel::cli {

namespace {
Command make_lab_command() {
  Command c{"lab",
            "A 2D GAN with MLP generator and critic. Writes DIR/frames/*.png (real and generated points, the\n"
            "critic's output as a heat map, arrows of the generator's gradient), DIR/metrics.jsonl (modes\n"
            "covered, high-quality fraction, losses, gradient norms), DIR/curves.svg and DIR/lab.html, which\n"
            "plays the frames offline.",
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
             int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0")},
            "Defaults are the image GANs' except for wgan-gp, which uses the WGAN-GP paper's toy settings:\n"
            "lambda 0.1, betas (0.5, 0.9)."};
  for (Flag f : optim_flags()) c.flags.push_back(f);
  return c;
}
}  // namespace

int cmd_lab(int argc, char** argv) {
  static const Command kLab = make_lab_command();
  const Args args(kLab, argc, argv, 2);
  if (args.help()) return print_help(kLab);
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::LabConfig c;
  c.dist = args.get_or("dist", "ring8");
  c.optim = gan::defaults_for(gan::parse_loss(args.get_or("loss", "ns")));
  if (c.optim.loss == gan::LossKind::wgan_gp) {
    // The WGAN-GP paper's settings for its 2D toy data (its gan_toy code): lambda 0.1, beta1 0.5.
    c.optim.gp_lambda = 0.1;
    c.optim.beta1 = 0.5;
  }
  apply_optim_flags(args, c.optim);
  c.steps = args.get_int("steps", 2000);
  c.batch = args.get_int("batch", 256);
  c.z_dim = args.get_int("z-dim", 2);
  c.hidden = args.get_int("hidden", 128);
  c.frame_every = args.get_int("frame-every", 0);
  c.seed = uint64_t(args.get_int("seed", 0));
  c.out = args.required("out");
  return gan::run_lab(c);
}

}  // namespace duel::cli
