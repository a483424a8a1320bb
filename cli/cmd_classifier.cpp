// duel classifier train|eval: the Fashion-MNIST feature network behind `duel eval`.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/classifier.h"

namespace duel::cli {

int cmd_classifier(int argc, char** argv) {
  const std::string sub = argc >= 3 ? argv[2] : "";
  DUEL_CHECK(sub == "train" || sub == "eval", "classifier: expected `duel classifier train` or `duel classifier eval`");
  if (sub == "train") {
    const Args args("classifier train", argc, argv, 3, {"epochs", "batch", "seed", "out", "lr", "threads"}, {"help"});
    if (args.has("help")) {
      std::printf("usage: duel classifier train [--epochs 5] [--batch 128] [--seed 0] [--lr 1e-3] --out FILE\n"
                  "  The committed weights came from: %s\n", gan::kClassifierRecipe);
      return 0;
    }
    if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
    gan::ClassifierTrainConfig c;
    c.epochs = args.get_int("epochs", 5);
    c.batch = args.get_int("batch", 128);
    const int64_t seed = args.get_int("seed", 0);
    DUEL_CHECK(seed >= 0, "classifier train: --seed must be >= 0");
    c.seed = uint64_t(seed);
    c.lr = args.get_double("lr", 1e-3);
    c.out = args.required("out");
    const double acc = gan::train_classifier(c);
    std::printf("test accuracy %.4f; weights in %s\n", acc, c.out.c_str());
    return 0;
  }
  const Args args("classifier eval", argc, argv, 3, {"weights"}, {"json", "help"});
  if (args.has("help")) {
    std::puts("usage: duel classifier eval [--weights FILE] [--json]\n  Test-set accuracy of the feature network.");
    return 0;
  }
  const std::string path = args.get_or("weights", gan::default_classifier_path());
  auto c = gan::load_classifier(path);
  const gan::Dataset test = gan::load_dataset("fashion-mnist", false, 1, 28);
  const double acc = gan::accuracy(*c, test);
  if (args.has("json")) {
    std::puts(nlohmann::json{{"test_accuracy", acc}, {"test_images", test.images.size(0)}, {"weights", path}}
                  .dump(2)
                  .c_str());
  } else {
    std::printf("test accuracy %.4f on %lld Fashion-MNIST test images (%s)\n", acc, (long long)test.images.size(0),
                path.c_str());
  }
  return 0;
}

}  // namespace duel::cli
