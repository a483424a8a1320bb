// duel bench step --model dcgan28|dcgan64|dcgan [--image-size S ...] --loss ns|wgan-gp --batch B --device cpu [--threads T] --json
//
// Median milliseconds per training step (n_critic critic updates + one generator update) and
// images per second, after warm-up, on synthetic data.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/cuda_backend.h"
#include "core/autograd.h"
#include "core/config.h"
#include "gan/step.h"

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
            ""};
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
                 switch_flag("json", "machine-readable output")})
    c.flags.push_back(f);
  return c;
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
  set_math_mode(math);
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));
  const gan::LossKind loss = gan::parse_loss(args.get_or("loss", "ns"));
  gan::ModelConfig m;
  apply_model_flags(args, m);
  m.critic_norm = gan::parse_critic_norm(args.get_or("critic-norm", loss == gan::LossKind::wgan_gp ? "none" : "batchnorm"));
  m.channels = args.get_int("channels", m.kind == gan::ModelKind::dcgan28 ? 1 : 3);
  const int64_t batch = args.get_int("batch", m.kind == gan::ModelKind::dcgan28 ? 64 : 128);
  const int64_t steps = args.get_int("steps", 10), warmup = args.get_int("warmup", 2);
  DUEL_CHECK(batch > 1 && steps > 0 && warmup >= 0, "bench step: --batch must be > 1 and --steps > 0");
  const gan::OptimConfig oc = gan::defaults_for(loss);

  gan::Gan g(m);
  Generator rng(1);
  g.init_dcgan(rng);
  g.G().to_device(device);
  g.D().to_device(device);
  gan::GanStep step(g, oc);
  const int64_t s = m.image_size();
  const Tensor real = uniform({batch, m.channels, s, s}, -1, 1, rng, DType::f32, device);
  std::vector<double> ms;
  for (int64_t it = 0; it < warmup + steps; ++it) {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor fake;
    for (int64_t c = 0; c < oc.n_critic; ++c) {
      const Tensor z = randn({batch, m.nz, 1, 1}, rng, DType::f32, device);
      const Tensor eps = loss == gan::LossKind::wgan_gp ? rand({batch, 1, 1, 1}, rng, DType::f32, device) : Tensor();
      if (c + 1 == oc.n_critic) {
        fake = g.generate(z);
      } else {
        NoGradGuard no_grad;
        fake = g.generate(z);
      }
      step.d_update(real, Tensor(), fake, eps);
    }
    step.g_update(fake, Tensor());
    cuda_backend::synchronize(device);  // time the work, not its queueing
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (it >= warmup) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double images_per_s = double(batch * oc.n_critic) / (median / 1e3);
  if (args.has("json")) {
    nlohmann::json j{{"model", gan::model_name(m.kind)}, {"image_size", m.image_size()}, {"ngf", m.g_width()},
                     {"ndf", m.d_width()}, {"upsample", gan::upsample_name(m.upsample)}, {"loss", gan::loss_name(loss)}, {"batch", batch},
                     {"device", device.str()}, {"math", std::string(math_mode_name(math))}, {"threads", num_threads()}, {"n_critic", oc.n_critic},
                     {"steps", steps}, {"median_ms_per_step", median}, {"min_ms_per_step", ms.front()},
                     {"max_ms_per_step", ms.back()}, {"images_per_s", images_per_s}};
    std::puts(j.dump(2).c_str());
  } else {
    std::printf("%s %s batch %lld on %s, math %s (%d CPU threads): %.2f ms per step (%lld critic update(s) + 1 generator "
                "update), %.0f images/s (min %.2f, max %.2f ms over %lld steps)\n",
                gan::describe_model(m).c_str(), gan::loss_name(loss).c_str(), (long long)batch,
                device.str().c_str(), std::string(math_mode_name(math)).c_str(), num_threads(),
                median, (long long)oc.n_critic, images_per_s, ms.front(), ms.back(), (long long)steps);
  }
  return 0;
}

}  // namespace duel::cli
