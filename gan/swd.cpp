#include "gan/swd.h"

#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/philox.h"
#include "core/random.h"

namespace duel::gan {

namespace {

constexpr int kNeighbourhood = 7;         // patch side
constexpr int64_t kMaxPatches = 1 << 16;  // per level and set
constexpr int kRepeats = 4, kDirections = 128;

// One image plane, row-major.
struct Plane {
  int64_t size = 0;
  std::vector<double> v;
  double at(int64_t y, int64_t x) const { return v[size_t(y * size + x)]; }
};

// Index into [0, n) with mirrored borders (d c b | a b c d | c b a), as scipy.ndimage's "mirror".
int64_t mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

// Separable 5-tap binomial filter [1 4 6 4 1] / 16 times `gain` per dimension.
Plane blur(const Plane& p, double gain) {
  static const double k[5] = {1 / 16.0, 4 / 16.0, 6 / 16.0, 4 / 16.0, 1 / 16.0};
  const int64_t n = p.size;
  Plane tmp{n, std::vector<double>(p.v.size())}, out{n, std::vector<double>(p.v.size())};
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x) {
      double s = 0;
      for (int t = -2; t <= 2; ++t) s += k[t + 2] * p.at(y, mirror(x + t, n));
      tmp.v[size_t(y * n + x)] = s * gain;
    }
  for (int64_t y = 0; y < n; ++y)
    for (int64_t x = 0; x < n; ++x) {
      double s = 0;
      for (int t = -2; t <= 2; ++t) s += k[t + 2] * tmp.at(mirror(y + t, n), x);
      out.v[size_t(y * n + x)] = s * gain;
    }
  return out;
}

Plane downsample(const Plane& p) {
  const Plane b = blur(p, 1.0);
  Plane out{p.size / 2, std::vector<double>(size_t(p.size / 2 * (p.size / 2)))};
  for (int64_t y = 0; y < out.size; ++y)
    for (int64_t x = 0; x < out.size; ++x) out.v[size_t(y * out.size + x)] = b.at(2 * y, 2 * x);
  return out;
}

Plane upsample(const Plane& p) {
  Plane z{p.size * 2, std::vector<double>(size_t(4 * p.size * p.size), 0.0)};
  for (int64_t y = 0; y < p.size; ++y)
    for (int64_t x = 0; x < p.size; ++x) z.v[size_t(2 * y * z.size + 2 * x)] = p.at(y, x);
  return blur(z, 2.0);  // x 4 in all: the zeros inserted
}

std::vector<int64_t> pyramid_levels(int64_t size) {
  std::vector<int64_t> levels{size};
  while (levels.back() % 2 == 0 && (levels.back() / 2 >= 16 || levels.size() < 2)) levels.push_back(levels.back() / 2);
  return levels;
}

// The descriptors of one set at every level: [levels][patches * per_image, C * 49], row-major
// floats, each level normalised per channel.
std::vector<std::vector<float>> descriptors(const Tensor& images, const std::vector<int64_t>& levels, int64_t per_image,
                                            uint64_t seed) {
  const int64_t n = images.size(0), c = images.size(1), s = images.size(2);
  const int64_t dim = c * kNeighbourhood * kNeighbourhood;
  std::vector<std::vector<float>> out(levels.size(), std::vector<float>(size_t(n * per_image * dim)));
  const float* px = images.data<float>();
#pragma omp parallel for schedule(dynamic)
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      Plane g{s, std::vector<double>(px + (i * c + ch) * s * s, px + (i * c + ch + 1) * s * s)};
      for (size_t l = 0; l < levels.size(); ++l) {
        Plane band = g;
        if (l + 1 < levels.size()) {  // Laplacian: this level minus the next one brought back up
          const Plane next = downsample(g);
          const Plane up = upsample(next);
          for (size_t k = 0; k < band.v.size(); ++k) band.v[k] -= up.v[k];
          g = next;
        }
        const int64_t r = levels[l], places = r - kNeighbourhood + 1;
        for (int64_t p = 0; p < per_image; ++p) {
          // The same places for every channel of a patch: draw by (image, patch), not channel.
          const uint64_t idx = uint64_t((i * per_image + p) * 2);
          const int64_t y0 = std::min(places - 1, int64_t(philox::uniform_f64(seed, l, idx) * double(places)));
          const int64_t x0 = std::min(places - 1, int64_t(philox::uniform_f64(seed, l, idx + 1) * double(places)));
          float* d = out[l].data() + ((i * per_image + p) * dim + ch * kNeighbourhood * kNeighbourhood);
          for (int y = 0; y < kNeighbourhood; ++y)
            for (int x = 0; x < kNeighbourhood; ++x) d[y * kNeighbourhood + x] = float(band.at(y0 + y, x0 + x));
        }
      }
    }
  }
  // Per channel: zero mean, unit standard deviation over all of this set's values of the level.
  for (auto& level : out) {
    const int64_t rows = int64_t(level.size()) / dim, per_channel = kNeighbourhood * kNeighbourhood;
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0, sq = 0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < per_channel; ++k) {
          const double v = level[size_t(r * dim + ch * per_channel + k)];
          sum += v;
          sq += v * v;
        }
      const double count = double(rows * per_channel), mean = sum / count;
      const double sd = std::sqrt(std::max(sq / count - mean * mean, 0.0));
      const double inv = sd > 1e-12 ? 1 / sd : 1.0;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < per_channel; ++k) {
          float& v = level[size_t(r * dim + ch * per_channel + k)];
          v = float((v - mean) * inv);
        }
    }
  }
  return out;
}

// Sorts v[0..n) ascending: a least-significant-digit radix sort of the floats' bit patterns
// (mapped so that unsigned order is float order), three passes of 11 bits. The sorts are the
// distance's main cost (about two thirds with std::sort), and this is several times faster on
// the 10^4 to 10^5 values of a projection. `a` and `b` are scratch.
void radix_sort(float* v, int64_t n, std::vector<uint32_t>& a, std::vector<uint32_t>& b) {
  a.resize(size_t(n));
  b.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, v + i, sizeof u);
    a[size_t(i)] = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  }
  for (int shift = 0; shift < 32; shift += 11) {
    std::array<int64_t, 2048> start{};
    for (int64_t i = 0; i < n; ++i) ++start[(a[size_t(i)] >> shift) & 2047u];
    int64_t sum = 0;
    for (int64_t& c : start) {
      const int64_t count = c;
      c = sum;
      sum += count;
    }
    for (int64_t i = 0; i < n; ++i) b[size_t(start[(a[size_t(i)] >> shift) & 2047u]++)] = a[size_t(i)];
    a.swap(b);
  }
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = a[size_t(i)];
    u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
    std::memcpy(v + i, &u, sizeof u);
  }
}

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

double swd_of_level(const std::vector<float>& a, const std::vector<float>& b, int64_t dim, uint64_t seed, int level) {
  const int64_t rows = int64_t(a.size()) / dim;
  const Eigen::Map<const RowMatrix> ma(a.data(), rows, dim), mb(b.data(), rows, dim);
  double total = 0;
  for (int rep = 0; rep < kRepeats; ++rep) {
    // Random unit directions [dim, 128], from Philox (seed, level, repeat).
    Generator gen(seed ^ (uint64_t(level) * 0x9E3779B97F4A7C15ULL) ^ uint64_t(rep + 1));
    const std::vector<double> draw = randn({dim, kDirections}, gen, DType::f64).to_vector();
    Eigen::MatrixXf dirs(dim, kDirections);  // column-major
    for (int64_t r = 0; r < dim; ++r)
      for (int k = 0; k < kDirections; ++k) dirs(r, k) = float(draw[size_t(r * kDirections + k)]);
    dirs.colwise().normalize();
    Eigen::MatrixXf pa = ma * dirs, pb = mb * dirs;  // [rows, 128], column-major: one direction a column
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (int k = 0; k < kDirections; ++k) {
      float* ca = pa.col(k).data();
      float* cb = pb.col(k).data();
      thread_local std::vector<uint32_t> scratch_a, scratch_b;
      radix_sort(ca, rows, scratch_a, scratch_b);
      radix_sort(cb, rows, scratch_a, scratch_b);
      double d = 0;
      for (int64_t r = 0; r < rows; ++r) d += std::abs(double(ca[r]) - double(cb[r]));
      sum += d / double(rows);
    }
    total += sum / kDirections;
  }
  return total / kRepeats;
}

}  // namespace

SwdReport sliced_wasserstein(const Tensor& real, const Tensor& fake, uint64_t seed) {
  DUEL_CHECK(real.defined() && fake.defined() && real.device().is_cpu() && fake.device().is_cpu() &&
                 real.dtype() == DType::f32 && fake.dtype() == DType::f32,
             "swd: expected float32 CPU images, got ", describe(real), " and ", describe(fake));
  DUEL_CHECK(real.dim() == 4 && real.shape() == fake.shape() && real.size(2) == real.size(3), "swd: the two sets must "
             "be square images [N, C, S, S] of the same shape, got ", describe(real), " and ", describe(fake));
  DUEL_CHECK(real.size(2) >= 16, "swd: images must be at least 16x16, got ", real.size(2), "x", real.size(3));
  DUEL_CHECK(real.size(0) >= 2, "swd: needs at least 2 images per set, got ", real.size(0));
  SwdReport r;
  r.images = real.size(0);
  r.resolutions = pyramid_levels(real.size(2));
  r.patches_per_image = std::clamp<int64_t>(kMaxPatches / r.images, 1, 128);
  const int64_t dim = real.size(1) * kNeighbourhood * kNeighbourhood;
  const auto da = descriptors(real, r.resolutions, r.patches_per_image, seed ^ 0x5A17ULL);
  const auto db = descriptors(fake, r.resolutions, r.patches_per_image, seed ^ 0xFA4EULL);
  for (size_t l = 0; l < r.resolutions.size(); ++l) {
    r.distances.push_back(1e3 * swd_of_level(da[l], db[l], dim, seed, int(l)));
    r.mean += r.distances.back() / double(r.resolutions.size());
  }
  return r;
}

std::string swd_json_fields(const SwdReport& r) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"swd\":%.9g,\"swd_levels\":{", r.mean);
  std::string out = buf;
  for (size_t l = 0; l < r.resolutions.size(); ++l) {
    std::snprintf(buf, sizeof buf, "%s\"%lld\":%.9g", l ? "," : "", (long long)r.resolutions[l], r.distances[l]);
    out += buf;
  }
  return out + "}";
}

}  // namespace duel::gan
