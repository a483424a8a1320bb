// The GAN architectures: the DCGAN family at any power-of-two image size from 16 to 256 (and 28,
// for MNIST-like data), generalised as the PyTorch DCGAN example's `--imageSize` suggests, with
// two named configurations kept exactly: dcgan28 (28x28, Fashion-MNIST) and dcgan64 (the
// example at 64x64). Each may be class-conditional, and the generator may upsample by
// transposed convolution (the paper's) or by nearest-neighbour upsampling followed by a 3x3
// convolution (Odena et al., 2016, "Deconvolution and checkerboard artifacts").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "nn/layers.h"

namespace duel::gan {

// dcgan28 and dcgan64 are named configurations of the family (image size 28 or 64, ngf = ndf =
// 64); dcgan is the family itself, sized by ModelConfig::size, ngf and ndf.
enum class ModelKind { dcgan28, dcgan64, dcgan };
enum class CriticNorm { batchnorm, none, layernorm };
// How the generator doubles its resolution: ConvTranspose2d(k4, s2, p1), or Upsample(x2,
// nearest) then Conv2d(k3, s1, p1).
enum class UpsampleKind { convT, nearest };

ModelKind parse_model(const std::string& s);
CriticNorm parse_critic_norm(const std::string& s);
UpsampleKind parse_upsample(const std::string& s);
std::string model_name(ModelKind k);
std::string critic_norm_name(CriticNorm n);
std::string upsample_name(UpsampleKind u);

struct ModelConfig {
  ModelKind kind = ModelKind::dcgan28;
  CriticNorm critic_norm = CriticNorm::batchnorm;
  UpsampleKind upsample = UpsampleKind::convT;
  bool conditional = false;
  int64_t channels = 1;      // image channels (from the data)
  int64_t nz = 100;          // latent size
  int64_t num_classes = 10;  // conditional only
  // Read for kind dcgan only; the named configurations fix them (image_size() etc. say which).
  int64_t size = 64;         // image side: 16, 32, 64, 128, 256 or 28
  int64_t ngf = 64, ndf = 64;  // generator and critic widths (the example's --ngf, --ndf)

  int64_t image_size() const;
  int64_t g_width() const;
  int64_t d_width() const;
};

// Throws one line naming the field when the configuration cannot be built (image size not in the
// family, widths or nz out of range, channels not 1 or 3).
void check_model_config(const ModelConfig& m);
// "dcgan28", or "dcgan 32x32 (ngf 32, ndf 32, nearest upsampling)" for the family.
std::string describe_model(const ModelConfig& m);

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
