// Training data: Fashion-MNIST (the default, from Debian's dataset-fashion-mnist), MNIST or any
// IDX pair, a folder of the user's own pictures (gan/folder.h: bytes in memory, or streamed from
// disk), or synthetic noise for benchmarks; and a batch loader that reshuffles every epoch from
// Philox, reproducible from the seed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "gan/folder.h"

namespace duel::gan {

struct Dataset {
  Tensor images;            // [N, C, S, S] f32 in [-1, 1]; undefined for a folder (pictures)
  Tensor labels;            // [N] i64, undefined when the data has no labels
  int64_t num_classes = 0;  // 0 without labels
  std::string description;  // for logs and config.json
  std::shared_ptr<const PictureStore> pictures;  // a folder's pictures as bytes, or streamed
  std::vector<std::string> class_names;          // a folder's class sub-folders (label order)
  std::vector<std::string> notes;                // warnings for the start of a run, one line each

  int64_t count() const;
  int64_t channels() const;
  int64_t image_size() const;
  // Images idx[0..n) as [n, C, S, S] f32 in [-1, 1] into `out`; where flip[i] is nonzero, image
  // i is mirrored left to right.
  void gather(const int64_t* idx, int64_t n, float* out, const uint8_t* flip = nullptr) const;
};

// How a folder is read (gan/folder.h).
struct DataOptions {
  Background background = Background::white;
  bool class_folders = false;  // --conditional: first-level sub-folders are the classes
  int64_t memory_budget = -1;  // bytes of decoded pictures kept in memory; -1: data_memory_budget()
  bool progress = true;
};

// Bytes a data set may occupy in memory: DUEL_DATA_MEMORY_MB megabytes when set, else a quarter of
// the machine's memory. IDX data beyond it (as f32 pictures) is refused with one line before it is
// read (a 2 MB gzip file can declare gigabytes); a folder's pictures beyond it (as bytes) are
// streamed from disk instead (--data-memory sets a folder's budget for one run).
int64_t data_memory_budget();

// `spec`: fashion-mnist | mnist | idx:DIR | folder:DIR | synthetic. IDX data is read from
// DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]. Images are converted to `channels`
// (1 or 3) and resized to size x size when they differ. Errors name the file or directory.
Dataset load_dataset(const std::string& spec, bool train_split, int64_t channels, int64_t size,
                     const DataOptions& options = {});

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
// an epoch is dropped (every batch has the same size, as batch norm prefers). With `flip`, each
// image of a batch is mirrored left to right with probability 1/2, by a Philox draw of (seed,
// epoch, place in the epoch). For streamed pictures the next batch is decoded on a background
// thread while the current one trains; the batches are the same as from memory.
class BatchLoader {
 public:
  BatchLoader(const Dataset& data, int64_t batch, uint64_t seed, bool flip = false);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;
  Batch next();
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }  // index into the epoch's order
  int64_t batches_per_epoch() const { return n_ / batch_; }
  void seek(int64_t epoch, int64_t position);  // resume: continue from a saved place

 private:
  struct Work;  // a batch being assembled (on the background thread for streamed pictures)
  std::vector<int64_t> order_of(int64_t epoch) const;
  void assemble(Work& w) const;
  std::unique_ptr<Work> start(int64_t epoch, int64_t position);
  const Dataset& data_;
  int64_t n_, batch_;
  uint64_t seed_;
  bool flip_;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;
  std::unique_ptr<Work> ahead_;  // the next batch, when prefetching
};

}  // namespace duel::gan
