#include "gan/classifier.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/autograd.h"
#include "nn/optim.h"

namespace duel::gan {

using nn::Conv2d;
using nn::ReLU;

#ifndef DUEL_MODELS_DIR
#define DUEL_MODELS_DIR "models"
#endif

std::string class_name(int64_t label) {
  static const char* const kNames[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return label >= 0 && label < 10 ? kNames[label] : "class " + std::to_string(label);
}

std::string default_classifier_path() {
  if (const char* env = std::getenv("DUEL_CLASSIFIER")) return env;
  return std::string(DUEL_MODELS_DIR) + "/fashion_mnist_classifier.safetensors";
}

Classifier::Classifier() : net_(std::make_shared<nn::Sequential>()) {
  net_->add(std::make_shared<Conv2d>(1, 32, 3, 1, 1))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Conv2d>(32, 32, 4, 2, 1))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Conv2d>(32, 64, 3, 1, 1))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<Conv2d>(64, 64, 4, 2, 1))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(64 * 7 * 7, kFeatures))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<nn::Linear>(kFeatures, kClasses));
}

Tensor Classifier::features(const Tensor& images) {
  DUEL_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == 28 && images.size(3) == 28,
             "classifier: images must be [N, 1, 28, 28], got ", describe(images));
  Tensor h = images;
  for (size_t i = 0; i + 1 < net_->size(); ++i) h = (*net_)[i](h);
  return h;
}

Tensor Classifier::logits_from_features(const Tensor& features) { return (*net_)[net_->size() - 1](features); }

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.size(0), k = logits.size(1);
  DUEL_CHECK(labels.dtype() == DType::i64 && labels.numel() == n, "cross_entropy: labels must be i64 [", n,
             "], got ", describe(labels));
  std::vector<double> onehot(static_cast<size_t>(n * k), 0.0);
  const int64_t* l = labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    DUEL_CHECK(l[i] >= 0 && l[i] < k, "cross_entropy: label ", l[i], " is out of range for ", k, " classes");
    onehot[static_cast<size_t>(i * k + l[i])] = 1.0;
  }
  const Tensor picked = sum(mul(from_vector(onehot, {n, k}, logits.dtype()), log_softmax(logits, 1)), {1});
  return neg(mean(picked));
}

double accuracy(Classifier& c, const Dataset& data) {
  NoGradGuard no_grad;
  c.net().eval();
  const int64_t n = data.images.size(0);
  int64_t correct = 0;
  for (int64_t start = 0; start < n; start += 500) {
    const int64_t b = std::min<int64_t>(500, n - start);
    const Tensor x = narrow(data.images, 0, start, b);
    const Tensor logits = c.logits(x);
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < b; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < Classifier::kClasses; ++k)
        if (p[i * Classifier::kClasses + k] > p[i * Classifier::kClasses + best]) best = k;
      correct += best == data.labels.data<int64_t>()[start + i];
    }
  }
  return double(correct) / double(n);
}

double train_classifier(const ClassifierTrainConfig& cfg) {
  DUEL_CHECK(cfg.epochs >= 1 && cfg.batch >= 1, "classifier train: --epochs and --batch must be positive");
  DUEL_CHECK(!cfg.out.empty(), "classifier train: --out FILE is required");
  const Dataset train = load_dataset("fashion-mnist", true, 1, 28);
  const Dataset test = load_dataset("fashion-mnist", false, 1, 28);
  Classifier c;
  Generator rng(cfg.seed);
  nn::reset_all(c.net(), rng);
  nn::Adam opt(c.net().named_parameters(), cfg.lr);
  BatchLoader loader(train, cfg.batch, cfg.seed);
  double acc = 0;
  for (int64_t e = 0; e < cfg.epochs; ++e) {
    c.net().train();
    double loss_sum = 0;
    for (int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
      const Batch batch = loader.next();
      const Tensor loss = cross_entropy(c.logits(batch.images), batch.labels);
      const std::vector<Tensor> params = c.net().parameters();
      const std::vector<Tensor> grads = grad({loss}, params);
      for (size_t i = 0; i < params.size(); ++i) Tensor(params[i]).set_grad(grads[i]);
      opt.step();
      loss_sum += loss.item();
    }
    acc = accuracy(c, test);
    std::printf("epoch %lld/%lld: train loss %.4f, test accuracy %.4f\n", (long long)e + 1, (long long)cfg.epochs,
                loss_sum / double(loader.batches_per_epoch()), acc);
    std::fflush(stdout);
  }
  char acc_text[32];
  std::snprintf(acc_text, sizeof acc_text, "%.4f", acc);
  nn::save_module(c.net(), cfg.out, {{"test_accuracy", acc_text}, {"recipe", kClassifierRecipe}});
  return acc;
}

std::unique_ptr<Classifier> load_classifier(const std::string& path) {
  DUEL_CHECK(std::filesystem::exists(path), "classifier weights not found at ", path,
             " (train them with: ", kClassifierRecipe, ", or set DUEL_CLASSIFIER)");
  auto c = std::make_unique<Classifier>();
  nn::load_module(c->net(), path, "classifier");
  c->net().eval();
  return c;
}

}  // namespace duel::gan
