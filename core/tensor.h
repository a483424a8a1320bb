// Tensor: a shared handle to contiguous, row-major storage with a shape, a dtype and a device,
// plus the autograd metadata (requires_grad, the node that made it, the accumulated gradient).
//
// The only view is reshape, which shares storage. Everything else makes a new contiguous tensor,
// so every kernel may assume contiguity. Copying a Tensor copies the handle, not the data.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace duel {

namespace cuda_backend {
class GraphPool;
}

struct Node;
struct TensorImpl;

// A block of memory on one device. CPU memory is 64-byte aligned. CUDA memory allocated while a
// graph capture is open comes from the capture's pool (core/graph_pool.h) and goes back there.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::shared_ptr<cuda_backend::GraphPool> pool_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }

  // Typed access to the elements; checks that T matches the dtype.
  template <class T>
  T* data() const {
    DUEL_CHECK(dtype_of<T>() == dtype(), "Tensor::data: requested ", dtype_name(dtype_of<T>()),
               " from a ", dtype_name(dtype()), " tensor");
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Tensor grad() const;             // accumulated gradient of a leaf (undefined if none yet)
  void set_grad(const Tensor& g);  // replaces it (undefined clears it)
  // Gradient of this tensor with respect to the leaves of its graph, accumulated into their
  // grad(). A non-scalar tensor needs an explicit gradient.
  void backward(const Tensor& gradient = Tensor(), bool create_graph = false) const;
  Tensor detach() const;  // same storage, no graph

  // Shape and data movement.
  Tensor reshape(const Shape& s) const;  // a view; one dimension may be -1 (differentiable)
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor clone() const;                 // new storage, same values, not recorded
  Tensor to(Device d) const;            // copy between devices (the host waits for the GPU)
  Tensor to(DType t) const;             // converted copy; not differentiable

  // The value of a one-element tensor as double (the host waits for the GPU).
  double item() const;
  // All elements as doubles (CPU copy), for tests and printing.
  std::vector<double> to_vector() const;
  std::string str(int max_elements = 16) const;  // "f32[2, 3] cpu {0.1, ...}"

  // In-place helpers used by optimisers and buffers. They are never recorded and throw if this
  // tensor takes part in a graph while grad mode is on.
  Tensor& fill_(double value);
  Tensor& copy_(const Tensor& src);  // same shape and dtype; may cross devices

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;            // null for leaves
  Tensor grad;                              // leaves only
  std::weak_ptr<Node> grad_accumulator;     // leaves only: the node that accumulates into grad
  bool read_only = false;                   // a shared constant (scalar_like on CUDA): never written
};

// Factories. Contents of empty() are unspecified (poisoned when poisoning is on).
Tensor empty(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor zeros(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor ones(const Shape& s, DType t = DType::f32, Device d = Device::cpu());
Tensor full(const Shape& s, double value, DType t = DType::f32, Device d = Device::cpu());
Tensor empty_like(const Tensor& x);
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor full_like(const Tensor& x, double value);
// Shape [], x's dtype and device. On CUDA the tensor is a shared read-only constant, filled once
// per device, dtype and value: an op with a scalar operand (x * 0.5, 1 - eps) then costs no fill
// kernel, which is a good part of the launches of a training step. Writing to it throws.
Tensor scalar_like(const Tensor& x, double value);
// A CPU tensor holding `values` converted to dtype t, reshaped to s.
Tensor from_vector(const std::vector<double>& values, const Shape& s, DType t = DType::f32);
Tensor arange(int64_t n, DType t = DType::i64, Device d = Device::cpu());

// Checks used by every op: all defined tensors share one device (names both otherwise).
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_same_dtype(const char* op, const Tensor& a, const Tensor& b);
std::string describe(const Tensor& t);  // "f32[2, 3] on cpu"

}  // namespace duel
