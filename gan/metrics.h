// Judging a generator in the feature space of the Fashion-MNIST classifier (gan/classifier.h).
//
//   Frechet distance   ||mu_r - mu_f||^2 + tr(S_r + S_f - 2 (S_r^1/2 S_f S_r^1/2)^1/2)  (Heusel et al.
//                      2017, FID); both square roots from symmetric eigendecompositions with
//                      negative eigenvalues clamped to 0, so near-singular covariances are safe
//   KID                unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3 (Binkowski et al.
//                      2018), mean and standard deviation over random subsets
//   precision, recall  k-nearest-neighbour manifolds, k = 3 (Kynkaanniemi et al. 2019)
//   classifier score   exp(E_x KL(p(y|x) || p(y))), the Inception score with this classifier
//   class coverage     histogram of predicted classes, its entropy (bits), and the classes with a
//                      fair share (at least half the uniform 1/K): the mode-collapse signal
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "gan/classifier.h"

namespace duel::gan {

// Features [N, F] and class probabilities [N, K] of images, as f64 row-major arrays.
struct FeatureSet {
  int64_t n = 0, dim = 0, classes = 0;
  std::vector<double> features, probs;
};
FeatureSet extract_features(Classifier& c, const Tensor& images, int64_t batch = 500);

struct Moments {
  std::vector<double> mean, cov;  // mean [F], covariance [F, F] (unbiased)
  int64_t dim = 0;
};
Moments moments(const FeatureSet& s);
double frechet_distance(const Moments& a, const Moments& b);

struct Kid {
  double mean = 0, std = 0;
  int64_t subsets = 0, subset_size = 0;
};
Kid kernel_inception_distance(const FeatureSet& real, const FeatureSet& fake, int64_t subsets = 10,
                              int64_t subset_size = 1000, uint64_t seed = 0);

struct PrecisionRecall {
  double precision = 0, recall = 0;
  int64_t k = 3;
};
PrecisionRecall precision_recall(const FeatureSet& real, const FeatureSet& fake, int64_t k = 3);

double classifier_score(const FeatureSet& s);

struct Coverage {
  std::vector<int64_t> histogram;  // predicted class counts
  double entropy_bits = 0;         // of the histogram (log2 K when uniform)
  int64_t classes_covered = 0;     // classes with at least half the uniform share
};
Coverage class_coverage(const FeatureSet& s);

struct EvalReport {
  int64_t n_fake = 0, n_real = 0;
  double fid = 0;
  Kid kid;
  PrecisionRecall pr;
  double classifier_score = 0;
  Coverage coverage;
};
// Every metric of `fake` against `real` (the test set), whose moments may be precomputed.
EvalReport evaluate(const FeatureSet& real, const Moments& real_moments, const FeatureSet& fake, uint64_t seed = 0);
std::string report_json(const EvalReport& r, int indent = -1);

}  // namespace duel::gan
