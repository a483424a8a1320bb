// Five dcgan28 iterations on the GPU against the PyTorch goldens: the whole CUDA training path
// (kernels, dispatch, the double backward of the penalty, multi-tensor Adam) on the hardware, held
// to the same bounds as on the emulated device (tests/test_train.cpp says why the ns run is held
// to the float64 trajectory, on its losses only).
#include <catch2/catch.hpp>

#include "core/cuda_backend.h"
#include "tests/golden_train.h"

using namespace duel;

TEST_CASE("five dcgan28 iterations on the GPU match PyTorch", "[cuda][train][golden]") {
  cuda_backend::EmulatedCudaGuard real_device(false);
  test::compare_with_golden("train_ns.safetensors", gan::LossKind::ns, Device::cuda(0), "f64", false);
  test::compare_with_golden("train_wgan_gp.safetensors", gan::LossKind::wgan_gp, Device::cuda(0), "f64");
}
