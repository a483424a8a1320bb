// Folders of your own pictures as training data, at any scale.
//
// read_folder indexes DIR recursively (picture files by name, any case: .png .jpg .jpeg, and
// .bmp .gif .webp, which are counted and skipped; sorted by path), decoding every picture once
// with read_picture (gan/picture.h: PNG and JPEG, hardened for untrusted files): transparent
// pixels composited onto a background, converted to the model's channels, the central square
// resized to the model's size (torchvision's Resize + CenterCrop, up to the filter). A file that
// cannot be used is skipped and counted, never the end of the run. The decoded pictures are kept as bytes (a quarter of float32's
// memory) when they fit the memory budget; otherwise only the file list is kept and pictures are
// decoded again when a batch needs them (PictureStore::streaming; the batch loader does that on
// a background thread). Decoding is deterministic, so both give the same batches for a seed.
// With class folders (--conditional), the first-level sub-folders of DIR are the classes, in
// name order (torchvision's ImageFolder convention).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace duel::gan {

enum class Background { white, black };
Background parse_background(const std::string& s);  // "white" | "black"
std::string background_name(Background b);

struct FolderOptions {
  int64_t channels = 3;                 // 1 (gray, ITU-R 601 luma) or 3 (RGB)
  int64_t size = 64;                    // the model's image side
  Background background = Background::white;  // under transparent pixels
  bool class_folders = false;           // first-level sub-folders are the classes
  int64_t memory_budget = -1;           // bytes for the decoded pictures; -1: a quarter of RAM
  bool progress = true;                 // the indexing line on stderr (when it is a terminal)
};

// One picture file, through read_picture: `path` into out [channels, size, size] bytes (planes,
// as the model's tensors), as described above. Returns whether the file holds colour. Throws
// duel::Error "<path>: <reason>".
bool load_picture(const std::string& path, const FolderOptions& options, uint8_t* out);

// The pictures of a folder: in memory as bytes, or streamed from their files.
class PictureStore {
 public:
  PictureStore(std::vector<std::string> files, FolderOptions options, std::vector<uint8_t> bytes);
  int64_t count() const { return int64_t(files_.size()); }
  int64_t channels() const { return options_.channels; }
  int64_t size() const { return options_.size; }
  int64_t picture_bytes() const { return options_.channels * options_.size * options_.size; }
  bool streaming() const { return bytes_.empty() && !files_.empty(); }
  const std::vector<std::string>& files() const { return files_; }
  // Picture i as [channels, size, size] bytes; from memory, or decoded from its file.
  void read(int64_t i, uint8_t* out) const;

 private:
  std::vector<std::string> files_;
  FolderOptions options_;
  std::vector<uint8_t> bytes_;  // [count, channels, size, size], or empty when streaming
};

struct FolderData {
  std::shared_ptr<const PictureStore> pictures;
  std::vector<int64_t> labels;            // class of each picture (class folders), else empty
  std::vector<std::string> class_names;   // the class sub-folders, in label order
  int64_t files = 0;                      // picture files found
  int64_t skipped = 0;                    // of those, not decodable
  std::vector<std::string> first_skipped; // "<path>: <reason>" of the first few
  int64_t colour = 0;                     // pictures in colour (a warning for a 1-channel model)
  int64_t outside_classes = 0;            // class folders: pictures directly in DIR, not used
};

// Throws one line naming DIR: not a folder, no picture files (or no class sub-folder with
// pictures), or none of them decodable (with the first reasons).
FolderData read_folder(const std::string& dir, const FolderOptions& options);


}  // namespace duel::gan
