// Error checking for CUDA calls and launches: the message names the call or kernel.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace duel::kernels::cuda {

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

// After a launch: reports a bad configuration at once (no host synchronisation).
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace duel::kernels::cuda
