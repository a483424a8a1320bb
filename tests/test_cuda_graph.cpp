// CUDA graph capture and replay on the emulated device (kernels/cuda/emu_graph.h, core/cuda_backend.h,
// gan/step_graph.h): the emulator's model (launches recorded with their arguments, replayed
// without the host code that made them), the rules of a capture (no host reads, pinned copies
// only, memory from the graph's pool), and the graph-ready pieces of a training step: a
// generator and optimiser step counts that live on the device, and a whole iteration whose
// replays equal eager iterations bit for bit. A mutation (the generator left on the host) shows
// that the comparison catches a value baked into a captured launch.
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "core/graph_pool.h"
#include "core/inplace.h"
#include "core/random.h"
#include "gan/step.h"
#include "gan/step_graph.h"
#include "nn/optim.h"
#include "tests/graph_train.h"
#include "tests/run_duel.h"

#define DUEL_CUDA_EMULATE 1
#include "kernels/cuda/portable.cuh"

using namespace duel;
using Catch::Matchers::Contains;
using test::bitwise_equal;
using test::require_same;
using test::Trace;
using test::train_iterations;

namespace {

const Device kCuda = Device::cuda(0);

// x[i] += value: `value` travels as a kernel argument.
__global__ void add_value_kernel(float* x, int n, float value) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += value;
}

// x[i] += step + 1 where `step` is read from device memory, then advanced there by the last block.
__global__ void add_step_kernel(float* x, int n, int64_t* step, unsigned long long* ticket) {
  const int i = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) x[i] += float(*step + 1);
  if (duel::kernels::cuda_emu::last_block_done(ticket)) *step += 1;
}

void launch_add_value(float* x, int n, float value) {
  duel::kernels::cuda_emu::launch("add_value", add_value_kernel, dim3(unsigned((n + 63) / 64)), dim3(64), nullptr,
                                  x, n, value);
}

void launch_add_step(float* x, int n, int64_t* step, unsigned long long* ticket) {
  duel::kernels::cuda_emu::launch("add_step", add_step_kernel, dim3(unsigned((n + 63) / 64)), dim3(64), nullptr,
                                  x, n, step, ticket);
}

}  // namespace

TEST_CASE("emulated graphs record launches with their arguments and replay only those", "[cuda-emu][graph]") {
  std::vector<float> x(300, 0.0f);
  const int n = int(x.size());
  const int64_t launches = emu::kernel_launches();
  emu::begin_capture();
  for (int k = 1; k <= 3; ++k) launch_add_value(x.data(), n, float(k));
  const emu::Graph g = emu::end_capture();
  CHECK(emu::kernel_launches() - launches == 3);  // recorded launches count as launches
  CHECK(g.kernel_nodes() == 3);
  CHECK(g.nodes.front().name == "add_value");
  CHECK(g.nodes.front().grid[0] == 5);
  CHECK(x[0] == 0.0f);  // capturing runs nothing
  emu::replay(g);
  emu::replay(g);
  for (float v : x) REQUIRE(v == 12.0f);
  CHECK_THROWS_WITH(emu::end_capture(), Contains("no graph capture is open"));
  emu::begin_capture();
  CHECK_THROWS_WITH(emu::begin_capture(), Contains("open already"));
  CHECK_THROWS_WITH(emu::replay(g), Contains("while a capture is open"));
  emu::end_capture();
}

TEST_CASE("emulated graphs: a value the host baked into a launch is frozen at capture, a device counter is not",
          "[cuda-emu][graph][mutation]") {
  // The classic mistake of a graph-captured step: a counter kept on the host and passed as a
  // kernel argument. Eagerly, step k adds k; replayed, every step adds what the captured one did.
  const int n = 200;
  auto run = [&](bool device_counter, bool captured) {
    std::vector<float> x(size_t(n), 0.0f);
    int64_t host_step = 0, device_step = 0;
    unsigned long long ticket = 0;
    auto step = [&] {
      if (device_counter) {
        launch_add_step(x.data(), n, &device_step, &ticket);
      } else {
        ++host_step;
        launch_add_value(x.data(), n, float(host_step));
      }
    };
    if (!captured) {
      for (int k = 0; k < 4; ++k) step();
    } else {
      step();  // eagerly, as the first step of a graph run
      emu::begin_capture();
      step();
      const emu::Graph g = emu::end_capture();
      for (int k = 0; k < 3; ++k) emu::replay(g);
    }
    return x;
  };
  CHECK(run(false, false)[0] == 1 + 2 + 3 + 4);
  CHECK(run(false, true)[0] == 1 + 2 + 2 + 2);  // caught: replayed training differs from eager
  CHECK(run(true, false)[0] == 1 + 2 + 3 + 4);
  CHECK(run(true, true) == run(true, false));
}

TEST_CASE("emulated kernels that advance a device counter do not depend on the order of their blocks",
          "[cuda-emu][graph]") {
  // A GPU runs blocks in any order; the last-block ticket advances the counter once, after every
  // block has read it, whichever block that is.
  cuda_backend::EmulatedCudaGuard emulate;
  for (emu::BlockOrder order : {emu::BlockOrder::forward, emu::BlockOrder::reverse}) {
    emu::set_block_order(order);
    std::vector<float> x(1000, 0.0f);
    int64_t step = 5;
    unsigned long long ticket = 0;
    launch_add_step(x.data(), int(x.size()), &step, &ticket);
    CHECK(step == 6);
    CHECK(ticket == 0);
    for (float v : x) REQUIRE(v == 6.0f);
    // Device generators and Adam's step counts, both ways round.
    Generator host(11), dev(11);
    dev.to_device(kCuda);
    for (int k = 0; k < 2; ++k) {
      CHECK(bitwise_equal(randn({3001}, dev, DType::f32, kCuda), randn({3001}, host)));
      CHECK(bitwise_equal(rand({1999}, dev, DType::f32, kCuda), rand({1999}, host)));
    }
    Generator g(3);
    std::vector<Tensor> p_cpu, p_dev, g_cpu, g_dev, m_cpu, m_dev, v_cpu, v_dev, s_cpu, s_dev;
    for (int64_t size : {5000, 1, 2049}) {
      p_cpu.push_back(randn({size}, g));
      g_cpu.push_back(randn({size}, g));
      m_cpu.push_back(zeros({size}));
      v_cpu.push_back(zeros({size}));
      s_cpu.push_back(zeros({}, DType::i64));
      p_dev.push_back(p_cpu.back().to(kCuda));
      g_dev.push_back(g_cpu.back().to(kCuda));
      m_dev.push_back(zeros({size}, DType::f32, kCuda));
      v_dev.push_back(zeros({size}, DType::f32, kCuda));
      s_dev.push_back(zeros({}, DType::i64, kCuda));
    }
    const AdamHyper h{1e-3, 0.5, 0.999, 1e-8, 0};
    const Tensor ticket_dev = zeros({1}, DType::i64, kCuda);
    NoGradGuard no_grad;
    for (int k = 0; k < 2; ++k) {
      std::vector<AdamSlot> a, b;
      for (size_t i = 0; i < p_cpu.size(); ++i) {
        a.push_back({p_cpu[i], g_cpu[i], m_cpu[i], v_cpu[i], s_cpu[i]});
        b.push_back({p_dev[i], g_dev[i], m_dev[i], v_dev[i], s_dev[i]});
      }
      adam_step_(a, h);
      adam_step_(b, h, ticket_dev);
    }
    for (size_t i = 0; i < p_cpu.size(); ++i) {
      CHECK(s_dev[i].item() == 2);
      CHECK(bitwise_equal(p_dev[i], p_cpu[i]));  // the emulator's libm is the host's
    }
    CHECK(ticket_dev.item() == 0);
  }
  emu::set_block_order(emu::BlockOrder::forward);
}

TEST_CASE("a capture refuses host reads and pageable copies with one clear line, and records pinned copies",
          "[cuda-emu][graph]") {
  cuda_backend::EmulatedCudaGuard emulate;
  const Tensor t = full({4}, 2.0, DType::f32, kCuda);
  auto pool = std::make_shared<cuda_backend::GraphPool>(kCuda);
  cuda_backend::begin_capture(kCuda, pool);
  CHECK(cuda_backend::capturing());
  CHECK_THROWS_WITH(t.to(Device::cpu()), Contains("a copy from cuda:0 to the host") &&
                                             Contains("inside the captured step"));
  CHECK_THROWS_WITH(cuda_backend::synchronize(kCuda), Contains("a synchronisation with cuda:0"));
  const std::vector<float> pageable(4, 1.0f);
  CHECK_THROWS_WITH(cuda_backend::copy(t.raw_data(), kCuda, pageable.data(), Device::cpu(), 16),
                    Contains("pageable host memory"));
  cuda_backend::abort_capture(kCuda);
  CHECK_FALSE(cuda_backend::capturing());
  CHECK(t.to(Device::cpu()).data<float>()[0] == 2.0f);  // reads are fine again

  // From pinned memory: recorded, and the source is read when the graph runs.
  float* pinned = static_cast<float*>(cuda_backend::pinned_allocate(16, kCuda));
  for (int i = 0; i < 4; ++i) pinned[i] = 5.0f;
  cuda_backend::begin_capture(kCuda, pool);
  cuda_backend::copy(t.raw_data(), kCuda, pinned, Device::cpu(), 16);
  auto graph = cuda_backend::end_capture(kCuda);
  CHECK(graph->nodes() == 1);
  CHECK(graph->kernel_nodes() == 0);
  CHECK(t.to(Device::cpu()).data<float>()[0] == 2.0f);
  for (int i = 0; i < 4; ++i) pinned[i] = 7.0f;
  graph->launch();
  CHECK(t.to(Device::cpu()).data<float>()[3] == 7.0f);
  cuda_backend::pinned_release(pinned, kCuda);
}

TEST_CASE("memory allocated in a capture comes from the graph's pool, which reuses what the capture freed",
          "[cuda-emu][graph]") {
  cuda_backend::EmulatedCudaGuard emulate;
  auto pool = std::make_shared<cuda_backend::GraphPool>(kCuda);
  Tensor before = zeros({1000}, DType::f32, kCuda);  // an ordinary block, freed during the capture
  cuda_backend::begin_capture(kCuda, pool);
  void* first = nullptr;
  {
    const Tensor a = empty({1000}, DType::f32, kCuda);
    first = a.raw_data();
    CHECK(pool->used_bytes() == 4096);  // 4000 bytes in 256-byte units
  }
  CHECK(pool->used_bytes() == 0);
  const Tensor b = empty({900}, DType::f32, kCuda);
  CHECK(b.raw_data() == first);  // best fit: the block the capture freed
  const Tensor c = empty({5000}, DType::f32, kCuda);
  CHECK(c.raw_data() != first);
  before = Tensor();  // not freed inside the capture (that would be recorded): after it
  auto graph = cuda_backend::end_capture(kCuda);
  CHECK(pool->used_bytes() == 3840 + 20224);
  const size_t reserved = pool->reserved_bytes();
  const Tensor after = empty({1000}, DType::f32, kCuda);  // ordinary again
  CHECK(pool->used_bytes() == 3840 + 20224);
  CHECK(pool->reserved_bytes() == reserved);
}

TEST_CASE("a device generator draws what the host one does, and a captured draw is fresh at every replay",
          "[cuda-emu][graph][rng]") {
  cuda_backend::EmulatedCudaGuard emulate;
  Generator host(42), dev(42);
  host.set_state(42, 17);
  dev.set_state(42, 17);
  dev.to_device(kCuda);
  CHECK(dev.on_device());
  CHECK(dev.offset() == 17);
  CHECK(bitwise_equal(randn({1, 0}, dev, DType::f32, kCuda), randn({1, 0}, host)));  // empty draws take an offset
  CHECK(dev.offset() == 18);
  CHECK_THROWS_WITH(randn({3}, dev), Contains("the generator lives on cuda:0; draw there, not on cpu"));
  CHECK_THROWS_WITH(dev.take_offset(), Contains("advance the offset there"));

  auto pool = std::make_shared<cuda_backend::GraphPool>(kCuda);
  Tensor z, e;
  cuda_backend::begin_capture(kCuda, pool);
  z = randn({65, 100, 1, 1}, dev, DType::f32, kCuda);
  e = rand({65, 1, 1, 1}, dev, DType::f32, kCuda);
  auto graph = cuda_backend::end_capture(kCuda);
  CHECK(graph->kernel_nodes() == 2);
  for (int k = 0; k < 3; ++k) {
    graph->launch();
    CHECK(bitwise_equal(z, randn({65, 100, 1, 1}, host)));
    CHECK(bitwise_equal(e, rand({65, 1, 1, 1}, host)));
  }
  CHECK(dev.offset() == host.offset());
  dev.to_device(Device::cpu());  // and back: the state travels
  CHECK_FALSE(dev.on_device());
  CHECK(dev.offset() == host.offset());
  CHECK(bitwise_equal(randn({7}, dev), randn({7}, host)));
}

TEST_CASE("optimisers keep their step counts on the device: a replayed update equals the eager one bitwise",
          "[cuda-emu][graph][optim]") {
  cuda_backend::EmulatedCudaGuard emulate;
  auto make = [](uint64_t seed) {
    Generator g(seed);
    NamedTensors params;
    for (int64_t n : {300, 1, 4100}) {
      Tensor p = randn({n}, g).to(kCuda);
      p.requires_grad_(true);
      p.set_grad(randn({n}, g).to(kCuda));
      params.emplace_back("p" + std::to_string(n), p);
    }
    return params;
  };
  auto optimiser = [](int kind, NamedTensors params) -> std::unique_ptr<nn::Optimizer> {
    if (kind == 0) return std::make_unique<nn::Adam>(std::move(params), 1e-3, 0.5, 0.999);
    if (kind == 1) return std::make_unique<nn::RMSProp>(std::move(params), 5e-3);
    return std::make_unique<nn::SGD>(std::move(params), 0.1, 0.9);
  };
  for (int kind = 0; kind < 3; ++kind) {
    INFO("optimiser " << kind);
    const NamedTensors a = make(7), b = make(7);
    auto eager = optimiser(kind, a), graphed = optimiser(kind, b);
    for (int k = 0; k < 4; ++k) eager->step();
    graphed->step();  // the eager first step of a graph run
    auto pool = std::make_shared<cuda_backend::GraphPool>(kCuda);
    cuda_backend::begin_capture(kCuda, pool);
    graphed->step();
    auto graph = cuda_backend::end_capture(kCuda);
    CHECK(graph->kernel_nodes() == (kind == 0 ? 1 : 3));  // Adam: one launch for all tensors
    graph->launch();
    graph->launch();
    graph->launch();
    for (size_t i = 0; i < a.size(); ++i) CHECK(bitwise_equal(a[i].second, b[i].second));
    const NamedTensors sa = eager->state(), sb = graphed->state();
    REQUIRE(sa.size() == sb.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      INFO(sa[i].first);
      CHECK(sb[i].second.device().is_cpu() == (sb[i].first.find(".step") != std::string::npos));
      CHECK(bitwise_equal(sa[i].second, sb[i].second));
      if (sa[i].first.find(".step") != std::string::npos) CHECK(sb[i].second.item() == 4);
    }
  }
}


TEST_CASE("a captured training iteration replays the eager iterations bit for bit, with no host reads",
          "[cuda-emu][graph][train]") {
  cuda_backend::EmulatedCudaGuard emulate;
  set_math_mode(MathMode::fp32);
  for (gan::LossKind loss : {gan::LossKind::ns, gan::LossKind::wgan_gp}) {
    INFO(gan::loss_name(loss));
    // Batch 2 and, for wgan-gp, two critic updates: enough here.
    const int64_t n_critic = loss == gan::LossKind::wgan_gp ? 2 : 0;
    const Trace eager = train_iterations(kCuda, loss, false, 4, 2, n_critic);
    const Trace graph = train_iterations(kCuda, loss, true, 4, 2, n_critic);
    CHECK_FALSE(eager.graph_live);
    CHECK(graph.graph_live);
    CHECK(graph.graph_kernels == eager.kernels);  // the graph holds the eager iteration's kernels
    CHECK(graph.graph_kernels > 50);
    CHECK(eager.host_syncs == 0);  // the iteration never waits for the device
    CHECK(graph.host_syncs == 0);
    require_same(eager, graph);
    CHECK(eager.scalars[3][gan::kNonFinite] == 0.0f);
  }
}

TEST_CASE("mutation: a generator left on the host freezes z in the graph, and the comparison catches it",
          "[cuda-emu][graph][train][mutation]") {
  cuda_backend::EmulatedCudaGuard emulate;
  set_math_mode(MathMode::fp32);
  // Host offsets become launch arguments: the replays draw the captured iteration's z again.
  const Trace eager = train_iterations(kCuda, gan::LossKind::ns, false, 3, 2, 0, false);
  const Trace mutant = train_iterations(kCuda, gan::LossKind::ns, true, 3, 2, 0, false);
  CHECK(mutant.graph_live);
  CHECK(eager.scalars[1] == mutant.scalars[1]);  // the captured iteration itself is right
  CHECK(eager.scalars[2] != mutant.scalars[2]);  // its replay is not
}

TEST_CASE("GraphedStep: a body that reads the device from the host is never captured", "[cuda-emu][graph]") {
  cuda_backend::EmulatedCudaGuard emulate;
  const Tensor x = full({3}, 1.0, DType::f32, kCuda);
  gan::GraphedStep step(kCuda, true);
  double seen = 0;
  auto body = [&] { seen += x.to(Device::cpu()).data<float>()[0]; };
  step.run(body);  // eager, watched
  CHECK_FALSE(step.enabled());
  CHECK_THAT(step.fallback(), Contains("reads the device from the host (a copy from cuda:0 to the host"));
  step.run(body);
  CHECK_FALSE(step.graph_live());
  CHECK(seen == 2.0);
  // Captured on the first call (duel step): the read throws inside the capture, the graph is
  // given up and the call runs eagerly.
  gan::GraphedStep first(kCuda, true, true);
  first.run(body);
  CHECK(seen == 3.0);
  CHECK_FALSE(first.graph_live());
  CHECK_THAT(first.fallback(), Contains("inside the captured step"));
  CHECK_FALSE(cuda_backend::capturing());
}

TEST_CASE("the --cuda-graph setting: one clear line for what cannot be honoured", "[graph]") {
  gan::ModelConfig m;
  CHECK_FALSE(gan::parse_cuda_graph(std::nullopt).has_value());
  CHECK(*gan::parse_cuda_graph(std::string("on")));
  CHECK_FALSE(*gan::parse_cuda_graph(std::string("off")));
  CHECK_THROWS_WITH(gan::parse_cuda_graph(std::string("yes")), Contains("--cuda-graph expects on or off, got 'yes'"));
  std::string note;
  CHECK_THROWS_WITH(gan::decide_cuda_graph("train", true, Device::cpu(), m, &note),
                    Contains("train: --cuda-graph on: the device is cpu; CUDA graphs need --device cuda"));
  CHECK_FALSE(gan::decide_cuda_graph("train", std::nullopt, Device::cpu(), m, &note));
  CHECK(note.empty());  // nothing to say on the cpu
  CHECK_FALSE(gan::decide_cuda_graph("train", false, Device::cpu(), m, &note));
  m.conditional = true;
  CHECK_THROWS_WITH(gan::decide_cuda_graph("train", true, kCuda, m, &note), Contains("conditional model"));
  CHECK_FALSE(gan::decide_cuda_graph("train", std::nullopt, kCuda, m, &note));
  CHECK_THAT(note, Contains("CUDA graph off: a conditional model") && Contains("running eagerly"));
  m.conditional = false;
  note.clear();
  CHECK(gan::decide_cuda_graph("train", std::nullopt, kCuda, m, &note));
  CHECK(note.empty());
}

TEST_CASE("scalar constants on cuda are shared, read-only, and cost no kernel after the first",
          "[cuda-emu][graph]") {
  cuda_backend::EmulatedCudaGuard emulate;
  const Tensor x = full({3}, 2.0, DType::f32, kCuda);
  const Tensor a = scalar_like(x, 0.375);
  const int64_t launches = cuda_backend::kernel_launches();
  const Tensor b = scalar_like(x, 0.375);
  CHECK(cuda_backend::kernel_launches() == launches);  // no fill: the same constant
  CHECK(a.raw_data() == b.raw_data());
  CHECK(a.item() == 0.375);
  CHECK(bitwise_equal(mul(x, b), full({3}, 0.75, DType::f32, kCuda)));
  NoGradGuard no_grad;
  CHECK_THROWS_WITH(Tensor(a).fill_(1.0), Contains("is a shared constant"));
  CHECK_THROWS_WITH(Tensor(a).copy_(full({}, 1.0, DType::f32, kCuda)), Contains("is a shared constant"));
  CHECK_THROWS_WITH(Tensor(a).requires_grad_(true), Contains("is a shared constant"));
  CHECK_THROWS_WITH(clamp_(a, 0, 0.1), Contains("is a shared constant"));
  CHECK(a.item() == 0.375);
  // The cpu keeps plain tensors.
  const Tensor c = scalar_like(Tensor(full({2}, 1.0)), 0.375);
  CHECK_FALSE(c.impl()->read_only);
  // A constant first asked for inside a capture is the graph's own (filled by it), not kept.
  auto pool = std::make_shared<cuda_backend::GraphPool>(kCuda);
  cuda_backend::begin_capture(kCuda, pool);
  const Tensor inside = scalar_like(x, 0.8125);
  const Tensor known = scalar_like(x, 0.375);
  auto graph = cuda_backend::end_capture(kCuda);
  CHECK(graph->kernel_nodes() == 1);  // the new one's fill only
  CHECK(known.raw_data() == a.raw_data());
  CHECK_FALSE(inside.impl()->read_only);
  CHECK(scalar_like(x, 0.8125).raw_data() != inside.raw_data());
}

TEST_CASE("bench step --dry-run counts the kernels of a full-size step on the emulated device without running them",
          "[cuda-emu][graph][cli]") {
  std::map<std::string, nlohmann::json> out;
  for (const char* mode : {"off", "on"}) {
    const test::Run r = test::run_duel(std::string("bench step --model dcgan28 --loss ns --batch 64 --steps 2 --warmup 1 "
                                                   "--device cuda --dry-run --json --cuda-graph ") + mode,
                                       "DUEL_CUDA_EMULATE=1");
    INFO(r.err);
    REQUIRE(r.code == 0);
    out[mode] = nlohmann::json::parse(r.out);
    CHECK(out[mode].at("dry_run") == true);
  }
  CHECK(out["on"].at("cuda_graph") == true);
  CHECK(out["on"].at("kernels_per_step") == out["off"].at("kernels_per_step"));
  CHECK(out["on"].at("kernels_by_name") == out["off"].at("kernels_by_name"));
  CHECK(out["off"].at("kernels_by_name").at("adam_step_f32") == 2);  // one launch per model
  const test::Run refused = test::run_duel("bench step --batch 2 --dry-run");
  CHECK(refused.code != 0);
  CHECK(refused.err.find("--dry-run needs the emulated CUDA device") != std::string::npos);
}
