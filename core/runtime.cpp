#include "core/runtime.h"

#include <unistd.h>

#include <cstdlib>

namespace duel {

void prefer_short_openmp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec refused: carry on with the default policy; only speed under load differs.
}

}  // namespace duel
