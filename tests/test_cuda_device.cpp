// The whole CUDA code path of duel on the emulated CUDA device (core/cuda_backend.h): storage,
// copies, the op dispatch with its float32-only rule and workspaces, and every op of the table
// forward, backward and double backward on CUDA against the CPU, on the op samples (odd shapes),
// with every allocation poisoned (NaN) first. On a machine with a GPU the same comparison runs on
// the device in tests/cuda/; here the kernels run on the CPU emulator, so this checks the code,
// not the hardware.
#include <catch2/catch.hpp>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "core/inplace.h"
#include "core/op_table.h"
#include "core/random.h"
#include "kernels/cpu/util.h"
#include "nn/tensor_io.h"
#include "tests/cuda_compare.h"
#include "tests/run_duel.h"

using namespace duel;
using Catch::Matchers::Contains;
using duel::test::nmse;

namespace {

const Device kCuda = Device::cuda(0);

std::map<std::string, Tensor> load(const std::string& path) { return load_safetensors_map(path); }

}  // namespace

TEST_CASE("emulated CUDA device: every op forward, backward and double backward matches the CPU",
          "[cuda-emu][ops]") {
  cuda_backend::EmulatedCudaGuard emulate;
  for (const OpInfo& op : op_table()) CHECK_FALSE(supports(op, DeviceType::cuda, DType::f64));
  DUEL_CHECK_ALL_OPS_ON(kCuda);
}

TEST_CASE("emulated CUDA device: the op suite in the tf32 and bf16 math modes, each within its bound",
          "[cuda-emu][ops][mma]") {
  cuda_backend::EmulatedCudaGuard emulate;
  for (MathMode m : {MathMode::tf32, MathMode::bf16}) {
    MathModeGuard mode(m);
    DUEL_CHECK_ALL_OPS_ON(kCuda);
  }
  // The mode reaches the kernels: a convolution differs from the fp32 result by about the
  // mode's rounding, not by zero.
  Generator g(12);
  const Tensor x = randn({2, 8, 9, 9}, g), w = randn({6, 8, 3, 3}, g);
  const Tensor exact = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  for (MathMode m : {MathMode::tf32, MathMode::bf16}) {
    MathModeGuard mode(m);
    const double err = nmse(conv2d(x.to(kCuda), w.to(kCuda), Tensor(), {1, 1}, {1, 1}).to(Device::cpu()), exact);
    CHECK(err > 1e-10);
    CHECK(err <= test::math_mode_bound(m));
  }
}

TEST_CASE("emulated CUDA device: storage, copies, fills and the Philox draws", "[cuda-emu]") {
  cuda_backend::EmulatedCudaGuard emulate;
  Generator g(5);
  const Tensor host = randn({3, 5, 7}, g, DType::f32);
  const Tensor dev = host.to(kCuda);
  CHECK(dev.device() == kCuda);
  const Tensor back = dev.to(Device::cpu());
  CHECK(std::memcmp(back.raw_data(), host.raw_data(), host.nbytes()) == 0);
  CHECK(dev.clone().to(Device::cpu()).to_vector() == host.to_vector());
  CHECK(full({4}, 2.5, DType::f32, kCuda).to(Device::cpu()).to_vector() == std::vector<double>(4, 2.5));
  CHECK(full({3}, 7, DType::i64, kCuda).to(Device::cpu()).to_vector() == std::vector<double>(3, 7));
  // Device draws equal host draws bit for bit for the same seed and offset.
  Generator a(11), b(11);
  for (int k = 0; k < 2; ++k) {
    const Tensor u_cpu = uniform({1001}, -1, 3, a, DType::f32);
    const Tensor u_dev = uniform({1001}, -1, 3, b, DType::f32, kCuda).to(Device::cpu());
    CHECK(std::memcmp(u_cpu.raw_data(), u_dev.raw_data(), u_cpu.nbytes()) == 0);
    const Tensor n_cpu = normal({1001}, 0.5, 2, a, DType::f32);
    const Tensor n_dev = normal({1001}, 0.5, 2, b, DType::f32, kCuda).to(Device::cpu());
    CHECK(std::memcmp(n_cpu.raw_data(), n_dev.raw_data(), n_cpu.nbytes()) == 0);
  }
  // With a shift and a scale whose product is inexact, a host compiler that contracts lo + s*u
  // into an fma (g++ -march=native did) gives other last bits than the device: bitwise here.
  for (const auto& [lo, hi, mean, sd] : {std::array<double, 4>{-0.37, 1.91, 0.3, 1.7},
                                          std::array<double, 4>{0.1, 0.7, -2.2, 0.013}}) {
    Generator c(29), d(29);
    const Tensor u_cpu = uniform({999}, lo, hi, c, DType::f32);
    const Tensor u_dev = uniform({999}, lo, hi, d, DType::f32, kCuda).to(Device::cpu());
    CHECK(std::memcmp(u_cpu.raw_data(), u_dev.raw_data(), u_cpu.nbytes()) == 0);
    const Tensor n_cpu = normal({999}, mean, sd, c, DType::f32);
    const Tensor n_dev = normal({999}, mean, sd, d, DType::f32, kCuda).to(Device::cpu());
    CHECK(std::memcmp(n_cpu.raw_data(), n_dev.raw_data(), n_cpu.nbytes()) == 0);
    // A last-bit difference in the double rarely survives the rounding to float: the float64
    // kernels show every one.
    std::vector<double> on_host(999), on_device(999);
    kernels::cpu::random_normal(on_host.data(), 999, 77, 5, mean, sd);
    kernels::cuda_emu::random_normal_f64(on_device.data(), 999, 77, 5, mean, sd, nullptr);
    CHECK(std::memcmp(on_host.data(), on_device.data(), on_host.size() * sizeof(double)) == 0);
  }
  // Host code cannot read device memory by accident.
  CHECK_THROWS_WITH(dev.to_vector(), Contains("to(cpu)"));
  CHECK(sum(dev).item() == Approx(sum(host).item()).epsilon(1e-5));
}

TEST_CASE("emulated CUDA device: float64 and mixed devices are refused with one clear line",
          "[cuda-emu][errors]") {
  cuda_backend::EmulatedCudaGuard emulate;
  CHECK_THROWS_WITH(empty({2}, DType::f64, kCuda), Contains("float32 only"));
  CHECK_THROWS_WITH(zeros({2}, DType::f64).to(kCuda), Contains("float32 only"));
  CHECK_THROWS_WITH(empty({2}, DType::f32, Device::cuda(1)), Contains("cuda:0 only"));
  const Tensor a = ones({2}, DType::f32, kCuda), b = ones({2}, DType::f32);
  CHECK_THROWS_WITH(add(a, b), Contains("different devices"));
}

TEST_CASE("emulated CUDA device: optimiser updates match the CPU", "[cuda-emu]") {
  cuda_backend::EmulatedCudaGuard emulate;
  NoGradGuard no_grad;
  Generator g(3);
  std::vector<Tensor> p_cpu, g_cpu, m_cpu, v_cpu, p_dev, g_dev, m_dev, v_dev;
  for (int64_t n : {37, 1, 4100}) {
    p_cpu.push_back(randn({n}, g, DType::f32));
    g_cpu.push_back(randn({n}, g, DType::f32));
    m_cpu.push_back(zeros({n}, DType::f32));
    v_cpu.push_back(zeros({n}, DType::f32));
    p_dev.push_back(p_cpu.back().to(kCuda));
    g_dev.push_back(g_cpu.back().to(kCuda));
    m_dev.push_back(m_cpu.back().to(kCuda));
    v_dev.push_back(v_cpu.back().to(kCuda));
  }
  const AdamHyper h{2e-4, 0.5, 0.999, 1e-8, 0};
  // The step counts live on each parameter's device and are advanced there.
  std::vector<Tensor> steps_cpu, steps_dev;
  for (size_t i = 0; i < p_cpu.size(); ++i) {
    steps_cpu.push_back(zeros({}, DType::i64));
    steps_dev.push_back(zeros({}, DType::i64, kCuda));
  }
  const Tensor ticket = zeros({1}, DType::i64, kCuda);
  for (int64_t step = 1; step <= 3; ++step) {
    std::vector<AdamSlot> cpu_slots, dev_slots;
    for (size_t i = 0; i < p_cpu.size(); ++i) {
      cpu_slots.push_back({p_cpu[i], g_cpu[i], m_cpu[i], v_cpu[i], steps_cpu[i]});
      dev_slots.push_back({p_dev[i], g_dev[i], m_dev[i], v_dev[i], steps_dev[i]});
    }
    adam_step_(cpu_slots, h);
    adam_step_(dev_slots, h, ticket);  // one launch for all three
  }
  for (size_t i = 0; i < p_cpu.size(); ++i) {
    CHECK(nmse(p_dev[i].to(Device::cpu()), p_cpu[i]) <= 1e-7);
    CHECK(nmse(v_dev[i].to(Device::cpu()), v_cpu[i]) <= 1e-7);
    CHECK(steps_cpu[i].item() == 3);
    CHECK(steps_dev[i].item() == 3);
  }
  const Tensor s_cpu = zeros({}, DType::i64), s_dev = zeros({}, DType::i64, kCuda);
  rmsprop_step_(p_cpu[0], g_cpu[0], v_cpu[0], 5e-5, 0.99, 1e-8, s_cpu);
  rmsprop_step_(p_dev[0], g_dev[0], v_dev[0], 5e-5, 0.99, 1e-8, s_dev);
  const Tensor t_cpu = zeros({}, DType::i64), t_dev = zeros({}, DType::i64, kCuda);
  sgd_step_(p_cpu[1], g_cpu[1], Tensor(), 0.1, 0, t_cpu);
  sgd_step_(p_dev[1], g_dev[1], Tensor(), 0.1, 0, t_dev);
  CHECK(s_dev.item() == 1);
  CHECK(t_dev.item() == 1);
  clamp_(p_cpu[2], -0.01, 0.01);
  clamp_(p_dev[2], -0.01, 0.01);
  for (size_t i = 0; i < p_cpu.size(); ++i) CHECK(nmse(p_dev[i].to(Device::cpu()), p_cpu[i]) <= 1e-7);
}

// ---- the command line on the emulated device

TEST_CASE("emulated CUDA device: duel op --device cuda agrees with the cpu", "[cuda-emu][cli]") {
  const std::string dir = test::tmp_dir("cuda_op_" + std::to_string(::getpid()));
  Generator g(9);
  save_safetensors(dir + "/in.safetensors",
                   {{"input", randn({2, 3, 9, 8}, g)}, {"weight", randn({5, 3, 4, 3}, g)},
                    {"bias", randn({5}, g)}, {"grad_out", randn({2, 5, 4, 4}, g)}});
  const std::string common = "op conv2d --in " + dir + "/in.safetensors --backward --attr stride=2 --attr padding=1,1";
  const test::Run cpu = test::run_duel(common + " --out " + dir + "/cpu.safetensors");
  const test::Run gpu = test::run_duel(common + " --device cuda --out " + dir + "/gpu.safetensors",
                                       "DUEL_CUDA_EMULATE=1");
  INFO(cpu.err << gpu.err);
  REQUIRE(cpu.code == 0);
  REQUIRE(gpu.code == 0);
  const auto a = load(dir + "/cpu.safetensors"), b = load(dir + "/gpu.safetensors");
  REQUIRE(a.size() == 4);  // out, grad.input, grad.weight, grad.bias
  REQUIRE(b.size() == a.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(nmse(b.at(name), t) <= 1e-7);
  }
  // Without the emulator and without a GPU the same command is one clear error.
  if (cuda_device_count() == 0) {
    const test::Run none = test::run_duel(common + " --device cuda --out " + dir + "/x.safetensors",
                                          "DUEL_CUDA_EMULATE=0");
    CHECK(none.code != 0);
    CHECK(none.err.find("cuda") != std::string::npos);
  }
}

TEST_CASE("emulated CUDA device: duel step and duel train run on cuda like on the cpu",
          "[cuda-emu][cli][train]") {
  const std::string dir = test::tmp_dir("cuda_train_" + std::to_string(::getpid()));
  // Two wgan-gp steps of dcgan28 at batch 2 (the double backward included) on both devices.
  const std::string common = "train --model dcgan28 --loss wgan-gp --data synthetic --batch 2 --steps 2 "
                             "--log-every 1 --seed 3 --n-critic 2";
  const test::Run cpu = test::run_duel(common + " --out " + dir + "/cpu");
  // fp32: the comparison is at the fp32 bound (on cuda `duel train` defaults to tf32).
  const test::Run gpu = test::run_duel(common + " --device cuda --math fp32 --out " + dir + "/gpu", "DUEL_CUDA_EMULATE=1");
  INFO(cpu.err << gpu.err);
  REQUIRE(cpu.code == 0);
  REQUIRE(gpu.code == 0);
  const auto a = load(dir + "/cpu/checkpoint/G.safetensors"), b = load(dir + "/gpu/checkpoint/G.safetensors");
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    if (is_floating(t.dtype()))
      CHECK(nmse(b.at(name), t) <= 1e-7);
    else
      CHECK(b.at(name).to_vector() == t.to_vector());
  }
  const auto da = load(dir + "/cpu/checkpoint/D.safetensors"), db = load(dir + "/gpu/checkpoint/D.safetensors");
  for (const auto& [name, t] : da) {
    INFO(name);
    CHECK(nmse(db.at(name), t) <= 1e-7);
  }
  CHECK(test::slurp(dir + "/gpu/config.json").find("\"device\": \"cuda:0\"") != std::string::npos);
  CHECK(test::slurp(dir + "/gpu/config.json").find("\"math\": \"fp32\"") != std::string::npos);
}

TEST_CASE("emulated CUDA device: --math on the command line", "[cuda-emu][cli][mma]") {
  const std::string dir = test::tmp_dir("cuda_math_" + std::to_string(::getpid()));
  // The CPU has no TF32: one clear line and a non-zero exit.
  const test::Run refused = test::run_duel("bench step --model dcgan28 --batch 2 --steps 1 --warmup 0 --math tf32");
  CHECK(refused.code != 0);
  CHECK(refused.err.find("--math tf32: the CPU has no TF32 arithmetic") != std::string::npos);
  const test::Run bad = test::run_duel("bench step --model dcgan28 --batch 2 --device cuda --math fp16", "DUEL_CUDA_EMULATE=1");
  CHECK(bad.code != 0);
  CHECK(bad.err.find("--math must be one of fp32|tf32|bf16, got 'fp16'") != std::string::npos);
  // A training step in each tensor-core mode on the emulated device (eagerly: with a graph, bench
  // step would add the eager check and the capture before its one timed step).
  for (const char* m : {"tf32", "bf16"}) {
    const test::Run r = test::run_duel(std::string("bench step --model dcgan28 --loss ns --batch 2 --steps 1 --warmup 0 "
                                                   "--device cuda --cuda-graph off --json --math ") + m,
                                       "DUEL_CUDA_EMULATE=1");
    INFO(r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find(std::string("\"math\": \"") + m + "\"") != std::string::npos);
  }
  // duel op in tf32 against the cpu within tf32's bound, and not bit-equal to fp32.
  Generator g(9);
  save_safetensors(dir + "/in.safetensors", {{"input", randn({2, 3, 9, 8}, g)}, {"weight", randn({5, 3, 4, 3}, g)},
                                             {"grad_out", randn({2, 5, 4, 4}, g)}});
  const std::string common = "op conv2d --in " + dir + "/in.safetensors --backward --attr stride=2 --attr padding=1,1";
  REQUIRE(test::run_duel(common + " --out " + dir + "/cpu.safetensors").code == 0);
  const test::Run tf = test::run_duel(common + " --device cuda --math tf32 --out " + dir + "/tf32.safetensors",
                                      "DUEL_CUDA_EMULATE=1");
  INFO(tf.err);
  REQUIRE(tf.code == 0);
  const auto a = load(dir + "/cpu.safetensors"), b = load(dir + "/tf32.safetensors");
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(nmse(b.at(name), t) <= test::math_mode_bound(MathMode::tf32));
    CHECK(nmse(b.at(name), t) > 1e-12);
  }
}
