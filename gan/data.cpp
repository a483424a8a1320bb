#include "gan/data.h"

#include <stb_image_resize.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <utility>
#include <vector>

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

namespace {

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

}  // namespace

Dataset load_dataset(const std::string& spec, bool train_split, int64_t channels, int64_t size) {
  Dataset d;
  if (spec == "fashion-mnist" || spec == "mnist") {
    d = load_idx(dataset_dir(spec), spec, train_split);
  } else if (spec.rfind("idx:", 0) == 0) {
    d = load_idx(spec.substr(4), "idx", train_split);
  } else if (spec.rfind("folder:", 0) == 0) {
    d.images = read_image_folder(spec.substr(7), channels, size);
    d.description = "image folder " + spec.substr(7) + " (" + std::to_string(d.images.size(0)) + " images)";
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
  d.images = adapt(d.images, channels, size);
  return d;
}

Tensor sample_images(const Dataset& d, int64_t n, uint64_t seed) {
  const int64_t total = d.images.size(0);
  DUEL_CHECK(n >= 1 && n <= total, "data: cannot pick ", n, " of the ", total, " images of ", d.description);
  std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) keys[size_t(i)] = {philox::uniform_f64(seed, 0, uint64_t(i)), i};
  std::partial_sort(keys.begin(), keys.begin() + n, keys.end());
  const int64_t per = d.images.numel() / total;
  Tensor out = empty({n, d.images.size(1), d.images.size(2), d.images.size(3)});
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out.data<float>() + i * per, d.images.data<float>() + keys[size_t(i)].second * per,
                size_t(per) * sizeof(float));
  return out;
}

BatchLoader::BatchLoader(const Dataset& data, int64_t batch, uint64_t seed)
    : data_(data), n_(data.images.size(0)), batch_(batch), seed_(seed) {
  DUEL_CHECK(batch > 0, "batch size must be positive, got ", batch);
  DUEL_CHECK(n_ >= batch, "batch size ", batch, " is larger than the dataset (", n_, " images)");
  shuffle();
}

void BatchLoader::shuffle() {
  std::vector<double> key(static_cast<size_t>(n_));
  for (int64_t i = 0; i < n_; ++i) key[size_t(i)] = philox::uniform_f64(seed_, uint64_t(epoch_), uint64_t(i));
  order_.resize(size_t(n_));
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) { return key[size_t(a)] < key[size_t(b)]; });
}

void BatchLoader::seek(int64_t epoch, int64_t position) {
  DUEL_CHECK(epoch >= 0 && position >= 0 && position <= n_, "data: cannot resume at epoch ", epoch,
             ", position ", position, " of ", n_, " images");
  epoch_ = epoch;
  position_ = position;
  shuffle();
}

Batch BatchLoader::next() {
  if (position_ + batch_ > n_) {
    ++epoch_;
    position_ = 0;
    shuffle();
  }
  const Shape& s = data_.images.shape();
  const int64_t per = s[1] * s[2] * s[3];
  Batch b;
  b.images = empty({batch_, s[1], s[2], s[3]});
  const float* src = data_.images.data<float>();
  float* dst = b.images.data<float>();
  if (data_.labels.defined()) b.labels = empty({batch_}, DType::i64);
  for (int64_t i = 0; i < batch_; ++i) {
    const int64_t idx = order_[size_t(position_ + i)];
    std::memcpy(dst + i * per, src + idx * per, size_t(per) * sizeof(float));
    if (b.labels.defined()) b.labels.data<int64_t>()[i] = data_.labels.data<int64_t>()[idx];
  }
  position_ += batch_;
  return b;
}

}  // namespace duel::gan
