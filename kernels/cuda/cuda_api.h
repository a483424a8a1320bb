// The CUDA kernels' host interface: plain C++ (no CUDA headers), so core/ can call it.
// Compiled only when the build has the CUDA backend (DUEL_HAVE_CUDA).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/params.h"

namespace duel::kernels::cuda {

using Stream = void*;  // a cudaStream_t; nullptr is the default stream

// Number of GPUs the driver reports; 0 when there is no driver or no device (never throws).
int device_count();
// One line naming the GPU, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)".
std::string device_name(int device);

// Philox fills on the device; element i equals element i of the CPU fill bitwise.
void random_uniform_f32(float* out, int64_t n, uint64_t seed, uint64_t offset, double lo,
                        double hi, Stream stream);
void random_normal_f32(float* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                       double std, Stream stream);
void random_normal_f64(double* out, int64_t n, uint64_t seed, uint64_t offset, double mean,
                       double std, Stream stream);

// Runs the three fills above into device buffers and copies them to the host arrays (n each):
// the host-versus-device RNG test, usable before CUDA storage exists. Throws on CUDA errors.
void philox_roundtrip(int64_t n, uint64_t seed, uint64_t offset, float* uniform_f32,
                      float* normal_f32, double* normal_f64);

#include "kernels/cuda/kernels_api.inc"

}  // namespace duel::kernels::cuda
