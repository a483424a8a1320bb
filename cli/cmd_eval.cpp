// duel eval --fake SPEC --n N [--json] [--seed S] [--classifier FILE]
//   SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise
// Every metric of gan/metrics.h for N images of SPEC against the Fashion-MNIST test set.
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

int cmd_eval(int argc, char** argv) {
  const Args args("eval", argc, argv, 2, {"fake", "n", "seed", "classifier"}, {"json", "help"});
  if (args.has("help")) {
    std::puts("usage: duel eval --fake SPEC --n N [--json] [--seed S] [--classifier FILE]\n"
              "  SPEC: checkpoint:DIR | dataset:fashion-mnist:train | dataset:fashion-mnist:test | noise\n"
              "  Frechet distance, KID, precision/recall (k=3), classifier score and class coverage of N\n"
              "  images in the feature space of the Fashion-MNIST classifier, against the test set.");
    return 0;
  }
  const std::string spec = args.required("fake");
  const int64_t n = args.get_int("n", 10000);
  DUEL_CHECK(n >= 10, "eval: --n must be at least 10, got ", n);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "eval: --seed must be >= 0");
  auto classifier = gan::load_classifier(args.get_or("classifier", gan::default_classifier_path()));

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
  } else {
    fail("eval: unknown --fake '", spec, "' (expected checkpoint:DIR, dataset:fashion-mnist:train, "
         "dataset:fashion-mnist:test or noise)");
  }
  const gan::Dataset test = gan::load_dataset("fashion-mnist", false, 1, 28);
  const gan::FeatureSet real = gan::extract_features(*classifier, test.images);
  const gan::EvalReport r = gan::evaluate(real, gan::moments(real), gan::extract_features(*classifier, fake), uint64_t(seed));
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
  std::printf("  classes covered   %lld of 10, entropy %.3f bits (of log2 10 = 3.322); histogram:", 
              (long long)r.coverage.classes_covered, r.coverage.entropy_bits);
  for (int64_t c : r.coverage.histogram) std::printf(" %lld", (long long)c);
  std::printf("\n");
  return 0;
}

}  // namespace duel::cli
