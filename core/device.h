// Devices: the CPU and CUDA GPUs. Data moves between them only through Tensor::to(device).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace duel {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline std::ostream& operator<<(std::ostream& os, Device d) { return os << d.str(); }

// Parses "cpu", "cuda" (= cuda:0) and "cuda:N"; throws duel::Error otherwise.
Device parse_device(std::string_view s);

// Whether this build has the CUDA backend, and how many GPUs the driver reports (0 without).
bool cuda_built();
int cuda_device_count();

}  // namespace duel
