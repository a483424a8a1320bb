// Adversarial losses on critic logits (one per sample). With d_real = D(x), d_fake = D(G(z)):
//   minimax  D: BCE(d_real, 1) + BCE(d_fake, 0)            G: -BCE(d_fake, 0) = E[log(1 - D(G(z)))]
//   ns       D: as minimax                                  G: BCE(d_fake, 1)  (non-saturating)
//   wgan     D: mean(d_fake) - mean(d_real), weights clipped G: -mean(d_fake)
//   wgan-gp  D: mean(d_fake) - mean(d_real) + lambda gp     G: -mean(d_fake)
//   hinge    D: mean(relu(1 - d_real)) + mean(relu(1 + d_fake))  G: -mean(d_fake)
//   lsgan    D: (mean((d_real - 1)^2) + mean(d_fake^2)) / 2      G: mean((d_fake - 1)^2) / 2
#pragma once

#include <functional>
#include <string>

#include "core/ops.h"

namespace duel::gan {

enum class LossKind { minimax, ns, wgan, wgan_gp, hinge, lsgan };

LossKind parse_loss(const std::string& s);
std::string loss_name(LossKind k);
// Whether the critic's output is read as a probability logit (D(x) is then reported as a
// probability) or as an unbounded score.
bool is_probabilistic(LossKind k);

Tensor d_real_term(LossKind k, const Tensor& d_real);
Tensor d_fake_term(LossKind k, const Tensor& d_fake);
Tensor g_loss(LossKind k, const Tensor& d_fake);

// WGAN-GP's penalty: mean over the batch of (||grad_x critic(x_hat)||_2 - 1)^2 (the norm taken as
// sqrt(sum g^2 + 1e-12), finite at zero) with
// x_hat = eps real + (1 - eps) fake, the gradient taken with create_graph so the penalty can be
// differentiated with respect to the critic's weights. `eps` is [B, 1, ...] (images: [B, 1, 1, 1];
// points: [B, 1]).
Tensor gradient_penalty(const std::function<Tensor(const Tensor&)>& critic, const Tensor& real,
                        const Tensor& fake, const Tensor& eps);

}  // namespace duel::gan
