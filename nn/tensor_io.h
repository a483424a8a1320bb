// Tensors to and from safetensors files (nn/safetensors.h does the format itself).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace duel {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Every tensor in the file, on the CPU, in file order. Errors name the file.
NamedTensors load_safetensors(const std::string& path);
std::map<std::string, Tensor> load_safetensors_map(const std::string& path);

// Writes CPU copies of the tensors (F32, F64 or I64) atomically: temporary file, fsync, rename.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace duel
