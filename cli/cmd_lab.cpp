// duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan --steps N --out DIR
#include <cstdint>
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/lab.h"

namespace duel::cli {

int cmd_lab(int argc, char** argv) {
  const Args args("lab", argc, argv, 2,
                  {"dist", "loss", "steps", "out", "batch", "seed", "lr-g", "lr-d", "beta1", "beta2", "n-critic",
                   "gp-lambda", "z-dim", "hidden", "frame-every", "threads"},
                  {"help"});
  if (args.has("help")) {
    std::puts(
        "usage: duel lab --dist ring8|grid25|spiral --loss ns|minimax|wgan-gp|hinge|lsgan|wgan --steps N --out DIR\n"
        "                [--batch 256] [--seed S] [--lr-g LR] [--lr-d LR] [--beta1 B] [--beta2 B]\n"
        "                [--n-critic K] [--gp-lambda L] [--z-dim 2] [--hidden 128] [--frame-every K]\n"
        "  A 2D GAN with MLP generator and critic. Writes DIR/frames/*.png (real and generated points,\n"
        "  the critic's output as a heat map, arrows of the generator's gradient), DIR/metrics.jsonl\n"
        "  (modes covered, high-quality fraction, losses, gradient norms), DIR/curves.svg and\n"
        "  DIR/lab.html, which plays the frames offline. Defaults are the image GANs' except for\n"
        "  wgan-gp, which uses the WGAN-GP paper's toy settings: lambda 0.1, betas (0.5, 0.9).");
    return 0;
  }
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
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "lab: --seed must be >= 0");
  c.seed = uint64_t(seed);
  c.out = args.required("out");
  return gan::run_lab(c);
}

}  // namespace duel::cli
