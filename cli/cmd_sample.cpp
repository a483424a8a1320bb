// duel sample --checkpoint DIR --n 64 --seed S --out grid.png [--label k] [--device cpu|cuda]
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "core/cuda_backend.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {
const Command kSample{"sample",
                      "A grid of n pictures from a checkpoint's generator (evaluation mode), latent vectors drawn\n"
                      "from the seed; --label k draws class k from a conditional model.",
                      "",
                      0,
                      0,
                      {text_flag("checkpoint", "DIR", "a run's folder or its checkpoint/ (required)"),
                       int_flag("n", "N", "pictures in the grid", Range::ints(1, 4096), "64"),
                       int_flag("seed", "S", "the latent vectors", Range::ints(0, 9.2e18), "0"),
                       text_flag("out", "FILE", "the grid (required): .png, or .jpg/.jpeg (quality 95)"),
                       int_flag("label", "K", "a class of a conditional model", Range::ints(0, 255)),
                       text_flag("device", "cpu|cuda", "where the generator runs", "cpu")},
                      ""};
}  // namespace

int cmd_sample(int argc, char** argv) {
  const Args args(kSample, argc, argv, 2);
  if (args.help()) return print_help(kSample);
  const int64_t n = args.get_int("n", 64);
  const int64_t seed = args.get_int("seed", 0);
  const std::string out = args.required("out");
  check_output_extension("sample", out, {".png", ".jpg", ".jpeg"}, "PNG or JPEG pictures");
  const Device device = parse_device(args.get_or("device", "cpu"));
  cuda_backend::check_usable(device);  // says whether CUDA is missing from the build or from the machine
  gan::TrainConfig cfg;
  auto gan = gan::load_checkpoint_models(args.required("checkpoint"), &cfg, false);
  gan->G().to_device(device);
  Generator g(static_cast<uint64_t>(seed));
  const Tensor z = randn({n, cfg.model.nz, 1, 1}, g, DType::f32, device);
  Tensor labels = gan::grid_labels(n, cfg.model);
  if (args.has("label")) {
    DUEL_CHECK(cfg.model.conditional, "sample: --label needs a conditional model (trained with --conditional)");
    const int64_t k = args.get_int("label", 0);
    DUEL_CHECK(k < cfg.model.num_classes, "sample: --label ", k, " is not a class of this model (0..",
               cfg.model.num_classes - 1, ")");
    NoGradGuard no_grad;
    labels.fill_(double(k));
  }
  if (labels.defined()) labels = labels.to(device);
  gan::write_sample_grid(*gan, out, z, labels);
  std::printf("wrote %lld samples to %s\n", (long long)n, out.c_str());
  return 0;
}

}  // namespace duel::cli
