// duel detect train | spectrum | attack: catching fakes (gan/detect.h).
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/detect.h"

namespace duel::cli {

namespace {

const Command kDetect{"detect",
                      "Catching fakes:\n"
                      "  duel detect train     a small CNN learns to tell real images from a generator's\n"
                      "  duel detect spectrum  the mean Fourier power spectrum of real and generated images\n"
                      "  duel detect attack    the generator fine-tuned to fool a frozen detector\n"
                      "`duel detect SUB --help` shows each one's flags.",
                      "train|spectrum|attack",
                      1,
                      1,
                      {},
                      ""};

Flag threads_flag() { return int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0"); }
Flag seed_flag(const char* help) { return int_flag("seed", "S", help, Range::ints(0, 9.2e18), "0"); }

const Command kTrain{
    "detect train",
    "A small CNN learns to tell real images from the generator's; accuracy and ROC AUC on held-out\n"
    "images (real: the test split; generated: other latent vectors), per seed. Writes\n"
    "DIR/detector.safetensors (the first seed's) and DIR/detect.json.",
    "",
    0,
    0,
    {text_flag("fake", "checkpoint:DIR", "the generator (required)"),
     text_flag("out", "DIR", "the folder for the detector and its scores (required)"),
     choice_flag("real", {"dataset:fashion-mnist:train"}, "the real training images", "dataset:fashion-mnist:train"),
     int_flag("n", "N", "training images of each kind", Range::ints(64, 60000), "4000"),
     int_flag("n-test", "N", "held-out images of each kind", Range::ints(10, 10000), "2000"),
     int_flag("epochs", "E", "passes over the training images", Range::ints(1, 1000), "3"),
     int_flag("batch", "B", "images per step", Range::ints(2, 65536), "64"),
     real_flag("lr", "LR", "Adam's learning rate", Range::reals(0, 10, true), "1e-3"),
     seed_flag("the first seed"),
     int_flag("seeds", "K", "repeat with seeds S .. S+K-1", Range::ints(1, 20), "1"),
     threads_flag()},
    ""};

const Command kSpectrum{
    "detect spectrum",
    "The mean Fourier power spectrum of real and generated images, their difference and azimuthal\n"
    "averages: transposed convolutions leave periodic peaks (Durall et al. 2020). Writes\n"
    "DIR/spectrum.svg and DIR/spectrum.json.",
    "",
    0,
    0,
    {repeatable(text_flag("fake", "checkpoint:DIR", "a generator, one curve each (at least one)")),
     text_flag("out", "DIR", "the folder for the pictures (required)"),
     text_flag("real", "SPEC", "the real images: dataset:fashion-mnist:test or dataset:fashion-mnist:train",
               "dataset:fashion-mnist:test"),
     int_flag("n", "N", "images of each kind", Range::ints(10, 10000), "2000"),
     seed_flag("which images, which latent vectors"),
     threads_flag()},
    ""};

const Command kAttack{
    "detect attack",
    "Fine-tunes the generator (the GAN keeps training) with an extra loss that fools the frozen\n"
    "detector; the detector's AUC and the Frechet distance every --eval-every steps, then a detector\n"
    "retrained on the fine-tuned generator. Writes DIR/metrics.jsonl and DIR/attack.svg.",
    "",
    0,
    0,
    {text_flag("detector", "DIR", "the detector (`duel detect train`'s --out; required)"),
     text_flag("fake", "checkpoint:DIR", "the generator to fine-tune, with its critic (required)"),
     text_flag("out", "DIR", "the folder for the results (required)"),
     int_flag("steps", "N", "generator updates", Range::ints(1, 10000000), "300"),
     real_flag("weight", "W", "the detector term's weight in the generator's loss", Range::reals(0, 1e6), "1"),
     int_flag("eval-every", "K", "measure every K steps", Range::ints(1, 10000000), "50"),
     int_flag("eval-n", "N", "images per measurement", Range::ints(100, 10000), "1000"),
     real_flag("lr", "LR", "the generator's learning rate", Range::reals(0, 10, true), "2e-4"),
     int_flag("batch", "B", "images per step", Range::ints(2, 65536), "64"),
     seed_flag("latent vectors and data order"),
     switch_flag("no-retrain", "skip the detector retrained on the fine-tuned generator"),
     threads_flag()},
    ""};

int detect_train(int argc, char** argv) {
  const Args args(kTrain, argc, argv, 3);
  if (args.help()) return print_help(kTrain);
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
  c.seed = uint64_t(args.get_int("seed", 0));
  c.seeds = args.get_int("seeds", 1);
  return gan::run_detect_train(c);
}

int detect_spectrum(int argc, char** argv) {
  const Args args(kSpectrum, argc, argv, 3);
  if (args.help()) return print_help(kSpectrum);
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  gan::SpectrumConfig c;
  c.real = args.get_or("real", c.real);
  DUEL_CHECK(c.real == "dataset:fashion-mnist:test" || c.real == "dataset:fashion-mnist:train",
             "detect spectrum: --real must be dataset:fashion-mnist:test or dataset:fashion-mnist:train, got '",
             c.real.substr(0, 60), "'");
  c.fakes = args.all("fake");
  DUEL_CHECK(!c.fakes.empty(), "detect spectrum: give at least one --fake checkpoint:DIR");
  c.out = args.required("out");
  c.n = args.get_int("n", c.n);
  c.seed = uint64_t(args.get_int("seed", 0));
  return gan::run_detect_spectrum(c);
}

int detect_attack(int argc, char** argv) {
  const Args args(kAttack, argc, argv, 3);
  if (args.help()) return print_help(kAttack);
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
  c.seed = uint64_t(args.get_int("seed", 0));
  c.retrain = !args.has("no-retrain");
  return gan::run_detect_attack(c);
}

}  // namespace

int cmd_detect(int argc, char** argv) {
  const std::string sub = argc > 2 ? argv[2] : "";
  if (sub == "train") return detect_train(argc, argv);
  if (sub == "spectrum") return detect_spectrum(argc, argv);
  if (sub == "attack") return detect_attack(argc, argv);
  if (sub == "-h" || sub == "--help") return print_help(kDetect);
  const std::string guess = closest(sub, {"train", "spectrum", "attack"});
  fail("detect: expected `duel detect train`, `duel detect spectrum` or `duel detect attack`",
       sub.empty() ? std::string() : str_cat(", got '", sub.substr(0, 40), "'"),
       guess.empty() || sub.empty() ? std::string() : str_cat(" (did you mean ", guess, "?)"));
}

}  // namespace duel::cli
