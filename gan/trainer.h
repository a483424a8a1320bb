// `duel train`: a GAN training run with metrics, sample grids, crash-safe checkpoints and
// bit-exact resume.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/device.h"
#include "gan/step.h"

namespace duel::gan {

struct TrainConfig {
  ModelConfig model;
  OptimConfig optim;
  std::string data = "fashion-mnist";
  int64_t batch = 64;
  uint64_t seed = 0;
  int64_t steps = 0;             // generator updates to reach (each after optim.n_critic critic updates)
  int64_t epochs = 0;            // alternative to steps: passes over the data by the critic
  int64_t log_every = 10;
  int64_t sample_every = 0;      // 0: only at the end
  int64_t checkpoint_every = 0;  // 0: only at the end
  int64_t eval_every = 0;        // 0: never; else Frechet distance etc. every K steps (and at the end)
  int64_t eval_n = 2000;         // generated images per evaluation
  std::string out;
  Device device;
  // The GEMM kernels' math mode (core/config.h); `duel train` defaults to tf32 on cuda, fp32 on
  // the cpu (docs/cuda.md says why).
  MathMode math = MathMode::fp32;
  // G's exponential moving average (gan/ema.h): 0 for none, else the decay (e.g. 0.999). The
  // average is saved as G_ema.safetensors; grids, `duel sample` and `duel eval` use it.
  double ema = 0;
  // A checkpoint (run or checkpoint directory) whose G and D start this run, with fresh
  // optimisers (the PyTorch example's --netG / --netD); empty for the DCGAN initialisation.
  std::string init_from;
  // Folder data (gan/folder.h): the colour under transparent pixels, mirrored copies of the real
  // images (--flip), and the bytes of decoded pictures kept in memory before the rest is streamed
  // from disk (MB; 0 streams every picture; -1: a quarter of this machine's memory). The budget
  // does not change the batches.
  std::string background = "white";
  bool flip = false;
  int64_t data_memory_mb = -1;
};

std::string config_to_json(const TrainConfig& c);
// Parses config.json (as written by config_to_json); errors name `source`.
TrainConfig config_from_json(const std::string& text, const std::string& source);

// Runs (or, with resume, continues) training as configured. On resume the configuration comes
// from DIR/checkpoint/config.json; `overrides` are the flags given on the command line, each of
// which must agree with the saved run except steps, epochs, log_every, sample_every and
// checkpoint_every. Returns the process exit code (130 after Ctrl-C, with a checkpoint written).
int train(TrainConfig config, bool resume, const std::map<std::string, std::string>& overrides);

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
