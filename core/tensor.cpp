#include "core/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <tuple>
#include <sstream>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/checked.h"
#include "core/config.h"
#include "core/cpu_allocator.h"
#include "core/cuda_backend.h"
#include "core/random.h"
#include "kernels/cpu/util.h"

namespace duel {

// ---------------------------------------------------------------------------------------------
// Storage
// ---------------------------------------------------------------------------------------------

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  // CPU blocks are 64-byte aligned (a cache line, the widest vector loads); device blocks come
  // from the CUDA pool, 256-byte aligned, so the float4 paths of the kernels apply.
  if (device.is_cuda()) {
    cuda_backend::Block b = cuda_backend::allocate(bytes, device);
    data_ = b.ptr;
    pool_ = std::move(b.pool);
  } else {
    data_ = cpu_allocate(bytes);
  }
}

Storage::~Storage() {
  if (device_.is_cuda())
    cuda_backend::release({data_, pool_}, bytes_, device_);
  else
    cpu_release(data_, bytes_);
}

// ---------------------------------------------------------------------------------------------
// Tensor
// ---------------------------------------------------------------------------------------------

static void check_defined(const TensorImpl* impl, const char* what) {
  DUEL_CHECK(impl != nullptr, what, ": the tensor is undefined");
}

const Shape& Tensor::shape() const {
  check_defined(impl_.get(), "Tensor::shape");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const { return shape()[size_t(wrap_dim(d, dim(), "Tensor::size"))]; }

int64_t Tensor::numel() const { return shape_numel(shape()); }

DType Tensor::dtype() const {
  check_defined(impl_.get(), "Tensor::dtype");
  return impl_->dtype;
}

Device Tensor::device() const {
  check_defined(impl_.get(), "Tensor::device");
  return impl_->storage->device();
}

void* Tensor::raw_data() const {
  check_defined(impl_.get(), "Tensor::data");
  return impl_->storage->data();
}

bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  check_defined(impl_.get(), "requires_grad_");
  DUEL_CHECK(is_leaf(), "requires_grad_: only a leaf tensor's flag can be set (this one was made by ",
             impl_->grad_fn ? impl_->grad_fn->op : std::string("?"), "); use detach() first");
  DUEL_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating-point tensors can require "
             "gradients, got ", dtype_name(dtype()));
  DUEL_CHECK(!on || !impl_->read_only, "requires_grad_: ", describe(*this), " is a shared constant (scalar_like "
             "on cuda); clone() it first");
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_ || impl_->grad_fn == nullptr; }

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return impl_ ? impl_->grad_fn : none;
}

Tensor Tensor::grad() const {
  check_defined(impl_.get(), "Tensor::grad");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) {
  check_defined(impl_.get(), "Tensor::set_grad");
  DUEL_CHECK(!impl_->read_only || !g.defined(), "set_grad: ", describe(*this), " is a shared constant");
  if (g.defined()) {
    DUEL_CHECK(g.shape() == shape() && g.dtype() == dtype() && g.device() == device(),
               "set_grad: gradient ", describe(g), " does not match the tensor ", describe(*this));
  }
  impl_->grad = g;
}

void Tensor::backward(const Tensor& gradient, bool create_graph) const {
  duel::backward({*this}, {gradient}, create_graph);
}

Tensor Tensor::detach() const {
  check_defined(impl_.get(), "detach");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(impl);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  const int64_t nd = std::max<int64_t>(dim(), 1);
  start = wrap_dim(start, nd, "flatten");
  end = wrap_dim(end, nd, "flatten");
  DUEL_CHECK(start <= end, "flatten: start dimension ", start, " is after end dimension ", end);
  if (dim() == 0) return reshape({1});
  Shape s(shape().begin(), shape().begin() + start);
  int64_t merged = 1;
  for (int64_t d = start; d <= end; ++d) merged *= shape()[size_t(d)];
  s.push_back(merged);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  cuda_backend::copy(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  DUEL_CHECK(!(d.is_cuda() && dtype() == DType::f64), "to(", d.str(), "): ", describe(*this),
             " is float64, and the CUDA kernels are float32 only; convert with .to(f32) first");
  Tensor out = empty(shape(), dtype(), d);
  cuda_backend::copy(out.raw_data(), d, raw_data(), device(), nbytes());
  // Differentiable, as in PyTorch: the gradient goes back to where the input lives.
  return record("to_device", out, {*this}, [from = device()](Node&, const Tensor& g) {
    return std::vector<Tensor>{g.to(from)};
  });
}

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  DUEL_CHECK(!(requires_grad() && grad_mode_enabled()), "to(", dtype_name(t),
             "): converting the dtype is not differentiable; detach() the ", describe(*this),
             " first");
  if (device().is_cuda()) {  // the device has f32 and i64 only
    const Tensor host = to(Device::cpu()).to(t);
    return host.to(device());
  }
  Tensor out = empty(shape(), t, device());
  const int64_t n = numel();
  auto from = [&]<class To>(To* dst) {
    switch (dtype()) {
      case DType::f32: kernels::cpu::cast(dst, data<float>(), n); break;
      case DType::f64: kernels::cpu::cast(dst, data<double>(), n); break;
      case DType::i64: kernels::cpu::cast(dst, data<int64_t>(), n); break;
    }
  };
  switch (t) {
    case DType::f32: from(out.data<float>()); break;
    case DType::f64: from(out.data<double>()); break;
    case DType::i64: from(out.data<int64_t>()); break;
  }
  return out;
}

std::vector<double> Tensor::to_vector() const {
  DUEL_CHECK(device().is_cpu(), "to_vector: the tensor is on ", device().str(), "; call to(cpu) first");
  std::vector<double> v(static_cast<size_t>(numel()));
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype()) {
      case DType::f32: v[i] = data<float>()[i]; break;
      case DType::f64: v[i] = data<double>()[i]; break;
      case DType::i64: v[i] = double(data<int64_t>()[i]); break;
    }
  }
  return v;
}

double Tensor::item() const {
  DUEL_CHECK(numel() == 1, "item: expected a one-element tensor, got ", describe(*this));
  const Tensor host = to(Device::cpu());
  switch (dtype()) {
    case DType::f32: return host.data<float>()[0];
    case DType::f64: return host.data<double>()[0];
    case DType::i64: return double(host.data<int64_t>()[0]);
  }
  return 0;
}

std::string Tensor::str(int max_elements) const {
  if (!defined()) return "undefined tensor";
  std::ostringstream os;
  os << describe(*this) << " {";
  const std::vector<double> v = to(Device::cpu()).to_vector();
  for (size_t i = 0; i < v.size() && int(i) < max_elements; ++i) os << (i ? ", " : "") << v[i];
  if (int64_t(v.size()) > max_elements) os << ", ...";
  os << "}";
  return os.str();
}

static void check_in_place(const Tensor& t, const char* op) {
  DUEL_CHECK(!t.impl()->read_only, op, ": ", describe(t), " is a shared constant (scalar_like on cuda); clone() it "
             "to change it");
  DUEL_CHECK(!(grad_mode_enabled() && (t.requires_grad() || t.grad_fn())), op,
             ": in-place change of ", describe(t),
             " which takes part in autograd; use NoGradGuard (e.g. in an optimiser step)");
}

Tensor& Tensor::fill_(double value) {
  check_in_place(*this, "fill_");
  if (device().is_cuda()) {
    switch (dtype()) {
      case DType::f32: DUEL_CUDA_CALL(device(), fill_f32, data<float>(), numel(), float(value)); break;
      case DType::i64: DUEL_CUDA_CALL(device(), fill_i64, data<int64_t>(), numel(), int64_t(value)); break;
      case DType::f64: cuda_backend::f64_unsupported("fill_");
    }
    return *this;
  }
  switch (dtype()) {
    case DType::f32: kernels::cpu::fill(data<float>(), numel(), float(value)); break;
    case DType::f64: kernels::cpu::fill(data<double>(), numel(), value); break;
    case DType::i64: kernels::cpu::fill(data<int64_t>(), numel(), int64_t(value)); break;
  }
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_in_place(*this, "copy_");
  DUEL_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_: source ", describe(src),
             " does not match destination ", describe(*this));
  if (!same(src)) cuda_backend::copy(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Factories
// ---------------------------------------------------------------------------------------------

Tensor empty(const Shape& s, DType t, Device d) {
  for (int64_t dim : s)
    DUEL_CHECK(dim >= 0, "empty: negative dimension in shape ", shape_str(s));
  if (d.is_cuda()) {
    cuda_backend::check_usable(d);
    if (t == DType::f64) cuda_backend::f64_unsupported("empty");
  }
  const int64_t bytes = checked_mul(shape_numel(s), int64_t(dtype_size(t)), str_cat("empty ", shape_str(s)));
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = s;
  impl->dtype = t;
  impl->storage = std::make_shared<Storage>(size_t(bytes), d);
  Tensor out(impl);
  if (poison_allocations() && d.is_cuda()) {
    if (t == DType::f32)
      DUEL_CUDA_CALL(d, fill_f32, out.data<float>(), out.numel(), std::numeric_limits<float>::quiet_NaN());
    else
      DUEL_CUDA_CALL(d, fill_i64, out.data<int64_t>(), out.numel(), int64_t(0x5A5A5A5A5A5A5A5A));
  } else if (poison_allocations()) {
    const int64_t n = out.numel();
    switch (t) {
      case DType::f32: kernels::cpu::fill(out.data<float>(), n, std::numeric_limits<float>::quiet_NaN()); break;
      case DType::f64: kernels::cpu::fill(out.data<double>(), n, std::numeric_limits<double>::quiet_NaN()); break;
      case DType::i64: kernels::cpu::fill(out.data<int64_t>(), n, int64_t(0x5A5A5A5A5A5A5A5A)); break;
    }
  }
  return out;
}

Tensor full(const Shape& s, double value, DType t, Device d) {
  Tensor out = empty(s, t, d);
  {
    NoGradGuard no_grad;
    out.fill_(value);
  }
  return out;
}

Tensor zeros(const Shape& s, DType t, Device d) { return full(s, 0.0, t, d); }
Tensor ones(const Shape& s, DType t, Device d) { return full(s, 1.0, t, d); }
Tensor empty_like(const Tensor& x) { return empty(x.shape(), x.dtype(), x.device()); }
Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype(), x.device()); }
Tensor full_like(const Tensor& x, double value) { return full(x.shape(), value, x.dtype(), x.device()); }
Tensor scalar_like(const Tensor& x, double value) {
  if (!x.device().is_cuda()) return full({}, value, x.dtype(), x.device());
  // One constant per (emulated or not, device, dtype, value bits), kept for the process: a graph
  // captured later reads it where it is. While a capture is open a missing constant is made for
  // the graph instead (filled by it), not kept: only replays would fill it.
  // Never destroyed: at exit the device (or the emulation setting) may be gone already.
  static auto& constants = *new std::map<std::tuple<bool, int, int, uint64_t>, Tensor>;
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const auto key = std::make_tuple(cuda_backend::emulated(), x.device().index, int(x.dtype()), bits);
  if (auto it = constants.find(key); it != constants.end()) return it->second;
  if (cuda_backend::capturing()) return full({}, value, x.dtype(), x.device());
  Tensor c = full({}, value, x.dtype(), x.device());
  c.impl()->read_only = true;
  constants.emplace(key, c);
  return c;
}

Tensor from_vector(const std::vector<double>& values, const Shape& s, DType t) {
  DUEL_CHECK(int64_t(values.size()) == shape_numel(s), "from_vector: ", values.size(),
             " values do not fill shape ", shape_str(s));
  Tensor out = empty(s, t);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (t) {
      case DType::f32: out.data<float>()[i] = float(values[i]); break;
      case DType::f64: out.data<double>()[i] = values[i]; break;
      case DType::i64: out.data<int64_t>()[i] = int64_t(values[i]); break;
    }
  }
  return out;
}

Tensor arange(int64_t n, DType t, Device d) {
  DUEL_CHECK(n >= 0, "arange: negative length ", n);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double(i);
  return from_vector(v, {n}, t).to(d);
}

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

namespace {

uint64_t* device_state_ptr(const Generator& gen, Device d, const char* op) {
  DUEL_CHECK(gen.device() == d, op, ": the generator lives on ", gen.device().str(), "; draw there, not on ", d.str());
  return reinterpret_cast<uint64_t*>(gen.device_state().data<int64_t>());
}

std::vector<int64_t> read_device_state(const Tensor& state) {
  const Tensor host = state.to(Device::cpu());
  return {host.data<int64_t>()[0], host.data<int64_t>()[1]};
}

}  // namespace

uint64_t Generator::seed() const { return on_device() ? uint64_t(read_device_state(state_)[0]) : seed_; }
uint64_t Generator::offset() const { return on_device() ? uint64_t(read_device_state(state_)[1]) : offset_; }

void Generator::set_state(uint64_t seed, uint64_t offset) {
  seed_ = seed;
  offset_ = offset;
  if (!on_device()) return;
  Tensor host = empty({3}, DType::i64);
  host.data<int64_t>()[0] = int64_t(seed);
  host.data<int64_t>()[1] = int64_t(offset);
  host.data<int64_t>()[2] = 0;
  NoGradGuard no_grad;
  state_.copy_(host);
}

uint64_t Generator::take_offset() {
  DUEL_CHECK(!on_device(), "Generator::take_offset: the generator lives on ", device().str(),
             "; its draws advance the offset there");
  return offset_++;
}

void Generator::to_device(Device d) {
  if (d == device()) return;
  if (on_device()) {  // back to the host, or on to another device
    const std::vector<int64_t> v = read_device_state(state_);
    seed_ = uint64_t(v[0]);
    offset_ = uint64_t(v[1]);
    state_ = Tensor();
  }
  if (d.is_cpu()) return;
  state_ = empty({3}, DType::i64, d);
  set_state(seed_, offset_);
}

Tensor uniform(const Shape& s, double lo, double hi, Generator& gen, DType t, Device d) {
  DUEL_CHECK(lo <= hi, "uniform: lo ", lo, " is above hi ", hi);
  Tensor out = empty(s, t, d);
  if (gen.on_device()) {
    DUEL_CUDA_CALL(d, random_uniform_state_f32, out.data<float>(), out.numel(), device_state_ptr(gen, d, "uniform"),
                   lo, hi);
    return out;
  }
  const uint64_t offset = gen.take_offset();
  if (d.is_cuda()) {  // bitwise the same numbers as on the CPU
    DUEL_CUDA_CALL(d, random_uniform_f32, out.data<float>(), out.numel(), gen.seed(), offset, lo, hi);
    return out;
  }
  dispatch_floating(t, "uniform", [&]<class T>() {
    kernels::cpu::random_uniform(out.data<T>(), out.numel(), gen.seed(), offset, lo, hi);
  });
  return out;
}

Tensor normal(const Shape& s, double mean, double std, Generator& gen, DType t, Device d) {
  DUEL_CHECK(std >= 0, "normal: standard deviation must be >= 0, got ", std);
  Tensor out = empty(s, t, d);
  if (gen.on_device()) {
    DUEL_CUDA_CALL(d, random_normal_state_f32, out.data<float>(), out.numel(), device_state_ptr(gen, d, "normal"),
                   mean, std);
    return out;
  }
  const uint64_t offset = gen.take_offset();
  if (d.is_cuda()) {
    DUEL_CUDA_CALL(d, random_normal_f32, out.data<float>(), out.numel(), gen.seed(), offset, mean, std);
    return out;
  }
  dispatch_floating(t, "normal", [&]<class T>() {
    kernels::cpu::random_normal(out.data<T>(), out.numel(), gen.seed(), offset, mean, std);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Argument checks shared by ops
// ---------------------------------------------------------------------------------------------

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return str_cat(dtype_name(t.dtype()), shape_str(t.shape()), " on ", t.device().str());
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return;
  DUEL_CHECK(a.device() == b.device(), op, ": tensors are on different devices: ", describe(a),
             " and ", describe(b), " (move one with .to(device))");
}

void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (!a.defined() || !b.defined()) return;
  DUEL_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", describe(a), " and ", describe(b),
             " (convert one with .to(dtype))");
}

}  // namespace duel
