// `duel train`: a GAN training run with metrics, sample grids, crash-safe checkpoints and
// bit-exact resume.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/device.h"
#include "gan/step.h"
#include "gan/train_config.h"

namespace duel::gan {

struct TrainOptions {
  bool anomaly = false;  // anomaly mode: the first op that makes a NaN or infinity is named
  // --cuda-graph on|off (unset: on for CUDA when the configuration allows it). How the run is
  // executed, not what it computes (a graph replays the eager step bitwise), so it is not saved
  // in config.json and may change on resume.
  std::optional<bool> cuda_graph;
};

// Runs (or, with resume, continues) training as configured. On resume the configuration comes
// from DIR/checkpoint/config.json; `overrides` are the flags given on the command line (flag ->
// config.json key), each of which must agree with the saved run except steps, epochs and the
// intervals. Everything that can refuse the run is checked before anything is written.
// Returns the process exit code: 0, or 130 after Ctrl-C / 143 after SIGTERM, with a checkpoint
// written. Throws duel::Error when training diverges (a NaN or infinite loss, gradient norm or
// weight), naming the step, without replacing the last good checkpoint.
int train(TrainConfig config, bool resume, const std::map<std::string, std::string>& overrides,
          const TrainOptions& options = {});

// n images from G in evaluation mode without recording, latent vectors drawn from `seed` (and
// labels i % classes for a conditional model), generated in batches of 500.
Tensor generate_images(Gan& gan, int64_t n, uint64_t seed);

// Writes an 8x8 (or nrow-wide) grid of G's samples for the run's fixed latent vectors.
void write_sample_grid(Gan& gan, const std::string& path, const Tensor& z, const Tensor& labels);

// A run's model from its checkpoint: `dir` is the checkpoint directory or the run directory that
// holds checkpoint/. Loads config.json and G (and D when `with_d`); errors name the files. With
// `use_ema` and a G_ema.safetensors in the checkpoint, G is G's moving average (*used_ema says
// whether it was).
std::unique_ptr<Gan> load_checkpoint_models(const std::string& dir, TrainConfig* config, bool with_d,
                                            bool use_ema = false, bool* used_ema = nullptr);
// The checkpoint directory of `dir` (itself, or dir/checkpoint when that holds the run's files).
std::string checkpoint_dir(const std::string& dir);

// The latent vectors and labels a run shows in its grids (drawn from the seed, never from the
// training stream) and `duel sample` draws.
Tensor fixed_latents(int64_t n, int64_t nz, uint64_t seed);
Tensor grid_labels(int64_t n, const ModelConfig& m);

}  // namespace duel::gan
