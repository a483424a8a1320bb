// duel bench step --model dcgan28|dcgan64 --loss ns|wgan-gp --batch B --device cpu [--threads T] --json
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

int cmd_bench(int argc, char** argv) {
  DUEL_CHECK(argc >= 3 && std::string(argv[2]) == "step", "bench: expected `duel bench step ...` (the kernel "
             "benchmarks are build/bench/duel_bench_cpu)");
  const Args args("bench step", argc, argv, 3,
                  {"model", "loss", "batch", "device", "threads", "steps", "warmup", "critic-norm", "math",
                   "image-size", "ngf", "ndf", "nz", "upsample", "channels"},
                  {"json", "help"});
  if (args.has("help")) {
    std::puts("usage: duel bench step --model dcgan28|dcgan64|dcgan --loss ns|wgan-gp --batch B --device cpu|cuda\n"
              "                       [--threads T] [--steps N (10)] [--warmup W (2)] [--json]\n"
              "                       [--image-size S] [--ngf N] [--ndf N] [--nz N] [--upsample convT|nearest]\n"
              "                       [--channels C]\n"
              "                       [--math fp32|tf32|bf16 (tf32 on cuda, fp32 on the cpu, as duel train)]");
    return 0;
  }
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
