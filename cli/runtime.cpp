#include "cli/runtime.h"

#include <unistd.h>

#include <cstdlib>

namespace duel::cli {

void prepare_runtime(int argc, char** argv) {
  (void)argc;
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // No /proc (or exec refused): carry on with the default policy; only speed under load differs.
}

}  // namespace duel::cli
