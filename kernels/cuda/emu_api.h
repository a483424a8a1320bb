// The CUDA kernels compiled for the CPU emulator (kernels/cuda/emulate.h): the same interface as
// cuda_api.h in namespace duel::kernels::cuda_emu, with host pointers standing in for device
// pointers and every launch finished when the call returns. For tests only (tests/emu/).
#pragma once

#include <cstdint>

#include "kernels/params.h"

namespace duel::kernels::cuda_emu {

using Stream = void*;

#include "kernels/cuda/kernels_api.inc"

}  // namespace duel::kernels::cuda_emu
