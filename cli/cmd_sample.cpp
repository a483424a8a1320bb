// duel sample --checkpoint DIR --n 64 --seed S (--out grid.png | --out-dir DIR) [--nrow N]
//             [--scale K] [--label k] [--interpolate K] [--no-ema]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "gan/image.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

constexpr const char* kHelp =
    "usage: duel sample --checkpoint DIR [--n N (64)] [--seed S (0)] (--out GRID.png | --out-dir DIR)\n"
    "                   [--nrow N] [--scale K] [--label k] [--interpolate K] [--no-ema]\n"
    "  Images from the checkpoint's generator (evaluation mode), latent vectors drawn from the seed.\n"
    "  --out writes one grid (--nrow images per row, default a square); --out-dir writes each image\n"
    "  as DIR/sample_NNNN.png. --scale K enlarges every pixel to K x K (nearest neighbour).\n"
    "  --interpolate K: a latent walk, one row per pair of random latent vectors (N rows, default\n"
    "  8), K steps of spherical interpolation from the first to the second.\n"
    "  --label k draws class k from a conditional model (else classes 0, 1, ... in turn).\n"
    "  A checkpoint trained with --ema samples G's moving average; --no-ema samples G itself.";

// Spherical interpolation between latent vectors a and b at t in [0, 1] (White, 2016, "Sampling
// generative networks"): along the great circle when they are not parallel, else linearly.
std::vector<double> slerp(const std::vector<double>& a, const std::vector<double>& b, double t) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  const double cosine = std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0), omega = std::acos(cosine);
  const double s = std::sin(omega);
  const double wa = s < 1e-6 ? 1 - t : std::sin((1 - t) * omega) / s, wb = s < 1e-6 ? t : std::sin(t * omega) / s;
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = wa * a[i] + wb * b[i];
  return out;
}

}  // namespace

int cmd_sample(int argc, char** argv) {
  const Args args("sample", argc, argv, 2,
                  {"checkpoint", "n", "seed", "out", "out-dir", "nrow", "scale", "label", "interpolate", "device"},
                  {"no-ema", "help"});
  if (args.has("help")) {
    std::puts(kHelp);
    return 0;
  }
  const int64_t steps = args.get_int("interpolate", 0);
  DUEL_CHECK(!args.has("interpolate") || (steps >= 2 && steps <= 64), "sample: --interpolate must be between 2 and 64 "
             "steps, got ", steps);
  const int64_t n = args.get_int("n", steps > 0 ? 8 : 64);
  DUEL_CHECK(n >= 1 && n * std::max<int64_t>(steps, 1) <= 4096, "sample: at most 4096 images (--n ", n,
             steps > 0 ? str_cat(" rows of ", steps) : std::string(), ")");
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "sample: --seed must be >= 0");
  const int64_t scale = args.get_int("scale", 1);
  DUEL_CHECK(scale >= 1 && scale <= 16, "sample: --scale must be between 1 and 16, got ", scale);
  DUEL_CHECK(args.has("out") != args.has("out-dir"), "sample: give --out GRID.png or --out-dir DIR (one of them)");
  DUEL_CHECK(!(args.has("out-dir") && args.has("interpolate")), "sample: --interpolate writes a grid: use --out");
  DUEL_CHECK(parse_device(args.get_or("device", "cpu")).is_cpu(), "sample: only --device cpu in this build");

  gan::TrainConfig cfg;
  bool used_ema = false;
  auto gan = gan::load_checkpoint_models(args.required("checkpoint"), &cfg, false, !args.has("no-ema"), &used_ema);
  const int64_t nz = cfg.model.nz, total = n * std::max<int64_t>(steps, 1);
  Generator g(static_cast<uint64_t>(seed));
  Tensor z;
  if (steps > 0) {
    const std::vector<double> ends = randn({n, 2, nz}, g, DType::f64).to_vector();
    std::vector<double> walk;
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<double> a(ends.begin() + (2 * r) * nz, ends.begin() + (2 * r + 1) * nz),
          b(ends.begin() + (2 * r + 1) * nz, ends.begin() + (2 * r + 2) * nz);
      for (int64_t k = 0; k < steps; ++k) {
        const std::vector<double> p = slerp(a, b, double(k) / double(steps - 1));
        walk.insert(walk.end(), p.begin(), p.end());
      }
    }
    z = from_vector(walk, {total, nz, 1, 1});
  } else {
    z = randn({n, nz, 1, 1}, g);
  }
  Tensor labels = gan::grid_labels(total, cfg.model);
  if (steps > 0 && labels.defined())  // one class per row of a walk
    for (int64_t i = 0; i < total; ++i) labels.data<int64_t>()[i] = (i / steps) % cfg.model.num_classes;
  if (args.has("label")) {
    DUEL_CHECK(cfg.model.conditional, "sample: --label needs a conditional model (trained with --conditional)");
    const int64_t k = args.get_int("label", 0);
    DUEL_CHECK(k >= 0 && k < cfg.model.num_classes, "sample: --label ", k, " is not a class of this model (0..",
               cfg.model.num_classes - 1, ")");
    NoGradGuard no_grad;
    labels.fill_(double(k));
  }

  NoGradGuard no_grad;
  gan->G().eval();
  Tensor images = gan->generate(z, labels);
  if (scale > 1) images = upsample_nearest2d(images, {scale, scale});
  const char* which = used_ema ? "G's moving average" : "G";
  if (args.has("out-dir")) {
    const std::string dir = *args.get("out-dir");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    DUEL_CHECK(!ec, "sample: cannot create ", dir, ": ", ec.message());
    for (int64_t i = 0; i < total; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/sample_%04lld.png", (long long)i);
      gan::save_image_grid(dir + name, narrow(images, 0, i, 1), 1, 0);
    }
    std::printf("wrote %lld images from %s to %s/sample_NNNN.png\n", (long long)total, which, dir.c_str());
    return 0;
  }
  const int64_t nrow = steps > 0 ? steps
                                 : args.get_int("nrow", std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(n))))));
  DUEL_CHECK(nrow >= 1, "sample: --nrow must be at least 1, got ", nrow);
  const std::string out = *args.get("out");
  gan::save_image_grid(out, images, nrow);
  if (steps > 0)
    std::printf("wrote %lld latent walks of %lld steps from %s to %s\n", (long long)n, (long long)steps, which,
                out.c_str());
  else
    std::printf("wrote %lld samples from %s to %s\n", (long long)n, which, out.c_str());
  return 0;
}

}  // namespace duel::cli
