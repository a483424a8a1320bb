// The autograd engine: accumulation, grad() with and without create_graph, higher derivatives,
// no-grad mode, anomaly mode, and its errors.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/gradcheck.h"
#include "core/ops.h"

using namespace duel;
using Catch::Matchers::Contains;

namespace {
Tensor vec(std::vector<double> v) { return from_vector(v, {int64_t(v.size())}, DType::f64); }
double at(const Tensor& t, int64_t i) { return t.to_vector()[size_t(i)]; }
}  // namespace

TEST_CASE("backward accumulates into leaves and through shared subexpressions", "[autograd]") {
  Tensor x = vec({1.0, 2.0, -3.0}).requires_grad_(true);
  const Tensor y = mul(x, x);       // x^2
  const Tensor z = sum(add(y, y));  // 2 x^2: y is used twice
  z.backward();
  CHECK(at(x.grad(), 0) == Approx(4.0));
  CHECK(at(x.grad(), 2) == Approx(-12.0));
  sum(x).backward();  // a second backward adds to .grad
  CHECK(at(x.grad(), 0) == Approx(5.0));
  x.set_grad(Tensor());
  sum(x * 3.0).backward();
  CHECK(at(x.grad(), 1) == Approx(3.0));
}

TEST_CASE("a leaf's gradient is its own copy, not shared with another leaf's", "[autograd]") {
  Tensor a = vec({1, 2}).requires_grad_(true);
  Tensor b = vec({3, 4}).requires_grad_(true);
  sum(add(a, b)).backward();  // add passes the same gradient tensor to both
  a.grad().data<double>()[0] = 100;
  CHECK(at(b.grad(), 0) == 1.0);
}

TEST_CASE("grad() returns gradients without touching .grad", "[autograd]") {
  Tensor x = vec({0.5, -1.5}).requires_grad_(true);
  const Tensor y = sum(exp(x));
  const Tensor g = grad({y}, {x})[0];
  CHECK(at(g, 0) == Approx(std::exp(0.5)));
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("create_graph makes gradients differentiable: third derivative of x^3 is 6", "[autograd]") {
  Tensor x = vec({2.0}).requires_grad_(true);
  const Tensor y = sum(pow(x, 3.0));
  const Tensor g1 = grad({y}, {x}, {}, true)[0];         // 3x^2 = 12
  const Tensor g2 = grad({sum(g1)}, {x}, {}, true)[0];   // 6x = 12
  const Tensor g3 = grad({sum(g2)}, {x}, {}, true)[0];   // 6
  CHECK(at(g1, 0) == Approx(12.0));
  CHECK(at(g2, 0) == Approx(12.0));
  CHECK(at(g3, 0) == Approx(6.0));
}

TEST_CASE("ops that reuse their output stay differentiable twice (no reference cycle)", "[autograd]") {
  std::weak_ptr<TensorImpl> weak;
  {
    Tensor x = vec({0.3, -0.7}).requires_grad_(true);
    const Tensor y = tanh(x);
    weak = y.impl_ptr();
    const Tensor g1 = grad({sum(y)}, {x}, {}, true)[0];  // 1 - tanh^2
    const Tensor g2 = grad({sum(g1)}, {x})[0];            // -2 tanh (1 - tanh^2)
    const double t = std::tanh(0.3);
    CHECK(at(g2, 0) == Approx(-2 * t * (1 - t * t)));
  }
  CHECK(weak.expired());  // the node did not keep its own output alive
}

TEST_CASE("no-grad mode records nothing", "[autograd]") {
  Tensor x = vec({1, 2}).requires_grad_(true);
  Tensor y;
  {
    NoGradGuard guard;
    y = mul(x, x);
  }
  CHECK_FALSE(y.requires_grad());
  CHECK(y.grad_fn() == nullptr);
  CHECK_THROWS_WITH(sum(y).backward(), Contains("does not require grad"));
}

TEST_CASE("grad() errors name the problem", "[autograd]") {
  Tensor x = vec({1, 2}).requires_grad_(true);
  Tensor unused = vec({3}).requires_grad_(true);
  const Tensor y = sum(x);
  CHECK_THROWS_WITH(grad({y}, {unused}), Contains("was not used"));
  CHECK_FALSE(grad({y}, {unused}, {}, false, true)[0].defined());
  CHECK_THROWS_WITH(grad({mul(x, x)}, {x}), Contains("more than one element"));
  CHECK_THROWS_WITH(grad({y}, {vec({1})}), Contains("does not require grad"));
  CHECK_THROWS_WITH(mul(x, x).requires_grad_(false), Contains("only a leaf"));
  CHECK_THROWS_WITH(x.fill_(0), Contains("in-place"));
}

TEST_CASE("an op without a second derivative says so when differentiated twice", "[autograd]") {
  // A test-only op: y = 2x with a first derivative but no second.
  auto doubled = [](const Tensor& x) {
    Tensor out;
    {
      NoGradGuard g;
      out = x * 2.0;
    }
    return record("test_first_order_op", out, {x},
                  first_derivative_only("test_first_order_op", [](Node&, const Tensor& g) {
                    return std::vector<Tensor>{g * 2.0};
                  }));
  };
  Tensor x = vec({1, 2}).requires_grad_(true);
  CHECK(at(grad({sum(doubled(x))}, {x})[0], 1) == 2.0);
  CHECK_THROWS_WITH(grad({sum(doubled(x))}, {x}, {}, true),
                    Contains("test_first_order_op has no second derivative"));
}

TEST_CASE("gradcheck catches a wrong derivative", "[autograd][gradcheck]") {
  // sin-like op with a deliberately wrong backward (factor 1.01): the check must fail.
  auto wrong = [](const Tensor& x) {
    Tensor out;
    {
      NoGradGuard g;
      out = x * 3.0;
    }
    return record("wrong_op", out, {x}, [](Node&, const Tensor& g) { return std::vector<Tensor>{g * 3.03}; });
  };
  Generator gen(1);
  const Tensor x = randn({4}, gen, DType::f64);
  const CheckResult bad = gradcheck([&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{wrong(xs[0])}; }, {x});
  CHECK_FALSE(bad.ok);
  CHECK(bad.worst_ratio > 1.0);
  const CheckResult good = gradcheck([](const std::vector<Tensor>& xs) { return std::vector<Tensor>{xs[0] * 3.0}; }, {x});
  CHECK(good.ok);

  // A correct first derivative with a wrong second one fails gradgradcheck only.
  auto wrong_second = [](const Tensor& x) {
    Tensor out;
    {
      NoGradGuard g;
      out = mul(x, x);
    }
    return record("wrong_second", out, {x}, [x](Node&, const Tensor& g) {
      // 2 x g, but with x detached: the derivative of this gradient wrt x is lost
      return std::vector<Tensor>{mul(g, x.detach()) * 2.0};
    });
  };
  const auto f = [&](const std::vector<Tensor>& xs) { return std::vector<Tensor>{wrong_second(xs[0])}; };
  CHECK(gradcheck(f, {x}).ok);
  CHECK_FALSE(gradgradcheck(f, {x}, gen).ok);
}

TEST_CASE("anomaly mode names the first op that produced NaN or Inf", "[autograd][anomaly]") {
  AnomalyModeGuard on(true);
  Tensor x = vec({1.0, -1.0}).requires_grad_(true);
  {
    NameScope scope("critic");
    CHECK_THROWS_WITH(log(x), Contains("anomaly: log produced NaN or Inf") && Contains("critic"));
  }
  // Forward is finite, but sqrt's derivative at 0 is infinite.
  Tensor z = vec({0.0, 4.0}).requires_grad_(true);
  const Tensor y = sum(sqrt(z));
  CHECK_THROWS_WITH(y.backward(), Contains("backward of sqrt"));
}

TEST_CASE("without anomaly mode NaN flows silently", "[autograd][anomaly]") {
  Tensor x = vec({-1.0});
  CHECK(std::isnan(at(log(x), 0)));
}

TEST_CASE("the WGAN-GP penalty's weight gradient passes gradcheck through a double backward", "[autograd][gradcheck]") {
  // critic(x) = conv(leaky_relu(conv(x, w1)), w2): the penalty differentiates grad_x critic
  // with respect to w1 and w2.
  Generator gen(11);
  const Tensor real = randn({2, 1, 6, 6}, gen, DType::f64);
  const Tensor fake = randn({2, 1, 6, 6}, gen, DType::f64);
  const Tensor eps = rand({2, 1, 1, 1}, gen, DType::f64);
  const Tensor w1 = normal({3, 1, 4, 4}, 0, 0.5, gen, DType::f64);
  const Tensor w2 = normal({1, 3, 3, 3}, 0, 0.5, gen, DType::f64);
  auto penalty = [&](const std::vector<Tensor>& ws) {
    Tensor x_hat = add(mul(eps, real), mul(1.0 - eps, fake)).detach().requires_grad_(true);
    const Tensor d = conv2d(leaky_relu(conv2d(x_hat, ws[0], {}, {2, 2}, {1, 1}), 0.2), ws[1]);
    const Tensor g = grad({sum(d)}, {x_hat}, {}, true)[0];
    const Tensor norm = sqrt(sum(mul(g, g), {1, 2, 3}) + 1e-12);
    const Tensor dev = norm - 1.0;
    return std::vector<Tensor>{mean(mul(dev, dev))};
  };
  const CheckResult r = gradcheck(penalty, {w1, w2});
  INFO(r.detail);
  CHECK(r.ok);
}
