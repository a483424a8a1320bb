// Process-wide switches: which CPU kernels run, and output poisoning for tests.
#pragma once

#include <string_view>

#include "kernels/params.h"

namespace duel {

// kernels/reference (plain loops, the oracle) or kernels/cpu (Eigen GEMM + OpenMP).
enum class CpuPath { fast, reference };
CpuPath cpu_path();
void set_cpu_path(CpuPath p);
CpuPath parse_cpu_path(std::string_view s);
std::string_view cpu_path_name(CpuPath p);

// The math mode of the GEMM-shaped CUDA kernels (matmul and the convolution family) for the whole
// run: fp32 (exact FP32, the default), tf32 or bf16 (tensor cores; docs/cuda.md gives each mode's
// error bound).
using kernels::MathMode;
MathMode math_mode();
void set_math_mode(MathMode m);
MathMode parse_math_mode(std::string_view s);  // "fp32", "tf32" or "bf16"; throws otherwise
std::string_view math_mode_name(MathMode m);

// The math mode of the CPU's fast-path GEMMs (float matmul and the convolution family), a setting
// of its own so that CPU tensors in a cuda run (the evaluation classifier) and the CPU side of the
// CUDA comparisons stay FP32: fp32 (the default) or bf16 (BF16 operands, FP32 accumulation, on
// CPUs with AVX512_BF16; docs/cuda.md, "Math modes"). The reference path and float64 are exact in
// every mode. set_cpu_math_mode throws one line for a mode this CPU cannot run.
MathMode cpu_math_mode();
void set_cpu_math_mode(MathMode m);
bool cpu_has_bf16();  // AVX512_BF16 (cpuid, with the OS's AVX-512 state)
// Throws one line when `m` is not available on devices of type `cpu` (is_cpu): no TF32 on the
// CPU, and BF16 only where cpu_has_bf16().
void check_math_device(MathMode m, bool is_cpu);
// A run's math mode on its device: checked, then set for the CUDA kernels and, on the CPU, for
// the CPU's fast path.
void set_run_math_mode(MathMode m, bool is_cpu);

// When on, every new tensor is filled with NaN (floating) or 0x5A5A... (i64) before a kernel
// writes it, so an output element that a kernel forgets to write cannot pass a comparison.
bool poison_allocations();
void set_poison_allocations(bool on);

// Scoped versions of the switches, for tests.
class MathModeGuard {
 public:
  explicit MathModeGuard(MathMode m) : prev_(math_mode()) { set_math_mode(m); }
  ~MathModeGuard() { set_math_mode(prev_); }
  MathModeGuard(const MathModeGuard&) = delete;
  MathModeGuard& operator=(const MathModeGuard&) = delete;
 private:
  MathMode prev_;
};
class CpuMathModeGuard {
 public:
  explicit CpuMathModeGuard(MathMode m) : prev_(cpu_math_mode()) { set_cpu_math_mode(m); }
  ~CpuMathModeGuard() { set_cpu_math_mode(prev_); }
  CpuMathModeGuard(const CpuMathModeGuard&) = delete;
  CpuMathModeGuard& operator=(const CpuMathModeGuard&) = delete;
 private:
  MathMode prev_;
};
class CpuPathGuard {
 public:
  explicit CpuPathGuard(CpuPath p) : prev_(cpu_path()) { set_cpu_path(p); }
  ~CpuPathGuard() { set_cpu_path(prev_); }
  CpuPathGuard(const CpuPathGuard&) = delete;
  CpuPathGuard& operator=(const CpuPathGuard&) = delete;
 private:
  CpuPath prev_;
};
class PoisonGuard {
 public:
  explicit PoisonGuard(bool on) : prev_(poison_allocations()) { set_poison_allocations(on); }
  ~PoisonGuard() { set_poison_allocations(prev_); }
  PoisonGuard(const PoisonGuard&) = delete;
  PoisonGuard& operator=(const PoisonGuard&) = delete;
 private:
  bool prev_;
};

// The library's version, "MAJOR.MINOR.PATCH" (CMake's project version and the package's).
const char* version();

// OpenMP threads for the fast CPU path (0 = the OpenMP default).
void set_num_threads(int n);
int num_threads();

}  // namespace duel
