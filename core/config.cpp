#include "core/config.h"

#include <atomic>

#include "core/error.h"
#include "kernels/cpu/gemm_bf16.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace duel {

namespace {
std::atomic<CpuPath> g_cpu_path{CpuPath::fast};
std::atomic<bool> g_poison{false};
std::atomic<MathMode> g_math{MathMode::fp32};
std::atomic<MathMode> g_cpu_math{MathMode::fp32};
}  // namespace

MathMode math_mode() { return g_math.load(std::memory_order_relaxed); }
void set_math_mode(MathMode m) { g_math.store(m, std::memory_order_relaxed); }
MathMode parse_math_mode(std::string_view s) {
  if (s == "fp32") return MathMode::fp32;
  if (s == "tf32") return MathMode::tf32;
  if (s == "bf16") return MathMode::bf16;
  fail("unknown math mode '", s, "' (expected fp32, tf32 or bf16)");
}
std::string_view math_mode_name(MathMode m) {
  return m == MathMode::tf32 ? "tf32" : m == MathMode::bf16 ? "bf16" : "fp32";
}
bool cpu_has_bf16() { return kernels::cpu::cpu_has_avx512_bf16(); }
MathMode cpu_math_mode() { return g_cpu_math.load(std::memory_order_relaxed); }
void set_cpu_math_mode(MathMode m) {
  check_math_device(m, true);
  g_cpu_math.store(m, std::memory_order_relaxed);
}
void check_math_device(MathMode m, bool is_cpu) {
  if (!is_cpu) return;
  DUEL_CHECK(m != MathMode::tf32, "--math tf32: the CPU has no TF32 arithmetic; use --math fp32, --math bf16 "
             "(CPUs with AVX512_BF16), or --device cuda");
  DUEL_CHECK(m != MathMode::bf16 || cpu_has_bf16(), "--math bf16: this CPU lacks AVX512_BF16 (cpuid), so the "
             "CPU computes in FP32 only; use --math fp32, or --device cuda");
}
void set_run_math_mode(MathMode m, bool is_cpu) {
  check_math_device(m, is_cpu);
  set_math_mode(m);
  if (is_cpu) set_cpu_math_mode(m);
}

CpuPath cpu_path() { return g_cpu_path.load(std::memory_order_relaxed); }
void set_cpu_path(CpuPath p) { g_cpu_path.store(p, std::memory_order_relaxed); }
CpuPath parse_cpu_path(std::string_view s) {
  if (s == "fast") return CpuPath::fast;
  if (s == "reference") return CpuPath::reference;
  fail("unknown CPU kernel path '", s, "' (expected fast or reference)");
}
std::string_view cpu_path_name(CpuPath p) { return p == CpuPath::fast ? "fast" : "reference"; }

bool poison_allocations() { return g_poison.load(std::memory_order_relaxed); }
void set_poison_allocations(bool on) { g_poison.store(on, std::memory_order_relaxed); }

void set_num_threads(int n) {
  DUEL_CHECK(n >= 0, "threads: expected a count >= 0 (0 = default), got ", n);
#ifdef _OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

const char* version() { return DUEL_VERSION_STRING; }

}  // namespace duel
