#include "gan/losses.h"

#include <cstdint>
#include <vector>

#include "core/autograd.h"

namespace duel::gan {

LossKind parse_loss(const std::string& s) {
  if (s == "minimax") return LossKind::minimax;
  if (s == "ns") return LossKind::ns;
  if (s == "wgan") return LossKind::wgan;
  if (s == "wgan-gp") return LossKind::wgan_gp;
  if (s == "hinge") return LossKind::hinge;
  if (s == "lsgan") return LossKind::lsgan;
  fail("unknown loss '", s, "' (expected minimax, ns, wgan, wgan-gp, hinge or lsgan)");
}

std::string loss_name(LossKind k) {
  switch (k) {
    case LossKind::minimax: return "minimax";
    case LossKind::ns: return "ns";
    case LossKind::wgan: return "wgan";
    case LossKind::wgan_gp: return "wgan-gp";
    case LossKind::hinge: return "hinge";
    case LossKind::lsgan: return "lsgan";
  }
  return "?";
}

bool is_probabilistic(LossKind k) { return k == LossKind::minimax || k == LossKind::ns; }

Tensor d_real_term(LossKind k, const Tensor& d) {
  switch (k) {
    case LossKind::minimax:
    case LossKind::ns: return binary_cross_entropy_with_logits(d, ones_like(d));
    case LossKind::wgan:
    case LossKind::wgan_gp: return neg(mean(d));
    case LossKind::hinge: return mean(relu(1.0 - d));
    case LossKind::lsgan: {
      const Tensor e = d - 1.0;
      return mean(mul(e, e)) * 0.5;
    }
  }
  return {};
}

Tensor d_fake_term(LossKind k, const Tensor& d) {
  switch (k) {
    case LossKind::minimax:
    case LossKind::ns: return binary_cross_entropy_with_logits(d, zeros_like(d));
    case LossKind::wgan:
    case LossKind::wgan_gp: return mean(d);
    case LossKind::hinge: return mean(relu(1.0 + d));
    case LossKind::lsgan: return mean(mul(d, d)) * 0.5;
  }
  return {};
}

Tensor g_loss(LossKind k, const Tensor& d) {
  switch (k) {
    case LossKind::minimax: return neg(binary_cross_entropy_with_logits(d, zeros_like(d)));
    case LossKind::ns: return binary_cross_entropy_with_logits(d, ones_like(d));
    case LossKind::wgan:
    case LossKind::wgan_gp:
    case LossKind::hinge: return neg(mean(d));
    case LossKind::lsgan: {
      const Tensor e = d - 1.0;
      return mean(mul(e, e)) * 0.5;
    }
  }
  return {};
}

Tensor gradient_penalty(const std::function<Tensor(const Tensor&)>& critic, const Tensor& real,
                        const Tensor& fake, const Tensor& eps) {
  DUEL_CHECK(eps.dim() == real.dim() && eps.size(0) == real.size(0) && eps.numel() == real.size(0),
             "gradient_penalty: eps must be [B, 1, ...] with the samples' rank, got ", describe(eps), " for ",
             describe(real));
  Tensor x_hat = add(mul(eps, real.detach()), mul(1.0 - eps, fake.detach())).detach();
  x_hat.requires_grad_(true);
  if (GraphTrace* trace = active_graph_trace()) {  // for the traced graph: x_hat is data, not a weight
    std::vector<std::string> from;
    for (const Tensor* t : {&eps, &real, &fake})
      if (const TracedInput* in = trace->input_for(*t)) from.push_back(in->name);
    trace_input(x_hat, "x̂", from);
  }
  const Tensor score = critic(x_hat);
  const Tensor g = grad({sum(score)}, {x_hat}, {}, /*create_graph=*/true)[0];
  // mean_i (sqrt(|g_i|^2 + 1e-12) - 1)^2 as one op (core/ops.h): +1e-12 keeps the norm's
  // derivative finite where a sample's gradient is exactly zero; it moves a norm near 1 by
  // 5e-13, below float32 resolution.
  return sample_norm_penalty(g, 1.0, 1e-12);
}

}  // namespace duel::gan
