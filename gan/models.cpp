#include "gan/models.h"

#include <algorithm>
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
  if (s == "dcgan") return ModelKind::dcgan;
  fail("unknown model '", s, "' (expected dcgan, dcgan28 or dcgan64)");
}

CriticNorm parse_critic_norm(const std::string& s) {
  if (s == "batchnorm") return CriticNorm::batchnorm;
  if (s == "none") return CriticNorm::none;
  if (s == "layernorm") return CriticNorm::layernorm;
  fail("unknown critic norm '", s, "' (expected batchnorm, none or layernorm)");
}

UpsampleKind parse_upsample(const std::string& s) {
  if (s == "convT") return UpsampleKind::convT;
  if (s == "nearest") return UpsampleKind::nearest;
  fail("unknown upsampling '", s, "' (expected convT or nearest)");
}

std::string model_name(ModelKind k) {
  return k == ModelKind::dcgan28 ? "dcgan28" : k == ModelKind::dcgan64 ? "dcgan64" : "dcgan";
}
std::string critic_norm_name(CriticNorm n) {
  return n == CriticNorm::batchnorm ? "batchnorm" : n == CriticNorm::none ? "none" : "layernorm";
}
std::string upsample_name(UpsampleKind u) { return u == UpsampleKind::convT ? "convT" : "nearest"; }

int64_t ModelConfig::image_size() const {
  return kind == ModelKind::dcgan28 ? 28 : kind == ModelKind::dcgan64 ? 64 : size;
}
int64_t ModelConfig::g_width() const { return kind == ModelKind::dcgan ? ngf : 64; }
int64_t ModelConfig::d_width() const { return kind == ModelKind::dcgan ? ndf : 64; }

namespace {

bool in_family(int64_t s) { return s == 28 || s == 16 || s == 32 || s == 64 || s == 128 || s == 256; }

int64_t log2_exact(int64_t s) {
  int64_t k = 0;
  while ((int64_t(1) << k) < s) ++k;
  return k;
}

}  // namespace

void check_model_config(const ModelConfig& m) {
  DUEL_CHECK(m.channels == 1 || m.channels == 3, "model: images must have 1 or 3 channels, got ", m.channels);
  DUEL_CHECK(m.nz >= 1 && m.nz <= 4096, "model: nz must be in [1, 4096], got ", m.nz);
  DUEL_CHECK(in_family(m.image_size()), "model: the image size must be a power of two from 16 to 256, or 28; got ",
             m.image_size());
  // The widest layer has width * S/8 channels (S = 256: 32x); 4096 keeps one layer's weights
  // within a few hundred MB.
  for (const auto& [name, w] : {std::pair<const char*, int64_t>{"ngf", m.g_width()}, {"ndf", m.d_width()}})
    DUEL_CHECK(w >= 1 && w * std::max<int64_t>(4, m.image_size() / 8) <= 4096, "model: --", name, " ", w,
               " is out of range for ", m.image_size(), "x", m.image_size(), " images (1 to ",
               4096 / std::max<int64_t>(4, m.image_size() / 8), ")");
  DUEL_CHECK(!m.conditional || m.num_classes > 1, "model: a conditional model needs at least 2 classes");
}

std::string describe_model(const ModelConfig& m) {
  std::string out = m.kind == ModelKind::dcgan
                        ? str_cat("dcgan ", m.size, "x", m.size, " (ngf ", m.ngf, ", ndf ", m.ndf, ")")
                        : model_name(m.kind);
  if (m.upsample == UpsampleKind::nearest) out += " with nearest upsampling";
  if (m.conditional) out += ", conditional";
  return out;
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

// One doubling of the generator's resolution, in -> out channels.
void add_up(Sequential& g, int64_t in, int64_t out, UpsampleKind how) {
  if (how == UpsampleKind::convT) {
    g.add(std::make_shared<ConvTranspose2d>(in, out, 4, 2, 1, 0, false));
  } else {
    g.add(std::make_shared<nn::Upsample>(2)).add(std::make_shared<Conv2d>(in, out, 3, 1, 1, false));
  }
}

// The generator. Power-of-two S: the PyTorch DCGAN example generalised, with n = log2(S) - 2
// doublings after a 4x4 projection:
//   ConvT(nz -> ngf*2^(n-1), k4) BN ReLU, then up(ngf*m -> ngf*m/2) BN ReLU for m = 2^(n-1)..2,
//   then up(ngf -> C) Tanh.
// S = 64 is the example (ngf*8, 4, 2, 1). S = 28 (dcgan28 at ngf 64):
//   ConvT(nz -> ngf*4, k7) BN ReLU, up(ngf*4 -> ngf*2) BN ReLU, up(ngf*2 -> C) Tanh.
// `up` is ConvT(k4 s2 p1), or Upsample(2) + Conv(k3 s1 p1) for nearest upsampling.
std::shared_ptr<Sequential> dcgan_g(int64_t nz, int64_t c, int64_t size, int64_t ngf, UpsampleKind up) {
  std::vector<int64_t> widths;  // after the projection and after each doubling but the last
  int64_t first_kernel = 4;
  if (size == 28) {
    first_kernel = 7;
    widths = {ngf * 4, ngf * 2};
  } else {
    for (int64_t k = log2_exact(size) - 3; k >= 0; --k) widths.push_back(ngf << k);
  }
  auto g = std::make_shared<Sequential>();
  g->add(std::make_shared<ConvTranspose2d>(nz, widths[0], first_kernel, 1, 0, 0, false))
      .add(std::make_shared<BatchNorm2d>(widths[0]))
      .add(std::make_shared<ReLU>());
  for (size_t i = 1; i < widths.size(); ++i) {
    add_up(*g, widths[i - 1], widths[i], up);
    g->add(std::make_shared<BatchNorm2d>(widths[i])).add(std::make_shared<ReLU>());
  }
  add_up(*g, widths.back(), c, up);
  g->add(std::make_shared<Tanh>());
  return g;
}

// The critic, mirrored: Conv(C -> ndf, k4 s2 p1) LReLU(0.2), then Conv(ndf*m -> ndf*2m, k4 s2 p1)
// norm LReLU(0.2) down to 4x4 (7x7 for S = 28), then Conv(-> 1, k4 (k7), valid): one logit.
// This is the example's discriminator without its final Sigmoid: duel's losses take logits
// (binary_cross_entropy_with_logits is the stable form), and Sigmoid has no state, so the saved
// state matches the example's layer for layer.
std::shared_ptr<Sequential> dcgan_d(int64_t c, int64_t size, int64_t ndf, CriticNorm norm) {
  auto d = std::make_shared<Sequential>();
  d->add(std::make_shared<Conv2d>(c, ndf, 4, 2, 1, false)).add(std::make_shared<LeakyReLU>(0.2));
  const int64_t last = size == 28 ? 7 : 4;
  int64_t width = ndf;
  for (int64_t s = size / 4; s >= last; s /= 2) {
    d->add(std::make_shared<Conv2d>(width, width * 2, 4, 2, 1, false))
        .add(critic_norm_layer(norm, width * 2, s))
        .add(std::make_shared<LeakyReLU>(0.2));
    width *= 2;
  }
  d->add(std::make_shared<Conv2d>(width, 1, last, 1, 0, false));
  return d;
}

}  // namespace

Gan::Gan(const ModelConfig& config) : config_(config) {
  check_model_config(config);
  const int64_t cond = config.conditional ? config.num_classes : 0;
  g_net_ = dcgan_g(config.nz + cond, config.channels, config.image_size(), config.g_width(), config.upsample);
  d_ = dcgan_d(config.channels + cond, config.image_size(), config.d_width(), config.critic_norm);
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
