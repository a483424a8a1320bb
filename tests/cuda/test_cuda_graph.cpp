// A training iteration captured as one CUDA graph on the GPU: replays equal eager iterations bit
// for bit (duel's kernels are deterministic, and nothing a replay needs was baked in at capture),
// with no host synchronisation inside an iteration. The emulated device checks the same at batch
// 2 (tests/test_cuda_graph.cpp); here it is the real capture (cudaStreamBeginCapture, the graph's
// private pool, cudaGraphLaunch) at the batch size the benchmarks use.
#include <catch2/catch.hpp>

#include "core/config.h"
#include "core/cuda_backend.h"
#include "tests/graph_train.h"

using namespace duel;

TEST_CASE("graph-replayed dcgan28 iterations equal eager ones bit for bit on the GPU", "[cuda][graph][train]") {
  cuda_backend::EmulatedCudaGuard real_device(false);
  for (MathMode mode : {MathMode::fp32, MathMode::tf32}) {
    MathModeGuard math(mode);
    for (gan::LossKind loss : {gan::LossKind::ns, gan::LossKind::wgan_gp}) {
      INFO(gan::loss_name(loss) << " " << math_mode_name(mode));
      const test::Trace eager = test::train_iterations(Device::cuda(0), loss, false, 6, 64);
      const test::Trace graph = test::train_iterations(Device::cuda(0), loss, true, 6, 64);
      CHECK_FALSE(eager.graph_live);
      CHECK(graph.graph_live);
      CHECK(graph.graph_kernels == eager.kernels);
      CHECK(eager.host_syncs == 0);
      CHECK(graph.host_syncs == 0);
      test::require_same(eager, graph);
    }
  }
}
