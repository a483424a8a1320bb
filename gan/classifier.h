// The feature network for judging generators: a small CNN classifier of Fashion-MNIST trained
// by duel itself. Its 64-unit penultimate layer is the feature space of the Frechet distance,
// KID and precision/recall; its class probabilities give the classifier score and the class
// coverage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "gan/data.h"
#include "nn/layers.h"

namespace duel::gan {

// Conv(1->32, k3 p1) ReLU, Conv(32->32, k4 s2 p1) ReLU, Conv(32->64, k3 p1) ReLU,
// Conv(64->64, k4 s2 p1) ReLU, Flatten, Linear(3136->64) ReLU, Linear(64->10)
class Classifier {
 public:
  Classifier();
  nn::Sequential& net() { return *net_; }
  // images [N, 1, 28, 28] in [-1, 1] -> features [N, 64] (after the penultimate ReLU)
  Tensor features(const Tensor& images);
  // features -> logits [N, 10]
  Tensor logits_from_features(const Tensor& features);
  Tensor logits(const Tensor& images) { return logits_from_features(features(images)); }

  static constexpr int64_t kFeatures = 64, kClasses = 10;

 private:
  std::shared_ptr<nn::Sequential> net_;
};

// Fashion-MNIST's class names, by label (0 "T-shirt/top" ... 9 "Ankle boot"); "class K" beyond.
std::string class_name(int64_t label);

// Where the committed weights live, and the command that reproduces them.
std::string default_classifier_path();
constexpr const char* kClassifierRecipe =
    "duel classifier train --epochs 5 --batch 128 --seed 0 --out models/fashion_mnist_classifier.safetensors";

struct ClassifierTrainConfig {
  int64_t epochs = 5, batch = 128;
  uint64_t seed = 0;
  double lr = 1e-3;
  std::string out;
};
// Trains on the Fashion-MNIST training split with Adam and cross-entropy, reports test accuracy
// after each epoch and saves the weights (metadata: test accuracy, recipe). Returns the final
// test accuracy.
double train_classifier(const ClassifierTrainConfig& c);

// Loads weights (strict), in evaluation mode.
std::unique_ptr<Classifier> load_classifier(const std::string& path);

// Fraction of `data` classified correctly (batches of 500, no graph).
double accuracy(Classifier& c, const Dataset& data);

// Mean cross-entropy of logits [N, K] against labels [N] (i64): -mean(log_softmax(logits)[label]).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels);

}  // namespace duel::gan
