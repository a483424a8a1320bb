// duel sample --checkpoint DIR --n 64 --seed S (--out grid.png | --out-dir DIR) [--nrow N]
//             [--scale K] [--label k] [--interpolate K] [--no-ema] [--device cpu|cuda]
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
#include "core/cuda_backend.h"
#include "gan/image.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

const Command kSample{
    "sample",
    "Pictures from a checkpoint's generator (evaluation mode), latent vectors drawn from the seed:\n"
    "one grid (--out) or one file per picture (--out-dir), or latent walks (--interpolate).",
    "",
    0,
    0,
    {text_flag("checkpoint", "DIR", "a run's folder or its checkpoint/ (required)"),
     int_flag("n", "N", "pictures, or rows of a walk", Range::ints(1, 4096), "64; 8 rows with --interpolate"),
     int_flag("seed", "S", "the latent vectors", Range::ints(0, 9.2e18), "0"),
     text_flag("out", "FILE", "one grid: .png, or .jpg/.jpeg (quality 95)"),
     text_flag("out-dir", "DIR", "or: each picture as DIR/sample_NNNN.png"),
     int_flag("nrow", "N", "pictures per row of the grid", Range::ints(1, 4096), "a square"),
     int_flag("scale", "K", "every pixel drawn K x K (nearest neighbour)", Range::ints(1, 16), "1"),
     int_flag("interpolate", "K",
              "latent walks: a row of K steps of spherical interpolation between\n"
              "                                      two random latent vectors per row",
              Range::ints(2, 64)),
     int_flag("label", "K", "a class of a conditional model", Range::ints(0, 255), "classes 0, 1, ... in turn"),
     switch_flag("no-ema", "sample G itself, not its moving average (a checkpoint trained with --ema)"),
     text_flag("device", "cpu|cuda", "where the generator runs", "cpu")},
    "A checkpoint trained with --ema samples G's moving average unless --no-ema is given."};

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
  const Args args(kSample, argc, argv, 2);
  if (args.help()) return print_help(kSample);
  const int64_t steps = args.get_int("interpolate", 0);
  const int64_t n = args.get_int("n", steps > 0 ? 8 : 64);
  DUEL_CHECK(n * std::max<int64_t>(steps, 1) <= 4096, "sample: at most 4096 pictures (--n ", n,
             steps > 0 ? str_cat(" rows of ", steps) : std::string(), ")");
  const int64_t seed = args.get_int("seed", 0);
  const int64_t scale = args.get_int("scale", 1);
  DUEL_CHECK(args.has("out") != args.has("out-dir"), "sample: give --out GRID.png or --out-dir DIR (one of them)");
  DUEL_CHECK(!(args.has("out-dir") && args.has("interpolate")), "sample: --interpolate writes a grid: use --out");
  DUEL_CHECK(!(args.has("nrow") && args.has("interpolate")), "sample: --interpolate has one walk per row: no --nrow");
  if (args.has("out")) check_output_extension("sample", *args.get("out"), {".png", ".jpg", ".jpeg"}, "PNG or JPEG pictures");
  const Device device = parse_device(args.get_or("device", "cpu"));
  cuda_backend::check_usable(device);  // says whether CUDA is missing from the build or from the machine

  gan::TrainConfig cfg;
  bool used_ema = false;
  auto gan = gan::load_checkpoint_models(args.required("checkpoint"), &cfg, false, !args.has("no-ema"), &used_ema);
  gan->G().to_device(device);
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
    z = from_vector(walk, {total, nz, 1, 1}).to(device);
  } else {
    z = randn({n, nz, 1, 1}, g, DType::f32, device);
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
  if (labels.defined()) labels = labels.to(device);

  NoGradGuard no_grad;
  gan->G().eval();
  Tensor images = gan->generate(z, labels).to(Device::cpu());
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
    std::printf("wrote %lld pictures from %s to %s/sample_NNNN.png\n", (long long)total, which, dir.c_str());
    return 0;
  }
  const int64_t nrow = steps > 0 ? steps
                                 : args.get_int("nrow", std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(n))))));
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
