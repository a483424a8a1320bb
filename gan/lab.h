// The 2D GAN lab, in the spirit of GAN Lab (Kahng et al. 2018): MLP generator and critic on
// two-dimensional data, trained with the same step as the image GANs, drawn as frames that show
// the real points, the generated points, the critic's output as a heat map and arrows of the
// generator's gradient on its samples.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gan/step.h"
#include "nn/layers.h"

namespace duel::gan {

// ring8: 8 Gaussians on a circle of radius 2 (std 0.02); grid25: a 5x5 grid of Gaussians at
// {-4, -2, 0, 2, 4}^2 (std 0.05); spiral: an Archimedean spiral (two turns) with noise std 0.05;
// gaussian: one Gaussian at (1.5, 1) with std 0.1 (for failure to converge).
struct Distribution2D {
  std::string name;
  std::vector<double> modes;  // (x, y) pairs; the spiral's are points along its curve
  double std = 0.02;
  double view = 3.0;          // frames show [-view, view]^2
  int64_t mode_count = 0;     // modes (or spiral segments) a generator should cover
  // `n` points [n, 2] from the Philox generator.
  Tensor sample(int64_t n, Generator& g) const;
  // Which mode (or spiral segment) a point belongs to, or -1 if it is further than 3 std from all.
  int64_t assign(double x, double y) const;
  // The nearest mode (or spiral segment), however far.
  int64_t nearest(double x, double y) const;
};
Distribution2D make_distribution(const std::string& name);

// The lab's networks: G z -> Linear(hidden) ReLU Linear(hidden) ReLU Linear(2);
// D 2 -> Linear(hidden) LeakyReLU(0.2) Linear(hidden) LeakyReLU(0.2) Linear(1).
class MlpGan : public Adversaries {
 public:
  MlpGan(int64_t z_dim, int64_t hidden);
  Tensor generate(const Tensor& z);
  Tensor critic(const Tensor& x, const Tensor& labels) override;
  nn::Module& G() override { return *g_; }
  nn::Module& D() override { return *d_; }
  int64_t z_dim() const { return z_dim_; }

 private:
  int64_t z_dim_;
  std::shared_ptr<nn::Sequential> g_, d_;
};

struct Coverage2D {
  int64_t modes_covered = 0;
  double high_quality = 0;  // fraction within 3 std of a mode (or of the spiral)
  // Every sample counted at its nearest mode (no distance limit): the mode holding the most and
  // its share. A collapsed generator has a share near 1; when the top mode changes from frame to
  // frame while the share stays high, the generator hops between modes.
  int64_t top_mode = -1;
  double top_share = 0;
};
// A mode counts as covered when it holds at least a tenth of the share a perfect generator
// would give it (so one stray sample does not count). `points` is [n, 2].
Coverage2D coverage(const Distribution2D& dist, const Tensor& points);

// The critic's belief as the lab colours it, in [0, 1]: sigmoid(D) for the probabilistic losses;
// for the score-based ones the score squashed around its median (0.5 + 0.5 tanh((s - median) /
// (2 mean |s - median|))).
std::vector<double> critic_belief(LossKind loss, const std::vector<double>& scores);

struct LabConfig {
  std::string dist = "ring8";
  OptimConfig optim;
  std::string order = "alternating";  // or "simultaneous" (gan/lab_session.h)
  int64_t steps = 2000, batch = 256, z_dim = 2, hidden = 128;
  int64_t frame_every = 0;  // 0: steps / 100
  uint64_t seed = 0;
  std::string out;
  std::string note;         // a paragraph for the top of lab.html (what to look at)
};

// Trains, writing DIR/frames/frame_NNNNNN.png, DIR/metrics.jsonl (step, losses, D(x), D(G(z)),
// gradient norms, modes covered, high-quality fraction), DIR/lab.html (self-contained: plays the
// frames offline, with the curves and a cursor at the shown step) and DIR/curves.svg. Returns the
// process exit code.
int run_lab(const LabConfig& config);

}  // namespace duel::gan
