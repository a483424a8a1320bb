// The GAN architectures: dcgan28 (28x28, Fashion-MNIST), dcgan64 (the PyTorch DCGAN example at
// 64x64), and the class-conditional dcgan28.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers.h"

namespace duel::gan {

enum class ModelKind { dcgan28, dcgan64 };
enum class CriticNorm { batchnorm, none, layernorm };

ModelKind parse_model(const std::string& s);
CriticNorm parse_critic_norm(const std::string& s);
std::string model_name(ModelKind k);
std::string critic_norm_name(CriticNorm n);

struct ModelConfig {
  ModelKind kind = ModelKind::dcgan28;
  CriticNorm critic_norm = CriticNorm::batchnorm;
  bool conditional = false;
  int64_t channels = 1;      // image channels (from the data)
  int64_t nz = 100;          // latent size
  int64_t num_classes = 10;  // conditional only
  int64_t image_size() const { return kind == ModelKind::dcgan28 ? 28 : 64; }
};

// What a training step (gan/step.h) needs from a pair of networks: the critic's score of a batch
// (one logit per sample) and the two modules whose parameters the updates change.
class Adversaries {
 public:
  virtual ~Adversaries() = default;
  virtual Tensor critic(const Tensor& x, const Tensor& labels) = 0;
  virtual nn::Module& G() = 0;
  virtual nn::Module& D() = 0;
};

// G and D with the two calls a training step makes. For the conditional model, G embeds the
// label (Embedding(num_classes, num_classes)) and joins it to z as extra latent channels, and D
// sees the label as num_classes one-hot input planes.
class Gan : public Adversaries {
 public:
  explicit Gan(const ModelConfig& config);
  const ModelConfig& config() const { return config_; }

  // z [B, nz, 1, 1] (and labels [B] i64 when conditional) -> images [B, C, S, S] in [-1, 1]
  Tensor generate(const Tensor& z, const Tensor& labels = Tensor());
  // images [B, C, S, S] (and labels) -> one logit (critic score) per sample, [B]
  Tensor critic(const Tensor& x, const Tensor& labels = Tensor()) override;

  // The modules whose state makes G.safetensors and D.safetensors.
  nn::Module& G() override { return *g_state_; }
  nn::Module& D() override { return *d_; }
  void init_dcgan(Generator& gen);  // DCGAN initialisation of both (embedding: N(0, 1))

 private:
  ModelConfig config_;
  std::shared_ptr<nn::Sequential> g_net_, d_;
  std::shared_ptr<nn::Embedding> embed_;
  std::shared_ptr<nn::Module> g_state_;
};

}  // namespace duel::gan
