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

std::string optimiser_kind(const OptimConfig& c, bool generator) {
  const std::string& k = generator ? c.opt_g : c.opt_d;
  if (k.empty()) return c.loss == LossKind::wgan ? "rmsprop" : "adam";
  DUEL_CHECK(k == "adam" || k == "rmsprop" || k == "sgd", "unknown optimiser '", k,
             "' (expected adam, rmsprop or sgd)");
  return k;
}

namespace {

std::unique_ptr<nn::Optimizer> make_optimizer(const OptimConfig& c, bool generator, NamedTensors params) {
  const std::string kind = optimiser_kind(c, generator);
  const double lr = generator ? c.lr_g : c.lr_d;
  if (kind == "rmsprop") return std::make_unique<nn::RMSProp>(std::move(params), lr);
  if (kind == "sgd") return std::make_unique<nn::SGD>(std::move(params), lr);
  return std::make_unique<nn::Adam>(std::move(params), lr, c.beta1, c.beta2);
}

// Gradients of `loss` for the parameters of `opt`, stored as their .grad (only those params: a
// G update does not spend time on D's weight gradients). Under a GraphTrace (the teaching tools)
// the backward pass is recorded too (create_graph), so the traced graph shows the backward and
// double-backward nodes; the values are the same either way.
std::vector<Tensor> apply_grads(const Tensor& loss, nn::Optimizer& opt) {
  std::vector<Tensor> params;
  for (const auto& [n, p] : opt.params()) params.push_back(p);
  const bool record = active_graph_trace() != nullptr;
  std::vector<Tensor> grads = grad({loss}, params, {}, record, /*allow_unused=*/true);
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) grads[i] = zeros_like(params[i]);  // e.g. a bias after the last BN
    params[i].set_grad(record ? grads[i].detach() : grads[i]);
  }
  return grads;
}

}  // namespace

GanStep::GanStep(Adversaries& gan, const OptimConfig& config) : gan_(gan), config_(config) {
  DUEL_CHECK(config.n_critic >= 1, "n_critic must be >= 1, got ", config.n_critic);
  DUEL_CHECK(config.lr_g > 0 && config.lr_d > 0, "learning rates must be positive, got G ", config.lr_g,
             " and D ", config.lr_d);
  opt_g_ = make_optimizer(config, true, gan.G().named_parameters());
  opt_d_ = make_optimizer(config, false, gan.D().named_parameters());
}

void GanStep::reconfigure(const OptimConfig& c) {
  DUEL_CHECK(c.n_critic >= 1, "n_critic must be >= 1, got ", c.n_critic);
  DUEL_CHECK(c.lr_g > 0 && c.lr_d > 0, "learning rates must be positive, got G ", c.lr_g, " and D ", c.lr_d);
  for (const bool generator : {true, false}) {
    std::unique_ptr<nn::Optimizer>& opt = generator ? opt_g_ : opt_d_;
    if (optimiser_kind(c, generator) != optimiser_kind(config_, generator)) {
      opt = make_optimizer(c, generator, (generator ? gan_.G() : gan_.D()).named_parameters());
      continue;
    }
    opt->set_lr(generator ? c.lr_g : c.lr_d);
    if (auto* adam = dynamic_cast<nn::Adam*>(opt.get())) {
      adam->beta1 = c.beta1;
      adam->beta2 = c.beta2;
    }
  }
  config_ = c;
}

DStats GanStep::d_update(const Tensor& real, const Tensor& labels, const Tensor& fake, const Tensor& eps) {
  const LossKind k = config_.loss;
  const bool wasserstein = k == LossKind::wgan || k == LossKind::wgan_gp;
  const Tensor fake_d = fake.detach();
  // Names for the traced graph (no-ops otherwise); the name scopes group its nodes.
  trace_input(real, "real");
  trace_input(fake_d, "G(z), detached", {}, fake);
  trace_input(labels, "labels");
  DStats s;
  Tensor real_term, fake_term;
  auto on_real = [&] {
    {
      NameScope scope("D on real");
      s.d_real = gan_.critic(real, labels);
    }
    NameScope scope("losses");
    real_term = d_real_term(k, s.d_real);
  };
  auto on_fake = [&] {
    {
      NameScope scope("D on fake");
      s.d_fake = gan_.critic(fake_d, labels);
    }
    NameScope scope("losses");
    fake_term = d_fake_term(k, s.d_fake);
  };
  if (wasserstein) {  // D(fake).mean() - D(real).mean(), in the order the formula reads
    on_fake();
    on_real();
    NameScope scope("losses");
    s.loss = add(fake_term, real_term);
  } else {  // real first, as the DCGAN example
    on_real();
    on_fake();
    NameScope scope("losses");
    s.loss = add(real_term, fake_term);
  }
  if (k == LossKind::wgan_gp) {
    DUEL_CHECK(eps.defined(), "wgan-gp: the critic update needs eps [B, 1, 1, 1]");
    trace_input(eps, "ε");
    {
      NameScope scope("penalty");
      s.gp = gradient_penalty(
          [&](const Tensor& x) {
            NameScope on_x_hat("D on x̂");
            return gan_.critic(x, labels);
          },
          real, fake_d, eps);
    }
    NameScope scope("losses");
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
  {
    NameScope scope("D on G(z)");
    s.d_fake = gan_.critic(fake, labels);
  }
  {
    NameScope scope("losses");
    s.loss = g_loss(config_.loss, s.d_fake);
  }
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
