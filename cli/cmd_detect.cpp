// duel detect train | spectrum | attack: catching fakes (gan/detect.h).
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/detect.h"

namespace duel::cli {

namespace {

constexpr const char* kUsage =
    "usage: duel detect train --real dataset:fashion-mnist:train --fake checkpoint:DIR --out DIR\n"
    "                         [--n 4000] [--n-test 2000] [--epochs 3] [--batch 64] [--lr 1e-3] [--seed S] [--seeds K]\n"
    "         A small CNN learns to tell real images from the generator's; accuracy and ROC AUC on\n"
    "         held-out images (real: the test split; generated: other latent vectors), per seed.\n"
    "       duel detect spectrum --fake checkpoint:DIR [--fake checkpoint:DIR2 ...] --out DIR\n"
    "                         [--real dataset:fashion-mnist:test] [--n 2000] [--seed S]\n"
    "         The mean Fourier power spectrum of real and generated images, their difference and\n"
    "         azimuthal averages: transposed convolutions leave periodic peaks (Durall et al. 2020).\n"
    "       duel detect attack --detector DIR --fake checkpoint:DIR --out DIR [--steps 300] [--weight 1]\n"
    "                         [--eval-every 50] [--eval-n 1000] [--lr 2e-4] [--batch 64] [--seed S] [--no-retrain]\n"
    "         Fine-tunes the generator (the GAN keeps training) with an extra loss that fools the\n"
    "         frozen detector; the detector's AUC and the Frechet distance every --eval-every steps,\n"
    "         then a detector retrained on the fine-tuned generator.";

int detect_train(int argc, char** argv) {
  const Args args("detect train", argc, argv, 3,
                  {"real", "fake", "out", "n", "n-test", "epochs", "batch", "lr", "seed", "seeds", "threads"}, {"help"});
  if (args.has("help")) {
    std::puts(kUsage);
    return 0;
  }
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::DetectTrainConfig c;
  c.real = args.get_or("real", c.real);
  c.fake = args.required("fake");
  c.out = args.required("out");
  c.n = args.get_int("n", c.n);
  c.n_test = args.get_int("n-test", c.n_test);
  c.epochs = args.get_int("epochs", c.epochs);
  c.batch = args.get_int("batch", c.batch);
  c.lr = args.get_double("lr", c.lr);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "detect train: --seed must be >= 0");
  c.seed = uint64_t(seed);
  c.seeds = args.get_int("seeds", 1);
  return gan::run_detect_train(c);
}

int detect_spectrum(int argc, char** argv) {
  const Args args("detect spectrum", argc, argv, 3, {"real", "fake", "out", "n", "seed", "threads"}, {"help"});
  if (args.has("help")) {
    std::puts(kUsage);
    return 0;
  }
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::SpectrumConfig c;
  c.real = args.get_or("real", c.real);
  c.fakes = args.all("fake");
  c.out = args.required("out");
  c.n = args.get_int("n", c.n);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "detect spectrum: --seed must be >= 0");
  c.seed = uint64_t(seed);
  return gan::run_detect_spectrum(c);
}

int detect_attack(int argc, char** argv) {
  const Args args("detect attack", argc, argv, 3,
                  {"detector", "fake", "out", "steps", "weight", "eval-every", "eval-n", "lr", "batch", "seed", "threads"},
                  {"help", "no-retrain"});
  if (args.has("help")) {
    std::puts(kUsage);
    return 0;
  }
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::AttackConfig c;
  c.detector = args.required("detector");
  c.fake = args.required("fake");
  c.out = args.required("out");
  c.steps = args.get_int("steps", c.steps);
  c.weight = args.get_double("weight", c.weight);
  c.eval_every = args.get_int("eval-every", c.eval_every);
  c.eval_n = args.get_int("eval-n", c.eval_n);
  c.lr = args.get_double("lr", c.lr);
  c.batch = args.get_int("batch", c.batch);
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "detect attack: --seed must be >= 0");
  c.seed = uint64_t(seed);
  c.retrain = !args.has("no-retrain");
  return gan::run_detect_attack(c);
}

}  // namespace

int cmd_detect(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "train") return detect_train(argc, argv);
  if (sub == "spectrum") return detect_spectrum(argc, argv);
  if (sub == "attack") return detect_attack(argc, argv);
  if (sub == "--help" || sub == "help") {
    std::puts(kUsage);
    return 0;
  }
  fail("detect: expected train, spectrum or attack", sub.empty() ? std::string() : ", got '" + sub + "'",
       " (run `duel detect --help`)");
}

}  // namespace duel::cli
