// The CUDA kernels' host interface: plain C++ (no CUDA headers), so core/ can call it.
// Compiled only when the build has the CUDA backend (DUEL_HAVE_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/params.h"

namespace duel::kernels::cuda {

using Stream = void*;  // a cudaStream_t; nullptr is the default stream

// Number of GPUs the driver reports; 0 when there is no driver or no device (never throws).
int device_count();
// One line naming the GPU, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)".
std::string device_name(int device);

// Device memory and copies on duel's one compute stream (created on first use, non-blocking
// with respect to the legacy default stream). Allocation is stream-ordered (cudaMallocAsync)
// from the device's default pool with its release threshold raised to "keep everything", so
// freed blocks are reused without returning to the driver: a training step allocates the same
// sizes every iteration. Nothing here synchronises the host except copy_to_host and synchronize.
Stream compute_stream(int device);
void* device_allocate(size_t bytes, int device);            // throws std::runtime_error
void device_release(void* p, int device);                   // stream-ordered free
void copy_to_device(void* dst, const void* src, size_t bytes, int device);   // host -> device
void copy_to_host(void* dst, const void* src, size_t bytes, int device);     // waits for it
void copy_on_device(void* dst, const void* src, size_t bytes, int device);   // device -> device
void synchronize(int device);

// Runs the three fills above (uniform on [lo, hi), normals with mean and std) into device buffers
// and copies them to the host arrays (n each): the host-versus-device RNG test, usable before
// CUDA storage exists. Throws on CUDA errors.
void philox_roundtrip(int64_t n, uint64_t seed, uint64_t offset, double lo, double hi, double mean,
                      double std, float* uniform_f32, float* normal_f32, double* normal_f64);

#include "kernels/cuda/kernels_api.inc"

}  // namespace duel::kernels::cuda
