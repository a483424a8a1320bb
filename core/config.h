// Process-wide switches: which CPU kernels run, and output poisoning for tests.
#pragma once

#include <string_view>

namespace duel {

// kernels/reference (plain loops, the oracle) or kernels/cpu (Eigen GEMM + OpenMP).
enum class CpuPath { fast, reference };
CpuPath cpu_path();
void set_cpu_path(CpuPath p);
CpuPath parse_cpu_path(std::string_view s);
std::string_view cpu_path_name(CpuPath p);

// When on, every new tensor is filled with NaN (floating) or 0x5A5A... (i64) before a kernel
// writes it, so an output element that a kernel forgets to write cannot pass a comparison.
bool poison_allocations();
void set_poison_allocations(bool on);

// Scoped versions of the two switches, for tests.
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

// OpenMP threads for the fast CPU path (0 = the OpenMP default).
void set_num_threads(int n);
int num_threads();

}  // namespace duel
