// Bad shapes, dtypes and devices: every op throws duel::Error naming itself and what does not fit.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "core/cuda_backend.h"
#include "core/ops.h"
#include "core/random.h"

using namespace duel;
using Catch::Matchers::Contains;

namespace {
Generator g(9);
Tensor f32(const Shape& s) { return randn(s, g, DType::f32); }
Tensor f64(const Shape& s) { return randn(s, g, DType::f64); }
Tensor idx(const std::vector<double>& v) { return from_vector(v, {int64_t(v.size())}, DType::i64); }
}  // namespace

TEST_CASE("shape errors name the op and the shapes", "[errors]") {
  CHECK_THROWS_WITH(add(f32({2, 3}), f32({4})), Contains("add") && Contains("[2, 3]") && Contains("[4]"));
  CHECK_THROWS_WITH(matmul(f32({2, 3}), f32({4, 5})), Contains("matmul: inner dimensions differ"));
  CHECK_THROWS_WITH(matmul(f32({2, 3, 4}), f32({4, 5})), Contains("matmul") && Contains("2-D"));
  CHECK_THROWS_WITH(conv2d(f32({2, 3, 8}), f32({4, 3, 3, 3})), Contains("conv2d: input must be 4-D"));
  CHECK_THROWS_WITH(conv2d(f32({2, 3, 8, 8}), f32({4, 2, 3, 3})), Contains("conv2d: input has 3 channels"));
  CHECK_THROWS_WITH(conv2d(f32({1, 1, 2, 2}), f32({1, 1, 5, 5})), Contains("larger than the padded input"));
  CHECK_THROWS_WITH(conv2d(f32({1, 1, 6, 6}), f32({1, 1, 3, 3}), f32({2})), Contains("bias must be [1]"));
  CHECK_THROWS_WITH(conv2d(f32({1, 1, 6, 6}), f32({1, 1, 3, 3}), {}, {0, 1}), Contains("stride must be from 1 to"));
  CHECK_THROWS_WITH(conv_transpose2d(f32({1, 2, 3, 3}), f32({2, 1, 3, 3}), {}, {2, 2}, {0, 0}, {2, 0}),
                    Contains("output_padding"));
  CHECK_THROWS_WITH(conv2d_weight_grad(f32({1, 2, 6, 6}), f32({1, 3, 5, 5}), {3, 3}),
                    Contains("is not the output shape"));
  CHECK_THROWS_WITH(batch_norm(f32({1, 3}), {}, {}, {}, {}, true), Contains("more than one value per channel"));
  CHECK_THROWS_WITH(batch_norm(f32({4, 3, 2}), f32({4}), f32({4}), {}, {}, false),
                    Contains("running_mean must be [3]"));
  CHECK_THROWS_WITH(batch_norm(f32({4, 3, 2}), {}, {}, {}, {}, false), Contains("needs running_mean"));
  CHECK_THROWS_WITH(layer_norm(f32({3, 4}), {5}), Contains("does not end in normalized_shape [5]"));
  CHECK_THROWS_WITH(mse_loss(f32({3}), f32({4})), Contains("mse_loss: target"));
  CHECK_THROWS_WITH(reshape(f32({3, 4}), {5, -1}), Contains("cannot reshape [3, 4]"));
  CHECK_THROWS_WITH(reshape(f32({3, 4}), {-1, -1}), Contains("only one dimension can be -1"));
  CHECK_THROWS_WITH(broadcast_to(f32({3, 2}), {3, 4}), Contains("cannot broadcast [3, 2] to [3, 4]"));
  CHECK_THROWS_WITH(cat({f32({2, 3}), f32({3, 4})}, 1), Contains("sizes must match except in dimension 1"));
  CHECK_THROWS_WITH(narrow(f32({5}), 0, 3, 4), Contains("do not fit"));
  CHECK_THROWS_WITH(sum(f32({2, 3}), {2}), Contains("dimension 2 is out of range"));
  CHECK_THROWS_WITH(sum(f32({2, 3}), {1, -1}), Contains("more than once"));
  CHECK_THROWS_WITH(linear(f32({3, 5}), f32({4, 6})), Contains("in_features = 6"));
  CHECK_THROWS_WITH(embedding(idx({0, 7}), f32({5, 2})), Contains("index 7") && Contains("5 embeddings"));
  CHECK_THROWS_WITH(embedding_backward(f32({2, 3}), idx({0, 1, 2}), 4), Contains("grad_output"));
  CHECK_THROWS_WITH(upsample_nearest2d(f32({2, 3, 4}), {2, 2}), Contains("upsample_nearest2d: input must be 4-D"));
  CHECK_THROWS_WITH(upsample_nearest2d(f32({1, 1, 2, 2}), {0, 2}), Contains("scale_factor must be >= 1"));
  CHECK_THROWS_WITH(upsample_nearest2d_backward(f32({1, 1, 5, 4}), {2, 2}),
                    Contains("upsample_nearest2d_backward") && Contains("multiples of the scale factor (2, 2)"));
}

TEST_CASE("dtype errors name the op and both dtypes", "[errors]") {
  CHECK_THROWS_WITH(add(f32({2}), f64({2})), Contains("add") && Contains("f32[2]") && Contains("f64[2]"));
  CHECK_THROWS_WITH(conv2d(f32({1, 1, 4, 4}), f64({1, 1, 3, 3})), Contains("conv2d") && Contains("dtypes differ"));
  CHECK_THROWS_WITH(exp(idx({1, 2})), Contains("exp: input must be f32 or f64"));
  CHECK_THROWS_WITH(embedding(f32({2}), f32({5, 2})), Contains("embedding: input must be i64"));
  CHECK_THROWS_WITH(idx({1}).requires_grad_(true), Contains("only floating-point"));
  Tensor x = f32({2});
  CHECK_THROWS_WITH(x.data<double>(), Contains("requested f64 from a f32"));
}

TEST_CASE("device errors name the devices", "[errors]") {
  CHECK_THROWS_WITH(parse_device("gpu"), Contains("unknown device 'gpu'"));
  CHECK(parse_device("cuda:3") == Device::cuda(3));
  // A device no machine here has (with a GPU, with the emulated cuda:0, or with none): an error
  // naming it, not a crash.
  CHECK_THROWS_WITH(empty({2}, DType::f32, Device::cuda(63)), Contains("cuda:63"));
  CHECK_THROWS_WITH(f32({2}).to(Device::cuda(63)), Contains("cuda:63"));
  if (!cuda_backend::emulated() && cuda_device_count() == 0) {
    // No CUDA device at all: cuda:0 is refused too, saying why.
    CHECK_THROWS_WITH(empty({2}, DType::f32, Device::cuda(0)), Contains("cuda:0"));
    CHECK_THROWS_WITH(f32({2}).to(Device::cuda(0)), Contains("cuda:0"));
  } else {
    CHECK(f32({2}).to(Device::cuda(0)).device() == Device::cuda(0));
  }
}

TEST_CASE("undefined tensors are rejected, not dereferenced", "[errors]") {
  CHECK_THROWS_WITH(add(Tensor(), f32({2})), Contains("add: input is undefined"));
  CHECK_THROWS_WITH(Tensor().shape(), Contains("undefined"));
  CHECK_THROWS_WITH(cat({}, 0), Contains("at least one tensor"));
}
