#include "nn/tensor_io.h"

#include <cstring>

#include "nn/safetensors.h"

namespace duel {

namespace {

std::string st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
  }
  return "?";
}

}  // namespace

NamedTensors load_safetensors(const std::string& path) {
  const safetensors::Contents c = safetensors::read_file(path);
  NamedTensors out;
  for (const safetensors::TensorRecord& r : c.tensors) {
    // The reader has already checked the dtype and that the byte size matches the shape.
    Tensor t = empty(r.shape, parse_dtype(r.dtype));
    if (!r.data.empty()) std::memcpy(t.raw_data(), r.data.data(), r.data.size());
    out.emplace_back(r.name, t);
  }
  return out;
}

std::map<std::string, Tensor> load_safetensors_map(const std::string& path) {
  std::map<std::string, Tensor> m;
  for (auto& [name, t] : load_safetensors(path)) m[name] = t;
  return m;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  safetensors::Contents c;
  c.metadata = metadata;
  for (const auto& [name, t] : tensors) {
    DUEL_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    const Tensor host = t.to(Device::cpu());
    safetensors::TensorRecord r;
    r.name = name;
    r.dtype = st_dtype(host.dtype());
    r.shape = host.shape();
    r.data.resize(host.nbytes());
    if (!r.data.empty()) std::memcpy(r.data.data(), host.raw_data(), r.data.size());
    c.tensors.push_back(std::move(r));
  }
  safetensors::write_file_atomic(path, c);
}

}  // namespace duel
