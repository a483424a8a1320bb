// duel sample --checkpoint DIR --n 64 --seed S --out grid.png [--label k]
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "gan/trainer.h"

namespace duel::cli {

int cmd_sample(int argc, char** argv) {
  const Args args("sample", argc, argv, 2, {"checkpoint", "n", "seed", "out", "label", "device"}, {"help"});
  if (args.has("help")) {
    std::puts("usage: duel sample --checkpoint DIR --n 64 --seed S --out grid.png [--label k]\n"
              "  A grid of n images from the checkpoint's generator (evaluation mode), latent vectors\n"
              "  drawn from the seed; --label k draws class k from a conditional model.");
    return 0;
  }
  const int64_t n = args.get_int("n", 64);
  DUEL_CHECK(n >= 1 && n <= 4096, "sample: --n must be between 1 and 4096, got ", n);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "sample: --seed must be >= 0");
  const std::string out = args.required("out");
  DUEL_CHECK(parse_device(args.get_or("device", "cpu")).is_cpu(), "sample: only --device cpu in this build");
  gan::TrainConfig cfg;
  auto gan = gan::load_checkpoint_models(args.required("checkpoint"), &cfg, false);
  Generator g(static_cast<uint64_t>(seed));
  const Tensor z = randn({n, cfg.model.nz, 1, 1}, g);
  Tensor labels = gan::grid_labels(n, cfg.model);
  if (args.has("label")) {
    DUEL_CHECK(cfg.model.conditional, "sample: --label needs a conditional model (trained with --conditional)");
    const int64_t k = args.get_int("label", 0);
    DUEL_CHECK(k >= 0 && k < cfg.model.num_classes, "sample: --label ", k, " is not a class of this model (0..",
               cfg.model.num_classes - 1, ")");
    NoGradGuard no_grad;
    labels.fill_(double(k));
  }
  gan::write_sample_grid(*gan, out, z, labels);
  std::printf("wrote %lld samples to %s\n", (long long)n, out.c_str());
  return 0;
}

}  // namespace duel::cli
