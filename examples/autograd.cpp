// duel's autograd in a page: a gradient, the gradient of a gradient, and both checked against
// finite differences. Build it against the installed library (see custom_gan.cpp).
#include <cmath>
#include <cstdio>
#include <vector>

#include <duel/duel.h>

using namespace duel;

int main() try {
  // f(x, w) = sum(tanh(x @ w)), x [3, 4], w [4, 2]: float64 on the CPU.
  Generator gen(1);
  const Tensor x = randn({3, 4}, gen, DType::f64).requires_grad_(true);
  const Tensor w = randn({4, 2}, gen, DType::f64).requires_grad_(true);
  const Tensor y = sum(tanh(matmul(x, w)));

  // df/dw, kept differentiable (create_graph), against the formula x^T (1 - tanh^2(x w)).
  const Tensor gw = grad({y}, {w}, {}, /*create_graph=*/true)[0];
  const Tensor t = tanh(matmul(x.detach(), w.detach()));
  const Tensor by_hand = matmul(x.detach(), 1.0 - t * t, /*transpose_a=*/true);
  const double diff = std::sqrt(sum(pow(gw.detach() - by_hand, 2)).item());
  std::printf("f = %.6f\ndf/dw =\n%s\n|autograd - formula| = %.2e\n", y.item(), gw.str(8).c_str(), diff);

  // The gradient of a function of the gradient, as WGAN-GP's penalty needs: d/dx ||df/dw||^2.
  const Tensor penalty = sum(gw * gw);
  const Tensor gx = grad({penalty}, {x})[0];
  std::printf("d ||df/dw||^2 / dx =\n%s\n", gx.str(12).c_str());

  // Both derivatives of f against central differences (gradcheck, gradgradcheck).
  auto f = [](const std::vector<Tensor>& in) { return std::vector<Tensor>{sum(tanh(matmul(in[0], in[1])))}; };
  const CheckResult first = gradcheck(f, {x.detach(), w.detach()});
  const CheckResult second = gradgradcheck(f, {x.detach(), w.detach()}, gen);
  std::printf("gradcheck: %s (%lld entries), gradgradcheck: %s (%lld entries)\n", first.ok ? "ok" : "FAILED",
              (long long)first.entries, second.ok ? "ok" : "FAILED", (long long)second.entries);
  return first.ok && second.ok && diff < 1e-12 ? 0 : 1;
} catch (const Error& e) {
  std::fprintf(stderr, "autograd: %s\n", e.what());
  return 1;
}
