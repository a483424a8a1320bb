// duel eval --fake SPEC --n N [--json] [--seed S] [--classifier FILE]
//   SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise
// Every metric of gan/metrics.h for N images of SPEC against the Fashion-MNIST test set.
#include <chrono>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "gan/data.h"
#include "gan/metrics.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

// Progress on stderr, one line per phase with the time the previous one took, so a long
// evaluation (a minute and more on two cores) is never silent.
class Phases {
 public:
  explicit Phases(int total) : total_(total) {}
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
                    "Frechet distance, KID, precision/recall (k=3), classifier score and class coverage of N\n"
                    "pictures in the feature space of the Fashion-MNIST classifier, against its test set.",
                    "",
                    0,
                    0,
                    {text_flag("fake", "SPEC",
                               "what to judge (required): checkpoint:DIR, dataset:fashion-mnist:train,\n"
                               "                                      dataset:fashion-mnist:test or noise"),
                     int_flag("n", "N", "pictures to judge", Range::ints(10, 1000000), "10000"),
                     int_flag("seed", "S", "latent vectors / which pictures", Range::ints(0, 9.2e18), "0"),
                     text_flag("classifier", "FILE", "the feature network's weights", "the committed ones"),
                     switch_flag("json", "machine-readable output")},
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
  Phases phases(5);
  phases.start("loading the classifier and the Fashion-MNIST test set");
  auto classifier = gan::load_classifier(args.get_or("classifier", gan::default_classifier_path()));
  const gan::Dataset test = gan::load_dataset("fashion-mnist", false, 1, 28);
  phases.start(str_cat("making ", n, " pictures from ", spec));

  Tensor fake;
  if (spec.rfind("checkpoint:", 0) == 0) {
    gan::TrainConfig cfg;
    auto model = gan::load_checkpoint_models(spec.substr(11), &cfg, false);
    DUEL_CHECK(cfg.model.image_size() == 28 && cfg.model.channels == 1, "eval: the classifier judges 28x28 "
               "grayscale images; this checkpoint's ", gan::model_name(cfg.model.kind), " makes ",
               cfg.model.image_size(), "x", cfg.model.image_size(), "x", cfg.model.channels);
    fake = gan::generate_images(*model, n, uint64_t(seed));
  } else if (spec == "dataset:fashion-mnist:train" || spec == "dataset:fashion-mnist:test") {
    fake = gan::pick_images(gan::load_dataset("fashion-mnist", spec.ends_with(":train"), 1, 28), n, uint64_t(seed));
  } else if (spec == "noise") {
    Generator g(static_cast<uint64_t>(seed));
    fake = uniform({n, 1, 28, 28}, -1, 1, g);
  }
  phases.start(str_cat("features of the ", test.images.size(0), " test pictures"));
  const gan::FeatureSet real = gan::extract_features(*classifier, test.images);
  phases.start(str_cat("features of the ", n, " pictures judged"));
  const gan::FeatureSet judged = gan::extract_features(*classifier, fake);
  phases.start("Frechet distance, KID, precision/recall, coverage");
  const gan::EvalReport r = gan::evaluate(real, gan::moments(real), judged, uint64_t(seed));
  phases.finish();
  if (args.has("json")) {
    std::puts(gan::report_json(r, 2).c_str());
    return 0;
  }
  std::printf("%s: %lld images against the %lld Fashion-MNIST test images\n", spec.c_str(), (long long)r.n_fake,
              (long long)r.n_real);
  std::printf("  Frechet distance  %.3f\n", r.fid);
  std::printf("  KID               %.5f +- %.5f (%lld subsets of %lld)\n", r.kid.mean, r.kid.std,
              (long long)r.kid.subsets, (long long)r.kid.subset_size);
  std::printf("  precision         %.3f   recall %.3f   (k = %lld)\n", r.pr.precision, r.pr.recall, (long long)r.pr.k);
  std::printf("  classifier score  %.3f (of at most 10)\n", r.classifier_score);
  std::printf("  classes covered   %lld of 10, entropy %.3f bits (of log2 10 = 3.322)\n",
              (long long)r.coverage.classes_covered, r.coverage.entropy_bits);
  std::printf("  predicted classes:\n");
  for (size_t c = 0; c < r.coverage.histogram.size(); ++c)
    std::printf("    %-12s %6lld  %5.1f%%\n", gan::class_name(int64_t(c)).c_str(), (long long)r.coverage.histogram[c],
                100.0 * double(r.coverage.histogram[c]) / double(std::max<int64_t>(1, r.n_fake)));
  return 0;
}

}  // namespace duel::cli
