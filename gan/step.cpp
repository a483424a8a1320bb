#include "gan/step.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/cuda_backend.h"
#include "core/inplace.h"
#include "kernels/params.h"

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
  std::unique_ptr<nn::Optimizer> opt;
  if (kind == "rmsprop")
    opt = std::make_unique<nn::RMSProp>(std::move(params), lr);
  else if (kind == "sgd")
    opt = std::make_unique<nn::SGD>(std::move(params), lr);
  else
    opt = std::make_unique<nn::Adam>(std::move(params), lr, c.beta1, c.beta2);
  // The logged gradient norms come from the update kernels' own pass where they can.
  opt->track_grad_norm(true);
  return opt;
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
  s.grad_sq = opt_d_->grad_sq_partials();
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
  s.grad_sq = opt_g_->grad_sq_partials();
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

static_assert(kNumStepScalars == kernels::kStepScalars, "gan::StepScalar and the kernels' slots differ");

namespace {

// The CPU twin of the step_scalars kernel (kernels/cuda/step_stats.cu), in double.
Tensor step_scalars_host(LossKind loss, const DStats& d, const GStats& g) {
  const bool sig = is_probabilistic(loss);
  auto mean_of = [&](const Tensor& t) {
    double s = 0;
    const std::vector<double> v = t.to_vector();
    for (double x : v) s += sig ? 1.0 / (1.0 + std::exp(-x)) : x;
    return v.empty() ? 0.0 : s / double(v.size());
  };
  auto norm_of = [](const std::vector<Tensor>& grads) {
    double s = 0;
    for (const Tensor& t : grads)
      if (t.defined())
        for (double x : t.to_vector()) s += x * x;
    return std::sqrt(s);
  };
  const double v[kNonFinite] = {d.loss.item(), g.loss.item(), d.gp.defined() ? d.gp.item() : 0.0,
                                mean_of(d.d_real), mean_of(d.d_fake), mean_of(g.d_fake),
                                norm_of(g.grads), norm_of(d.grads)};
  Tensor out = empty({kNumStepScalars});
  bool bad = false;
  for (int i = 0; i < kNonFinite; ++i) {
    out.data<float>()[i] = float(v[i]);
    bad |= !std::isfinite(float(v[i]));
  }
  out.data<float>()[kNonFinite] = bad ? 1.0f : 0.0f;
  return out;
}

}  // namespace

Tensor step_scalars(LossKind loss, const DStats& d, const GStats& g) {
  NoGradGuard no_grad;
  const Device dev = d.loss.device();
  if (dev.is_cpu()) return step_scalars_host(loss, d, g);
  // The gradients' squared norms in chunks: left by the optimiser's update, or computed here.
  auto chunks_of = [&](const std::vector<Tensor>& grads, std::vector<const float*>& ptrs, std::vector<int64_t>& sizes) {
    for (const Tensor& t : grads) {
      DUEL_CHECK(t.defined() && t.device() == dev, "step_scalars: every gradient must be on ", dev.str());
      ptrs.push_back(t.data<float>());
      sizes.push_back(t.numel());
    }
    return kernels::cuda_emu::sum_squares_chunks(sizes.data(), int(sizes.size()));
  };
  std::vector<const float*> g_ptrs, d_ptrs;
  std::vector<int64_t> g_sizes, d_sizes;
  const int64_t g_chunks = chunks_of(g.grads, g_ptrs, g_sizes), d_chunks = chunks_of(d.grads, d_ptrs, d_sizes);
  auto partials_of = [&](const Tensor& given, std::vector<const float*>& ptrs, std::vector<int64_t>& sizes,
                         int64_t chunks) {
    if (given.defined() && given.numel() >= chunks) return given;
    const Tensor p = empty({std::max<int64_t>(1, chunks)}, DType::f32, dev);
    DUEL_CUDA_CALL(dev, sum_squares_partials_f32, p.data<float>(), ptrs.data(), sizes.data(), int(ptrs.size()));
    return p;
  };
  const Tensor g_partials = partials_of(g.grad_sq, g_ptrs, g_sizes, g_chunks);
  const Tensor d_partials = partials_of(d.grad_sq, d_ptrs, d_sizes, d_chunks);
  kernels::StepScalarInputs in;
  in.loss_d = d.loss.data<float>();
  in.loss_g = g.loss.data<float>();
  in.gp = d.gp.defined() ? d.gp.data<float>() : nullptr;
  in.d_real = d.d_real.data<float>();
  in.d_fake = d.d_fake.data<float>();
  in.d_fake_after = g.d_fake.data<float>();
  in.batch = d.d_real.numel();
  DUEL_CHECK(d.d_fake.numel() == in.batch && g.d_fake.numel() == in.batch, "step_scalars: critic outputs of "
             "different sizes");
  in.sigmoid = is_probabilistic(loss);
  in.g_partials = g_partials.data<float>();
  in.d_partials = d_partials.data<float>();
  in.g_chunks = g_chunks;
  in.d_chunks = d_chunks;
  Tensor out = empty({kNumStepScalars}, DType::f32, dev);
  DUEL_CUDA_CALL(dev, step_scalars_f32, out.data<float>(), in);
  return out;
}

Iteration run_iteration(Gan& gan, GanStep& step, Generator& rng, const std::vector<Tensor>& real,
                        const std::vector<Tensor>& labels, bool with_scalars) {
  const int64_t n_critic = step.config().n_critic;
  DUEL_CHECK(int64_t(real.size()) == n_critic, "iteration: ", n_critic, " critic update(s) need as many real "
             "batches, got ", real.size());
  DUEL_CHECK(labels.empty() || labels.size() == real.size(), "iteration: one label tensor per real batch");
  const bool wgan_gp = step.config().loss == LossKind::wgan_gp;
  const Device dev = real.front().device();
  const int64_t b = real.front().size(0), nz = gan.config().nz;
  Iteration it;
  Tensor fake;
  for (int64_t c = 0; c < n_critic; ++c) {
    const Tensor l = labels.empty() ? Tensor() : labels[size_t(c)];
    // Philox draws are bitwise the same on the host and the device.
    const Tensor z = randn({b, nz, 1, 1}, rng, DType::f32, dev);
    const Tensor eps = wgan_gp ? rand({b, 1, 1, 1}, rng, DType::f32, dev) : Tensor();
    if (c + 1 == n_critic) {
      fake = gan.generate(z, l);  // with G's graph: the G update follows
    } else {
      NoGradGuard no_grad;
      fake = gan.generate(z, l);
    }
    it.d = step.d_update(real[size_t(c)], l, fake, eps);
  }
  it.g = step.g_update(fake, labels.empty() ? Tensor() : labels.back());
  if (with_scalars) it.scalars = step_scalars(step.config().loss, it.d, it.g);
  return it;
}

}  // namespace duel::gan
