// The sliced Wasserstein distance between two sets of images on Laplacian-pyramid patches
// (Karras et al., 2018, "Progressive growing of GANs", appendix D.1): a quality number that
// needs no pretrained network, so it means the same for any data set, size or channel count.
//
// For each level of the images' Laplacian pyramid (5-tap binomial filter, mirrored borders): 7x7
// neighbourhoods (x channels) at random places, each set's descriptors normalised per channel
// to zero mean and unit variance, then the sliced Wasserstein distance: 4 repeats of 128 random
// unit directions, the mean absolute difference of the two sets' sorted projections, averaged.
// Reported x 1e3 as in the paper. Lower is better; two samples of the same distribution give a
// small positive number that shrinks with the number of images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace duel::gan {

struct SwdReport {
  std::vector<int64_t> resolutions;  // the pyramid's levels, finest first (S, S/2, ..., >= 16; two at least)
  std::vector<double> distances;     // per level, x 1e3
  double mean = 0;                   // over the levels, x 1e3
  int64_t images = 0;                // per set
  int64_t patches_per_image = 0;
};

// real and fake: CPU float tensors [N, C, S, S] of the same shape, values in [-1, 1], S >= 16.
// The patch places and directions come from `seed` (Philox). Up to 2^16 patches per level and
// set: 128 per image, fewer for more than 512 images (the sorts dominate the cost).
SwdReport sliced_wasserstein(const Tensor& real, const Tensor& fake, uint64_t seed);

// {"swd": mean, "swd_levels": {"28": d, "14": d}} without braces, for metrics lines.
std::string swd_json_fields(const SwdReport& r);

}  // namespace duel::gan
