// The Dirac GAN (Mescheder, Geiger and Nowozin, "Which training methods for GANs do actually
// converge?", ICML 2018): the smallest GAN that fails to converge. The data is a point mass at
// 0, the generator a point mass at theta, the critic linear, D(x) = psi x. The only equilibrium
// is (theta, psi) = (0, 0), and the gradient field circles around it: simultaneous gradient
// descent spirals out, alternating gradient descent keeps circling, and a gradient penalty on
// the critic (R1: gamma/2 |grad_x D(x_real)|^2) makes the iterates converge.
//
// Everything runs on duel's autograd: the losses are gan/losses.h's, the WGAN-GP penalty is
// gan::gradient_penalty, R1 is a gradient taken with create_graph, and the updates are nn::SGD's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gan/lab_session.h"
#include "gan/losses.h"

namespace duel::gan {

enum class DiracPenalty { none, r1, wgan_gp };
DiracPenalty parse_dirac_penalty(const std::string& s);
std::string dirac_penalty_name(DiracPenalty p);

struct DiracConfig {
  LossKind loss = LossKind::minimax;  // the paper's game; also ns, wgan (no clipping here), hinge, lsgan
  UpdateOrder order = UpdateOrder::simultaneous;
  DiracPenalty penalty = DiracPenalty::none;
  double gamma = 0.3;                 // penalty weight (R1's gamma, WGAN-GP's lambda)
  double lr = 0.1;                    // SGD step for both players
  int64_t steps = 500;
  double theta0 = 1.0, psi0 = 1.0;    // the start
};

struct DiracPoint {
  double theta, psi;
};

// The trajectory, steps + 1 points (the start first).
std::vector<DiracPoint> dirac_trajectory(const DiracConfig& c);

// The gradient field at (theta, psi): minus each player's gradient of its own loss (where plain
// simultaneous gradient descent with step h moves the point, divided by h).
DiracPoint dirac_field(const DiracConfig& c, double theta, double psi);

// An SVG of trajectories in the (theta, psi) plane over the field of the first config, with
// the equilibrium marked. `titles` label the panels; one panel per config.
std::string dirac_svg(const std::vector<DiracConfig>& configs, const std::vector<std::vector<DiracPoint>>& paths,
                      const std::vector<std::string>& titles, int columns);

// duel lab dirac: writes DIR/dirac.svg and DIR/trajectory.csv (or, with `all`, the six
// combinations of {simultaneous, alternating} x {none, r1, wgan-gp} as DIR/dirac_all.svg), prints
// the distance to the equilibrium at the start, the middle and the end. Returns the exit code.
int run_dirac(const DiracConfig& c, bool all, const std::string& out);

}  // namespace duel::gan
