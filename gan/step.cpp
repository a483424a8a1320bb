#include "gan/step.h"

#include <cmath>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/inplace.h"

namespace duel::gan {

OptimConfig defaults_for(LossKind loss) {
  OptimConfig c;
  c.loss = loss;
  if (loss == LossKind::wgan_gp) {
    c.lr_g = c.lr_d = 1e-4;
    c.beta1 = 0.0;
    c.beta2 = 0.9;
    c.n_critic = 5;
  } else if (loss == LossKind::wgan) {
    c.lr_g = c.lr_d = 5e-5;
    c.n_critic = 5;
  }
  return c;
}

namespace {

std::unique_ptr<nn::Optimizer> make_optimizer(const OptimConfig& c, NamedTensors params, double lr) {
  if (c.loss == LossKind::wgan) return std::make_unique<nn::RMSProp>(std::move(params), lr);
  return std::make_unique<nn::Adam>(std::move(params), lr, c.beta1, c.beta2);
}

// Gradients of `loss` for the parameters of `opt`, stored as their .grad (only those params: a
// G update does not spend time on D's weight gradients).
std::vector<Tensor> apply_grads(const Tensor& loss, nn::Optimizer& opt) {
  std::vector<Tensor> params;
  for (const auto& [n, p] : opt.params()) params.push_back(p);
  std::vector<Tensor> grads = grad({loss}, params, {}, false, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) grads[i] = zeros_like(params[i]);  // e.g. a bias after the last BN
    params[i].set_grad(grads[i]);
  }
  return grads;
}

}  // namespace

GanStep::GanStep(Adversaries& gan, const OptimConfig& config) : gan_(gan), config_(config) {
  DUEL_CHECK(config.n_critic >= 1, "n_critic must be >= 1, got ", config.n_critic);
  DUEL_CHECK(config.lr_g > 0 && config.lr_d > 0, "learning rates must be positive, got G ", config.lr_g,
             " and D ", config.lr_d);
  opt_g_ = make_optimizer(config, gan.G().named_parameters(), config.lr_g);
  opt_d_ = make_optimizer(config, gan.D().named_parameters(), config.lr_d);
}

DStats GanStep::d_update(const Tensor& real, const Tensor& labels, const Tensor& fake, const Tensor& eps) {
  const LossKind k = config_.loss;
  const bool wasserstein = k == LossKind::wgan || k == LossKind::wgan_gp;
  const Tensor fake_d = fake.detach();
  DStats s;
  Tensor real_term, fake_term;
  if (wasserstein) {  // D(fake).mean() - D(real).mean(), in the order the formula reads
    s.d_fake = gan_.critic(fake_d, labels);
    fake_term = d_fake_term(k, s.d_fake);
    s.d_real = gan_.critic(real, labels);
    real_term = d_real_term(k, s.d_real);
    s.loss = add(fake_term, real_term);
  } else {  // real first, as the DCGAN example
    s.d_real = gan_.critic(real, labels);
    real_term = d_real_term(k, s.d_real);
    s.d_fake = gan_.critic(fake_d, labels);
    fake_term = d_fake_term(k, s.d_fake);
    s.loss = add(real_term, fake_term);
  }
  if (k == LossKind::wgan_gp) {
    DUEL_CHECK(eps.defined(), "wgan-gp: the critic update needs eps [B, 1, 1, 1]");
    s.gp = gradient_penalty([&](const Tensor& x) { return gan_.critic(x, labels); }, real, fake_d, eps);
    s.loss = add(s.loss, s.gp * config_.gp_lambda);
  }
  s.grads = apply_grads(s.loss, *opt_d_);
  opt_d_->step();
  if (k == LossKind::wgan) {
    NoGradGuard no_grad;
    for (const auto& [n, p] : opt_d_->params()) clamp_(p.detach(), -config_.clip, config_.clip);
  }
  return s;
}

GStats GanStep::g_update(const Tensor& fake, const Tensor& labels) {
  DUEL_CHECK(fake.requires_grad(), "generator update: the fake batch carries no graph back to G");
  GStats s;
  s.d_fake = gan_.critic(fake, labels);
  s.loss = g_loss(config_.loss, s.d_fake);
  s.grads = apply_grads(s.loss, *opt_g_);
  opt_g_->step();
  return s;
}

double global_norm(const std::vector<Tensor>& grads) {
  NoGradGuard no_grad;
  double total = 0;
  for (const Tensor& g : grads)
    if (g.defined()) total += sum(mul(g, g)).item();
  return std::sqrt(total);
}

double mean_output(LossKind loss, const Tensor& d) {
  NoGradGuard no_grad;
  return (is_probabilistic(loss) ? mean(sigmoid(d)) : mean(d)).item();
}

}  // namespace duel::gan
