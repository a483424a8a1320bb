// duel bench step --model dcgan28|dcgan64|dcgan [--image-size S ...] --loss ns|wgan-gp --batch B
//                 --device cpu|cuda [--threads T] [--cuda-graph on|off] --json
//
// Median milliseconds per training step (n_critic critic updates + one generator update) and
// images per second, after warm-up, on synthetic data; on CUDA also the kernels one step
// launches, how the step was run (eager, or one CUDA graph per step) and the host's time per
// step (until the step is queued; the rest is waiting for the device).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "kernels/cuda/emu_graph.h"
#include "gan/step.h"
#include "kernels/cpu/conv_direct.h"
#include "nn/layers.h"
#include "gan/step_graph.h"

namespace duel::cli {

namespace {
const Command kBench{"bench",
                     "Times whole training steps: `duel bench step`. (The kernel benchmarks are\n"
                     "build/bench/duel_bench_cpu and duel_bench_cuda.)",
                     "step", 1, 1, {}, ""};
Command make_bench_step_command() {
  Command c{"bench step",
            "Median milliseconds per training step (n_critic critic updates + one generator update)\n"
            "and images per second, after warm-up, on synthetic data.",
            "",
            0,
            0,
            model_flags(),
            "The JSON adds, on cuda, kernels_per_step (kernel launches of one step, or kernel nodes of\n"
            "its graph) and kernels_by_name, cuda_graph (whether the timed steps were graph launches),\n"
            "host_ms_per_step (the host's time to queue a step) and host_syncs_per_step (its waits for\n"
            "the device). With a graph, the eager first step and the capture run before the W warm-up\n"
            "steps, so every timed step is one launch of the graph.\n"
            "--dry-run (emulated device only, DUEL_CUDA_EMULATE=1): kernels are counted and recorded\n"
            "but not run, so any batch size is quick and the times are the host's side of a step alone."};
  for (Flag f : {choice_flag("loss", {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "the loss", "ns"),
                 int_flag("channels", "C", "picture channels: 1 (gray) or 3 (RGB)", Range::ints(1, 3),
            "1 for dcgan28, else 3"),
                 int_flag("batch", "B", "images per critic update", Range::ints(2, 65536),
            "64 for dcgan28, 128 otherwise"),
                 text_flag("device", "cpu|cuda", "where the steps run", "cpu"),
                 int_flag("threads", "T", "CPU threads (0: one per core)", Range::ints(0, 1024), "0"),
                 int_flag("steps", "N", "timed steps", Range::ints(1, 100000), "10"),
                 int_flag("warmup", "W", "untimed steps first", Range::ints(0, 100000), "2"),
                 choice_flag("critic-norm", {"batchnorm", "none", "layernorm"}, "the critic's normalisation",
                             "none for wgan-gp, else batchnorm"),
                 choice_flag("math", {"fp32", "tf32", "bf16"}, "the arithmetic of matmul and convolutions",
                             "tf32 on cuda, fp32 on the cpu, as duel train"),
                 switch_flag("unfused", "every layer as its own op (no fused ops): to measure what fusion gains"),
                 choice_flag("cpu-conv", {"auto", "im2col", "direct"},
                             "the CPU's FP32 convolutions: the fast path's choice per layer, or im2col + GEMM, or "
                             "the direct kernel (AVX2/AVX-512) everywhere: to measure what each gains", "auto"),
                 switch_flag("json", "machine-readable output"),
                 choice_flag("cuda-graph", {"on", "off"},
                             "on cuda, time each step as one launch of a CUDA graph", "on for cuda"),
                 switch_flag("dry-run", "emulated device only: count and record kernels, do not run them")})
    c.flags.push_back(f);
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int cmd_bench(int argc, char** argv) {
  const std::string sub = argc >= 3 ? argv[2] : "";
  if (sub == "-h" || sub == "--help") return print_help(kBench);
  DUEL_CHECK(sub == "step", "bench: expected `duel bench step ...`", sub.empty() ? "" : str_cat(", got '", sub.substr(0, 40), "'"),
             " (the kernel benchmarks are build/bench/duel_bench_cpu)");
  static const Command kBenchStep = make_bench_step_command();
  const Args args(kBenchStep, argc, argv, 3);
  if (args.help()) return print_help(kBenchStep);
  const Device device = parse_device(args.get_or("device", "cpu"));
  cuda_backend::check_usable(device);
  const MathMode math = parse_math_mode(args.get_or("math", device.is_cpu() ? "fp32" : "tf32"));
  check_math_device(math, device.is_cpu());
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  const bool fused = !args.has("unfused");
  const std::string cpu_conv = args.get_or("cpu-conv", "auto");
  DUEL_CHECK(cpu_conv != "direct" || kernels::cpu::direct_isa_available() != kernels::cpu::DirectIsa::none,
             "bench step: --cpu-conv direct: this CPU lacks AVX2+FMA, which the direct convolution needs");
  kernels::cpu::set_conv_algo(cpu_conv == "im2col"   ? kernels::cpu::ConvAlgo::im2col
                              : cpu_conv == "direct" ? kernels::cpu::ConvAlgo::direct
                                                     : kernels::cpu::ConvAlgo::automatic);
  nn::set_fused_layers(fused);
  const gan::LossKind loss = gan::parse_loss(args.get_or("loss", "ns"));
  gan::ModelConfig m;
  apply_model_flags(args, m);
  m.critic_norm = gan::parse_critic_norm(args.get_or("critic-norm", loss == gan::LossKind::wgan_gp ? "none" : "batchnorm"));
  m.channels = args.get_int("channels", m.kind == gan::ModelKind::dcgan28 ? 1 : 3);
  const int64_t batch = args.get_int("batch", m.kind == gan::ModelKind::dcgan28 ? 64 : 128);
  const int64_t steps = args.get_int("steps", 10), warmup = args.get_int("warmup", 2);
  DUEL_CHECK(batch > 1 && steps > 0 && warmup >= 0, "bench step: --batch must be > 1 and --steps > 0");
  const bool dry = args.has("dry-run");
  DUEL_CHECK(!dry || (device.is_cuda() && cuda_backend::emulated()), "bench step: --dry-run needs the emulated "
             "CUDA device (--device cuda with DUEL_CUDA_EMULATE=1)");
  std::string graph_note;
  const bool graph = gan::decide_cuda_graph("bench step", gan::parse_cuda_graph(args.get("cuda-graph")), device, m,
                                            &graph_note);
  set_run_math_mode(math, device.is_cpu());
  const gan::OptimConfig oc = gan::defaults_for(loss);

  emu::set_dry_run(dry);
  gan::Gan g(m);
  Generator rng(1);
  g.init_dcgan(rng);
  g.G().to_device(device);
  g.D().to_device(device);
  gan::GanStep step(g, oc);
  const int64_t s = m.image_size();
  // One synthetic real batch for every critic update, made on the device once (no copy per step).
  const Tensor real = uniform({batch, m.channels, s, s}, -1, 1, rng, DType::f32, device);
  rng.to_device(device);
  gan::StepRunner runner(g, step, rng, batch, device, graph);
  for (const Tensor& r : runner.real()) {
    NoGradGuard no_grad;
    Tensor(r).copy_(real);
  }
  std::vector<double> ms, host_ms;
  int64_t syncs = 0;
  // With a graph, the eager first step and the capture come first, then the warm-up: every timed
  // step is a launch of the graph.
  const int64_t untimed = warmup + (graph ? 2 : 0);
  for (int64_t it = 0; it < untimed + steps; ++it) {
    const int64_t syncs_before = cuda_backend::host_syncs();
    const auto t0 = std::chrono::steady_clock::now();
    runner.run(false);
    const auto t_queued = std::chrono::steady_clock::now();
    if (it >= untimed) syncs += cuda_backend::host_syncs() - syncs_before;
    cuda_backend::synchronize(device);  // time the work, not its queueing
    const auto t1 = std::chrono::steady_clock::now();
    if (it >= untimed) {
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      host_ms.push_back(std::chrono::duration<double, std::milli>(t_queued - t0).count());
    }
  }
  const double med = median(ms);
  const double images_per_s = double(batch * oc.n_critic) / (med / 1e3);
  const bool graph_live = runner.graph().graph_live();
  if (args.has("json")) {
    nlohmann::json j{{"model", gan::model_name(m.kind)}, {"image_size", m.image_size()}, {"ngf", m.g_width()},
                     {"ndf", m.d_width()}, {"upsample", gan::upsample_name(m.upsample)}, {"loss", gan::loss_name(loss)}, {"batch", batch},
                     {"device", device.str()}, {"math", std::string(math_mode_name(math))}, {"threads", num_threads()}, {"fused", fused}, {"cpu_conv", cpu_conv}, {"n_critic", oc.n_critic},
                     {"steps", steps}, {"median_ms_per_step", med}, {"min_ms_per_step", *std::min_element(ms.begin(), ms.end())},
                     {"max_ms_per_step", *std::max_element(ms.begin(), ms.end())}, {"images_per_s", images_per_s},
                     {"host_ms_per_step", median(host_ms)},
                     {"host_syncs_per_step", double(syncs) / double(steps)}};
    if (device.is_cuda()) {
      j["cuda_graph"] = graph_live;
      j["kernels_per_step"] = runner.kernels_per_iteration();
      j["kernels_by_name"] = runner.graph().kernels_by_name();
      if (dry) j["dry_run"] = true;
      if (graph_live) j["graph_nodes"] = runner.graph().graph_nodes();
      if (!runner.graph().fallback().empty()) j["cuda_graph_fallback"] = runner.graph().fallback();
      else if (!graph_note.empty()) j["cuda_graph_fallback"] = graph_note;
    }
    std::puts(j.dump(2).c_str());
  } else {
    if (!graph_note.empty()) std::printf("%s\n", graph_note.c_str());
    if (!runner.graph().fallback().empty())
      std::printf("CUDA graph off: %s; ran eagerly\n", runner.graph().fallback().c_str());
    std::printf("%s %s batch %lld on %s, math %s (%d CPU threads)%s%s: %.2f ms per step (%lld critic update(s) + 1 "
                "generator update), %.0f images/s (min %.2f, max %.2f ms over %lld steps)",
                gan::describe_model(m).c_str(), gan::loss_name(loss).c_str(), (long long)batch,
                device.str().c_str(), std::string(math_mode_name(math)).c_str(), num_threads(),
                fused ? "" : ", unfused", graph_live ? ", one CUDA graph per step" : "", med, (long long)oc.n_critic, images_per_s,
                *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()), (long long)steps);
    if (device.is_cuda())
      std::printf("; %lld kernels per step, host %.3f ms per step%s", (long long)runner.kernels_per_iteration(),
                  median(host_ms), dry ? " (dry run: kernels not run)" : "");
    std::printf("\n");
  }
  return 0;
}

}  // namespace duel::cli
