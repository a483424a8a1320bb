#include "gan/data.h"

#include <stb_image_resize.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "core/checked.h"
#include "core/cpu_allocator.h"
#include "core/philox.h"
#include "core/random.h"
#include "gan/idx.h"
#include "gan/image.h"

namespace duel::gan {

namespace fs = std::filesystem;

std::string dataset_dir(const std::string& name) {
  if (name == "fashion-mnist") return "/usr/share/datasets/fashion-mnist";
  if (name == "mnist") return "/usr/share/datasets/mnist";
  fail("unknown dataset '", name, "'");
}

int64_t data_memory_budget() {
  if (const char* env = std::getenv("DUEL_DATA_MEMORY_MB")) {
    const int64_t mb = parse_int_in(env, Range::ints(1, double(int64_t(1) << 40)), "DUEL_DATA_MEMORY_MB");
    return mb << 20;
  }
  return int64_t(cpu_memory_bytes() / 4);
}

namespace {

std::string budget_text() {
  return str_cat("the data memory budget of ", bytes_text(double(data_memory_budget())),
                 std::getenv("DUEL_DATA_MEMORY_MB") ? " (DUEL_DATA_MEMORY_MB)"
                                                    : " (a quarter of this machine's memory; DUEL_DATA_MEMORY_MB sets it)");
}

// Throws unless `bytes` of pictures fit the data memory budget.
void check_budget(double bytes, const std::string& what) {
  DUEL_CHECK(bytes <= double(data_memory_budget()), "data: ", what, " need ", bytes_text(bytes),
             " as float32 pictures, more than ", budget_text());
}

// DIR/<stem> or DIR/<stem>.gz, whichever exists.
std::string find_idx(const std::string& dir, const std::string& stem, const std::string& what) {
  for (const std::string& candidate : {dir + "/" + stem + ".gz", dir + "/" + stem})
    if (fs::exists(candidate)) return candidate;
  fail("data: ", what, " not found: no ", stem, "[.gz] in ", dir);
}

// [N, c, h, w] in [-1, 1] -> [N, channels, size, size]: gray to RGB by repetition, RGB to gray by
// the ITU-R 601 luma weights, then a bilinear-ish resize (stb's default filter) per plane.
Tensor adapt(const Tensor& images, int64_t channels, int64_t size) {
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  if (c == channels && h == size && w == size) return images;
  DUEL_CHECK(channels == 1 || channels == 3, "data: models take 1 or 3 channels, got ", channels);
  Tensor out = empty({n, channels, size, size});
  const float* src = images.data<float>();
  float* dst = out.data<float>();
  std::vector<float> plane(size_t(h * w)), resized(size_t(size * size));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t oc = 0; oc < channels; ++oc) {
      const float* img = src + i * c * h * w;
      for (int64_t p = 0; p < h * w; ++p) {
        if (c == channels) plane[size_t(p)] = img[oc * h * w + p];
        else if (c == 1) plane[size_t(p)] = img[p];
        else plane[size_t(p)] = 0.299f * img[p] + 0.587f * img[h * w + p] + 0.114f * img[2 * h * w + p];
      }
      float* o = dst + (i * channels + oc) * size * size;
      if (h == size && w == size) {
        std::memcpy(o, plane.data(), size_t(size * size) * sizeof(float));
      } else {
        DUEL_CHECK(stbir_resize_float(plane.data(), int(w), int(h), 0, o, int(size), int(size), 0, 1),
                   "data: resizing a ", h, "x", w, " image to ", size, "x", size, " failed");
        for (int64_t p = 0; p < size * size; ++p) o[p] = std::clamp(o[p], -1.0f, 1.0f);
      }
    }
  }
  return out;
}

Dataset load_idx(const std::string& dir, const std::string& name, bool train) {
  DUEL_CHECK(fs::is_directory(dir), "data: ", name, " directory ", dir, " does not exist",
             name == "fashion-mnist" ? " (install the Debian package dataset-fashion-mnist: "
                                       "scripts/setup.sh does)"
             : name == "mnist" ? " (MNIST is not packaged in Debian: put its IDX files in a directory "
                                 "and pass --data idx:DIR)"
                               : "");
  const std::string prefix = train ? "train" : "t10k";
  const std::string img_path = find_idx(dir, prefix + "-images-idx3-ubyte", "images");
  const std::string lbl_path = find_idx(dir, prefix + "-labels-idx1-ubyte", "labels");
  // The header first: its sizes against the budget, before the data is inflated.
  const std::vector<int64_t> dims = read_idx_dims(img_path);
  double count = 1;
  for (int64_t v : dims) count *= double(v);
  check_budget(count * 4.0, str_cat(img_path, "'s ", shape_str(dims), " pictures"));
  Dataset d;
  d.images = idx_images_to_tensor(read_idx(img_path), img_path);
  d.labels = idx_labels_to_tensor(read_idx(lbl_path), lbl_path);
  DUEL_CHECK(d.images.size(0) == d.labels.size(0), "data: ", img_path, " holds ", d.images.size(0),
             " images but ", lbl_path, " holds ", d.labels.size(0), " labels");
  int64_t max_label = 0;
  const int64_t* l = d.labels.data<int64_t>();
  for (int64_t i = 0; i < d.labels.numel(); ++i) max_label = std::max(max_label, l[i]);
  d.num_classes = max_label + 1;
  d.description = name + " " + prefix + " (" + std::to_string(d.images.size(0)) + " images from " + dir + ")";
  return d;
}

Dataset load_folder(const std::string& dir, int64_t channels, int64_t size, const DataOptions& options) {
  FolderOptions fo;
  fo.channels = channels;
  fo.size = size;
  fo.background = options.background;
  fo.class_folders = options.class_folders;
  fo.memory_budget = options.memory_budget >= 0 ? options.memory_budget : data_memory_budget();
  fo.progress = options.progress;
  FolderData f = read_folder(dir, fo);
  Dataset d;
  d.pictures = f.pictures;
  const int64_t n = f.pictures->count();
  if (!f.labels.empty()) {
    d.labels = empty({n}, DType::i64);
    std::copy(f.labels.begin(), f.labels.end(), d.labels.data<int64_t>());
    d.class_names = f.class_names;
    d.num_classes = int64_t(f.class_names.size());
  }
  d.description = str_cat("image folder ", dir, " (", n, " pictures",
                          d.num_classes ? str_cat(" in ", d.num_classes, " classes") : std::string(),
                          f.pictures->streaming() ? ", streamed from disk" : "", ")");
  if (f.skipped > 0) {
    std::string first;
    for (const std::string& e : f.first_skipped) first += (first.empty() ? "" : "; ") + e;
    d.notes.push_back(str_cat("skipped ", f.skipped, " of ", f.files, " picture files in ", dir,
                              " that could not be used; first: ", first));
  }
  if (channels == 1 && f.colour > 0)
    d.notes.push_back(str_cat(f.colour, " of ", n, " pictures in ", dir, " are in colour and the model has 1 channel: "
                              "it sees them in gray (ITU-R 601 luma); give --channels 3 to train in colour"));
  if (f.outside_classes > 0)
    d.notes.push_back(str_cat(f.outside_classes, " pictures directly in ", dir, " are in no class sub-folder and "
                              "are not used (--conditional takes the first-level sub-folders as the classes)"));
  return d;
}

}  // namespace

int64_t Dataset::count() const { return pictures ? pictures->count() : images.size(0); }
int64_t Dataset::channels() const { return pictures ? pictures->channels() : images.size(1); }
int64_t Dataset::image_size() const { return pictures ? pictures->size() : images.size(2); }

void Dataset::gather(const int64_t* idx, int64_t n, float* out, const uint8_t* flip) const {
  const int64_t c = channels(), s = image_size(), per = c * s * s, total = count();
  std::vector<uint8_t> bytes(pictures ? size_t(per) : 0);
  for (int64_t i = 0; i < n; ++i) {
    DUEL_CHECK(idx[i] >= 0 && idx[i] < total, "data: image ", idx[i], " of ", total, " requested");
    float* dst = out + i * per;
    if (pictures) {
      pictures->read(idx[i], bytes.data());
      for (int64_t k = 0; k < per; ++k) dst[k] = float(bytes[size_t(k)]) / 127.5f - 1.0f;
    } else {
      std::memcpy(dst, images.data<float>() + idx[i] * per, size_t(per) * sizeof(float));
    }
    if (flip && flip[i])
      for (int64_t row = 0; row < c * s; ++row) std::reverse(dst + row * s, dst + (row + 1) * s);
  }
}

Dataset load_dataset(const std::string& spec, bool train_split, int64_t channels, int64_t size,
                     const DataOptions& options) {
  Dataset d;
  if (spec == "fashion-mnist" || spec == "mnist") {
    d = load_idx(dataset_dir(spec), spec, train_split);
  } else if (spec.rfind("idx:", 0) == 0) {
    d = load_idx(spec.substr(4), "idx", train_split);
  } else if (spec.rfind("folder:", 0) == 0) {
    return load_folder(spec.substr(7), channels, size, options);
  } else if (spec == "synthetic") {
    Generator g(12345);
    d.images = uniform({1024, channels, size, size}, -1.0, 1.0, g);
    d.labels = from_vector(std::vector<double>(1024, 0.0), {1024}, DType::i64);
    for (int64_t i = 0; i < 1024; ++i) d.labels.data<int64_t>()[i] = i % 10;
    d.num_classes = 10;
    d.description = "synthetic uniform noise (1024 images)";
  } else {
    fail("unknown data '", spec, "' (expected fashion-mnist, mnist, idx:DIR, folder:DIR or synthetic)");
  }
  if (d.images.size(1) != channels || d.images.size(2) != size || d.images.size(3) != size)
    check_budget(double(d.images.size(0)) * double(channels) * double(size) * double(size) * 4.0,
                 str_cat(d.description, " resized to ", channels, " x ", size, " x ", size));
  d.images = adapt(d.images, channels, size);
  return d;
}

Tensor sample_images(const Dataset& d, int64_t n, uint64_t seed) {
  const int64_t total = d.count();
  DUEL_CHECK(n >= 1 && n <= total, "data: cannot pick ", n, " of the ", total, " images of ", d.description);
  std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) keys[size_t(i)] = {philox::uniform_f64(seed, 0, uint64_t(i)), i};
  std::partial_sort(keys.begin(), keys.begin() + n, keys.end());
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = keys[size_t(i)].second;
  Tensor out = empty({n, d.channels(), d.image_size(), d.image_size()});
  d.gather(idx.data(), n, out.data<float>());
  return out;
}

struct BatchLoader::Work {
  int64_t epoch = 0, position = 0;  // of its first image
  std::vector<int64_t> idx;
  std::vector<uint8_t> flip;
  std::vector<float> pixels;
  std::vector<int64_t> labels;
  std::future<void> done;  // set while it is assembled on the background thread
};

BatchLoader::BatchLoader(const Dataset& data, int64_t batch, uint64_t seed, bool flip)
    : data_(data), n_(data.count()), batch_(batch), seed_(seed), flip_(flip) {
  DUEL_CHECK(batch > 0, "batch size must be positive, got ", batch);
  DUEL_CHECK(n_ >= batch, "batch size ", batch, " is larger than the dataset (", n_, " images)");
  order_ = order_of(0);
}

BatchLoader::~BatchLoader() {
  if (ahead_ && ahead_->done.valid()) ahead_->done.wait();
}

std::vector<int64_t> BatchLoader::order_of(int64_t epoch) const {
  std::vector<double> key(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) key[size_t(i)] = philox::uniform_f64(seed_, uint64_t(epoch), uint64_t(i));
  std::vector<int64_t> order(static_cast<size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key[size_t(a)] < key[size_t(b)]; });
  return order;
}

void BatchLoader::seek(int64_t epoch, int64_t position) {
  DUEL_CHECK(epoch >= 0 && position >= 0 && position <= n_, "data: cannot resume at epoch ", epoch,
             ", position ", position, " of ", n_, " images");
  if (ahead_ && ahead_->done.valid()) ahead_->done.wait();
  ahead_.reset();
  epoch_ = epoch;
  position_ = position;
  order_ = order_of(epoch_);
}

void BatchLoader::assemble(Work& w) const {
  const int64_t per = data_.channels() * data_.image_size() * data_.image_size();
  w.pixels.resize(size_t(batch_ * per));
  data_.gather(w.idx.data(), batch_, w.pixels.data(), flip_ ? w.flip.data() : nullptr);
  if (data_.labels.defined()) {
    w.labels.resize(size_t(batch_));
    for (int64_t i = 0; i < batch_; ++i) w.labels[size_t(i)] = data_.labels.data<int64_t>()[w.idx[size_t(i)]];
  }
}

std::unique_ptr<BatchLoader::Work> BatchLoader::start(int64_t epoch, int64_t position) {
  auto w = std::make_unique<Work>();
  w->epoch = epoch;
  w->position = position;
  const std::vector<int64_t> other = epoch == epoch_ ? std::vector<int64_t>() : order_of(epoch);
  const std::vector<int64_t>& order = epoch == epoch_ ? order_ : other;
  w->idx.assign(order.begin() + position, order.begin() + position + batch_);
  if (flip_) {
    w->flip.resize(size_t(batch_));
    for (int64_t i = 0; i < batch_; ++i)
      w->flip[size_t(i)] = philox::uniform_f64(seed_ ^ 0xF1195EEDULL, uint64_t(epoch), uint64_t(position + i)) < 0.5;
  }
  if (data_.pictures && data_.pictures->streaming()) {
    Work* raw = w.get();
    w->done = std::async(std::launch::async, [this, raw] { assemble(*raw); });
  } else {
    assemble(*w);
  }
  return w;
}

Batch BatchLoader::next() {
  if (position_ + batch_ > n_) {
    ++epoch_;
    position_ = 0;
    order_ = order_of(epoch_);
  }
  std::unique_ptr<Work> w;
  if (ahead_ && ahead_->epoch == epoch_ && ahead_->position == position_) {
    w = std::move(ahead_);
  } else {
    if (ahead_ && ahead_->done.valid()) ahead_->done.wait();
    ahead_.reset();
    w = start(epoch_, position_);
  }
  if (w->done.valid()) w->done.get();  // rethrows what the background thread threw
  position_ += batch_;
  // Streamed pictures: decode the next batch while this one trains.
  if (data_.pictures && data_.pictures->streaming())
    ahead_ = position_ + batch_ > n_ ? start(epoch_ + 1, 0) : start(epoch_, position_);
  Batch b;
  b.images = empty({batch_, data_.channels(), data_.image_size(), data_.image_size()});
  std::copy(w->pixels.begin(), w->pixels.end(), b.images.data<float>());
  if (data_.labels.defined()) {
    b.labels = empty({batch_}, DType::i64);
    std::copy(w->labels.begin(), w->labels.end(), b.labels.data<int64_t>());
  }
  return b;
}

}  // namespace duel::gan
