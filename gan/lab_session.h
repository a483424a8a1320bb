// One 2D GAN experiment that can be stepped, inspected and reconfigured between steps: the
// engine behind `duel lab` (which runs it to the end, drawing frames) and `duel studio` (which
// steps it from a web page).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gan/graph.h"
#include "gan/lab.h"

namespace duel::gan {

// How the two networks take turns. alternating: the critic updates, then the generator updates
// through the updated critic (what GAN training usually does). simultaneous: both gradients are
// taken at the same parameters, then both networks update (plain simultaneous gradient descent,
// Mescheder et al. 2018).
enum class UpdateOrder { alternating, simultaneous };
UpdateOrder parse_update_order(const std::string& s);
std::string update_order_name(UpdateOrder u);

struct LabSettings {
  std::string dist = "ring8";     // ring8, grid25, spiral, gaussian or drawn
  std::vector<double> drawn;      // (x, y) pairs of the student's drawing, for dist == "drawn"
  OptimConfig optim;
  UpdateOrder order = UpdateOrder::alternating;
  int64_t batch = 256, z_dim = 2, hidden = 128;
  uint64_t seed = 0;
};

// The default settings of `loss` in the lab: the image GANs' (Adam 2e-4, betas 0.5/0.999), and
// for wgan-gp the WGAN-GP paper's toy settings (lambda 0.1, Adam 1e-4, betas 0.5/0.9, 5 critic
// updates).
OptimConfig lab_defaults_for(LossKind loss);

// The distribution of `s`: a named one, or the drawing (points along the strokes, std 0.05).
Distribution2D lab_distribution(const LabSettings& s);

struct LabMetrics {
  int64_t step = 0;                 // generator updates so far
  int64_t critic_steps = 0;         // critic updates so far
  std::optional<double> loss_d, loss_g, gp, d_x, d_g_z, grad_norm_d, grad_norm_g;
  std::optional<int64_t> modes_covered, top_mode;
  std::optional<double> high_quality, top_share;
  nlohmann::json json() const;
};

class LabSession {
 public:
  explicit LabSession(const LabSettings& settings);

  // New settings. Taking effect at the next update: loss, optimisers, learning rates, betas,
  // critic updates, lambda, clip, batch, update order. A new distribution keeps the networks.
  // A new seed, hidden width or latent size needs reset().
  void apply(const LabSettings& settings);
  // Fresh networks and optimisers from the settings' seed; the history is cleared.
  void reset(const LabSettings& settings);

  // One critic update; one generator update; or a full step (n_critic critic updates and one
  // generator update in the settings' order). With `trace`, the update(s) are recorded and
  // last_graph() shows them.
  void critic_update(bool trace = false);
  void generator_update(bool trace = false);
  void step(bool trace = false);

  // Modes covered and high-quality fraction on the fixed evaluation batch, added to the last
  // metrics entry.
  void measure_coverage();

  const LabSettings& settings() const { return settings_; }
  const Distribution2D& distribution() const { return dist_; }
  MlpGan& model() { return *model_; }
  int64_t steps() const { return g_steps_; }
  const std::vector<LabMetrics>& history() const { return history_; }
  const IterationGraph* last_graph() const { return graph_ ? graph_.get() : nullptr; }

  // What the studio draws, as JSON: the critic's heat map on a grid x grid raster over the view
  // (values in [0, 1], as the frames colour them), the fixed real sample, generated points for the
  // fixed latent batch, the generator's transport of a grid of z, and arrows of -grad_x of the
  // generator's loss on generated points.
  nlohmann::json view(int grid = 48, int64_t n_fake = 512, int transport = 17);

  // Generated points for the fixed latent batch [n, 2] and the fixed real sample [512, 2].
  Tensor shown_fake(int64_t n);
  const Tensor& shown_real() const { return real_show_; }

 private:
  void build_networks();
  DStats d_update_once(bool with_graph, Tensor* fake_out, const Tensor& z_in = Tensor());
  LabMetrics& next_entry();

  LabSettings settings_;
  Distribution2D dist_;
  Generator rng_{0};
  std::unique_ptr<MlpGan> model_;
  std::unique_ptr<GanStep> step_;
  Tensor z_eval_, real_show_;
  int64_t g_steps_ = 0, d_steps_ = 0;
  std::vector<LabMetrics> history_;
  std::shared_ptr<IterationGraph> graph_;
};

}  // namespace duel::gan
