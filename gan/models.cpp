#include "gan/models.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "core/autograd.h"

namespace duel::gan {

using nn::BatchNorm2d;
using nn::Conv2d;
using nn::ConvTranspose2d;
using nn::LeakyReLU;
using nn::ReLU;
using nn::Sequential;
using nn::Tanh;

ModelKind parse_model(const std::string& s) {
  if (s == "dcgan28") return ModelKind::dcgan28;
  if (s == "dcgan64") return ModelKind::dcgan64;
  fail("unknown model '", s, "' (expected dcgan28 or dcgan64)");
}

CriticNorm parse_critic_norm(const std::string& s) {
  if (s == "batchnorm") return CriticNorm::batchnorm;
  if (s == "none") return CriticNorm::none;
  if (s == "layernorm") return CriticNorm::layernorm;
  fail("unknown critic norm '", s, "' (expected batchnorm, none or layernorm)");
}

std::string model_name(ModelKind k) { return k == ModelKind::dcgan28 ? "dcgan28" : "dcgan64"; }
std::string critic_norm_name(CriticNorm n) {
  return n == CriticNorm::batchnorm ? "batchnorm" : n == CriticNorm::none ? "none" : "layernorm";
}

namespace {

// A container whose state is "embed.*" then "net.*"; the Gan drives its children directly.
class ConditionalG : public nn::Module {
 public:
  ConditionalG(std::shared_ptr<nn::Embedding> embed, std::shared_ptr<Sequential> net) : Module("ConditionalG") {
    add_module("embed", std::move(embed));
    add_module("net", std::move(net));
  }
  Tensor forward(const Tensor&) override { fail("ConditionalG: call Gan::generate(z, labels)"); }
};

std::shared_ptr<nn::Module> critic_norm_layer(CriticNorm n, int64_t c, int64_t s) {
  switch (n) {
    case CriticNorm::batchnorm: return std::make_shared<BatchNorm2d>(c);
    case CriticNorm::layernorm: return std::make_shared<nn::LayerNorm>(Shape{c, s, s});
    case CriticNorm::none: return std::make_shared<nn::Identity>();
  }
  return nullptr;
}

// dcgan28 G: ConvT(nz->256, k7) BN ReLU, ConvT(256->128, k4 s2 p1) BN ReLU, ConvT(128->C, k4 s2 p1) Tanh
std::shared_ptr<Sequential> dcgan28_g(int64_t nz, int64_t c) {
  auto g = std::make_shared<Sequential>();
  g->add(std::make_shared<ConvTranspose2d>(nz, 256, 7, 1, 0, 0, false))
      .add(std::make_shared<BatchNorm2d>(256))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<ConvTranspose2d>(256, 128, 4, 2, 1, 0, false))
      .add(std::make_shared<BatchNorm2d>(128))
      .add(std::make_shared<ReLU>())
      .add(std::make_shared<ConvTranspose2d>(128, c, 4, 2, 1, 0, false))
      .add(std::make_shared<Tanh>());
  return g;
}

// dcgan28 D: Conv(C->64, k4 s2 p1) LReLU(0.2), Conv(64->128, k4 s2 p1) N LReLU(0.2), Conv(128->1, k7)
std::shared_ptr<Sequential> dcgan28_d(int64_t c, CriticNorm norm) {
  auto d = std::make_shared<Sequential>();
  d->add(std::make_shared<Conv2d>(c, 64, 4, 2, 1, false))
      .add(std::make_shared<LeakyReLU>(0.2))
      .add(std::make_shared<Conv2d>(64, 128, 4, 2, 1, false))
      .add(critic_norm_layer(norm, 128, 7))
      .add(std::make_shared<LeakyReLU>(0.2))
      .add(std::make_shared<Conv2d>(128, 1, 7, 1, 0, false));
  return d;
}

// The PyTorch DCGAN example's generator at 64x64 (ngf = 64).
std::shared_ptr<Sequential> dcgan64_g(int64_t nz, int64_t c) {
  const int64_t ngf = 64;
  auto g = std::make_shared<Sequential>();
  g->add(std::make_shared<ConvTranspose2d>(nz, ngf * 8, 4, 1, 0, 0, false))
      .add(std::make_shared<BatchNorm2d>(ngf * 8))
      .add(std::make_shared<ReLU>());
  for (int64_t mult : {8, 4, 2}) {
    g->add(std::make_shared<ConvTranspose2d>(ngf * mult, ngf * mult / 2, 4, 2, 1, 0, false))
        .add(std::make_shared<BatchNorm2d>(ngf * mult / 2))
        .add(std::make_shared<ReLU>());
  }
  g->add(std::make_shared<ConvTranspose2d>(ngf, c, 4, 2, 1, 0, false)).add(std::make_shared<Tanh>());
  return g;
}

// The example's discriminator (ndf = 64) without its final Sigmoid: duel's losses take logits
// (binary_cross_entropy_with_logits is the stable form), and Sigmoid has no state, so the saved
// state matches the example's layer for layer.
std::shared_ptr<Sequential> dcgan64_d(int64_t c, CriticNorm norm) {
  const int64_t ndf = 64;
  auto d = std::make_shared<Sequential>();
  d->add(std::make_shared<Conv2d>(c, ndf, 4, 2, 1, false)).add(std::make_shared<LeakyReLU>(0.2));
  int64_t size = 32;
  for (int64_t mult : {1, 2, 4}) {
    size /= 2;
    d->add(std::make_shared<Conv2d>(ndf * mult, ndf * mult * 2, 4, 2, 1, false))
        .add(critic_norm_layer(norm, ndf * mult * 2, size))
        .add(std::make_shared<LeakyReLU>(0.2));
  }
  d->add(std::make_shared<Conv2d>(ndf * 8, 1, 4, 1, 0, false));
  return d;
}

}  // namespace

Gan::Gan(const ModelConfig& config) : config_(config) {
  DUEL_CHECK(config.channels == 1 || config.channels == 3, "model: images must have 1 or 3 channels, got ",
             config.channels);
  DUEL_CHECK(config.nz > 0, "model: nz must be positive");
  const int64_t cond = config.conditional ? config.num_classes : 0;
  DUEL_CHECK(!config.conditional || config.num_classes > 1, "model: a conditional model needs at least 2 classes");
  if (config.kind == ModelKind::dcgan28) {
    g_net_ = dcgan28_g(config.nz + cond, config.channels);
    d_ = dcgan28_d(config.channels + cond, config.critic_norm);
  } else {
    g_net_ = dcgan64_g(config.nz + cond, config.channels);
    d_ = dcgan64_d(config.channels + cond, config.critic_norm);
  }
  if (config.conditional) {
    embed_ = std::make_shared<nn::Embedding>(config.num_classes, config.num_classes);
    g_state_ = std::make_shared<ConditionalG>(embed_, g_net_);
  } else {
    g_state_ = g_net_;
  }
}

Tensor Gan::generate(const Tensor& z, const Tensor& labels) {
  const int64_t b = z.size(0);
  DUEL_CHECK(z.dim() == 4 && z.size(1) == config_.nz && z.size(2) == 1 && z.size(3) == 1,
             "generator: z must be [B, ", config_.nz, ", 1, 1], got ", describe(z));
  NameScope scope("G");
  if (!config_.conditional) return (*g_net_)(z);
  DUEL_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == b, "generator: the conditional "
             "model needs labels [", b, "], got ", describe(labels));
  const Tensor e = reshape((*embed_)(labels), {b, config_.num_classes, 1, 1});
  return (*g_net_)(cat({z, e}, 1));
}

Tensor Gan::critic(const Tensor& x, const Tensor& labels) {
  const int64_t s = config_.image_size();
  DUEL_CHECK(x.dim() == 4 && x.size(1) == config_.channels && x.size(2) == s && x.size(3) == s,
             "critic: images must be [B, ", config_.channels, ", ", s, ", ", s, "], got ", describe(x));
  NameScope scope("D");
  const int64_t b = x.size(0);
  Tensor in = x;
  if (config_.conditional) {
    DUEL_CHECK(labels.defined() && labels.dim() == 1 && labels.size(0) == b, "critic: the conditional "
               "model needs labels [", b, "], got ", describe(labels));
    // One-hot planes: row `label` of the identity, broadcast over the image.
    std::vector<double> onehot(size_t(b * config_.num_classes), 0.0);
    const Tensor host_labels = labels.to(Device::cpu());
    const int64_t* l = host_labels.data<int64_t>();
    for (int64_t i = 0; i < b; ++i) {
      DUEL_CHECK(l[i] >= 0 && l[i] < config_.num_classes, "critic: label ", l[i], " is out of range");
      onehot[size_t(i * config_.num_classes + l[i])] = 1.0;
    }
    const Tensor planes = broadcast_to(from_vector(onehot, {b, config_.num_classes, 1, 1}, x.dtype()).to(x.device()),
                                       {b, config_.num_classes, s, s});
    in = cat({x, planes}, 1);
  }
  return reshape((*d_)(in), {b});
}

void Gan::init_dcgan(Generator& gen) {
  nn::reset_all(*g_state_, gen);
  nn::reset_all(*d_, gen);
  nn::dcgan_init(*g_state_, gen);
  nn::dcgan_init(*d_, gen);
}

}  // namespace duel::gan
