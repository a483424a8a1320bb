// duel eval --fake SPEC --n N [--real DATA] [--json] [--seed S] [--classifier FILE] [--no-ema]
//   SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise
// The sliced Wasserstein distance (gan/swd.h) of N images of SPEC against N images of the real
// data, for any data; and, for 28x28 gray images, every metric of gan/metrics.h in the features
// of the Fashion-MNIST classifier against the Fashion-MNIST test set.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/data.h"
#include "gan/folder.h"
#include "gan/metrics.h"
#include "gan/swd.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

constexpr const char* kHelp =
    "usage: duel eval --fake SPEC --n N [--real DATA] [--json] [--seed S] [--classifier FILE] [--no-ema]\n"
    "  SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise\n"
    "  For any images: the sliced Wasserstein distance on Laplacian-pyramid patches (x 1e3, per level\n"
    "  and averaged; lower is better) of N images against N real ones: DATA (fashion-mnist, mnist,\n"
    "  idx:DIR, folder:DIR), by default the checkpoint's training data (Fashion-MNIST test otherwise).\n"
    "  For 28x28 gray images also, in the features of the Fashion-MNIST classifier against the\n"
    "  Fashion-MNIST test set: Frechet distance, KID, precision/recall (k=3), classifier score and\n"
    "  class coverage. A checkpoint trained with --ema is judged by G's moving average; --no-ema\n"
    "  judges G itself.";

}  // namespace

int cmd_eval(int argc, char** argv) {
  const Args args("eval", argc, argv, 2, {"fake", "n", "seed", "classifier", "real"}, {"json", "no-ema", "help"});
  if (args.has("help")) {
    std::puts(kHelp);
    return 0;
  }
  const std::string spec = args.required("fake");
  const int64_t n = args.get_int("n", 10000);
  DUEL_CHECK(n >= 10, "eval: --n must be at least 10, got ", n);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "eval: --seed must be >= 0");

  Tensor fake;
  std::string real_spec = "fashion-mnist", which = spec;
  bool real_train = false;
  gan::DataOptions real_options;
  if (spec.rfind("checkpoint:", 0) == 0) {
    gan::TrainConfig cfg;
    bool used_ema = false;
    auto model = gan::load_checkpoint_models(spec.substr(11), &cfg, false, !args.has("no-ema"), &used_ema);
    real_spec = cfg.data;
    real_train = true;
    real_options.background = gan::parse_background(cfg.background);
    if (used_ema) which += " (G's moving average)";
    fake = gan::generate_images(*model, n, uint64_t(seed));
  } else if (spec == "dataset:fashion-mnist:train" || spec == "dataset:fashion-mnist:test") {
    const gan::Dataset d = gan::load_dataset("fashion-mnist", spec.ends_with(":train"), 1, 28);
    DUEL_CHECK(n <= d.images.size(0), "eval: --n ", n, " is more than the ", d.images.size(0), " images of ",
               d.description);
    fake = gan::sample_images(d, n, uint64_t(seed));
  } else if (spec == "noise") {
    Generator g(static_cast<uint64_t>(seed));
    fake = uniform({n, 1, 28, 28}, -1, 1, g);
  } else {
    fail("eval: unknown --fake '", spec, "' (expected checkpoint:DIR, dataset:fashion-mnist:train, "
         "dataset:fashion-mnist:test or noise)");
  }
  if (args.has("real")) real_spec = *args.get("real"), real_train = true;
  const int64_t channels = fake.size(1), size = fake.size(2);
  const bool feature_metrics = channels == 1 && size == 28;
  DUEL_CHECK(feature_metrics || !args.has("classifier"), "eval: --classifier judges 28x28 gray images; these are ",
             size, "x", size, "x", channels);

  // The sliced Wasserstein distance, against real images of the same size and channels.
  const gan::Dataset real_data = gan::load_dataset(real_spec, real_train, channels, size, real_options);
  // Two sets of equal size: all N, or as many as the real data has.
  const int64_t swd_n = std::min(n, real_data.count());
  const gan::SwdReport swd = gan::sliced_wasserstein(gan::sample_images(real_data, swd_n, uint64_t(seed) ^ 0x5EA1ULL),
                                                     narrow(fake, 0, 0, swd_n), uint64_t(seed));

  gan::EvalReport r;
  if (feature_metrics) {
    auto classifier = gan::load_classifier(args.get_or("classifier", gan::default_classifier_path()));
    const gan::Dataset test = gan::load_dataset("fashion-mnist", false, 1, 28);
    const gan::FeatureSet real = gan::extract_features(*classifier, test.images);
    r = gan::evaluate(real, gan::moments(real), gan::extract_features(*classifier, fake), uint64_t(seed));
  }
  if (args.has("json")) {
    nlohmann::json j = feature_metrics ? nlohmann::json::parse(gan::report_json(r)) : nlohmann::json::object();
    j["feature_metrics"] = feature_metrics ? "fashion-mnist classifier" : "none (not 28x28 gray images)";
    j["swd"] = swd.mean;
    nlohmann::json levels = nlohmann::json::object();
    for (size_t l = 0; l < swd.resolutions.size(); ++l) levels[std::to_string(swd.resolutions[l])] = swd.distances[l];
    j["swd_levels"] = levels;
    j["swd_real"] = real_data.description;
    j["swd_images"] = swd.images;
    std::puts(j.dump(2).c_str());
    return 0;
  }
  std::printf("%s: %lld images\n", which.c_str(), (long long)n);
  std::printf("  sliced Wasserstein distance (x 1e3) against %lld images of %s:\n    average %.3f  (",
              (long long)swd.images, real_data.description.c_str(), swd.mean);
  for (size_t l = 0; l < swd.resolutions.size(); ++l)
    std::printf("%s%lldpx %.3f", l ? ", " : "", (long long)swd.resolutions[l], swd.distances[l]);
  std::printf(")\n");
  if (!feature_metrics) {
    std::printf("  (the Fashion-MNIST feature metrics judge 28x28 gray images only)\n");
    return 0;
  }
  std::printf("  in the features of the Fashion-MNIST classifier, against its %lld test images:\n", (long long)r.n_real);
  std::printf("    Frechet distance  %.3f\n", r.fid);
  std::printf("    KID               %.5f +- %.5f (%lld subsets of %lld)\n", r.kid.mean, r.kid.std,
              (long long)r.kid.subsets, (long long)r.kid.subset_size);
  std::printf("    precision         %.3f   recall %.3f   (k = %lld)\n", r.pr.precision, r.pr.recall, (long long)r.pr.k);
  std::printf("    classifier score  %.3f (of at most 10)\n", r.classifier_score);
  std::printf("    classes covered   %lld of 10, entropy %.3f bits (of log2 10 = 3.322); histogram:",
              (long long)r.coverage.classes_covered, r.coverage.entropy_bits);
  for (int64_t c : r.coverage.histogram) std::printf(" %lld", (long long)c);
  std::printf("\n");
  return 0;
}

}  // namespace duel::cli
