// Judging and explaining GANs: the metrics on known cases and the sanity cases with the committed
// classifier, the 2D lab, the iteration graph, the report and their bad input.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tests/run_duel.h"
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gan/classifier.h"
#include "gan/lab.h"
#include "gan/metrics.h"

using namespace duel;
using namespace duel::gan;
namespace fs = std::filesystem;

namespace {

using test::tmp_dir;

using test::Run;
using test::run_duel;

// n points in d dimensions: standard normal times `scale` plus `shift`, from Philox.
FeatureSet gaussian(int64_t n, int64_t d, double shift, double scale, uint64_t seed) {
  Generator g(seed);
  FeatureSet s;
  s.n = n;
  s.dim = d;
  s.features = randn({n, d}, g, DType::f64).to_vector();
  for (double& v : s.features) v = v * scale + shift;
  return s;
}

FeatureSet with_probs(int64_t n, int64_t classes, const std::function<int64_t(int64_t)>& cls) {
  FeatureSet s;
  s.n = n;
  s.classes = classes;
  s.probs.assign(static_cast<size_t>(n * classes), 0.0);
  for (int64_t i = 0; i < n; ++i) s.probs[size_t(i * classes + cls(i))] = 1.0;
  return s;
}

}  // namespace

TEST_CASE("Frechet distance on Gaussians with known answers", "[metrics]") {
  const FeatureSet a = gaussian(20000, 4, 0.0, 1.0, 1), b = gaussian(20000, 4, 0.0, 1.0, 2);
  const Moments ma = moments(a);
  CHECK(std::abs(frechet_distance(ma, ma)) < 1e-9);
  CHECK(frechet_distance(ma, moments(b)) < 0.01);  // two samples of one distribution
  // N(0, I) against N(1, I): ||mu||^2 = 4;  N(0, I) against N(0, 4 I): sum (1 - 2)^2 = 4.
  CHECK(frechet_distance(ma, moments(gaussian(20000, 4, 1.0, 1.0, 3))) == Approx(4.0).epsilon(0.02));
  CHECK(frechet_distance(ma, moments(gaussian(20000, 4, 0.0, 2.0, 4))) == Approx(4.0).epsilon(0.03));
  // A rank-deficient covariance (every feature equal) stays finite and non-negative.
  FeatureSet flat = gaussian(500, 4, 0.0, 1.0, 5);
  for (int64_t i = 0; i < flat.n; ++i)
    for (int64_t k = 1; k < 4; ++k) flat.features[size_t(i * 4 + k)] = flat.features[size_t(i * 4)];
  const double d = frechet_distance(moments(flat), moments(flat));
  CHECK(std::isfinite(d));
  CHECK(std::abs(d) < 1e-6);
}

TEST_CASE("KID and precision/recall tell equal from different distributions", "[metrics]") {
  const FeatureSet a = gaussian(2000, 8, 0.0, 1.0, 1), b = gaussian(2000, 8, 0.0, 1.0, 2);
  const FeatureSet far = gaussian(2000, 8, 10.0, 1.0, 3);
  const Kid same = kernel_inception_distance(a, b, 5, 500), diff = kernel_inception_distance(a, far, 5, 500);
  CHECK(std::abs(same.mean) < 3 * same.std + 1e-3);
  CHECK(diff.mean > 100 * std::max(same.std, 1e-3));
  const PrecisionRecall p_same = precision_recall(a, b), p_far = precision_recall(a, far);
  CHECK(p_same.precision > 0.8);
  CHECK(p_same.recall > 0.8);
  CHECK(p_far.precision == 0.0);
  CHECK(p_far.recall == 0.0);
}

TEST_CASE("classifier score and class coverage", "[metrics]") {
  const FeatureSet spread = with_probs(1000, 10, [](int64_t i) { return i % 10; });
  const FeatureSet one = with_probs(1000, 10, [](int64_t) { return 3; });
  CHECK(classifier_score(spread) == Approx(10.0));
  CHECK(classifier_score(one) == Approx(1.0));
  const Coverage cs = class_coverage(spread), c1 = class_coverage(one);
  CHECK(cs.classes_covered == 10);
  CHECK(cs.entropy_bits == Approx(std::log2(10.0)));
  CHECK(c1.classes_covered == 1);
  CHECK(c1.entropy_bits == Approx(0.0).margin(1e-12));
  CHECK(c1.histogram[3] == 1000);
}

TEST_CASE("the committed classifier passes 90% and the sanity cases hold", "[metrics][classifier]") {
  const Run acc = run_duel("classifier eval --json");
  INFO(acc.err);
  REQUIRE(acc.code == 0);
  CHECK(nlohmann::json::parse(acc.out).at("test_accuracy").get<double>() >= 0.90);

  auto classifier = load_classifier(default_classifier_path());
  const Dataset test = load_dataset("fashion-mnist", false, 1, 28);
  const Dataset train = load_dataset("fashion-mnist", true, 1, 28);
  const FeatureSet real = extract_features(*classifier, test.images);
  const Moments mr = moments(real);
  const FeatureSet from_train = extract_features(*classifier, narrow(train.images, 0, 0, 3000));
  Generator g(1);
  const FeatureSet noise = extract_features(*classifier, uniform({3000, 1, 28, 28}, -1, 1, g));
  const EvalReport r_train = evaluate(real, mr, from_train), r_noise = evaluate(real, mr, noise);
  INFO(report_json(r_train) << "\n" << report_json(r_noise));
  CHECK(r_train.fid < 5.0);
  CHECK(r_noise.fid > 100 * r_train.fid);
  CHECK(r_train.pr.recall > 0.7);
  CHECK(r_noise.pr.recall < 0.05);
  CHECK(r_train.coverage.classes_covered == 10);
  CHECK(r_train.classifier_score > 7.0);
  // A generator that only draws trousers (class 1): about one class covered.
  std::vector<int64_t> trousers;
  for (int64_t i = 0; i < train.labels.numel() && trousers.size() < 1000; ++i)
    if (train.labels.data<int64_t>()[i] == 1) trousers.push_back(i);
  Tensor one_class = empty({int64_t(trousers.size()), 1, 28, 28});
  for (size_t i = 0; i < trousers.size(); ++i)
    std::copy_n(train.images.data<float>() + trousers[i] * 784, 784, one_class.data<float>() + i * 784);
  const EvalReport r_one = evaluate(real, mr, extract_features(*classifier, one_class));
  CHECK(r_one.coverage.classes_covered == 1);
  CHECK(r_one.coverage.entropy_bits < 0.3);
  CHECK(r_one.fid > 10 * r_train.fid);
}

TEST_CASE("duel eval prints JSON and refuses bad specs", "[metrics][cli]") {
  const Run r = run_duel("eval --fake noise --n 500 --json");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"fid", "kid", "precision", "recall", "classifier_score", "class_histogram", "classes_covered"})
    CHECK(j.contains(key));
  // Never silent: one progress line per phase, each with its time, on stderr (stdout stays JSON).
  for (const char* phase : {"eval: [1/4] making 500 pictures from noise",
                            "eval: [2/4] the sliced Wasserstein distance against fashion-mnist",
                            "eval: [3/4] the classifier's features of the Fashion-MNIST test set",
                            "eval: [4/4] features of the 500 pictures judged; Frechet distance"})
    CHECK(r.err.find(phase) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 4);
  CHECK(r.err.find(" s\n") != std::string::npos);
  // The text report names the classes of its histogram, with counts and shares.
  const Run text = run_duel("eval --fake dataset:fashion-mnist:test --n 100");
  INFO(text.err);
  REQUIRE(text.code == 0);
  for (const char* name : {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                           "Ankle boot"})
    CHECK(text.out.find(std::string("    ") + name) != std::string::npos);
  CHECK(text.out.find("predicted classes:") != std::string::npos);
  for (const auto& [args, expect] : std::vector<std::pair<std::string, std::string>>{
           {"eval --fake pictures --n 100", "unknown --fake"},
           {"eval --fake noise --n 5", "--n must be an integer from 10"},
           {"eval --fake checkpoint:/nonexistent --n 100", "no checkpoint"},
           {"eval --fake noise --n 100 --classifier /nonexistent.safetensors", "not found"}}) {
    const Run bad = run_duel(args);
    INFO(args << "\n" << bad.err);
    CHECK(bad.code != 0);
    CHECK(bad.err.find(expect) != std::string::npos);
  }
}

TEST_CASE("2D distributions assign points to their modes", "[lab]") {
  const Distribution2D ring = make_distribution("ring8");
  CHECK(ring.assign(2.0, 0.0) == 0);
  CHECK(ring.assign(0.0, 2.0) == 2);
  CHECK(ring.assign(0.0, 0.0) == -1);
  CHECK(ring.assign(2.07, 0.0) == -1);  // beyond 3 standard deviations (0.06)
  const Distribution2D grid = make_distribution("grid25");
  CHECK(grid.mode_count == 25);
  CHECK(grid.assign(4.0, 4.0) >= 0);
  const Distribution2D spiral = make_distribution("spiral");
  CHECK(spiral.assign(0.5, 0.0) == 0);   // its start
  CHECK(spiral.assign(3.0, 0.0) == 19);  // its end
  Generator g(1);
  const std::vector<double> p = ring.sample(1000, g).to_vector();
  int64_t inside = 0;
  for (size_t i = 0; i < p.size(); i += 2) inside += ring.assign(p[i], p[i + 1]) >= 0;
  // A disc of 3 sigma in two dimensions holds 1 - e^-4.5 = 98.9%: 988.9 of 1000 expected, std 3.3.
  CHECK(inside > 975);
  CHECK_THROWS_WITH(make_distribution("moons"), Catch::Contains("unknown distribution"));
}

TEST_CASE("duel lab writes frames, metrics and a page that plays them", "[lab][cli]") {
  const std::string dir = tmp_dir("lab");
  const Run r = run_duel("lab --dist ring8 --loss wgan-gp --steps 20 --frame-every 10 --batch 64 --out " + dir);
  INFO(r.err);
  REQUIRE(r.code == 0);
  for (const char* f : {"/frames/frame_000000.png", "/frames/frame_000010.png", "/frames/frame_000020.png", "/lab.html",
                        "/curves.svg"})
    CHECK(fs::exists(dir + f));
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines.back().at("modes").get<int>() == 8);
  CHECK(lines.back().contains("gp"));
  CHECK(lines.back().at("high_quality_fraction").get<double>() >= 0.0);
  std::ifstream html(dir + "/lab.html");
  std::stringstream ss;
  ss << html.rdbuf();
  // Self-contained: the frames are embedded, the charts include D(x) and D(G(z)), no file is fetched.
  const std::string page = ss.str();
  size_t embedded = 0;
  for (size_t at = page.find("data:image/png;base64,"); at != std::string::npos; at = page.find("data:image/png;base64,", at + 1))
    ++embedded;
  CHECK(embedded == 3);
  CHECK(page.find("src=\"frames/") == std::string::npos);
  CHECK(page.find("'frames/") == std::string::npos);
  CHECK(page.find("D_G_z") != std::string::npos);
  CHECK(page.find("class DuelChart") != std::string::npos);
  CHECK(page.find("<script src") == std::string::npos);
  CHECK(run_duel("lab --dist moons --steps 2 --out " + dir).code != 0);
  CHECK(run_duel("lab --dist ring8 --steps 2 --updates sideways --out " + dir).code != 0);
  CHECK(run_duel("lab --dist ring8 --steps 2 --opt-g lbfgs --out " + dir).code != 0);
  CHECK(run_duel("lab --dist ring8 --steps 0 --out " + dir).code != 0);
}

TEST_CASE("duel graph tells forward, backward and double-backward nodes apart", "[graph][cli]") {
  const std::string dir = tmp_dir("graph");
  const Run gp = run_duel("graph --model mlp --loss wgan-gp --out " + dir + "/gp.dot");
  const Run ns = run_duel("graph --model dcgan28 --loss ns --out " + dir + "/ns.dot");
  INFO(gp.err << ns.err);
  REQUIRE(gp.code == 0);
  REQUIRE(ns.code == 0);
  auto count = [](const std::string& out, const std::string& what) {
    const size_t at = out.find(what);
    const size_t start = out.rfind(' ', at - 1) + 1;
    return std::stoll(out.substr(start, at - start));
  };
  CHECK(count(gp.out, " forward") > 0);
  CHECK(count(gp.out, " backward,") > 0);
  CHECK(count(gp.out, " double-backward") > 0);  // the penalty's weight gradient
  CHECK(count(ns.out, " double-backward") == 0);  // no gradient of a gradient in the ns step
  std::ifstream dot(dir + "/gp.dot");
  std::stringstream ss;
  ss << dot.rdbuf();
  CHECK(ss.str().rfind("digraph", 0) == 0);
  CHECK(ss.str().find("conv2d") == std::string::npos);
  CHECK(ss.str().find("leaky_relu_backward") != std::string::npos);
  CHECK(ss.str().find("subgraph cluster_") != std::string::npos);
  CHECK(ss.str().find("D on x̂ · double backward") != std::string::npos);
  CHECK(run_duel("graph --model resnet --out " + dir + "/x.dot").code != 0);
  CHECK(run_duel("graph --model mlp --view poster --out " + dir + "/x.dot").code != 0);
  // --values and the summary, rendered to SVG by Graphviz.
  const Run values = run_duel("graph --model dcgan28 --loss wgan-gp --values --view summary --out " + dir + "/v.svg");
  INFO(values.err);
  REQUIRE(values.code == 0);
  const std::string svg = duel::test::slurp(dir + "/v.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("D on x̂ · double backward") != std::string::npos);
  const Run full = run_duel("graph --model dcgan28 --loss ns --values --out " + dir + "/values.dot");
  REQUIRE(full.code == 0);
  CHECK(duel::test::slurp(dir + "/values.dot").find("∇ ‖") != std::string::npos);
}

TEST_CASE("training with --eval-every adds the distances to metrics.jsonl and duel report renders a run", "[report][train]") {
  const std::string dir = tmp_dir("report");
  const Run r = run_duel("train --model dcgan28 --loss ns --data synthetic --batch 8 --steps 4 --log-every 2 "
                         "--eval-every 4 --eval-n 100 --sample-every 2 --out " + dir + "/run");
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::ifstream in(dir + "/run/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 2);
  CHECK_FALSE(lines[0].contains("fid"));
  CHECK(lines[1].contains("fid"));
  CHECK(lines[1].contains("classes_covered"));
  const Run rep = run_duel("report " + dir + "/run");
  INFO(rep.err);
  REQUIRE(rep.code == 0);
  std::ifstream html(dir + "/run/report.html");
  std::stringstream ss;
  ss << html.rdbuf();
  CHECK(ss.str().find("<svg") != std::string::npos);
  CHECK(ss.str().find("data:image/png;base64,") != std::string::npos);
  CHECK(ss.str().find("Frechet distance") != std::string::npos);
  CHECK(ss.str().find("src=\"samples/") == std::string::npos);  // self-contained: nothing linked
  CHECK(run_duel("report " + dir + "/missing").code != 0);
  const Run chart = run_duel("chart --metric loss_D --run a=" + dir + "/run --out " + dir + "/c.svg");
  CHECK(chart.code == 0);
  CHECK(fs::exists(dir + "/c.svg"));
  CHECK(run_duel("chart --metric nothing --run a=" + dir + "/run --out " + dir + "/c.svg").code != 0);
}

TEST_CASE("duel report shows only the settings that apply, and noisy curves smoothed over the raw ones",
          "[report]") {
  const std::string dir = tmp_dir("report_settings");
  for (const char* loss : {"ns", "wgan-gp"}) {
    const std::string run = dir + "/" + loss;
    const Run r = run_duel(std::string("train --data synthetic --batch 8 --steps 60 --log-every 1 --loss ") + loss +
                           " --out " + run);
    INFO(r.err);
    REQUIRE(r.code == 0);
    REQUIRE(run_duel("report " + run).code == 0);
    const std::string html = test::slurp(run + "/report.html");
    CHECK(html.find("<code>--loss</code></td><td>" + std::string(loss)) != std::string::npos);
    CHECK(html.find("<code>--lr-g</code>") != std::string::npos);
    // The penalty's weight only for wgan-gp; clipping (wgan) and classes (conditional) never here.
    CHECK((html.find("<code>--gp-lambda</code>") != std::string::npos) == (std::string(loss) == "wgan-gp"));
    CHECK(html.find("<code>--clip</code>") == std::string::npos);
    CHECK(html.find("<code>num_classes</code>") == std::string::npos);
    // 60 logged steps: a mean over 3 drawn bold, the logged values faint behind it.
    CHECK(html.find("losses (mean of 3 logged steps; faint: as logged)") != std::string::npos);
    CHECK(html.find("stroke-opacity=\"0.25\"") != std::string::npos);
  }
}
