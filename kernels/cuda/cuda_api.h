// The CUDA kernels' host interface: plain C++ (no CUDA headers), so core/ can call it.
// Compiled only when the build has the CUDA backend (DUEL_HAVE_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
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

// ---- launch accounting, graphs, pinned memory and events (the graph-captured training step)
// Every kernel launch counts itself (launch() in portable.cuh), by the launcher's name too; the
// counts are cumulative.
void count_kernel_launch(const char* name);
int64_t kernel_launches();
std::map<std::string, int64_t> kernel_launches_by_name();
// Sets a kernel's dynamic shared memory limit (above 48 KiB) once per function and size; legal
// inside a graph capture too.
void allow_dynamic_shared(const void* kernel, size_t bytes, const char* name);
// Memory that a captured graph owns for good: cudaMalloc, allowed while a capture is open (its
// address is what every replay uses), and its release (cudaFree, which waits for the device).
void* device_allocate_static(size_t bytes, int device);
void device_release_static(void* p, int device);
// Capture of the compute stream into a graph (thread-local mode: only this thread is barred
// from unsafe calls), its instantiation, launch and release. end_capture returns the
// instantiated graph (a cudaGraphExec_t) and its kernel node count.
void begin_capture(int device);
void* end_capture(int device, int64_t* kernel_nodes);
void abort_capture(int device);  // ends a capture that failed and discards what it recorded
void launch_graph(void* exec, int device);
void destroy_graph(void* exec);
// Page-locked host memory: copies from it can be asynchronous (and captured).
void* pinned_allocate(size_t bytes);
void pinned_release(void* p);
// A copy to (pinned) host memory that does not wait, and events to wait for it later.
void copy_to_host_async(void* dst, const void* src, size_t bytes, int device);
void* event_create(int device);
void event_record(void* event, int device);  // on the compute stream
void event_wait(void* event);                // the host waits for it
void event_release(void* event);

// Runs the three fills above (uniform on [lo, hi), normals with mean and std) into device buffers
// and copies them to the host arrays (n each): the host-versus-device RNG test, usable before
// CUDA storage exists. Throws on CUDA errors.
void philox_roundtrip(int64_t n, uint64_t seed, uint64_t offset, double lo, double hi, double mean,
                      double std, float* uniform_f32, float* normal_f32, double* normal_f64);

#include "kernels/cuda/kernels_api.inc"

}  // namespace duel::kernels::cuda
