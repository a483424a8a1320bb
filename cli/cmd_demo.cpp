// duel demo: the main job until training lands. Shows the engine doing what a GAN needs:
// ops with broadcasting, a tiny conv critic, the WGAN-GP gradient penalty differentiated with
// respect to the critic's weights (a double backward), checked against finite differences,
// and then gradcheck/gradgradcheck over the whole op table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/autograd.h"
#include "core/config.h"
#include "core/gradcheck.h"

namespace duel::cli {

namespace {

struct Critic {
  Tensor w1, w2;  // conv 1->4 k4 s2 p1, conv 4->1 k4
  Tensor operator()(const Tensor& x) const {
    return conv2d(leaky_relu(conv2d(x, w1, Tensor(), {2, 2}, {1, 1}), 0.2), w2);
  }
};

// mean over the batch of (||grad_x critic(x_hat)||_2 - 1)^2, with x_hat between real and fake.
Tensor gradient_penalty(const Critic& critic, const Tensor& real, const Tensor& fake,
                        const Tensor& eps) {
  Tensor x_hat = add(mul(eps, real), mul(1.0 - eps, fake)).detach();
  x_hat.requires_grad_(true);
  const Tensor score = critic(x_hat);
  const Tensor g = grad({sum(score)}, {x_hat}, {}, /*create_graph=*/true)[0];
  const Tensor norm = sqrt(sum(mul(g, g), {1, 2, 3}) + 1e-12);  // finite gradient at zero
  const Tensor d = norm - 1.0;
  return mean(mul(d, d));
}

}  // namespace

namespace {
const Command kDemo{"demo",
                    "A tour of the engine: ops, the WGAN-GP penalty differentiated with respect to a critic's\n"
                    "weights and checked against finite differences, gradient checks of every op.",
                    "",
                    0,
                    0,
                    {int_flag("seed", "S", "random inputs", Range::ints(0, 9.2e18), "7"),
                     switch_flag("quick", "skip the op-table gradient checks")},
                    ""};
}  // namespace

int cmd_demo(int argc, char** argv) {
  const Args args(kDemo, argc, argv, 2);
  if (args.help()) return print_help(kDemo);
  Generator gen(uint64_t(args.get_int("seed", 7)));
  std::printf("duel demo: CPU %s path, %d thread(s), CUDA %s\n\n",
              std::string(cpu_path_name(cpu_path())).c_str(), num_threads(),
              cuda_built() ? "kernels compiled" : "not built");

  // 1. Broadcasting and a first derivative.
  const Tensor a = randn({2, 3}, gen, DType::f64).requires_grad_(true);
  const Tensor b = randn({3}, gen, DType::f64);
  const Tensor y = sum(tanh(a * b + 1.0));
  y.backward();
  std::printf("1. y = sum(tanh(a*b + 1)) for a[2,3], b[3] broadcast: y = %.6f\n", y.item());
  std::printf("   dy/da = (1 - tanh^2) * b: %s\n\n", a.grad().str(6).c_str());

  // 2. WGAN-GP's penalty differentiated with respect to the critic's weights.
  Critic critic{normal({4, 1, 4, 4}, 0, 0.3, gen, DType::f64).requires_grad_(true),
                normal({1, 4, 4, 4}, 0, 0.3, gen, DType::f64).requires_grad_(true)};
  const Tensor real = randn({3, 1, 8, 8}, gen, DType::f64);
  const Tensor fake = randn({3, 1, 8, 8}, gen, DType::f64);
  const Tensor eps = rand({3, 1, 1, 1}, gen, DType::f64);
  const Tensor gp = gradient_penalty(critic, real, fake, eps);
  const std::vector<Tensor> dw = grad({gp}, {critic.w1, critic.w2});
  std::printf("2. WGAN-GP penalty of a conv critic (conv 1->4 k4 s2, leaky_relu, conv 4->1 k4)\n");
  std::printf("   gp = mean((||grad_x D(x_hat)|| - 1)^2) = %.9f\n", gp.item());
  std::printf("   d gp / d w1 needs the backward of the backward: conv2d_weight_grad and\n"
              "   conv_transpose2d differentiated again. Against central differences:\n");
  double worst = 0;
  for (int64_t idx : {0, 5, 11}) {
    double* p = critic.w1.data<double>();
    const double orig = p[idx], h = 1e-6;
    p[idx] = orig + h;
    const double up = gradient_penalty(critic, real, fake, eps).item();
    p[idx] = orig - h;
    const double down = gradient_penalty(critic, real, fake, eps).item();
    p[idx] = orig;
    const double numeric = (up - down) / (2 * h), analytic = dw[0].data<double>()[idx];
    worst = std::max(worst, std::abs(numeric - analytic));
    std::printf("   w1[%lld]: analytic %+.9f  numeric %+.9f\n", (long long)idx, analytic, numeric);
  }
  std::printf("   largest difference %.2e\n\n", worst);

  if (args.has("quick")) return worst < 1e-6 ? 0 : 1;

  // 3. Every op, first and second derivative.
  std::printf("3. gradcheck and gradgradcheck (float64) of every op in the table:\n");
  const auto start = std::chrono::steady_clock::now();
  int failed = 0, samples = 0;
  for (const OpInfo& op : op_table()) {
    int ok = 0, n = 0;
    double err = 0;
    for (const OpCheckResult& r : check_op(op)) {
      ++n;
      ok += r.ok();
      err = std::max({err, r.grad.max_abs_error, r.gradgrad.max_abs_error});
    }
    samples += n;
    failed += n - ok;
    std::printf("   %-33s %d/%d samples ok, largest error %.1e\n", op.name.c_str(), ok, n, err);
  }
  std::printf("   %d of %d samples passed (%.1f s)\n", samples - failed, samples,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return failed == 0 && worst < 1e-6 ? 0 : 1;
}

}  // namespace duel::cli
