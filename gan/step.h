// One GAN training iteration: the critic (D) update and the generator (G) update, shared by
// `duel train`, `duel step` and `duel bench step`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/random.h"
#include "gan/losses.h"
#include "gan/models.h"
#include "nn/optim.h"

namespace duel::gan {

// Optimisation settings, with the defaults of each loss (see defaults_for).
struct OptimConfig {
  LossKind loss = LossKind::ns;
  double lr_g = 2e-4, lr_d = 2e-4;
  double beta1 = 0.5, beta2 = 0.999;
  int64_t n_critic = 1;      // critic updates per generator update
  double gp_lambda = 10.0;   // wgan-gp
  double clip = 0.01;        // wgan: critic weights clipped to [-clip, clip]
  // Optimiser of each network: "adam", "rmsprop" or "sgd" (plain, no momentum); empty: the
  // loss's default (RMSProp for wgan, Adam otherwise).
  std::string opt_g, opt_d;
};

// The optimiser a network gets under `c`: "adam", "rmsprop" or "sgd"; throws for another name.
std::string optimiser_kind(const OptimConfig& c, bool generator);

// The defaults of the DCGAN paper (Adam 2e-4, betas 0.5/0.999), of WGAN-GP (Adam 1e-4, betas
// 0/0.9, 5 critic updates, lambda 10) and of WGAN (RMSProp 5e-5, clipping 0.01, 5 critic updates).
OptimConfig defaults_for(LossKind loss);

// What one update measured. Scalars are read from the device only when asked (log steps).
struct DStats {
  Tensor loss, gp;             // loss includes lambda * gp for wgan-gp
  Tensor d_real, d_fake;       // critic outputs [B]
  std::vector<Tensor> grads;   // the gradient each D parameter was updated with
  Tensor grad_sq;              // their squared norm in parts, when the optimiser left it (Optimizer::grad_sq_partials)
};
struct GStats {
  Tensor loss;
  Tensor d_fake;               // D(G(z)) through the updated critic
  std::vector<Tensor> grads;   // the gradient each G parameter was updated with
  Tensor grad_sq;              // as DStats::grad_sq
};

class GanStep {
 public:
  GanStep(Adversaries& gan, const OptimConfig& config);

  // The critic update on one batch: loss on D(real) and D(fake.detach()) (real first, or fake
  // first for the Wasserstein losses as their formula reads), the penalty on
  // eps real + (1 - eps) fake for wgan-gp, one optimiser step, clipping for wgan.
  DStats d_update(const Tensor& real, const Tensor& labels, const Tensor& fake, const Tensor& eps);
  // The generator update through the (updated) critic; `fake` must carry G's graph.
  GStats g_update(const Tensor& fake, const Tensor& labels);

  // New settings that take effect at the next update: the loss, learning rates, betas, critic
  // updates, lambda and clip change in place; a network whose optimiser kind changes gets a new
  // optimiser (its moments start from zero).
  void reconfigure(const OptimConfig& config);

  nn::Optimizer& opt_g() { return *opt_g_; }
  nn::Optimizer& opt_d() { return *opt_d_; }
  const OptimConfig& config() const { return config_; }

 private:
  Adversaries& gan_;
  OptimConfig config_;
  std::unique_ptr<nn::Optimizer> opt_g_, opt_d_;
};

// L2 norm of a list of gradients (undefined entries count as zero); reads the device.
double global_norm(const std::vector<Tensor>& grads);
// Mean of sigmoid(d) for probabilistic losses, else mean of d; reads the device.
double mean_output(LossKind loss, const Tensor& d);

// What one iteration logs, in one small float32 tensor on the step's device, written by device
// kernels (on the CPU, by host loops), so an iteration never reads the device from the host:
// slot i holds what StepScalar i names. The host copies it back asynchronously and reads it an
// iteration late (gan/step_graph.h ScalarReader).
enum StepScalar : int {
  kLossD, kLossG, kGp, kDx, kDGz, kDGzAfter, kGradNormG, kGradNormD,
  kNonFinite,  // 1 when any of the above is NaN or infinite (a diverged step), else 0
  kNumStepScalars
};
Tensor step_scalars(LossKind loss, const DStats& d, const GStats& g);

// One training iteration as `duel train` and `duel bench step` run it: n_critic critic updates,
// update c on real[c] with fresh z [B, nz, 1, 1] (and eps [B, 1, 1, 1] for wgan-gp) drawn from
// `rng` in that order, the last one's fake batch keeping G's graph; then the generator update;
// then, when `with_scalars`, step_scalars. labels[c] (conditional models) or empty.
struct Iteration {
  DStats d;      // the last critic update's
  GStats g;
  Tensor scalars;
};
Iteration run_iteration(Gan& gan, GanStep& step, Generator& rng, const std::vector<Tensor>& real,
                        const std::vector<Tensor>& labels, bool with_scalars);

}  // namespace duel::gan
