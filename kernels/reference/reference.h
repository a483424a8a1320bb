// Reference CPU kernels: plain loops a reader can check by eye, accumulating in double.
// They are the oracle every other implementation is tested against.
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace duel::kernels::reference {
#include "kernels/cpu_api.inc"
}  // namespace duel::kernels::reference
