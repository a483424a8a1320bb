#include "gan/detect.h"

#include <cstdint>
#include <cstring>
#include <system_error>
#include <unsupported/Eigen/FFT>
#include <utility>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/autograd.h"
#include "core/philox.h"
#include "gan/canvas.h"
#include "gan/data.h"
#include "gan/files.h"
#include "gan/metrics.h"
#include "gan/step.h"
#include "gan/svg.h"
#include "gan/trainer.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace duel::gan {

namespace fs = std::filesystem;

std::shared_ptr<nn::Sequential> make_detector() {
  auto d = std::make_shared<nn::Sequential>();
  d->add(std::make_shared<nn::Conv2d>(1, 16, 4, 2, 1))
      .add(std::make_shared<nn::LeakyReLU>(0.2))
      .add(std::make_shared<nn::Conv2d>(16, 32, 4, 2, 1))
      .add(std::make_shared<nn::LeakyReLU>(0.2))
      .add(std::make_shared<nn::Flatten>())
      .add(std::make_shared<nn::Linear>(32 * 7 * 7, 1));
  return d;
}

double roc_auc(const std::vector<double>& pos, const std::vector<double>& neg) {
  DUEL_CHECK(!pos.empty() && !neg.empty(), "roc_auc: needs at least one positive and one negative score");
  std::vector<std::pair<double, bool>> all;
  for (double s : pos) all.emplace_back(s, true);
  for (double s : neg) all.emplace_back(s, false);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double rank_sum = 0;  // ranks from 1, ties share their average rank
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double rank = 0.5 * double(i + 1 + j);
    for (size_t k = i; k < j; ++k)
      if (all[k].second) rank_sum += rank;
    i = j;
  }
  const double np = double(pos.size()), nn = double(neg.size());
  return (rank_sum - np * (np + 1) / 2) / (np * nn);
}

namespace {

std::vector<double> logits(nn::Module& detector, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<double> out;
  for (int64_t start = 0; start < images.size(0); start += 500) {
    const int64_t b = std::min<int64_t>(500, images.size(0) - start);
    for (double v : detector(narrow(images, 0, start, b)).to_vector()) out.push_back(v);
  }
  return out;
}

}  // namespace

DetectorScores score_detector(nn::Module& detector, const Tensor& real, const Tensor& fake) {
  const std::vector<double> r = logits(detector, real), f = logits(detector, fake);
  DetectorScores s;
  s.auc = roc_auc(r, f);
  int64_t right = 0;
  for (double v : r) right += v > 0;
  for (double v : f) right += v <= 0;
  s.accuracy = double(right) / double(r.size() + f.size());
  s.n_real = int64_t(r.size());
  s.n_fake = int64_t(f.size());
  return s;
}

Tensor images_of(const std::string& spec, int64_t n, uint64_t seed) {
  if (spec == "dataset:fashion-mnist:train" || spec == "dataset:fashion-mnist:test")
    return sample_images(load_dataset("fashion-mnist", spec.ends_with(":train"), 1, 28), n, seed);
  if (spec.rfind("checkpoint:", 0) == 0) {
    TrainConfig cfg;
    auto model = load_checkpoint_models(spec.substr(11), &cfg, false);
    DUEL_CHECK(cfg.model.image_size() == 28 && cfg.model.channels == 1, "detect: ", spec,
               " makes ", cfg.model.image_size(), "x", cfg.model.image_size(), "x", cfg.model.channels,
               " images; the detector reads 28x28 grayscale");
    return generate_images(*model, n, seed);
  }
  fail("detect: unknown image source '", spec, "' (expected dataset:fashion-mnist:train, "
       "dataset:fashion-mnist:test or checkpoint:DIR)");
}

namespace {

// Trains a fresh detector (seeded) on real and fake images [N, 1, 28, 28].
std::shared_ptr<nn::Sequential> train_detector(const Tensor& real, const Tensor& fake, int64_t epochs, int64_t batch,
                                               double lr, uint64_t seed) {
  Generator rng(seed);
  auto det = make_detector();
  nn::reset_all(*det, rng);
  nn::Adam opt(det->named_parameters(), lr, 0.9, 0.999);
  const Tensor images = cat({real, fake}, 0);
  const int64_t n = images.size(0), per = images.numel() / n;
  std::vector<double> target(static_cast<size_t>(n), 0.0);
  std::fill(target.begin(), target.begin() + real.size(0), 1.0);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t e = 0; e < epochs; ++e) {
    std::vector<std::pair<double, int64_t>> keys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) keys[size_t(i)] = {philox::uniform_f64(seed + 1, uint64_t(e), uint64_t(i)), i};
    std::sort(keys.begin(), keys.end());
    for (int64_t start = 0; start + batch <= n; start += batch) {
      Tensor x = empty({batch, 1, 28, 28});
      std::vector<double> t(static_cast<size_t>(batch));
      for (int64_t i = 0; i < batch; ++i) {
        const int64_t k = keys[size_t(start + i)].second;
        std::memcpy(x.data<float>() + i * per, images.data<float>() + k * per, size_t(per) * sizeof(float));
        t[size_t(i)] = target[size_t(k)];
      }
      const Tensor logit = reshape((*det)(x), {batch});
      const Tensor loss = binary_cross_entropy_with_logits(logit, from_vector(t, {batch}));
      std::vector<Tensor> params;
      for (const auto& [name, p] : opt.params()) params.push_back(p);
      const std::vector<Tensor> grads = grad({loss}, params);
      for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[i]);
      opt.step();
    }
  }
  return det;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

void make_dir(const std::string& d) {
  std::error_code ec;
  fs::create_directories(d, ec);
  DUEL_CHECK(!ec, "detect: cannot create ", d, ": ", ec.message());
}

}  // namespace

int run_detect_train(const DetectTrainConfig& c) {
  DUEL_CHECK(!c.out.empty(), "detect train: --out DIR is required");
  DUEL_CHECK(c.fake.rfind("checkpoint:", 0) == 0, "detect train: --fake must be checkpoint:DIR, got '", c.fake, "'");
  DUEL_CHECK(c.real == "dataset:fashion-mnist:train", "detect train: --real must be dataset:fashion-mnist:train "
             "(the held-out real images come from the test split), got '", c.real, "'");
  DUEL_CHECK(c.n >= 64 && c.n <= 60000 && c.n_test >= 10 && c.n_test <= 10000, "detect train: --n in [64, 60000], "
             "--n-test in [10, 10000]");
  DUEL_CHECK(c.epochs >= 1 && c.batch >= 2 && c.lr > 0 && c.seeds >= 1 && c.seeds <= 20,
             "detect train: --epochs, --batch, --lr positive; --seeds in [1, 20]");
  // A refused run leaves nothing behind: the generator must load before the folder is made.
  (void)images_of(c.fake, 1, 0);
  make_dir(c.out);
  const auto t0 = std::chrono::steady_clock::now();
  nlohmann::json runs = nlohmann::json::array();
  std::vector<double> aucs, accs;
  for (int64_t k = 0; k < c.seeds; ++k) {
    const uint64_t seed = c.seed + uint64_t(k);
    // Disjoint seeds for the training and the held-out fakes; held-out reals from the test split.
    const Tensor real = images_of(c.real, c.n, seed), fake = images_of(c.fake, c.n, 2 * seed + 1);
    const Tensor real_test = images_of("dataset:fashion-mnist:test", c.n_test, seed),
                 fake_test = images_of(c.fake, c.n_test, 2 * seed + 1'000'003);
    auto det = train_detector(real, fake, c.epochs, c.batch, c.lr, seed);
    const DetectorScores s = score_detector(*det, real_test, fake_test);
    std::printf("seed %llu: held-out accuracy %.4f, ROC AUC %.4f (%lld real, %lld generated)\n",
                (unsigned long long)seed, s.accuracy, s.auc, (long long)s.n_real, (long long)s.n_fake);
    std::fflush(stdout);
    runs.push_back({{"seed", seed}, {"accuracy", s.accuracy}, {"auc", s.auc}});
    aucs.push_back(s.auc);
    accs.push_back(s.accuracy);
    if (k == 0)
      nn::save_module(*det, c.out + "/detector.safetensors",
                      {{"fake", c.fake}, {"seed", std::to_string(seed)}, {"architecture", "duel detector v1"}});
  }
  const nlohmann::json j{{"real", c.real}, {"fake", c.fake}, {"n", c.n}, {"n_test", c.n_test}, {"epochs", c.epochs},
                         {"runs", runs}, {"auc_mean", mean_of(aucs)}, {"auc_std", std_of(aucs)},
                         {"accuracy_mean", mean_of(accs)}, {"accuracy_std", std_of(accs)}};
  write_text_atomic(c.out + "/detect.json", j.dump(2) + "\n");
  std::printf("%s: ROC AUC %.4f +- %.4f, accuracy %.4f +- %.4f over %lld seed(s) in %.0f s; detector in %s\n",
              c.fake.c_str(), mean_of(aucs), std_of(aucs), mean_of(accs), std_of(accs), (long long)c.seeds,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              (c.out + "/detector.safetensors").c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The spectrum
// ---------------------------------------------------------------------------------------------

std::vector<double> mean_power_spectrum(const Tensor& images) {
  DUEL_CHECK(images.dim() == 4 && images.size(1) == 1 && images.size(2) == images.size(3),
             "spectrum: expects images [N, 1, S, S], got ", describe(images));
  const int64_t n = images.size(0), s = images.size(2);
  const std::vector<double> v = images.to_vector();
  Eigen::FFT<double> fft;
  std::vector<double> power(static_cast<size_t>(s * s), 0.0);
  std::vector<std::complex<double>> rows(static_cast<size_t>(s * s)), col(static_cast<size_t>(s)), out(static_cast<size_t>(s));
  std::vector<double> line(static_cast<size_t>(s));
  for (int64_t i = 0; i < n; ++i) {
    const double* img = v.data() + i * s * s;
    for (int64_t r = 0; r < s; ++r) {  // rows, then columns
      std::copy(img + r * s, img + (r + 1) * s, line.begin());
      fft.fwd(out, line);
      for (int64_t c = 0; c < s; ++c) rows[size_t(r * s + c)] = out[size_t(c)];
    }
    for (int64_t c = 0; c < s; ++c) {
      for (int64_t r = 0; r < s; ++r) col[size_t(r)] = rows[size_t(r * s + c)];
      fft.fwd(out, col);
      for (int64_t r = 0; r < s; ++r) {
        // Centred: frequency (0, 0) at (s/2, s/2).
        const int64_t rr = (r + s / 2) % s, cc = (c + s / 2) % s;
        power[size_t(rr * s + cc)] += std::norm(out[size_t(r)]);
      }
    }
  }
  for (double& p : power) p /= double(n);
  return power;
}

std::vector<double> azimuthal_average(const std::vector<double>& spectrum, int64_t s) {
  const int64_t radii = s / 2 + 1;
  std::vector<double> sum(static_cast<size_t>(radii), 0.0), count(static_cast<size_t>(radii), 0.0);
  for (int64_t r = 0; r < s; ++r)
    for (int64_t c = 0; c < s; ++c) {
      const int64_t k = int64_t(std::lround(std::hypot(double(r - s / 2), double(c - s / 2))));
      if (k >= radii) continue;
      sum[size_t(k)] += spectrum[size_t(r * s + c)];
      count[size_t(k)] += 1;
    }
  for (int64_t k = 0; k < radii; ++k) sum[size_t(k)] /= std::max(1.0, count[size_t(k)]);
  return sum;
}

namespace {

// A small PNG (as a data URI) of a [s, s] map scaled from [lo, hi]: dark blue to yellow, or
// (diverging) blue through white to red. `path` is a scratch file.
std::string heat_png(const std::vector<double>& map, int64_t s, double lo, double hi, bool diverging, const std::string& path) {
  constexpr int kCell = 8;
  Canvas canvas(int(s) * kCell, int(s) * kCell);
  for (int64_t r = 0; r < s; ++r)
    for (int64_t c = 0; c < s; ++c) {
      const double t = std::clamp((map[size_t(r * s + c)] - lo) / std::max(hi - lo, 1e-12), 0.0, 1.0);
      Rgb col;
      if (diverging) {  // blue below the middle, white at it, red above
        const double a = std::abs(2 * t - 1);
        col = t < 0.5 ? Rgb{uint8_t(255 - 200 * a), uint8_t(255 - 120 * a), 255} : Rgb{255, uint8_t(255 - 170 * a), uint8_t(255 - 200 * a)};
      } else {  // dark blue (low) to yellow (high)
        col = {uint8_t(30 + 225 * t), uint8_t(30 + 200 * t), uint8_t(90 + 60 * (1 - t))};
      }
      canvas.fill_rect(int(c) * kCell, int(r) * kCell, int(c + 1) * kCell, int(r + 1) * kCell, col);
    }
  canvas.save_png(path);
  const std::string bytes = read_text(path);
  fs::remove(path);
  static const char* kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = uint8_t(bytes[i]), b1 = i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) : 0,
                   b2 = i + 2 < bytes.size() ? uint8_t(bytes[i + 2]) : 0, v = b0 << 16 | b1 << 8 | b2;
    b64 += kDigits[v >> 18 & 63];
    b64 += kDigits[v >> 12 & 63];
    b64 += i + 1 < bytes.size() ? kDigits[v >> 6 & 63] : '=';
    b64 += i + 2 < bytes.size() ? kDigits[v & 63] : '=';
  }
  return "data:image/png;base64," + b64;
}

// How a checkpoint's generator upsamples: its config.json's "upsample" (convT or nearest; runs
// from before the choice existed used transposed convolutions).
std::string upsampling_of(const std::string& spec) {
  const std::string ckpt = checkpoint_dir(spec.substr(11));
  return upsample_name(config_from_json(read_text(ckpt + "/config.json"), ckpt + "/config.json").model.upsample);
}

}  // namespace

int run_detect_spectrum(const SpectrumConfig& c) {
  DUEL_CHECK(!c.out.empty(), "detect spectrum: --out DIR is required");
  DUEL_CHECK(!c.fakes.empty(), "detect spectrum: give at least one --fake checkpoint:DIR");
  DUEL_CHECK(c.n >= 10 && c.n <= 10000, "detect spectrum: --n in [10, 10000]");
  const int64_t s = 28;
  const std::vector<double> real = mean_power_spectrum(images_of(c.real, c.n, c.seed));
  auto log10v = [](std::vector<double> v) {
    for (double& x : v) x = std::log10(x + 1e-12);
    return v;
  };
  const std::vector<double> real_log = log10v(real);
  double lo = *std::min_element(real_log.begin(), real_log.end()), hi = *std::max_element(real_log.begin(), real_log.end());
  struct Fake {
    std::string spec, upsample;
    std::vector<double> log;
  };
  std::vector<Fake> fakes;
  for (const std::string& f : c.fakes) {
    Fake k{f, upsampling_of(f), log10v(mean_power_spectrum(images_of(f, c.n, c.seed + 1)))};
    lo = std::min(lo, *std::min_element(k.log.begin(), k.log.end()));
    hi = std::max(hi, *std::max_element(k.log.begin(), k.log.end()));
    fakes.push_back(std::move(k));
  }
  make_dir(c.out);  // after every generator loaded: a refused run leaves nothing behind
  bool nearest = false, convt = false;
  for (const Fake& f : fakes) (f.upsample == "nearest" ? nearest : convt) = true;
  if (!nearest)
    std::printf("note: every generator here upsamples with transposed convolutions, so there is no "
                "convT-against-nearest comparison in this figure (add a --fake trained with --upsample nearest)\n");
  else if (!convt)
    std::printf("note: every generator here upsamples by nearest neighbour, so there is no convT-against-nearest "
                "comparison in this figure (add a --fake trained with --upsample convT)\n");

  // Figure: the real spectrum, each generator's and its difference to the real one, and the
  // azimuthal averages.
  constexpr int kTile = 224, kGap = 24;
  const int columns = 1 + 2 * int(fakes.size());
  const int width = std::max(900, kGap + columns * (kTile + kGap)), height = 56 + kTile + 40 + 600;
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
      << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" "
      << "fill=\"white\"/><text x=\"" << kGap << "\" y=\"20\" font-size=\"13\">Mean power spectrum (log10, zero frequency "
      << "in the centre, " << c.n << " images each); difference: generated minus real (red: more power)</text>";
  auto tile = [&](int col, const std::string& title, const std::string& uri) {
    const int x = kGap + col * (kTile + kGap);
    svg << "<text x=\"" << x << "\" y=\"46\">" << html_escape(title) << "</text><image x=\"" << x << "\" y=\"52\" width=\""
        << kTile << "\" height=\"" << kTile << "\" href=\"" << uri << "\"/>";
  };
  const std::string tmp = c.out + "/.spectrum_tile.png";
  tile(0, "real (" + c.real.substr(8) + ")", heat_png(real_log, s, lo, hi, false, tmp));
  nlohmann::json j{{"real", c.real}, {"n", c.n}, {"size", s}, {"real_log10_power", real_log},
                   {"real_radial", azimuthal_average(real, s)}, {"fakes", nlohmann::json::array()}};
  std::vector<Series> radial{{"real", chart_colour(0), {}, {}}}, axis{{"real", chart_colour(0), {}, {}}};
  const std::vector<double> real_radial = azimuthal_average(real, s);
  for (size_t k = 0; k < real_radial.size(); ++k) {
    radial[0].x.push_back(double(k));
    radial[0].y.push_back(real_radial[k]);
  }
  // Along the horizontal frequency axis (vertical frequency 0), where the upsampling's peaks at
  // multiples of S/4 show without being averaged away.
  auto axis_profile = [&](const std::vector<double>& power, Series& out) {
    for (int64_t u = 0; u <= s / 2; ++u) {
      out.x.push_back(double(u));
      out.y.push_back(power[size_t((s / 2) * s + (s / 2 + u) % s)]);
    }
  };
  axis_profile(real, axis[0]);
  for (size_t f = 0; f < fakes.size(); ++f) {
    std::vector<double> diff(real_log.size());
    double m = 1e-9;
    for (size_t i = 0; i < diff.size(); ++i) {
      diff[i] = fakes[f].log[i] - real_log[i];
      m = std::max(m, std::abs(diff[i]));
    }
    const std::string name = fakes[f].spec.substr(11) + " (" + fakes[f].upsample + ")";
    tile(1 + 2 * int(f), "generated: " + name, heat_png(fakes[f].log, s, lo, hi, false, tmp));
    tile(2 + 2 * int(f), "difference (±" + std::to_string(m).substr(0, 4) + " decades)", heat_png(diff, s, -m, m, true, tmp));
    std::vector<double> lin(fakes[f].log.size());
    for (size_t i = 0; i < lin.size(); ++i) lin[i] = std::pow(10.0, fakes[f].log[i]);
    const std::vector<double> rad = azimuthal_average(lin, s);
    Series series{name, chart_colour(1 + f), {}, {}};
    for (size_t k = 0; k < rad.size(); ++k) {
      series.x.push_back(double(k));
      series.y.push_back(rad[k]);
    }
    radial.push_back(series);
    Series along{name, chart_colour(1 + f), {}, {}};
    axis_profile(lin, along);
    axis.push_back(along);
    j["fakes"].push_back({{"spec", fakes[f].spec}, {"upsample", fakes[f].upsample}, {"log10_power", fakes[f].log},
                          {"radial", rad}, {"max_abs_log10_difference", m}});
  }
  svg << "<g transform=\"translate(" << kGap << "," << 56 + kTile + 30 << ")\">"
      << svg_line_chart("azimuthal average of the power spectrum (log scale)", radial, "frequency radius (cycles per image)",
                        width - 2 * kGap, 290, true)
      << "</g><g transform=\"translate(" << kGap << "," << 56 + kTile + 30 + 300 << ")\">"
      << svg_line_chart("power along the horizontal frequency axis (log scale)", axis, "horizontal frequency (cycles per image)",
                        width - 2 * kGap, 290, true)
      << "</g></svg>\n";
  write_text_atomic(c.out + "/spectrum.svg", svg.str());
  write_text_atomic(c.out + "/spectrum.json", j.dump() + "\n");
  for (size_t f = 0; f < fakes.size(); ++f) {
    const auto& rad = j["fakes"][f]["radial"];
    std::printf("%s: power at the highest radii (generated / real):", fakes[f].spec.c_str());
    for (size_t k = real_radial.size() - 4; k < real_radial.size(); ++k)
      std::printf(" r=%zu %.2f", k, rad[k].get<double>() / real_radial[k]);
    std::printf("\n");
  }
  std::printf("wrote %s/spectrum.svg and spectrum.json\n", c.out.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The arms race
// ---------------------------------------------------------------------------------------------

int run_detect_attack(const AttackConfig& c) {
  DUEL_CHECK(!c.out.empty(), "detect attack: --out DIR is required");
  DUEL_CHECK(c.fake.rfind("checkpoint:", 0) == 0, "detect attack: --fake must be checkpoint:DIR, got '", c.fake, "'");
  DUEL_CHECK(c.steps >= 1 && c.batch >= 2 && c.eval_every >= 1 && c.eval_n >= 100 && c.weight >= 0 && c.lr > 0,
             "detect attack: --steps, --batch, --eval-every positive, --eval-n >= 100, --weight >= 0, --lr > 0");
  const std::string det_path = c.detector + "/detector.safetensors";
  auto detector = make_detector();
  nn::load_module(*detector, fs::exists(det_path) ? det_path : c.detector, "detector");
  detector->eval();
  TrainConfig cfg;
  auto gan = load_checkpoint_models(c.fake.substr(11), &cfg, true);
  DUEL_CHECK(cfg.model.image_size() == 28 && cfg.model.channels == 1 && !cfg.model.conditional,
             "detect attack: needs an unconditional 28x28 grayscale generator");
  make_dir(c.out);

  // The GAN goes on training (its critic on real data, as before); the generator's loss gains
  // weight * BCE(detector(G(z)), real). The detector is frozen: no optimiser holds its weights.
  OptimConfig oc = cfg.optim;
  oc.lr_g = c.lr;
  GanStep step(*gan, oc);
  const Dataset train = load_dataset("fashion-mnist", true, 1, 28);
  const Tensor real_test = images_of("dataset:fashion-mnist:test", c.eval_n, c.seed + 17);
  auto classifier = load_classifier(default_classifier_path());
  const Dataset test = load_dataset("fashion-mnist", false, 1, 28);
  const FeatureSet real_features = extract_features(*classifier, test.images);
  const Moments real_moments = moments(real_features);
  Generator rng(c.seed);
  std::ofstream metrics(c.out + "/metrics.jsonl", std::ios::trunc);
  DUEL_CHECK(metrics.good(), "detect attack: cannot write ", c.out, "/metrics.jsonl");
  Series auc{"detector ROC AUC", chart_colour(0), {}, {}}, fid{"Frechet distance", chart_colour(1), {}, {}};
  auto evaluate_at = [&](int64_t s) {
    const Tensor fake = generate_images(*gan, c.eval_n, c.seed + 1'000'003);  // the same z every time
    const DetectorScores d = score_detector(*detector, real_test, fake);
    const double f = frechet_distance(real_moments, moments(extract_features(*classifier, fake)));
    metrics << nlohmann::json{{"step", s}, {"auc", d.auc}, {"accuracy", d.accuracy}, {"fid", f}}.dump() << "\n";
    metrics.flush();
    DUEL_CHECK(metrics.good(), "detect attack: cannot write ", c.out, "/metrics.jsonl (disk full?)");
    auc.x.push_back(double(s));
    auc.y.push_back(d.auc);
    fid.x.push_back(double(s));
    fid.y.push_back(f);
    std::printf("step %lld: detector AUC %.4f, accuracy %.4f, Frechet distance %.2f\n", (long long)s, d.auc, d.accuracy, f);
    std::fflush(stdout);
  };
  evaluate_at(0);
  const bool gp = oc.loss == LossKind::wgan_gp;
  std::vector<Tensor> g_params;
  for (const auto& [n, p] : step.opt_g().params()) g_params.push_back(p);
  for (int64_t s = 1; s <= c.steps; ++s) {
    Tensor fake;
    for (int64_t k = 0; k < oc.n_critic; ++k) {
      const Tensor real = sample_images(train, c.batch, c.seed * 1'000'003 + uint64_t(s * oc.n_critic + k));
      const Tensor z = randn({c.batch, cfg.model.nz, 1, 1}, rng);
      const Tensor eps = gp ? rand({c.batch, 1, 1, 1}, rng) : Tensor();
      fake = gan->generate(z);
      step.d_update(real, Tensor(), fake, eps);
    }
    const Tensor adversarial = g_loss(oc.loss, gan->critic(fake));
    const Tensor fool = binary_cross_entropy_with_logits(reshape((*detector)(fake), {c.batch}), ones({c.batch}));
    const Tensor loss = add(adversarial, fool * c.weight);
    const std::vector<Tensor> grads = grad({loss}, g_params, {}, false, true);
    for (size_t i = 0; i < g_params.size(); ++i) g_params[i].set_grad(grads[i].defined() ? grads[i] : zeros_like(g_params[i]));
    step.opt_g().step();
    if (s % c.eval_every == 0 || s == c.steps) evaluate_at(s);
  }
  std::string chart = svg_line_chart("the frozen detector against the fine-tuned generator", {auc}, "fine-tuning step", 640, 260);
  std::string chart2 = svg_line_chart("Frechet distance to the test set (lower is better)", {fid}, "fine-tuning step", 640, 260);
  nlohmann::json summary{{"final_auc", auc.y.back()}, {"start_auc", auc.y.front()}, {"start_fid", fid.y.front()},
                         {"final_fid", fid.y.back()}};
  if (c.retrain) {
    // The defender's answer: a fresh detector trained on the fine-tuned generator's images.
    const Tensor real = images_of("dataset:fashion-mnist:train", 4000, c.seed + 5), fake = generate_images(*gan, 4000, c.seed + 7);
    auto fresh = train_detector(real, fake, 3, 64, 1e-3, c.seed + 9);
    const DetectorScores d = score_detector(*fresh, real_test, generate_images(*gan, c.eval_n, c.seed + 1'000'003));
    std::printf("a detector retrained on the fine-tuned generator: AUC %.4f, accuracy %.4f\n", d.auc, d.accuracy);
    summary["retrained_auc"] = d.auc;
    summary["retrained_accuracy"] = d.accuracy;
  }
  write_text_atomic(c.out + "/attack.json", summary.dump(2) + "\n");
  write_text_atomic(c.out + "/attack.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"520\">" + chart +
                                               "<g transform=\"translate(0,260)\">" + chart2 + "</g></svg>\n");
  nn::save_module(gan->G(), c.out + "/G.safetensors");
  std::printf("wrote %s/metrics.jsonl, attack.svg, attack.json and G.safetensors\n", c.out.c_str());
  return 0;
}

}  // namespace duel::gan
