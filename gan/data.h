// Training data: Fashion-MNIST (the default, from Debian's dataset-fashion-mnist), MNIST or any
// IDX pair, a folder of the user's own pictures, or synthetic noise for benchmarks; and a batch
// loader that reshuffles every epoch from Philox, reproducible from the seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace duel::gan {

struct Dataset {
  Tensor images;            // [N, C, S, S] f32 in [-1, 1]
  Tensor labels;            // [N] i64, undefined when the data has no labels
  int64_t num_classes = 0;  // 0 without labels
  std::string description;  // for logs and config.json
};

// `spec`: fashion-mnist | mnist | idx:DIR | folder:DIR | synthetic. IDX data is read from
// DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Images are converted to `channels`
// (1 or 3) and resized to size x size when they differ. Errors name the file or directory.
Dataset load_dataset(const std::string& spec, bool train_split, int64_t channels, int64_t size);

// n images of `d` chosen at random without repetition (Philox from `seed`), in a fixed order: the
// real side of an evaluation. Throws naming the data set when it holds fewer than n.
Tensor sample_images(const Dataset& d, int64_t n, uint64_t seed);

// The default location of a named dataset's IDX files.
std::string dataset_dir(const std::string& name);

struct Batch {
  Tensor images;  // [B, C, S, S]
  Tensor labels;  // [B] or undefined
};

// Batches in an order reshuffled every epoch: epoch e's order sorts the indices by the Philox
// draw (seed, offset e), so the sequence depends only on the seed. The last incomplete batch of
// an epoch is dropped (every batch has the same size, as batch norm prefers).
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, int64_t batch, uint64_t seed);
  Batch next();
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }  // index into the epoch's order
  int64_t batches_per_epoch() const { return n_ / batch_; }
  void seek(int64_t epoch, int64_t position);  // resume: continue from a saved place

 private:
  void shuffle();
  const Dataset& data_;
  int64_t n_, batch_;
  uint64_t seed_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace duel::gan
