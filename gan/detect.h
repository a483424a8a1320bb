// Catching fakes: a small CNN that tells real Fashion-MNIST images from a generator's, the
// Fourier spectrum that gives transposed convolutions away (Durall, Keuper and Keuper, "Watch
// your up-convolution", CVPR 2020), and the arms race: the generator fine-tuned against the
// frozen detector until the detector's ROC AUC falls, with the Frechet distance measured as it
// goes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gan/models.h"
#include "nn/layers.h"

namespace duel::gan {

// Detector: Conv(1->16, 4, s2, p1) LeakyReLU(0.2) Conv(16->32, 4, s2, p1) LeakyReLU(0.2)
// Flatten Linear(32*7*7 -> 1): one logit per 28x28 image, positive for "real".
std::shared_ptr<nn::Sequential> make_detector();

// ROC AUC of scores for positives against negatives: the probability that a random positive
// scores above a random negative, ties counting half (Mann-Whitney U / (n_pos n_neg)).
double roc_auc(const std::vector<double>& positive, const std::vector<double>& negative);

struct DetectorScores {
  double auc = 0, accuracy = 0;  // accuracy at logit 0
  int64_t n_real = 0, n_fake = 0;
};
// The detector's scores on real and fake images [N, 1, 28, 28] (evaluation, no graph).
DetectorScores score_detector(nn::Module& detector, const Tensor& real, const Tensor& fake);

struct DetectTrainConfig {
  std::string real = "dataset:fashion-mnist:train";
  std::string fake;            // checkpoint:DIR
  int64_t n = 4000;            // training images of each kind
  int64_t n_test = 2000;       // held-out images of each kind (real: the test split)
  int64_t epochs = 3, batch = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t seeds = 1;           // repeat with seeds seed .. seed + seeds - 1
  std::string out;
};
// duel detect train: writes DIR/detector.safetensors (the first seed's) and DIR/detect.json
// (accuracy and AUC per seed, mean and standard deviation). Returns the exit code.
int run_detect_train(const DetectTrainConfig& c);

struct SpectrumConfig {
  std::string real = "dataset:fashion-mnist:test";
  std::vector<std::string> fakes;  // checkpoint:DIR, one curve each
  int64_t n = 2000;
  uint64_t seed = 0;
  std::string out;
};
// duel detect spectrum: DIR/spectrum.svg (mean log power spectra, centred, of the real images and
// of each generator, their difference, and the azimuthal averages) and DIR/spectrum.json.
int run_detect_spectrum(const SpectrumConfig& c);

struct AttackConfig {
  std::string detector;     // DIR with detector.safetensors (duel detect train's --out)
  std::string fake;         // checkpoint:DIR of the generator to fine-tune (and its critic)
  int64_t steps = 300, batch = 64, eval_every = 50, eval_n = 1000;
  double weight = 1.0;      // the detector term's weight in the generator's loss
  double lr = 2e-4;
  uint64_t seed = 0;
  bool retrain = true;      // train a fresh detector on the fine-tuned generator at the end
  std::string out;
};
// duel detect attack: DIR/metrics.jsonl (step, AUC, accuracy, Frechet distance), DIR/attack.svg.
int run_detect_attack(const AttackConfig& c);

// Images of a source: dataset:fashion-mnist:train|test (n chosen with `seed`) or checkpoint:DIR
// (n generated from `seed`); every image 28x28 grayscale.
Tensor images_of(const std::string& spec, int64_t n, uint64_t seed);

// The mean power spectrum of images [N, 1, S, S], centred (zero frequency in the middle), [S, S].
std::vector<double> mean_power_spectrum(const Tensor& images);
// The azimuthal average of a centred [S, S] spectrum over integer radii 0 .. S/2.
std::vector<double> azimuthal_average(const std::vector<double>& spectrum, int64_t size);

}  // namespace duel::gan
