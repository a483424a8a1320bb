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

namespace {

const Command kClassifier{"classifier",
                          "The Fashion-MNIST feature network behind `duel eval`: `duel classifier train` trains\n"
                          "one, `duel classifier eval` measures one's test-set accuracy.",
                          "train|eval", 1, 1, {}, ""};

Command make_train_command() {
  Command c{"classifier train",
            "Trains the Fashion-MNIST feature network and writes its weights (safetensors).",
            "",
            0,
            0,
            {int_flag("epochs", "E", "passes over the training set", Range::ints(1, 1000), "5"),
             int_flag("batch", "B", "images per step", Range::ints(1, 60000), "128"),
             int_flag("seed", "S", "weights and data order", Range::ints(0, 9.2e18), "0"),
             real_flag("lr", "LR", "Adam's learning rate", Range::reals(0, 10, true), "1e-3"),
             text_flag("out", "FILE", "where to write the weights (required)"),
             int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0")},
            std::string("The committed weights came from: ") + gan::kClassifierRecipe};
  return c;
}

const Command kClassifierEval{"classifier eval",
                              "Test-set accuracy of the feature network.",
                              "",
                              0,
                              0,
                              {text_flag("weights", "FILE", "the network's weights", "the committed ones"),
                               switch_flag("json", "machine-readable output")},
                              ""};

}  // namespace

int cmd_classifier(int argc, char** argv) {
  const std::string sub = argc >= 3 ? argv[2] : "";
  if (sub == "-h" || sub == "--help") return print_help(kClassifier);
  DUEL_CHECK(sub == "train" || sub == "eval", "classifier: expected `duel classifier train` or `duel classifier eval`",
             sub.empty() ? "" : str_cat(", got '", sub.substr(0, 40), "'"));
  if (sub == "train") {
    static const Command kTrain = make_train_command();
    const Args args(kTrain, argc, argv, 3);
    if (args.help()) return print_help(kTrain);
    if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
    gan::ClassifierTrainConfig c;
    c.epochs = args.get_int("epochs", 5);
    c.batch = args.get_int("batch", 128);
    c.seed = uint64_t(args.get_int("seed", 0));
    c.lr = args.get_double("lr", 1e-3);
    c.out = args.required("out");
    const double acc = gan::train_classifier(c);
    std::printf("test accuracy %.4f; weights in %s\n", acc, c.out.c_str());
    return 0;
  }
  const Args args(kClassifierEval, argc, argv, 3);
  if (args.help()) return print_help(kClassifierEval);
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
