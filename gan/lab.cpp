#include "gan/lab.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>

#include "core/autograd.h"
#include "gan/canvas.h"
#include "gan/files.h"
#include "gan/lab_session.h"
#include "gan/svg.h"
#include "gan/web_assets.h"
#include "nn/layers.h"

namespace duel::gan {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Distributions
// ---------------------------------------------------------------------------------------------

Distribution2D make_distribution(const std::string& name) {
  Distribution2D d;
  d.name = name;
  if (name == "ring8") {
    for (int k = 0; k < 8; ++k) {
      d.modes.push_back(2.0 * std::cos(2 * M_PI * k / 8));
      d.modes.push_back(2.0 * std::sin(2 * M_PI * k / 8));
    }
    d.std = 0.02;
    d.view = 3.0;
    d.mode_count = 8;
  } else if (name == "grid25") {
    for (int i = -2; i <= 2; ++i)
      for (int j = -2; j <= 2; ++j) {
        d.modes.push_back(2.0 * i);
        d.modes.push_back(2.0 * j);
      }
    d.std = 0.05;
    d.view = 6.0;
    d.mode_count = 25;
  } else if (name == "spiral") {
    // r = 0.5 + 2.5 t, angle 4 pi t for t in [0, 1]: two turns. Densely sampled for distances;
    // coverage counts 20 equal segments of t.
    for (int i = 0; i <= 2000; ++i) {
      const double t = i / 2000.0, r = 0.5 + 2.5 * t;
      d.modes.push_back(r * std::cos(4 * M_PI * t));
      d.modes.push_back(r * std::sin(4 * M_PI * t));
    }
    d.std = 0.05;
    d.view = 3.5;
    d.mode_count = 20;
  } else if (name == "gaussian") {
    // One Gaussian off the origin, the 2D cousin of the Dirac GAN: nothing to collapse onto, so
    // what goes wrong is convergence itself.
    d.modes = {1.5, 1.0};
    d.std = 0.02;
    d.view = 3.0;
    d.mode_count = 1;
  } else {
    fail("lab: unknown distribution '", name, "' (expected ring8, grid25, spiral or gaussian)");
  }
  return d;
}

Tensor Distribution2D::sample(int64_t n, Generator& g) const {
  const int64_t points = int64_t(modes.size() / 2);
  const std::vector<double> pick = uniform({n}, 0, 1, g, DType::f64).to_vector();
  const std::vector<double> noise = randn({n, 2}, g, DType::f64).to_vector();
  std::vector<double> v(static_cast<size_t>(2 * n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t m = std::min(points - 1, int64_t(pick[size_t(i)] * double(points)));
    v[size_t(2 * i)] = modes[size_t(2 * m)] + std * noise[size_t(2 * i)];
    v[size_t(2 * i + 1)] = modes[size_t(2 * m + 1)] + std * noise[size_t(2 * i + 1)];
  }
  return from_vector(v, {n, 2});
}

int64_t Distribution2D::nearest(double x, double y) const {
  const int64_t points = int64_t(modes.size() / 2);
  int64_t best = 0;
  double best_d2 = INFINITY;
  for (int64_t m = 0; m < points; ++m) {
    const double dx = x - modes[size_t(2 * m)], dy = y - modes[size_t(2 * m + 1)];
    if (dx * dx + dy * dy < best_d2) {
      best_d2 = dx * dx + dy * dy;
      best = m;
    }
  }
  return points == mode_count ? best : std::min(mode_count - 1, best * mode_count / points);
}

int64_t Distribution2D::assign(double x, double y) const {
  const int64_t points = int64_t(modes.size() / 2);
  int64_t best = -1;
  double best_d2 = 9 * std * std;  // within 3 standard deviations
  for (int64_t m = 0; m < points; ++m) {
    const double dx = x - modes[size_t(2 * m)], dy = y - modes[size_t(2 * m + 1)];
    const double d2 = dx * dx + dy * dy;
    if (d2 <= best_d2) {
      best_d2 = d2;
      best = m;
    }
  }
  if (best < 0 || points == mode_count) return best;
  return std::min(mode_count - 1, best * mode_count / points);  // spiral: its segment
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

MlpGan::MlpGan(int64_t z_dim, int64_t hidden)
    : z_dim_(z_dim), g_(std::make_shared<nn::Sequential>()), d_(std::make_shared<nn::Sequential>()) {
  g_->add(std::make_shared<nn::Linear>(z_dim, hidden))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Linear>(hidden, hidden))
      .add(std::make_shared<nn::ReLU>())
      .add(std::make_shared<nn::Linear>(hidden, 2));
  d_->add(std::make_shared<nn::Linear>(2, hidden))
      .add(std::make_shared<nn::LeakyReLU>(0.2))
      .add(std::make_shared<nn::Linear>(hidden, hidden))
      .add(std::make_shared<nn::LeakyReLU>(0.2))
      .add(std::make_shared<nn::Linear>(hidden, 1));
}

Tensor MlpGan::generate(const Tensor& z) {
  NameScope s("G");
  return (*g_)(z);
}

Tensor MlpGan::critic(const Tensor& x, const Tensor&) {
  NameScope s("D");
  return reshape((*d_)(x), {x.size(0)});
}

Coverage2D coverage(const Distribution2D& dist, const Tensor& points) {
  const std::vector<double> p = points.to_vector();
  const int64_t n = points.size(0);
  std::vector<int64_t> counts(static_cast<size_t>(dist.mode_count), 0);
  int64_t good = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t m = dist.assign(p[size_t(2 * i)], p[size_t(2 * i + 1)]);
    if (m >= 0) {
      ++good;
      ++counts[size_t(m)];
    }
  }
  Coverage2D c;
  c.high_quality = double(good) / double(n);
  const double needed = 0.1 * double(n) / double(dist.mode_count);
  for (int64_t k : counts) c.modes_covered += double(k) >= needed;
  std::vector<int64_t> nearest(static_cast<size_t>(dist.mode_count), 0);
  for (int64_t i = 0; i < n; ++i) ++nearest[size_t(dist.nearest(p[size_t(2 * i)], p[size_t(2 * i + 1)]))];
  const auto top = std::max_element(nearest.begin(), nearest.end());
  c.top_mode = int64_t(top - nearest.begin());
  c.top_share = double(*top) / double(n);
  return c;
}

std::vector<double> critic_belief(LossKind loss, const std::vector<double>& score) {
  std::vector<double> out(score.size());
  if (score.empty()) return out;
  if (is_probabilistic(loss)) {
    for (size_t i = 0; i < score.size(); ++i) out[i] = 1 / (1 + std::exp(-score[i]));
    return out;
  }
  std::vector<double> sorted = score;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double median = sorted[sorted.size() / 2];
  double spread = 0;
  for (double s : score) spread += std::abs(s - median);
  spread = std::max(spread / double(score.size()), 1e-6);
  for (size_t i = 0; i < score.size(); ++i) out[i] = 0.5 + 0.5 * std::tanh((score[i] - median) / (2 * spread));
  return out;
}

namespace {

// The frame: the critic's belief as a heat map, real points (green), generated points
// (purple), and for some generated points an arrow along -grad_x of the generator's loss: where
// the generator's update pushes that sample.
void draw_frame(const std::string& path, LabSession& lab) {
  constexpr int kSize = 480, kGrid = 120;
  Canvas canvas(kSize, kSize);
  const nlohmann::json v = lab.view(kGrid, 512, 2);
  const double view = v["view"].get<double>();
  auto to_px = [&](double x) { return (x + view) / (2 * view) * kSize; };
  const std::vector<double> belief = v["heat"].get<std::vector<double>>();
  const int cell = kSize / kGrid;
  for (int j = 0; j < kGrid; ++j)
    for (int i = 0; i < kGrid; ++i)
      canvas.fill_rect(i * cell, j * cell, (i + 1) * cell, (j + 1) * cell, belief_colour(belief[size_t(j * kGrid + i)]));
  const std::vector<double> r = v["real"].get<std::vector<double>>(), f = v["fake"].get<std::vector<double>>();
  for (size_t i = 0; i + 1 < r.size(); i += 2) canvas.disc(to_px(r[i]), kSize - to_px(r[i + 1]), 2.0, {20, 120, 50}, 0.7);
  for (size_t i = 0; i + 1 < f.size(); i += 2) canvas.disc(to_px(f[i]), kSize - to_px(f[i + 1]), 2.0, {110, 40, 150}, 0.7);
  for (const auto& a : v["arrows"]) {
    const double dx = a[2].get<double>(), dy = a[3].get<double>();
    // A fixed scale across frames and runs, so a vanishing gradient shows as a vanishing arrow.
    const double norm = std::hypot(dx, dy), len = std::min(40.0, 25.0 * norm);
    if (len < 0.5) continue;
    const double x0 = to_px(a[0].get<double>()), y0 = kSize - to_px(a[1].get<double>());
    canvas.arrow(x0, y0, x0 + dx / norm * len, y0 - dy / norm * len, {40, 40, 40}, 1.2);
  }
  canvas.save_png(path);
}

std::string base64(const std::string& bytes) {
  static const char* kDigits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = uint8_t(bytes[i]), b1 = i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) : 0,
                   b2 = i + 2 < bytes.size() ? uint8_t(bytes[i + 2]) : 0;
    const uint32_t v = b0 << 16 | b1 << 8 | b2;
    out += kDigits[v >> 18 & 63];
    out += kDigits[v >> 12 & 63];
    out += i + 1 < bytes.size() ? kDigits[v >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? kDigits[v & 63] : '=';
  }
  return out;
}

// JSON inside a <script> element: "</" would end the element early.
std::string script_json(const nlohmann::json& j) {
  std::string s = j.dump();
  for (size_t at = s.find("</"); at != std::string::npos; at = s.find("</", at + 2)) s.replace(at, 2, "<\\/");
  return s;
}

std::string lab_html(const LabConfig& c, const Distribution2D& dist, const nlohmann::json& frames,
                     const nlohmann::json& metrics) {
  std::ostringstream os;
  const std::string title = c.dist + " with the " + loss_name(c.optim.loss) + " loss";
  os << "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
     << "<title>duel lab: " << html_escape(title) << "</title><style>" << web_asset("lab.css") << "</style></head><body>"
     << "<h1>duel lab: " << html_escape(title) << "</h1>"
     << "<p>" << c.steps << " steps, batch " << c.batch << ", " << c.optim.n_critic << " critic update(s) per step ("
     << html_escape(c.order) << "), optimisers G " << optimiser_kind(c.optim, true) << " " << c.optim.lr_g << " / D "
     << optimiser_kind(c.optim, false) << " " << c.optim.lr_d;
  if (c.optim.loss == LossKind::wgan_gp) os << ", λ " << c.optim.gp_lambda;
  os << ", seed " << c.seed << ".</p>";
  if (!c.note.empty()) os << "<p class=\"note\">" << html_escape(c.note) << "</p>";
  os << "<div id=\"lab\"><div class=\"player\"><div class=\"frame\"><img id=\"frame\" alt=\"frame\">"
     << "<span id=\"steplabel\"></span></div>"
     << "<div class=\"controls\"><button id=\"play\">play</button> <input id=\"bar\" type=\"range\" min=\"0\" value=\"0\"> "
     << "<span id=\"label\"></span></div>"
     << "<p class=\"legend\"><span style=\"background:#145032\"></span>real points"
     << "<span style=\"background:#6e2896\"></span>generated points<span style=\"background:#8cd6a0\"></span>critic: real"
     << "<span style=\"background:#c496de\"></span>critic: fake<br>arrows: where the generator's gradient pushes its "
        "samples (a fixed scale: short arrows are small gradients)</p></div>"
     << "<div id=\"charts\" class=\"charts\"></div></div>"
     << "<script>const LAB=" << script_json({{"frames", frames}, {"metrics", metrics}, {"modes", dist.mode_count},
                                              {"probabilistic", is_probabilistic(c.optim.loss)}})
     << ";</script><script>" << web_asset("charts.js") << "</script><script>" << web_asset("lab_player.js")
     << "</script></body></html>\n";
  return os.str();
}

}  // namespace

int run_lab(const LabConfig& c) {
  DUEL_CHECK(!c.out.empty(), "lab: --out DIR is required");
  DUEL_CHECK(c.steps >= 1 && c.batch >= 2 && c.z_dim >= 1 && c.hidden >= 1, "lab: --steps, --batch (>= 2), "
             "--z-dim and --hidden must be positive");
  LabSettings settings;
  settings.dist = c.dist;
  settings.optim = c.optim;
  settings.order = parse_update_order(c.order);
  settings.batch = c.batch;
  settings.z_dim = c.z_dim;
  settings.hidden = c.hidden;
  settings.seed = c.seed;
  LabSession lab(settings);  // validates everything before a file is written
  const int64_t frame_every = c.frame_every > 0 ? c.frame_every : std::max<int64_t>(1, c.steps / 100);
  std::error_code ec;
  fs::create_directories(c.out + "/frames", ec);
  DUEL_CHECK(!ec, "lab: cannot create ", c.out, "/frames: ", ec.message());

  std::ofstream metrics(c.out + "/metrics.jsonl", std::ios::trunc);
  DUEL_CHECK(metrics.good(), "lab: cannot write ", c.out, "/metrics.jsonl");
  nlohmann::json frames = nlohmann::json::array(), rows = nlohmann::json::array();
  Series modes{"modes covered", chart_colour(0), {}, {}}, quality{"high-quality fraction", chart_colour(1), {}, {}};
  Series ld{"loss_D", chart_colour(0), {}, {}}, lg{"loss_G", chart_colour(1), {}, {}};
  Series dx{"D(x)", chart_colour(0), {}, {}}, dgz{"D(G(z))", chart_colour(1), {}, {}};
  Series gn{"grad norm G", chart_colour(1), {}, {}}, dn{"grad norm D", chart_colour(0), {}, {}};
  Series top{"top mode's share", chart_colour(2), {}, {}};
  auto push = [](Series& s, double x, const std::optional<double>& y) {
    if (!y) return;
    s.x.push_back(x);
    s.y.push_back(*y);
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s <= c.steps; ++s) {
    if (s > 0) lab.step();  // frame 0 shows the initial state
    if (s % frame_every != 0 && s != c.steps) continue;
    lab.measure_coverage();
    const LabMetrics& m = lab.history().back();
    char name[64];
    std::snprintf(name, sizeof name, "/frames/frame_%06lld.png", (long long)s);
    draw_frame(c.out + name, lab);
    frames.push_back({{"step", s}, {"src", "data:image/png;base64," + base64(read_text(c.out + name))}});
    nlohmann::json j = m.json();
    j["modes"] = lab.distribution().mode_count;
    j.erase("critic_steps");
    rows.push_back(j);
    const double x = double(s);
    push(ld, x, m.loss_d);
    push(lg, x, m.loss_g);
    push(dx, x, m.d_x);
    push(dgz, x, m.d_g_z);
    push(gn, x, m.grad_norm_g);
    push(dn, x, m.grad_norm_d);
    push(modes, x, m.modes_covered ? std::optional<double>(double(*m.modes_covered)) : std::nullopt);
    push(quality, x, m.high_quality);
    push(top, x, m.top_share);
    metrics << j.dump() << "\n";
    metrics.flush();
    std::printf("step %lld/%lld  modes %lld/%lld  high-quality %.3f", (long long)s, (long long)c.steps,
                (long long)m.modes_covered.value_or(0), (long long)lab.distribution().mode_count, m.high_quality.value_or(0));
    if (m.grad_norm_g) std::printf("  grad norm G %.4g", *m.grad_norm_g);
    std::printf("\n");
    std::fflush(stdout);
  }
  const std::vector<std::string> charts{
      svg_line_chart("modes covered (of " + std::to_string(lab.distribution().mode_count) + ")", {modes}, "step"),
      svg_line_chart("fraction of samples within 3 std of the data", {quality}, "step"),
      svg_line_chart("share of samples nearest the most popular mode", {top}, "step"),
      svg_line_chart(is_probabilistic(c.optim.loss) ? "D(x) and D(G(z)) (probabilities)" : "D(x) and D(G(z)) (scores)",
                     {dx, dgz}, "step"),
      svg_line_chart("losses", {ld, lg}, "step"),
      svg_line_chart("gradient norms (log scale)", {gn, dn}, "step", 640, 280, true)};
  std::string stacked;
  for (size_t i = 0; i < charts.size(); ++i)
    stacked += "<g transform=\"translate(0," + std::to_string(280 * i) + ")\">" + charts[i] + "</g>";
  write_text_atomic(c.out + "/curves.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"" +
                                               std::to_string(280 * charts.size()) + "\">" + stacked + "</svg>\n");
  write_text_atomic(c.out + "/lab.html", lab_html(c, lab.distribution(), frames, rows));
  std::printf("done in %.1f s: %s/lab.html\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), c.out.c_str());
  return 0;
}

}  // namespace duel::gan
