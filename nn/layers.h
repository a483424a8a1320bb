// Layers with PyTorch's names, shapes and default initialisation.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/module.h"

namespace duel::nn {

// Whether nn::Sequential runs Conv -> activation and Conv -> BatchNorm2d (training) as fused ops
// (on by default; the same results within rounding, the same autograd graph). For tests and
// benchmarks that compare the two.
bool fused_layers();
void set_fused_layers(bool on);

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential& add(std::shared_ptr<Module> m);  // named "0", "1", ... as torch.nn.Sequential
  Tensor forward(const Tensor& x) override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator& gen) override;
  int64_t in_features, out_features;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override;
  // forward with the output's channel statistics for a following batch norm (core/ops.h)
  Tensor forward_stats(const Tensor& x, ChannelStats* stats);
  // act(forward(x)) as one fused op
  Tensor forward_activation(const Tensor& x, Activation act, double slope);
  void reset_parameters(Generator& gen) override;
  int64_t in_channels, out_channels, kernel_size, stride, padding;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
                  int64_t padding = 0, int64_t output_padding = 0, bool bias = true);
  Tensor forward(const Tensor& x) override;
  Tensor forward_stats(const Tensor& x, ChannelStats* stats);
  Tensor forward_activation(const Tensor& x, Activation act, double slope);
  void reset_parameters(Generator& gen) override;
  int64_t in_channels, out_channels, kernel_size, stride, padding, output_padding;
};

// Nearest-neighbour upsampling by an integer factor (torch.nn.Upsample(scale_factor=s,
// mode="nearest")); no parameters, so it shifts the names of the layers after it exactly as in
// torch.nn.Sequential.
class Upsample : public Module {
 public:
  explicit Upsample(int64_t scale_factor = 2);
  Tensor forward(const Tensor& x) override { return upsample_nearest2d(x, {scale_factor, scale_factor}); }
  int64_t scale_factor;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  // forward with the input's statistics left by the convolution that produced it
  Tensor forward_with_stats(const Tensor& x, const ChannelStats& stats);
  // act(forward_with_stats(x, stats)) as one op (batch_norm_activation, core/ops.h)
  Tensor forward_activation(const Tensor& x, const ChannelStats& stats, Activation act, double slope);
  void reset_parameters(Generator& gen) override;
  int64_t num_features;
  double eps, momentum;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator& gen) override;
  Shape normalized_shape;
  double eps;
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters(Generator& gen) override;
  int64_t num_embeddings, embedding_dim;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Tensor forward(const Tensor& x) override { return relu(x); }
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override { return leaky_relu(x, negative_slope); }
  double negative_slope;
};

class Tanh : public Module {
 public:
  Tanh() : Module("Tanh") {}
  Tensor forward(const Tensor& x) override { return tanh(x); }
};

class Sigmoid : public Module {
 public:
  Sigmoid() : Module("Sigmoid") {}
  Tensor forward(const Tensor& x) override { return sigmoid(x); }
};

// [N, *] -> [N, prod(*)]
class Flatten : public Module {
 public:
  Flatten() : Module("Flatten") {}
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// Every layer's default initialisation, recursively (PyTorch's reset_parameters).
void reset_all(Module& m, Generator& gen);
// The DCGAN paper's initialisation (as the PyTorch DCGAN example): convolution and transposed
// convolution weights N(0, 0.02), batch-norm weight N(1, 0.02) and bias 0; other layers keep
// their defaults.
void dcgan_init(Module& m, Generator& gen);

}  // namespace duel::nn
