#include "core/config.h"

#include <atomic>

#include "core/error.h"
#ifdef _OPENMP
#include <omp.h>
#endif

namespace duel {

namespace {
std::atomic<CpuPath> g_cpu_path{CpuPath::fast};
std::atomic<bool> g_poison{false};
}  // namespace

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

}  // namespace duel
