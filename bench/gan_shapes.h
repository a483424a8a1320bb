// The convolution layers of the GAN architectures, as conv2d ConvShapes. A transposed
// convolution appears in its conv2d form: its input is the conv2d's output (h_out, c_out) and
// its output is the conv2d's input (h, c_in), so "forward" of a generator layer is
// conv2d_input_grad.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/params.h"

namespace duel::bench {

struct ConvLayer {
  std::string name;
  bool transposed;  // a generator layer: forward = conv2d_input_grad
  kernels::ConvShape s;
};

inline kernels::ConvShape conv(int64_t n, int64_t ci, int64_t h, int64_t co, int64_t k, int64_t stride,
                               int64_t pad) {
  kernels::ConvShape s{n, ci, h, h, co, k, k, stride, stride, pad, pad, 0, 0};
  s.h_out = s.w_out = (h + 2 * pad - k) / stride + 1;
  return s;
}

// ConvTranspose2d(c_in -> c_out, k, stride, pad) on an h x h input: the conv2d that maps the
// h_out x h_out output back to it.
inline kernels::ConvShape conv_t(int64_t n, int64_t c_in, int64_t h, int64_t c_out, int64_t k,
                                 int64_t stride, int64_t pad) {
  const int64_t h_out = (h - 1) * stride - 2 * pad + k;
  kernels::ConvShape s{n, c_out, h_out, h_out, c_in, k, k, stride, stride, pad, pad, h, h};
  return s;
}

// dcgan28 (Fashion-MNIST, nz = 100) at batch 64.
inline std::vector<ConvLayer> dcgan28_layers(int64_t n = 64) {
  return {
      {"dcgan28.G.0 convT 100->256 k7 1->7", true, conv_t(n, 100, 1, 256, 7, 1, 0)},
      {"dcgan28.G.3 convT 256->128 k4s2 7->14", true, conv_t(n, 256, 7, 128, 4, 2, 1)},
      {"dcgan28.G.6 convT 128->1 k4s2 14->28", true, conv_t(n, 128, 14, 1, 4, 2, 1)},
      {"dcgan28.D.0 conv 1->64 k4s2 28->14", false, conv(n, 1, 28, 64, 4, 2, 1)},
      {"dcgan28.D.2 conv 64->128 k4s2 14->7", false, conv(n, 64, 14, 128, 4, 2, 1)},
      {"dcgan28.D.5 conv 128->1 k7 7->1", false, conv(n, 128, 7, 1, 7, 1, 0)},
  };
}

// The PyTorch DCGAN example at 64x64 (ngf = ndf = 64, nc = 3, nz = 100), batch 128.
inline std::vector<ConvLayer> dcgan64_layers(int64_t n = 128) {
  return {
      {"dcgan64.G.0 convT 100->512 k4 1->4", true, conv_t(n, 100, 1, 512, 4, 1, 0)},
      {"dcgan64.G.3 convT 512->256 k4s2 4->8", true, conv_t(n, 512, 4, 256, 4, 2, 1)},
      {"dcgan64.G.6 convT 256->128 k4s2 8->16", true, conv_t(n, 256, 8, 128, 4, 2, 1)},
      {"dcgan64.G.9 convT 128->64 k4s2 16->32", true, conv_t(n, 128, 16, 64, 4, 2, 1)},
      {"dcgan64.G.12 convT 64->3 k4s2 32->64", true, conv_t(n, 64, 32, 3, 4, 2, 1)},
      {"dcgan64.D.0 conv 3->64 k4s2 64->32", false, conv(n, 3, 64, 64, 4, 2, 1)},
      {"dcgan64.D.2 conv 64->128 k4s2 32->16", false, conv(n, 64, 32, 128, 4, 2, 1)},
      {"dcgan64.D.5 conv 128->256 k4s2 16->8", false, conv(n, 128, 16, 256, 4, 2, 1)},
      {"dcgan64.D.8 conv 256->512 k4s2 8->4", false, conv(n, 256, 8, 512, 4, 2, 1)},
      {"dcgan64.D.11 conv 512->1 k4 4->1", false, conv(n, 512, 4, 1, 4, 1, 0)},
  };
}

inline double conv_flops(const kernels::ConvShape& s) {
  return 2.0 * double(s.n) * double(s.c_out) * double(s.h_out * s.w_out) * double(s.c_in * s.kh * s.kw);
}

}  // namespace duel::bench
