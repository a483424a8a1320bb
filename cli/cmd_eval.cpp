// duel eval --fake SPEC --n N [--real DATA] [--json] [--seed S] [--classifier FILE] [--no-ema]
//   SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise
// The sliced Wasserstein distance (gan/swd.h) of N images of SPEC against N images of the real
// data, for any data; and, for 28x28 gray images, every metric of gan/metrics.h in the features
// of the Fashion-MNIST classifier against the Fashion-MNIST test set.
#include <algorithm>
#include <chrono>
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

// Progress on stderr, one line per phase with the time the previous one took, so a long
// evaluation (a minute and more on two cores) is never silent.
class Phases {
 public:
  explicit Phases(int total) : total_(total) {}
  void set_total(int total) { total_ = total; }
  void start(const std::string& what) {
    finish();
    std::fprintf(stderr, "eval: [%d/%d] %s ...", ++index_, total_, what.c_str());
    std::fflush(stderr);
    t0_ = std::chrono::steady_clock::now();
    open_ = true;
  }
  void finish() {
    if (!open_) return;
    std::fprintf(stderr, " %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
    open_ = false;
  }

 private:
  int total_, index_ = 0;
  bool open_ = false;
  std::chrono::steady_clock::time_point t0_;
};

const Command kEval{"eval",
                    "How close N pictures are to real ones. For any pictures: the sliced Wasserstein distance on\n"
                    "Laplacian-pyramid patches (x 1e3, per level and averaged; lower is better) against N real\n"
                    "pictures. For 28x28 gray pictures also, in the feature space of the Fashion-MNIST classifier\n"
                    "against its test set: Frechet distance, KID, precision/recall (k=3), classifier score and\n"
                    "class coverage.",
                    "",
                    0,
                    0,
                    {text_flag("fake", "SPEC",
                               "what to judge (required): checkpoint:DIR, dataset:fashion-mnist:train,\n"
                               "                                      dataset:fashion-mnist:test or noise"),
                     text_flag("real", "DATA",
                               "the real side of the sliced Wasserstein distance: fashion-mnist, mnist,\n"
                               "                                      idx:DIR or folder:DIR",
                               "the checkpoint's training data, else Fashion-MNIST test"),
                     int_flag("n", "N", "pictures to judge", Range::ints(10, 1000000), "10000"),
                     int_flag("seed", "S", "latent vectors / which pictures", Range::ints(0, 9.2e18), "0"),
                     text_flag("classifier", "FILE", "the feature network's weights (28x28 gray pictures)",
                               "the committed ones"),
                     switch_flag("no-ema", "judge G itself, not its moving average (a checkpoint trained with --ema)"),
                     switch_flag("json", "machine-readable output")},
                    "A checkpoint trained with --ema is judged by G's moving average unless --no-ema is given.\n"
                    "Progress goes to stderr, one line per phase."};

}  // namespace

int cmd_eval(int argc, char** argv) {
  const Args args(kEval, argc, argv, 2);
  if (args.help()) return print_help(kEval);
  const std::string spec = args.required("fake");
  const int64_t n = args.get_int("n", 10000);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(spec.rfind("checkpoint:", 0) == 0 || spec == "dataset:fashion-mnist:train" ||
                 spec == "dataset:fashion-mnist:test" || spec == "noise",
             "eval: unknown --fake '", spec.substr(0, 60), "' (expected checkpoint:DIR, dataset:fashion-mnist:train, "
             "dataset:fashion-mnist:test or noise)");
  Phases phases(4);
  phases.start(str_cat("making ", n, " pictures from ", spec));

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
  }
  if (args.has("real")) real_spec = *args.get("real"), real_train = true;
  const int64_t channels = fake.size(1), size = fake.size(2);
  const bool feature_metrics = channels == 1 && size == 28;
  DUEL_CHECK(feature_metrics || !args.has("classifier"), "eval: --classifier judges 28x28 gray images; these are ",
             size, "x", size, "x", channels);
  phases.set_total(feature_metrics ? 4 : 2);

  // The sliced Wasserstein distance, against real images of the same size and channels.
  phases.start(str_cat("the sliced Wasserstein distance against ", real_spec));
  const gan::Dataset real_data = gan::load_dataset(real_spec, real_train, channels, size, real_options);
  // Two sets of equal size: all N, or as many as the real data has.
  const int64_t swd_n = std::min(n, real_data.count());
  const gan::SwdReport swd = gan::sliced_wasserstein(gan::sample_images(real_data, swd_n, uint64_t(seed) ^ 0x5EA1ULL),
                                                     narrow(fake, 0, 0, swd_n), uint64_t(seed));

  gan::EvalReport r;
  if (feature_metrics) {
    phases.start("the classifier's features of the Fashion-MNIST test set");
    auto classifier = gan::load_classifier(args.get_or("classifier", gan::default_classifier_path()));
    const gan::Dataset test = gan::load_dataset("fashion-mnist", false, 1, 28);
    const gan::FeatureSet real = gan::extract_features(*classifier, test.images);
    phases.start(str_cat("features of the ", n, " pictures judged; Frechet distance, KID, precision/recall, coverage"));
    r = gan::evaluate(real, gan::moments(real), gan::extract_features(*classifier, fake), uint64_t(seed));
  }
  phases.finish();
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
  std::printf("    classes covered   %lld of 10, entropy %.3f bits (of log2 10 = 3.322)\n",
              (long long)r.coverage.classes_covered, r.coverage.entropy_bits);
  std::printf("    predicted classes:\n");
  for (size_t c = 0; c < r.coverage.histogram.size(); ++c)
    std::printf("      %-12s %6lld  %5.1f%%\n", gan::class_name(int64_t(c)).c_str(), (long long)r.coverage.histogram[c],
                100.0 * double(r.coverage.histogram[c]) / double(std::max<int64_t>(1, r.n_fake)));
  return 0;
}

}  // namespace duel::cli
