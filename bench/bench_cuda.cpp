// CUDA kernel benchmarks: duel's hand-written kernels against cuDNN (convolutions, batch norm)
// and cuBLAS (matmul) on the layer shapes of dcgan28 (batch 64) and dcgan64 (batch 128), and the
// bandwidth-bound kernels (elementwise, batch norm, fused loss, Adam) against the GPU's
// device-to-device copy bandwidth measured in the same run.
//
// Each benchmark runs ours and the reference in the same process on the same stream, checks
// that they agree before timing (NMSE <= 1e-7 against strict-FP32 references, <= 1e-5 where the
// reference may use TF32 tensor cores), and times both with CUDA events, flushing the L2 cache
// (a write of twice its size) before every timed launch. Counters per benchmark:
//   ours_us, ref_us      mean time per launch
//   ratio                ref_us / ours_us (above 1: ours is faster)
//   GFLOPs               useful FLOPs / ours_us (compute-bound kernels)
//   GBs, copy_fraction   minimum bytes / ours_us, and that over the copy bandwidth
// The label says which reference ran and in which precision. bench/cuda_table.py turns the JSON
// output into the table of docs/benchmarks.md; scripts/device_check.sh runs both.
#include <benchmark/benchmark.h>
#include <cstdint>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <exception>
#include <utility>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <functional>
#include <memory>
#include <tuple>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/gan_shapes.h"
#include "kernels/cuda/cuda_api.h"

namespace {

namespace kc = duel::kernels::cuda;
using duel::kernels::ConvShape;
using duel::kernels::MathMode;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}
void check(cudnnStatus_t e, const char* what) {
  if (e != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(e));
}
void check(cublasStatus_t e, const char* what) {
  if (e != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(int(e)));
}

struct Context {
  cudaStream_t stream = nullptr;
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  void* flush = nullptr;
  size_t flush_bytes = 0;

  Context() {
    stream = cudaStream_t(kc::compute_stream(0));  // the stream duel's kernels run on
    check(cudnnCreate(&dnn), "cudnnCreate");
    check(cudnnSetStream(dnn, stream), "cudnnSetStream");
    check(cublasCreate(&blas), "cublasCreate");
    check(cublasSetStream(blas, stream), "cublasSetStream");
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    int l2 = 0;
    check(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), "L2 size");
    flush_bytes = size_t(l2) * 2;
    check(cudaMalloc(&flush, flush_bytes), "cudaMalloc (flush)");
  }
};

Context& ctx() {
  static Context c;
  return c;
}

// A device buffer of n floats drawn from N(0, 1) (or zeros).
struct Buffer {
  float* p = nullptr;
  int64_t n = 0;
  explicit Buffer(int64_t count, uint64_t seed = 0, bool random = true) : n(count) {
    check(cudaMalloc(&p, size_t(std::max<int64_t>(n, 1)) * sizeof(float)), "cudaMalloc");
    if (random)
      kc::random_normal_f32(p, n, seed, 0, 0.0, 1.0, ctx().stream);
    else
      check(cudaMemsetAsync(p, 0, size_t(n) * sizeof(float), ctx().stream), "cudaMemset");
  }
  ~Buffer() { cudaFree(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  std::vector<float> host() const {
    std::vector<float> v(static_cast<size_t>(n));
    check(cudaMemcpyAsync(v.data(), p, v.size() * sizeof(float), cudaMemcpyDeviceToHost, ctx().stream), "copy");
    check(cudaStreamSynchronize(ctx().stream), "sync");
    return v;
  }
};

double nmse(const Buffer& ours, const Buffer& ref) {
  const std::vector<float> a = ours.host(), b = ref.host();
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? num / den : num;
}

// Milliseconds of the work `enqueue` puts on the stream, L2 flushed first.
float time_ms(const std::function<void()>& enqueue) {
  Context& c = ctx();
  check(cudaMemsetAsync(c.flush, 0, c.flush_bytes, c.stream), "L2 flush");
  check(cudaEventRecord(c.start, c.stream), "cudaEventRecord");
  enqueue();
  check(cudaEventRecord(c.stop, c.stream), "cudaEventRecord");
  check(cudaEventSynchronize(c.stop), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, c.start, c.stop), "cudaEventElapsedTime");
  return ms;
}

// Times ours and the reference alternately and sets the common counters.
void run_pair(benchmark::State& state, const std::function<void()>& ours, const std::function<void()>& ref,
              double flops, double bytes, double copy_gbs) {
  double sum_ours = 0, sum_ref = 0;
  int64_t n = 0;
  for (auto _ : state) {
    const float a = time_ms(ours);
    const float b = ref ? time_ms(ref) : 0.0f;
    state.SetIterationTime(a * 1e-3);
    sum_ours += a;
    sum_ref += b;
    ++n;
  }
  const double ours_us = 1e3 * sum_ours / double(n), ref_us = 1e3 * sum_ref / double(n);
  state.counters["ours_us"] = ours_us;
  if (ref) {
    state.counters["ref_us"] = ref_us;
    state.counters["ratio"] = ref_us / ours_us;
  }
  if (flops > 0) state.counters["GFLOPs"] = flops / (ours_us * 1e3);
  if (bytes > 0) {
    state.counters["GBs"] = bytes / (ours_us * 1e3);
    if (copy_gbs > 0) state.counters["copy_fraction"] = bytes / (ours_us * 1e3) / copy_gbs;
  }
}

// The device-to-device copy bandwidth (bytes read + written per second, GB/s) for a buffer of
// `bytes`, measured once per size class and kept.
double copy_bandwidth(size_t bytes) {
  Buffer a(int64_t(bytes / 4), 1), b(int64_t(bytes / 4), 2, false);
  float best = 1e30f;
  for (int i = 0; i < 10; ++i)
    best = std::min(best, time_ms([&] {
      check(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, ctx().stream), "cudaMemcpyAsync");
    }));
  return 2.0 * double(bytes) / (double(best) * 1e6);
}

// ---- convolutions against cuDNN

enum class Pass { forward, input_grad, weight_grad };

struct CudnnConv {
  cudnnTensorDescriptor_t x{}, y{};
  cudnnFilterDescriptor_t w{};
  cudnnConvolutionDescriptor_t conv{};
  explicit CudnnConv(const ConvShape& s, MathMode mode) {
    const cudnnDataType_t dt = mode == MathMode::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    check(cudnnCreateTensorDescriptor(&x), "desc");
    check(cudnnCreateTensorDescriptor(&y), "desc");
    check(cudnnCreateFilterDescriptor(&w), "desc");
    check(cudnnCreateConvolutionDescriptor(&conv), "desc");
    check(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, dt, int(s.n), int(s.c_in), int(s.h), int(s.w)), "x desc");
    check(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, dt, int(s.n), int(s.c_out), int(s.h_out), int(s.w_out)), "y desc");
    check(cudnnSetFilter4dDescriptor(w, dt, CUDNN_TENSOR_NCHW, int(s.c_out), int(s.c_in), int(s.kh), int(s.kw)), "w desc");
    check(cudnnSetConvolution2dDescriptor(conv, int(s.pad_h), int(s.pad_w), int(s.stride_h), int(s.stride_w), 1, 1,
                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "conv desc");
    // FP32: FMA math only (no TF32). TF32: default math, which allows TF32 tensor cores for
    // float data. BF16: tensor-op math on BF16 tensors.
    check(cudnnSetConvolutionMathType(conv, mode == MathMode::fp32 ? CUDNN_FMA_MATH
                                            : mode == MathMode::tf32 ? CUDNN_DEFAULT_MATH
                                                                     : CUDNN_TENSOR_OP_MATH), "math type");
  }
  ~CudnnConv() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
};

// BF16 copies (round to nearest even) of a device buffer, made on the host: cuDNN's BF16
// convolutions read and write BF16 tensors.
std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    out[i] = uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  return out;
}

struct Bf16Buffer {
  uint16_t* p = nullptr;
  int64_t n = 0;
  explicit Bf16Buffer(const Buffer& src) : n(src.n) {
    check(cudaMalloc(&p, size_t(std::max<int64_t>(n, 1)) * 2), "cudaMalloc bf16");
    const std::vector<uint16_t> h = to_bf16(src.host());
    check(cudaMemcpy(p, h.data(), h.size() * 2, cudaMemcpyHostToDevice), "copy bf16");
  }
  explicit Bf16Buffer(int64_t count) : n(count) {
    check(cudaMalloc(&p, size_t(std::max<int64_t>(n, 1)) * 2), "cudaMalloc bf16");
  }
  ~Bf16Buffer() { cudaFree(p); }
  Bf16Buffer(const Bf16Buffer&) = delete;
  Bf16Buffer& operator=(const Bf16Buffer&) = delete;
  // Widened to float into `out` (through the host; validation only).
  void to_float(Buffer& out) const {
    std::vector<uint16_t> h(static_cast<size_t>(n));
    check(cudaMemcpy(h.data(), p, h.size() * 2, cudaMemcpyDeviceToHost), "copy bf16");
    std::vector<float> f(h.size());
    for (size_t i = 0; i < h.size(); ++i) {
      const uint32_t u = uint32_t(h[i]) << 16;
      std::memcpy(&f[i], &u, 4);
    }
    check(cudaMemcpy(out.p, f.data(), f.size() * 4, cudaMemcpyHostToDevice), "copy f32");
  }
};

const char* mode_name(MathMode m) { return m == MathMode::tf32 ? "tf32" : m == MathMode::bf16 ? "bf16" : "fp32"; }

// The agreement required before timing: ours against cuDNN in the same mode, both against
// float64 within the mode's bound (docs/cuda.md), so against each other within about twice it.
double mode_bound(MathMode m) { return m == MathMode::fp32 ? 1e-7 : m == MathMode::tf32 ? 4e-6 : 4e-4; }

void bm_conv(benchmark::State& state, ConvShape s, Pass pass, MathMode mode) {
  try {
    Context& c = ctx();
    const int64_t nx = s.n * s.c_in * s.h * s.w, nw = s.c_out * s.c_in * s.kh * s.kw,
                  ny = s.n * s.c_out * s.h_out * s.w_out;
    Buffer x(nx, 1), w(nw, 2), y(ny, 3);
    const int64_t n_out = pass == Pass::forward ? ny : pass == Pass::input_grad ? nx : nw;
    Buffer ours_out(n_out, 0, false), ref_out(n_out, 0, false);
    const int64_t ws_n = pass == Pass::forward      ? kc::conv2d_forward_workspace(s, mode)
                         : pass == Pass::input_grad ? kc::conv2d_input_grad_workspace(s, mode)
                                                    : kc::conv2d_weight_grad_workspace(s, mode);
    Buffer ws_ours(std::max<int64_t>(1, ws_n), 0, false);
    const bool bf16 = mode == MathMode::bf16;
    CudnnConv d(s, mode);
    // BF16: cuDNN reads and writes BF16 tensors (computing in FP32); ours reads FP32 and rounds
    // the operands to BF16 on the way into the tensor cores.
    std::unique_ptr<Bf16Buffer> xb, wb, yb, outb;
    if (bf16) {
      xb = std::make_unique<Bf16Buffer>(x);
      wb = std::make_unique<Bf16Buffer>(w);
      yb = std::make_unique<Bf16Buffer>(y);
      outb = std::make_unique<Bf16Buffer>(n_out);
    }
    const void* xr = bf16 ? static_cast<const void*>(xb->p) : x.p;
    const void* wr = bf16 ? static_cast<const void*>(wb->p) : w.p;
    const void* yr = bf16 ? static_cast<const void*>(yb->p) : y.p;
    void* outr = bf16 ? static_cast<void*>(outb->p) : ref_out.p;
    const float one = 1.0f, zero = 0.0f;
    size_t ws_bytes = 0;
    std::function<void()> ours, ref;
    void* ws = nullptr;
    std::string algo_name;
    if (pass == Pass::forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[8];
      int found = 0;
      check(cudnnGetConvolutionForwardAlgorithm_v7(c.dnn, d.x, d.w, d.conv, d.y, 8, &found, perf), "fwd algo");
      const cudnnConvolutionFwdAlgo_t algo = perf[0].algo;
      check(cudnnGetConvolutionForwardWorkspaceSize(c.dnn, d.x, d.w, d.conv, d.y, algo, &ws_bytes), "fwd ws");
      check(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 1)), "cudaMalloc ws");
      ours = [&] { kc::conv2d_forward_f32(ours_out.p, x.p, w.p, nullptr, s, mode, ws_ours.p, c.stream); };
      ref = [&, algo] {
        check(cudnnConvolutionForward(c.dnn, &one, d.x, xr, d.w, wr, d.conv, algo, ws, ws_bytes, &zero, d.y, outr), "cudnnConvolutionForward");
      };
      algo_name = "fwd algo " + std::to_string(int(algo));
    } else if (pass == Pass::input_grad) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[8];
      int found = 0;
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(c.dnn, d.w, d.y, d.conv, d.x, 8, &found, perf), "bwd data algo");
      const cudnnConvolutionBwdDataAlgo_t algo = perf[0].algo;
      check(cudnnGetConvolutionBackwardDataWorkspaceSize(c.dnn, d.w, d.y, d.conv, d.x, algo, &ws_bytes), "bwd data ws");
      check(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 1)), "cudaMalloc ws");
      ours = [&] { kc::conv2d_input_grad_f32(ours_out.p, y.p, w.p, nullptr, s, mode, ws_ours.p, c.stream); };
      ref = [&, algo] {
        check(cudnnConvolutionBackwardData(c.dnn, &one, d.w, wr, d.y, yr, d.conv, algo, ws, ws_bytes, &zero, d.x, outr), "cudnnConvolutionBackwardData");
      };
      algo_name = "bwd-data algo " + std::to_string(int(algo));
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
      int found = 0;
      check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(c.dnn, d.x, d.y, d.conv, d.w, 8, &found, perf), "bwd filter algo");
      const cudnnConvolutionBwdFilterAlgo_t algo = perf[0].algo;
      check(cudnnGetConvolutionBackwardFilterWorkspaceSize(c.dnn, d.x, d.y, d.conv, d.w, algo, &ws_bytes), "bwd filter ws");
      check(cudaMalloc(&ws, std::max<size_t>(ws_bytes, 1)), "cudaMalloc ws");
      ours = [&] { kc::conv2d_weight_grad_f32(ours_out.p, x.p, y.p, s, mode, ws_ours.p, c.stream); };
      ref = [&, algo] {
        check(cudnnConvolutionBackwardFilter(c.dnn, &one, d.x, xr, d.y, yr, d.conv, algo, ws, ws_bytes, &zero, d.w, outr), "cudnnConvolutionBackwardFilter");
      };
      algo_name = "bwd-filter algo " + std::to_string(int(algo));
    }
    ours();
    ref();
    if (bf16) outb->to_float(ref_out);
    const double err = nmse(ours_out, ref_out);
    const double bound = mode_bound(mode);
    if (!(err <= bound)) {
      cudaFree(ws);
      state.SkipWithError(("ours and cuDNN disagree: NMSE " + std::to_string(err)).c_str());
      return;
    }
    const double flops = 2.0 * double(s.n * s.c_out * s.h_out * s.w_out) * double(s.c_in * s.kh * s.kw);
    const double bytes = 4.0 * double(nx + nw + ny);
    run_pair(state, ours, ref, flops, bytes, 0);
    state.counters["nmse"] = err;
    state.counters["tflops_fraction"] = flops / (state.counters["ours_us"] * 1e-6) /
                                        (mode == MathMode::fp32 ? 67e12 : mode == MathMode::tf32 ? 494.7e12 : 989.4e12);
    state.SetLabel(std::string(mode == MathMode::fp32 ? "cuDNN FMA math (FP32)"
                               : mode == MathMode::tf32 ? "cuDNN default math (TF32)"
                                                        : "cuDNN BF16 tensors, FP32 compute") +
                   ", " + algo_name + "; ours " + mode_name(mode) + (mode == MathMode::fp32 ? " FFMA" : " mma.sync"));
    cudaFree(ws);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// The variant ladder: one pass with each tile forced (kernels/cuda/gemm.cu: 0 = 128x128,
// 1 = 64x64, 2 = 16x128), to show what the per-shape choice gains.
void bm_conv_tile(benchmark::State& state, ConvShape s, Pass pass, MathMode mode, int tile) {
  kc::set_gemm_override(tile, -1);
  bm_conv(state, s, pass, mode);
  kc::set_gemm_override(-1, -1);
}

// ---- matmul against cuBLAS SGEMM (row-major C = A B is column-major C^T = B^T A^T)

void bm_matmul(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  try {
    Context& c = ctx();
    check(cublasSetMathMode(c.blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // FP32, no TF32
    Buffer a(m * k, 1), b(k * n, 2), ours_out(m * n, 0, false), ref_out(m * n, 0, false);
    const float one = 1.0f, zero = 0.0f;
    Buffer ws(std::max<int64_t>(1, kc::matmul_workspace(1, m, n, k, MathMode::fp32)), 0, false);
    auto ours = [&] { kc::matmul_f32(ours_out.p, a.p, b.p, 1, m, n, k, false, false, MathMode::fp32, ws.p, c.stream); };
    auto ref = [&] {
      check(cublasSgemm(c.blas, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k), &one, b.p, int(n), a.p, int(k),
                        &zero, ref_out.p, int(n)), "cublasSgemm");
    };
    ours();
    ref();
    const double err = nmse(ours_out, ref_out);
    if (!(err <= 1e-7)) {
      state.SkipWithError(("ours and cuBLAS disagree: NMSE " + std::to_string(err)).c_str());
      return;
    }
    run_pair(state, ours, ref, 2.0 * double(m) * double(n) * double(k), 4.0 * double(m * k + k * n + m * n), 0);
    state.counters["nmse"] = err;
    state.SetLabel("cuBLAS SGEMM (FP32); ours FP32 FFMA");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- batch norm (training forward: statistics + normalise; backward) against cuDNN

void bm_batch_norm(benchmark::State& state, int64_t n, int64_t ch, int64_t hw, bool backward) {
  try {
    Context& c = ctx();
    const int64_t total = n * ch * hw;
    Buffer x(total, 1), dy(total, 2), w(ch, 3), b(ch, 4);
    Buffer mean(ch, 0, false), var(ch, 0, false), invstd(ch, 0, false);
    Buffer ours_out(total, 0, false), ref_out(total, 0, false);
    Buffer ref_mean(ch, 0, false), ref_invvar(ch, 0, false), run_mean(ch, 0, false), run_var(ch, 0, false);
    Buffer dw(ch, 0, false), db(ch, 0, false), ref_dw(ch, 0, false), ref_db(ch, 0, false);
    Buffer ws(kc::batch_norm_backward_workspace(ch), 0, false);
    cudnnTensorDescriptor_t xd, bnd;
    check(cudnnCreateTensorDescriptor(&xd), "desc");
    check(cudnnCreateTensorDescriptor(&bnd), "desc");
    const int hh = int(std::sqrt(double(hw)));
    check(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(ch), hh, int(hw / hh)), "x desc");
    check(cudnnDeriveBNTensorDescriptor(bnd, xd, CUDNN_BATCHNORM_SPATIAL), "bn desc");
    const float one = 1.0f, zero = 0.0f;
    const double eps = 1e-5;
    kc::batch_norm_stats_f32(mean.p, var.p, invstd.p, x.p, n, ch, hw, eps, c.stream);
    std::function<void()> ours, ref;
    if (!backward) {
      ours = [&] {
        kc::batch_norm_stats_f32(mean.p, var.p, invstd.p, x.p, n, ch, hw, eps, c.stream);
        kc::batch_norm_apply_f32(ours_out.p, x.p, mean.p, invstd.p, w.p, b.p, n, ch, hw, c.stream);
      };
      ref = [&] {
        check(cudnnBatchNormalizationForwardTraining(c.dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, xd, x.p, xd, ref_out.p,
                                                      bnd, w.p, b.p, 0.1, run_mean.p, run_var.p, eps, ref_mean.p,
                                                      ref_invvar.p), "cudnnBatchNormalizationForwardTraining");
      };
    } else {
      ours = [&] {
        kc::batch_norm_backward_f32(ours_out.p, dw.p, db.p, dy.p, x.p, mean.p, invstd.p, w.p, n, ch, hw, ws.p, c.stream);
      };
      ref = [&] {
        check(cudnnBatchNormalizationBackward(c.dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero, &one, &zero, xd, x.p, xd, dy.p,
                                              xd, ref_out.p, bnd, w.p, ref_dw.p, ref_db.p, eps, mean.p, invstd.p),
              "cudnnBatchNormalizationBackward");
      };
    }
    ours();
    ref();
    const double err = nmse(ours_out, ref_out);
    if (!(err <= 1e-7)) {
      state.SkipWithError(("ours and cuDNN disagree: NMSE " + std::to_string(err)).c_str());
    } else {
      // Minimum traffic: forward reads x, writes y; backward reads x and dy, writes dx.
      const double bytes = 4.0 * double(total) * (backward ? 3 : 2);
      run_pair(state, ours, ref, 0, bytes, copy_bandwidth(size_t(total) * 4));
      state.counters["nmse"] = err;
      state.SetLabel("cuDNN spatial batch norm (FP32)");
    }
    cudnnDestroyTensorDescriptor(xd);
    cudnnDestroyTensorDescriptor(bnd);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// ---- bandwidth-bound kernels against the copy bandwidth

void bm_relu(benchmark::State& state, int64_t n) {
  try {
    Buffer x(n, 1), y(n, 0, false);
    auto ours = [&] { kc::unary_f32(duel::kernels::UnaryOp::relu, y.p, x.p, n, 0, 0, ctx().stream); };
    run_pair(state, ours, nullptr, 0, 8.0 * double(n), copy_bandwidth(size_t(n) * 4));
    state.SetLabel("reference: cudaMemcpyAsync device to device of the same bytes");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void bm_bce(benchmark::State& state, int64_t n) {
  try {
    Buffer x(n, 1), t(n, 2), out(1, 0, false);
    auto ours = [&] { kc::bce_with_logits_f32(out.p, x.p, t.p, n, duel::kernels::Reduce::mean, ctx().stream); };
    run_pair(state, ours, nullptr, 0, 8.0 * double(n), copy_bandwidth(size_t(n) * 4));
    state.SetLabel("fused loss + mean; reference: copy bandwidth");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Adam over the parameters of a model, one launch: 28 bytes per parameter (read p g m v, write p m v).
void bm_adam(benchmark::State& state, std::vector<int64_t> sizes) {
  try {
    std::vector<std::unique_ptr<Buffer>> bufs;
    std::vector<kc::AdamTensor> list;
    int64_t total = 0;
    // The step counts (int64 each) and the kernel's ticket, on the device, zeroed: 2 floats each.
    Buffer counters(2 * int64_t(sizes.size() + 1), 0, false);
    int64_t* steps = reinterpret_cast<int64_t*>(counters.p);
    for (size_t i = 0; i < sizes.size(); ++i) {
      for (int j = 0; j < 4; ++j) bufs.push_back(std::make_unique<Buffer>(sizes[i], 10 * i + j, j < 2));
      const size_t base = bufs.size() - 4;
      list.push_back({bufs[base]->p, bufs[base + 1]->p, bufs[base + 2]->p, bufs[base + 3]->p, sizes[i], steps + i});
      total += sizes[i];
    }
    auto* ticket = reinterpret_cast<unsigned long long*>(steps + sizes.size());
    auto ours = [&] {
      kc::adam_step_f32(list.data(), int(list.size()), 2e-4, 0.5, 0.999, 1e-8, 0, ticket, nullptr, ctx().stream);
    };
    run_pair(state, ours, nullptr, 0, 28.0 * double(total), copy_bandwidth(size_t(total) * 16));
    state.counters["tensors"] = double(sizes.size());
    state.SetLabel("one launch for all tensors; reference: copy bandwidth");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Parameter sizes of a model's conv and batch-norm layers.
std::vector<int64_t> parameter_sizes(const std::vector<duel::bench::ConvLayer>& layers) {
  std::vector<int64_t> sizes;
  for (const auto& l : layers) {
    sizes.push_back(l.s.c_out * l.s.c_in * l.s.kh * l.s.kw);
    const int64_t bn = l.transposed ? l.s.c_in : l.s.c_out;
    sizes.push_back(bn);
    sizes.push_back(bn);
  }
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "duel_bench_cuda: no CUDA device visible\n");
    return 2;
  }
  using duel::bench::ConvLayer;
  std::vector<ConvLayer> layers = duel::bench::dcgan28_layers(64);
  for (const ConvLayer& l : duel::bench::dcgan64_layers(128)) layers.push_back(l);
  for (const ConvLayer& l : layers) {
    // A generator layer's forward pass is conv2d_input_grad of its conv2d form.
    const std::pair<Pass, const char*> passes[] = {
        {l.transposed ? Pass::input_grad : Pass::forward, "forward"},
        {l.transposed ? Pass::forward : Pass::input_grad, "input_grad"},
        {Pass::weight_grad, "weight_grad"}};
    for (const auto& [pass, pname] : passes)
      for (MathMode mode : {MathMode::fp32, MathMode::tf32, MathMode::bf16})
        benchmark::RegisterBenchmark((l.name + "/" + pname + "/" + mode_name(mode)).c_str(), bm_conv, l.s, pass, mode)
            ->UseManualTime()
            ->Iterations(20);
  }
  // The tile ladder on two dcgan64 layers: a compute-bound middle layer and a 3-channel one.
  for (const ConvLayer& l : duel::bench::dcgan64_layers(128)) {
    if (l.name.rfind("dcgan64.D.5", 0) != 0 && l.name.rfind("dcgan64.D.0", 0) != 0) continue;
    for (MathMode mode : {MathMode::fp32, MathMode::tf32, MathMode::bf16})
      for (int tile : {0, 1, 2})
        benchmark::RegisterBenchmark((l.name + "/forward/" + mode_name(mode) + "/tile" + std::to_string(tile)).c_str(),
                                     bm_conv_tile, l.s, Pass::forward, mode, tile)
            ->UseManualTime()
            ->Iterations(20);
  }
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{128, 8192, 100}, {64, 12544, 1024}, {1024, 1024, 1024}})
    benchmark::RegisterBenchmark(("matmul/" + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k)).c_str(),
                                 bm_matmul, m, n, k)
        ->UseManualTime()
        ->Iterations(20);
  // Batch-norm shapes of dcgan64 (batch 128): generator and critic layers.
  for (auto [ch, hw] : {std::pair<int64_t, int64_t>{512, 16}, {256, 64}, {128, 256}, {64, 1024}})
    for (bool bwd : {false, true})
      benchmark::RegisterBenchmark(("batch_norm/128x" + std::to_string(ch) + "x" + std::to_string(hw) +
                                    (bwd ? "/backward" : "/forward")).c_str(),
                                   bm_batch_norm, 128, ch, hw, bwd)
          ->UseManualTime()
          ->Iterations(20);
  for (int64_t n : {int64_t(1) << 20, int64_t(128) * 64 * 32 * 32})
    benchmark::RegisterBenchmark(("relu/" + std::to_string(n)).c_str(), bm_relu, n)->UseManualTime()->Iterations(20);
  for (int64_t n : {int64_t(128), int64_t(1) << 20})
    benchmark::RegisterBenchmark(("bce_with_logits_mean/" + std::to_string(n)).c_str(), bm_bce, n)
        ->UseManualTime()
        ->Iterations(20);
  benchmark::RegisterBenchmark("adam/dcgan64_G+D", bm_adam, parameter_sizes(duel::bench::dcgan64_layers(128)))->UseManualTime()->Iterations(20);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
