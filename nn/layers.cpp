#include "nn/layers.h"

#include "core/inplace.h"

#include <optional>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "core/autograd.h"

namespace duel::nn {

namespace {

// Fills `t` in place (outside autograd) with values from a fresh draw.
void assign(const Tensor& t, const Tensor& values) {
  NoGradGuard no_grad;
  t.detach().copy_(values);
}

// PyTorch's default for weights (kaiming_uniform with a = sqrt(5)) and biases of linear and
// convolution layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). fan_in is size(1) times the kernel
// area, as torch computes it, also for a transposed convolution's [C_in, C_out, k, k] weight.
void uniform_fan_in(const Tensor& t, int64_t fan_in, Generator& gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  assign(t, uniform(t.shape(), -bound, bound, gen, t.dtype()));
}

}  // namespace

Sequential& Sequential::add(std::shared_ptr<Module> m) {
  add_module(std::to_string(children().size()), std::move(m));
  return *this;
}

namespace {

bool g_fuse = true;

// The activation a module applies, if it is one the convolution epilogue can fuse.
std::optional<std::pair<Activation, double>> activation_of(const Module& m) {
  if (dynamic_cast<const ReLU*>(&m)) return std::make_pair(Activation::relu, 0.0);
  if (auto* l = dynamic_cast<const LeakyReLU*>(&m)) return std::make_pair(Activation::leaky_relu, l->negative_slope);
  if (dynamic_cast<const Tanh*>(&m)) return std::make_pair(Activation::tanh, 0.0);
  return std::nullopt;
}

}  // namespace

bool fused_layers() { return g_fuse; }
void set_fused_layers(bool on) { g_fuse = on; }

// A convolution followed by an activation, or by a batch norm in training mode, runs as one
// fused op (core/ops.h): the same autograd graph, one kernel on CUDA for the convolution and the
// activation, or the convolution and the batch norm's statistics. A batch norm followed by an
// activation runs as batch_norm_activation (one fused op on the CPU's fast path).
Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  const auto& kids = children();
  // batch norm kids[j] and, when fusion is on and kids[j + 1] is an activation, that activation.
  auto norm_activation = [&](size_t& j, BatchNorm2d& bn, const ChannelStats& stats) {
    Module* after = g_fuse && j + 1 < kids.size() ? kids[j + 1].second.get() : nullptr;
    const auto act = after ? activation_of(*after) : std::nullopt;
    if (!act) return bn.forward_with_stats(h, stats);
    ++j;
    return bn.forward_activation(h, stats, act->first, act->second);
  };
  for (size_t i = 0; i < kids.size(); ++i) {
    Module& m = *kids[i].second;
    Module* next = g_fuse && i + 1 < kids.size() ? kids[i + 1].second.get() : nullptr;
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m); bn && next) {
      NameScope scope(kids[i].first + " (" + m.type() + ")");
      h = norm_activation(i, *bn, ChannelStats{});
      continue;
    }
    auto* conv = dynamic_cast<Conv2d*>(&m);
    auto* convt = dynamic_cast<ConvTranspose2d*>(&m);
    if (next && (conv || convt)) {
      auto* bn = dynamic_cast<BatchNorm2d*>(next);
      if (const auto act = activation_of(*next)) {
        NameScope scope(kids[i].first + " (" + m.type() + ") + " + kids[i + 1].first + " (" + next->type() + ")");
        h = conv ? conv->forward_activation(h, act->first, act->second)
                 : convt->forward_activation(h, act->first, act->second);
        ++i;
        continue;
      }
      if (bn && bn->training()) {
        NameScope scope(kids[i].first + " (" + m.type() + ") + " + kids[i + 1].first + " (" + next->type() + ")");
        ChannelStats stats;
        h = conv ? conv->forward_stats(h, &stats) : convt->forward_stats(h, &stats);
        ++i;
        h = norm_activation(i, *bn, stats);
        continue;
      }
    }
    h = m(h);
  }
  return h;
}

Linear::Linear(int64_t in, int64_t out, bool bias) : Module("Linear"), in_features(in), out_features(out) {
  DUEL_CHECK(in > 0 && out > 0, "Linear: features must be positive, got ", in, " -> ", out);
  add_parameter("weight", zeros({out, in}));
  if (bias) add_parameter("bias", zeros({out}));
}

Tensor Linear::forward(const Tensor& x) {
  const NamedTensors p = named_parameters();
  return linear(x, p[0].second, p.size() > 1 ? p[1].second : Tensor());
}

void Linear::reset_parameters(Generator& gen) {
  for (auto& [n, t] : named_parameters()) uniform_fan_in(t, in_features, gen);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool bias)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p) {
  DUEL_CHECK(in > 0 && out > 0 && k > 0 && s > 0 && p >= 0, "Conv2d: invalid geometry (", in, " -> ",
             out, ", kernel ", k, ", stride ", s, ", padding ", p, ")");
  add_parameter("weight", zeros({out, in, k, k}));
  if (bias) add_parameter("bias", zeros({out}));
}

Tensor Conv2d::forward(const Tensor& x) { return forward_stats(x, nullptr); }

Tensor Conv2d::forward_stats(const Tensor& x, ChannelStats* stats) {
  const NamedTensors p = named_parameters();
  return conv2d(x, p[0].second, p.size() > 1 ? p[1].second : Tensor(), {stride, stride}, {padding, padding}, stats);
}

Tensor Conv2d::forward_activation(const Tensor& x, Activation act, double slope) {
  const NamedTensors p = named_parameters();
  return conv2d_activation(x, p[0].second, p.size() > 1 ? p[1].second : Tensor(), {stride, stride},
                           {padding, padding}, act, slope);
}

void Conv2d::reset_parameters(Generator& gen) {
  for (auto& [n, t] : named_parameters()) uniform_fan_in(t, in_channels * kernel_size * kernel_size, gen);
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t op, bool bias)
    : Module("ConvTranspose2d"), in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p),
      output_padding(op) {
  DUEL_CHECK(in > 0 && out > 0 && k > 0 && s > 0 && p >= 0 && op >= 0 && op < s,
             "ConvTranspose2d: invalid geometry (", in, " -> ", out, ", kernel ", k, ", stride ", s,
             ", padding ", p, ", output_padding ", op, ")");
  add_parameter("weight", zeros({in, out, k, k}));
  if (bias) add_parameter("bias", zeros({out}));
}

Tensor ConvTranspose2d::forward(const Tensor& x) { return forward_stats(x, nullptr); }

Tensor ConvTranspose2d::forward_stats(const Tensor& x, ChannelStats* stats) {
  const NamedTensors p = named_parameters();
  return conv_transpose2d(x, p[0].second, p.size() > 1 ? p[1].second : Tensor(), {stride, stride},
                          {padding, padding}, {output_padding, output_padding}, stats);
}

Tensor ConvTranspose2d::forward_activation(const Tensor& x, Activation act, double slope) {
  const NamedTensors p = named_parameters();
  return conv_transpose2d_activation(x, p[0].second, p.size() > 1 ? p[1].second : Tensor(), {stride, stride},
                                     {padding, padding}, {output_padding, output_padding}, act, slope);
}

void ConvTranspose2d::reset_parameters(Generator& gen) {
  for (auto& [n, t] : named_parameters()) uniform_fan_in(t, out_channels * kernel_size * kernel_size, gen);
}

Upsample::Upsample(int64_t s) : Module("Upsample"), scale_factor(s) {
  DUEL_CHECK(s >= 1, "Upsample: scale_factor must be >= 1, got ", s);
}

BatchNorm2d::BatchNorm2d(int64_t c, double eps, double momentum)
    : Module("BatchNorm2d"), num_features(c), eps(eps), momentum(momentum) {
  DUEL_CHECK(c > 0, "BatchNorm2d: num_features must be positive, got ", c);
  add_parameter("weight", ones({c}));
  add_parameter("bias", zeros({c}));
  add_buffer("running_mean", zeros({c}));
  add_buffer("running_var", ones({c}));
  add_buffer("num_batches_tracked", zeros({}, DType::i64));
}

Tensor BatchNorm2d::forward(const Tensor& x) { return forward_with_stats(x, ChannelStats{}); }

Tensor BatchNorm2d::forward_with_stats(const Tensor& x, const ChannelStats& stats) {
  return forward_activation(x, stats, Activation::none, 0.0);
}

Tensor BatchNorm2d::forward_activation(const Tensor& x, const ChannelStats& stats, Activation act, double slope) {
  DUEL_CHECK(x.dim() == 4, "BatchNorm2d: expected a 4-D input [N, C, H, W], got ", describe(x));
  if (training()) {
    NoGradGuard no_grad;  // a counter kept for PyTorch compatibility (momentum is fixed)
    add_(buffer("num_batches_tracked"), 1);  // on its device: a kernel on CUDA, never a host write
  }
  return batch_norm_activation(x, buffer("running_mean"), buffer("running_var"), parameter("weight"),
                               parameter("bias"), training(), momentum, eps, stats, act, slope);
}

void BatchNorm2d::reset_parameters(Generator&) {
  NoGradGuard no_grad;
  parameter("weight").fill_(1.0);
  parameter("bias").fill_(0.0);
  buffer("running_mean").fill_(0.0);
  buffer("running_var").fill_(1.0);
  buffer("num_batches_tracked").fill_(0.0);
}

LayerNorm::LayerNorm(Shape shape, double eps) : Module("LayerNorm"), normalized_shape(std::move(shape)), eps(eps) {
  DUEL_CHECK(!normalized_shape.empty(), "LayerNorm: normalized_shape must not be empty");
  add_parameter("weight", ones(normalized_shape));
  add_parameter("bias", zeros(normalized_shape));
}

Tensor LayerNorm::forward(const Tensor& x) {
  return layer_norm(x, normalized_shape, parameter("weight"), parameter("bias"), eps);
}

void LayerNorm::reset_parameters(Generator&) {
  NoGradGuard no_grad;
  parameter("weight").fill_(1.0);
  parameter("bias").fill_(0.0);
}

Embedding::Embedding(int64_t num, int64_t dim) : Module("Embedding"), num_embeddings(num), embedding_dim(dim) {
  DUEL_CHECK(num > 0 && dim > 0, "Embedding: sizes must be positive, got ", num, " x ", dim);
  add_parameter("weight", zeros({num, dim}));
}

Tensor Embedding::forward(const Tensor& indices) { return embedding(indices, parameter("weight")); }

void Embedding::reset_parameters(Generator& gen) {
  assign(parameter("weight"), randn({num_embeddings, embedding_dim}, gen));
}

void reset_all(Module& m, Generator& gen) {
  m.reset_parameters(gen);
  for (auto& [n, child] : m.children()) reset_all(*child, gen);
}

void dcgan_init(Module& m, Generator& gen) {
  if (m.type() == "Conv2d" || m.type() == "ConvTranspose2d") {
    for (auto& [n, t] : m.named_parameters())
      if (n == "weight") assign(t, normal(t.shape(), 0.0, 0.02, gen, t.dtype()));
  } else if (m.type() == "BatchNorm2d") {
    for (auto& [n, t] : m.named_parameters()) {
      if (n == "weight") assign(t, normal(t.shape(), 1.0, 0.02, gen, t.dtype()));
      if (n == "bias") assign(t, zeros(t.shape(), t.dtype()));
    }
  }
  for (auto& [n, child] : m.children()) dcgan_init(*child, gen);
}

}  // namespace duel::nn
