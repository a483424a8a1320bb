#include "gan/metrics.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <utility>

#include "core/autograd.h"
#include "core/philox.h"
#include "kernels/cpu/gemm.h"  // the thread-count-independent GEMM: metrics are reproducible too

namespace duel::gan {

using MatrixRM = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const MatrixRM>;

FeatureSet extract_features(Classifier& c, const Tensor& images, int64_t batch) {
  NoGradGuard no_grad;
  c.net().eval();
  FeatureSet s;
  s.n = images.size(0);
  s.dim = Classifier::kFeatures;
  s.classes = Classifier::kClasses;
  s.features.reserve(static_cast<size_t>(s.n * s.dim));
  s.probs.reserve(static_cast<size_t>(s.n * s.classes));
  for (int64_t start = 0; start < s.n; start += batch) {
    const int64_t b = std::min(batch, s.n - start);
    const Tensor x = narrow(images, 0, start, b);
    const Tensor f = c.features(x);
    const Tensor p = exp(log_softmax(c.logits_from_features(f), 1));
    const std::vector<double> fv = f.to_vector(), pv = p.to_vector();
    s.features.insert(s.features.end(), fv.begin(), fv.end());
    s.probs.insert(s.probs.end(), pv.begin(), pv.end());
  }
  return s;
}

Moments moments(const FeatureSet& s) {
  DUEL_CHECK(s.n >= 2, "metrics: need at least 2 samples for a covariance, got ", s.n);
  const ConstMap x(s.features.data(), s.n, s.dim);
  const Eigen::RowVectorXd mu = x.colwise().mean();
  const MatrixRM centred = x.rowwise() - mu;
  MatrixRM cov(s.dim, s.dim);
  kernels::cpu::gemm(cov.data(), centred.data(), centred.data(), s.dim, s.dim, s.n, true, false);
  cov /= double(s.n - 1);
  Moments m;
  m.dim = s.dim;
  m.mean.assign(mu.data(), mu.data() + s.dim);
  m.cov.assign(cov.data(), cov.data() + s.dim * s.dim);
  return m;
}

namespace {

// Symmetric square root through the eigendecomposition; tiny negative eigenvalues (rounding in
// a near-singular covariance) are clamped to 0 instead of producing NaN.
Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a);
  const Eigen::VectorXd root = es.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return es.eigenvectors() * root.asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace

double frechet_distance(const Moments& a, const Moments& b) {
  DUEL_CHECK(a.dim == b.dim && a.dim > 0, "frechet_distance: feature sizes differ");
  const int64_t d = a.dim;
  const Eigen::MatrixXd sa = ConstMap(a.cov.data(), d, d), sb = ConstMap(b.cov.data(), d, d);
  // tr((sa^1/2 sb sa^1/2)^1/2) = tr((sa sb)^1/2), with a symmetric PSD matrix to take it from.
  const Eigen::MatrixXd root_a = sqrt_psd(sa);
  Eigen::MatrixXd m = root_a * sb * root_a;
  m = 0.5 * (m + m.transpose());  // symmetric up to rounding; make it exactly so
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(m, Eigen::EigenvaluesOnly);
  const double tr_covmean = es.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  double mean_term = 0;  // ||mu_a - mu_b||^2 in index order (the means are plain std::vectors)
  for (int64_t i = 0; i < d; ++i) mean_term += (a.mean[size_t(i)] - b.mean[size_t(i)]) * (a.mean[size_t(i)] - b.mean[size_t(i)]);
  return mean_term + sa.trace() + sb.trace() - 2.0 * tr_covmean;
}

Kid kernel_inception_distance(const FeatureSet& real, const FeatureSet& fake, int64_t subsets, int64_t subset_size,
                              uint64_t seed) {
  DUEL_CHECK(real.dim == fake.dim, "KID: feature sizes differ");
  const int64_t m = std::min({subset_size, real.n, fake.n});
  DUEL_CHECK(m >= 2, "KID: need at least 2 samples on each side");
  const int64_t d = real.dim;
  // Rows of a random m-subset of an n-row feature set, from Philox (reproducible).
  auto subset = [&](const FeatureSet& x, uint64_t offset) {
    std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(x.n));
    for (int64_t i = 0; i < x.n; ++i) keys[size_t(i)] = {philox::uniform_f64(seed, offset, uint64_t(i)), i};
    std::partial_sort(keys.begin(), keys.begin() + m, keys.end());
    MatrixRM rows(m, d);
    const ConstMap all(x.features.data(), x.n, d);
    for (int64_t i = 0; i < m; ++i) rows.row(i) = all.row(keys[size_t(i)].second);
    return rows;
  };
  std::vector<double> values;
  for (int64_t s = 0; s < subsets; ++s) {
    const MatrixRM xr = subset(real, uint64_t(2 * s)), xf = subset(fake, uint64_t(2 * s + 1));
    auto kernel = [&](const MatrixRM& a, const MatrixRM& b) {
      MatrixRM k(a.rows(), b.rows());
      kernels::cpu::gemm(k.data(), a.data(), b.data(), a.rows(), b.rows(), d, false, true);
      k /= double(d);
      return MatrixRM(k.array().unaryExpr([](double v) { return (v + 1.0) * (v + 1.0) * (v + 1.0); }));
    };
    const MatrixRM kxx = kernel(xr, xr), kyy = kernel(xf, xf), kxy = kernel(xr, xf);
    // Unbiased: the diagonals of k(x, x) and k(y, y) are left out.
    const double sxx = (kxx.sum() - kxx.trace()) / double(m * (m - 1));
    const double syy = (kyy.sum() - kyy.trace()) / double(m * (m - 1));
    const double sxy = kxy.sum() / double(m * m);
    values.push_back(sxx + syy - 2 * sxy);
  }
  Kid k;
  k.subsets = subsets;
  k.subset_size = m;
  k.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(values.size());
  double var = 0;
  for (double v : values) var += (v - k.mean) * (v - k.mean);
  k.std = values.size() > 1 ? std::sqrt(var / double(values.size() - 1)) : 0.0;
  return k;
}

namespace {

// ||row||^2 of each row, summed left to right: Eigen's vectorised squaredNorm would pick its
// summation order from the row's address, and features live in plain std::vectors.
Eigen::VectorXd row_norms2(const ConstMap& a) {
  Eigen::VectorXd out(a.rows());
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    double s = 0;
    for (Eigen::Index j = 0; j < a.cols(); ++j) s += a(i, j) * a(i, j);
    out(i) = s;
  }
  return out;
}

// Squared distances between all rows of a [n, d] and b [m, d], as ||a||^2 + ||b||^2 - 2 a.b, into
// `out` (resized only when its shape changes, so the blocks below reuse one buffer).
void squared_distances(const ConstMap& a, const ConstMap& b, const Eigen::VectorXd& nb, MatrixRM& out) {
  if (out.rows() != a.rows() || out.cols() != b.rows()) out.resize(a.rows(), b.rows());
  kernels::cpu::gemm(out.data(), a.data(), b.data(), a.rows(), b.rows(), a.cols(), false, true);
  out *= -2.0;
  out.colwise() += row_norms2(a);
  out.rowwise() += nb.transpose();
}

constexpr int64_t kBlock = 512;  // rows at a time: 512 x n doubles of distances

// Squared distance from each row of `x` to its k-th nearest other row.
std::vector<double> kth_neighbour_radius2(const FeatureSet& x, int64_t k) {
  const ConstMap a(x.features.data(), x.n, x.dim);
  const Eigen::VectorXd na = row_norms2(a);
  std::vector<double> radius(static_cast<size_t>(x.n)), row(static_cast<size_t>(x.n));
  MatrixRM d;
  for (int64_t start = 0; start < x.n; start += kBlock) {
    const int64_t b = std::min(kBlock, x.n - start);
    squared_distances(ConstMap(x.features.data() + start * x.dim, b, x.dim), a, na, d);
    for (int64_t i = 0; i < b; ++i) {
      std::copy(d.row(i).data(), d.row(i).data() + x.n, row.begin());
      // Index k (0-based) skips the point itself at distance 0.
      std::nth_element(row.begin(), row.begin() + k, row.end());
      radius[size_t(start + i)] = std::max(row[size_t(k)], 0.0);
    }
  }
  return radius;
}

// Fraction of `query` rows inside at least one ball (centre a row of `ref`, squared radius r2).
double fraction_inside(const FeatureSet& query, const FeatureSet& ref, const std::vector<double>& r2) {
  const ConstMap c(ref.features.data(), ref.n, ref.dim);
  const Eigen::VectorXd nc = row_norms2(c);
  int64_t inside = 0;
  MatrixRM d;
  for (int64_t start = 0; start < query.n; start += kBlock) {
    const int64_t b = std::min(kBlock, query.n - start);
    squared_distances(ConstMap(query.features.data() + start * query.dim, b, query.dim), c, nc, d);
    for (int64_t i = 0; i < b; ++i) {
      bool hit = false;
      for (int64_t j = 0; j < ref.n && !hit; ++j) hit = d(i, j) <= r2[size_t(j)];
      inside += hit;
    }
  }
  return double(inside) / double(query.n);
}

}  // namespace

PrecisionRecall precision_recall(const FeatureSet& real, const FeatureSet& fake, int64_t k) {
  DUEL_CHECK(real.n > k && fake.n > k, "precision/recall: need more than k = ", k, " samples on each side");
  PrecisionRecall pr;
  pr.k = k;
  pr.precision = fraction_inside(fake, real, kth_neighbour_radius2(real, k));
  pr.recall = fraction_inside(real, fake, kth_neighbour_radius2(fake, k));
  return pr;
}

double classifier_score(const FeatureSet& s) {
  std::vector<double> marginal(static_cast<size_t>(s.classes), 0.0);
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t c = 0; c < s.classes; ++c) marginal[size_t(c)] += s.probs[size_t(i * s.classes + c)] / double(s.n);
  double kl = 0;
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t c = 0; c < s.classes; ++c) {
      const double p = s.probs[size_t(i * s.classes + c)];
      if (p > 0) kl += p * (std::log(p) - std::log(marginal[size_t(c)]));
    }
  return std::exp(kl / double(s.n));
}

Coverage class_coverage(const FeatureSet& s) {
  Coverage c;
  c.histogram.assign(static_cast<size_t>(s.classes), 0);
  for (int64_t i = 0; i < s.n; ++i) {
    const double* p = s.probs.data() + i * s.classes;
    c.histogram[size_t(std::max_element(p, p + s.classes) - p)]++;
  }
  for (int64_t count : c.histogram) {
    if (count == 0) continue;
    const double f = double(count) / double(s.n);
    c.entropy_bits -= f * std::log2(f);
    if (f >= 0.5 / double(s.classes)) ++c.classes_covered;
  }
  return c;
}

EvalReport evaluate(const FeatureSet& real, const Moments& real_moments, const FeatureSet& fake, uint64_t seed) {
  EvalReport r;
  r.n_fake = fake.n;
  r.n_real = real.n;
  r.fid = frechet_distance(real_moments, moments(fake));
  r.kid = kernel_inception_distance(real, fake, 10, 1000, seed);
  r.pr = precision_recall(real, fake);
  r.classifier_score = classifier_score(fake);
  r.coverage = class_coverage(fake);
  return r;
}

std::string report_json(const EvalReport& r, int indent) {
  nlohmann::json j;
  j["n_fake"] = r.n_fake;
  j["n_real"] = r.n_real;
  j["fid"] = r.fid;
  j["kid"] = {{"mean", r.kid.mean}, {"std", r.kid.std}, {"subsets", r.kid.subsets}, {"subset_size", r.kid.subset_size}};
  j["precision"] = r.pr.precision;
  j["recall"] = r.pr.recall;
  j["k"] = r.pr.k;
  j["classifier_score"] = r.classifier_score;
  j["class_histogram"] = r.coverage.histogram;
  j["class_entropy_bits"] = r.coverage.entropy_bits;
  j["classes_covered"] = r.coverage.classes_covered;
  return j.dump(indent);
}

}  // namespace duel::gan
