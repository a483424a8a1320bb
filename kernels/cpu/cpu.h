// Fast CPU kernels: Eigen GEMM for the matrix work, OpenMP across samples, channels and rows.
// Same interface and results (to rounding) as kernels/reference.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace duel::kernels::cpu {
#include "kernels/cpu_api.inc"
}  // namespace duel::kernels::cpu
