// Catching fakes (gan/detect.h): ROC AUC, the power spectrum, the detector, and the commands'
// bad input; the Dirac GAN command.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "gan/detect.h"
#include "tests/run_duel.h"

using namespace duel;
using namespace duel::gan;
using duel::test::run_duel;
using duel::test::slurp;
using duel::test::tmp_dir;

TEST_CASE("ROC AUC: separation, chance, ties and order", "[detect]") {
  CHECK(roc_auc({3, 4, 5}, {0, 1, 2}) == 1.0);
  CHECK(roc_auc({0, 1, 2}, {3, 4, 5}) == 0.0);
  CHECK(roc_auc({1, 1}, {1, 1}) == 0.5);  // ties count half
  // 2 positives, 2 negatives: pairs (p > n): (3 > 2), (3 > 0), (1 > 0); (1 < 2): 3 of 4.
  CHECK(roc_auc({3, 1}, {2, 0}) == 0.75);
  CHECK(roc_auc({2, 0.5}, {0.5, 0}) == Approx((1 + 1 + 0.5 + 1) / 4.0));
  CHECK_THROWS_WITH(roc_auc({}, {1}), Catch::Contains("at least one"));
}

TEST_CASE("the power spectrum finds a cosine's frequency", "[detect]") {
  // cos(2 pi k x / S) along x: power at horizontal frequency +-k, row 0 of the vertical axis.
  const int64_t s = 28, k = 7;
  std::vector<double> v(static_cast<size_t>(2 * s * s));
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t y = 0; y < s; ++y)
      for (int64_t x = 0; x < s; ++x) v[size_t(n * s * s + y * s + x)] = std::cos(2 * M_PI * double(k * x) / double(s));
  const std::vector<double> p = mean_power_spectrum(from_vector(v, {2, 1, s, s}));
  const size_t centre_row = size_t(s / 2) * size_t(s);
  const double peak = p[centre_row + size_t(s / 2 + k)], mirror = p[centre_row + size_t(s / 2 - k)];
  CHECK(peak == Approx(double(s * s) * double(s * s) / 4).epsilon(1e-9));  // |S^2 / 2|^2
  CHECK(mirror == Approx(peak).epsilon(1e-9));
  double rest = 0;
  for (size_t i = 0; i < p.size(); ++i)
    if (i != centre_row + size_t(s / 2 + k) && i != centre_row + size_t(s / 2 - k)) rest += p[i];
  CHECK(rest < 1e-12 * peak);
  const std::vector<double> radial = azimuthal_average(p, s);
  REQUIRE(radial.size() == size_t(s / 2 + 1));
  size_t best = 0;
  for (size_t r = 0; r < radial.size(); ++r)
    if (radial[r] > radial[best]) best = r;
  CHECK(best == size_t(k));
  CHECK_THROWS_WITH(mean_power_spectrum(zeros({2, 3, 8, 8})), Catch::Contains("[N, 1, S, S]"));
}

TEST_CASE("the detector maps 28x28 images to one logit each", "[detect]") {
  auto d = make_detector();
  Generator g(0);
  nn::reset_all(*d, g);
  CHECK((*d)(zeros({3, 1, 28, 28})).shape() == Shape{3, 1});
  // A detector that scores by mean brightness separates bright from dark images perfectly.
  const Tensor bright = full({5, 1, 28, 28}, 0.5), dark = full({5, 1, 28, 28}, -0.5);
  const DetectorScores s = score_detector(*d, bright, dark);
  CHECK(s.n_real == 5);
  CHECK(s.n_fake == 5);
  CHECK((s.auc == 0.0 || s.auc == 0.5 || s.auc == 1.0));  // constant scores per class
}

TEST_CASE("duel detect and duel lab dirac: bad input is one line and a non-zero exit", "[detect][cli]") {
  const std::string dir = tmp_dir("detect");
  for (const std::string& args : std::vector<std::string>{"detect", "detect frobnicate", "detect train --out " + dir,
                                 "detect train --fake noise --out " + dir,
                                 "detect train --fake checkpoint:" + dir + "/missing --out " + dir,
                                 "detect train --real dataset:mnist --fake checkpoint:x --out " + dir,
                                 "detect spectrum --out " + dir, "detect attack --fake checkpoint:x --out " + dir,
                                 "lab dirac --penalty l2 --out " + dir, "lab dirac --updates sideways --out " + dir,
                                 "lab dirac --start 1 --out " + dir, "lab dirac --lr 0 --out " + dir,
                                 "lab dirac --loss wgan-gp --out " + dir}) {
    const duel::test::Run r = run_duel(args);
    INFO(args << ": " << r.err);
    CHECK(r.code != 0);
    CHECK(r.err.find("duel: ") == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  const duel::test::Run ok = run_duel("lab dirac --all --steps 50 --out " + dir);
  INFO(ok.err);
  REQUIRE(ok.code == 0);
  CHECK(slurp(dir + "/dirac_all.svg").find("<svg") == 0);
  const duel::test::Run one = run_duel("lab dirac --updates alternating --penalty r1 --steps 40 --start 0.5,-1 --out " + dir);
  REQUIRE(one.code == 0);
  const std::string csv = slurp(dir + "/trajectory.csv");
  CHECK(csv.rfind("step,theta,psi,distance\n0,0.5,-1,", 0) == 0);
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 42);  // header + 41 points
}

TEST_CASE("duel detect train, spectrum and attack run end to end on a tiny generator", "[detect][cli]") {
  const std::string dir = tmp_dir("detect_e2e");
  const duel::test::Run g = run_duel("train --model dcgan28 --loss ns --data synthetic --batch 8 --steps 2 --out " + dir + "/gan");
  INFO(g.err);
  REQUIRE(g.code == 0);
  const std::string fake = "checkpoint:" + dir + "/gan";
  const duel::test::Run t = run_duel("detect train --fake " + fake + " --n 128 --n-test 50 --epochs 1 --seeds 2 --out " + dir + "/det");
  INFO(t.err);
  REQUIRE(t.code == 0);
  CHECK(std::filesystem::exists(dir + "/det/detector.safetensors"));
  const std::string report = slurp(dir + "/det/detect.json");
  CHECK(report.find("\"auc_mean\"") != std::string::npos);
  CHECK(report.find("\"runs\"") != std::string::npos);
  // Two steps of an untrained generator on synthetic data: trivially caught.
  CHECK(t.out.find("ROC AUC 1.0000") != std::string::npos);
  const duel::test::Run s = run_duel("detect spectrum --fake " + fake + " --n 20 --out " + dir + "/spec");
  INFO(s.err);
  REQUIRE(s.code == 0);
  CHECK(s.out.find("no convT-against-nearest comparison") != std::string::npos);
  CHECK(slurp(dir + "/spec/spectrum.svg").find("<svg") == 0);
  // Against a generator that upsamples by nearest neighbour (--upsample nearest), on one figure,
  // each labelled by the upsampling its config.json names.
  const duel::test::Run near = run_duel("train --model dcgan --image-size 28 --ngf 8 --ndf 8 --channels 1 --upsample "
                                        "nearest --data synthetic --batch 8 --steps 1 --out " + dir + "/near");
  INFO(near.err);
  REQUIRE(near.code == 0);
  const duel::test::Run both = run_duel("detect spectrum --fake " + fake + " --fake checkpoint:" + dir + "/near --n 20 --out " +
                                        dir + "/spec2");
  INFO(both.err);
  REQUIRE(both.code == 0);
  CHECK(both.out.find("no convT-against-nearest") == std::string::npos);
  const nlohmann::json spectra = nlohmann::json::parse(slurp(dir + "/spec2/spectrum.json"));
  REQUIRE(spectra["fakes"].size() == 2);
  CHECK(spectra["fakes"][0]["upsample"] == "convT");
  CHECK(spectra["fakes"][1]["upsample"] == "nearest");
  CHECK(slurp(dir + "/spec2/spectrum.svg").find("near (nearest)") != std::string::npos);
  const duel::test::Run a = run_duel("detect attack --detector " + dir + "/det --fake " + fake +
                                     " --steps 2 --eval-every 1 --eval-n 100 --batch 8 --no-retrain --out " + dir + "/attack");
  INFO(a.err);
  REQUIRE(a.code == 0);
  const std::string metrics = slurp(dir + "/attack/metrics.jsonl");
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 3);  // steps 0, 1, 2
  CHECK(metrics.find("\"auc\"") != std::string::npos);
  CHECK(metrics.find("\"fid\"") != std::string::npos);
}
