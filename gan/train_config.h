// A training run's settings: the struct, its config.json form, and one table of every setting's
// name, type and accepted range. `duel train`'s flags and the reader of config.json both check
// against that table, so a value refused on the command line is refused, with the same sentence,
// in a run's config.json (which `duel sample`, `duel eval` and `--resume` read).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/checked.h"
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
  // from disk (MB; 0 streams every picture; -1: the data memory budget, gan/data.h). The budget
  // does not change the batches.
  std::string background = "white";
  bool flip = false;
  int64_t data_memory_mb = -1;
};

// One setting of a run.
struct Setting {
  enum class Kind { integer, real, boolean, text };
  std::string key;                   // in config.json: "lr_g"
  std::string flag;                  // of `duel train`: "lr-g"; empty for file-only settings
  Kind kind = Kind::text;
  Range range;                       // integer and real
  std::vector<std::string> choices;  // text settings with a fixed set of values
  std::string value_name;            // "LR"
  std::string help;                  // one line
  bool may_change_on_resume = false; // steps and the logging intervals
  bool optional_in_file = false;     // absent from older config.json files: the default applies
};

// Every setting, in config.json order.
const std::vector<Setting>& train_settings();
const Setting& train_setting(std::string_view key);  // throws for an unknown key (a bug)

// Checks every setting of `c` against the table, and the rules between them (channels 1 or 3,
// steps or epochs); throws "<source>: <flag or key> must be ..." on the first violation.
void validate(const TrainConfig& c, const std::string& source);

std::string config_to_json(const TrainConfig& c);
// Parses and validates config.json: a field missing, of the wrong JSON type, out of range or
// unknown is an error naming `source` and the field.
TrainConfig config_from_json(const std::string& text, const std::string& source);

}  // namespace duel::gan
