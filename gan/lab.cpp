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
#include <sstream>
#include <system_error>

#include "core/autograd.h"
#include "gan/canvas.h"
#include "gan/files.h"
#include "gan/svg.h"
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
  } else {
    fail("lab: unknown distribution '", name, "' (expected ring8, grid25 or spiral)");
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

namespace {

struct Coverage2D {
  int64_t modes_covered = 0;
  double high_quality = 0;  // fraction within 3 std of a mode (or of the spiral)
};

// A mode counts as covered when it holds at least a tenth of the share a perfect generator
// would give it (so one stray sample does not count).
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
  return c;
}

// The frame: the critic's belief as a heat map, real points (green), generated points
// (purple), and for some generated points an arrow along -grad_x of the generator's loss: where
// the generator's update pushes that sample.
void draw_frame(const std::string& path, MlpGan& m, LossKind loss, const Distribution2D& dist, const Tensor& real,
                const Tensor& fake) {
  constexpr int kSize = 480, kGrid = 120;
  Canvas canvas(kSize, kSize);
  const double view = dist.view;
  auto to_px = [&](double v) { return (v + view) / (2 * view) * kSize; };
  {
    NoGradGuard no_grad;
    std::vector<double> grid;
    for (int j = 0; j < kGrid; ++j)
      for (int i = 0; i < kGrid; ++i) {
        grid.push_back(-view + (i + 0.5) * 2 * view / kGrid);
        grid.push_back(view - (j + 0.5) * 2 * view / kGrid);
      }
    const std::vector<double> score = m.critic(from_vector(grid, {kGrid * kGrid, 2}), Tensor()).to_vector();
    // Probabilistic critics show sigmoid(D); score critics their scores squashed around the median.
    std::vector<double> sorted = score;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double median = sorted[sorted.size() / 2];
    double spread = 0;
    for (double s : score) spread += std::abs(s - median);
    spread = std::max(spread / double(score.size()), 1e-6);
    const int cell = kSize / kGrid;
    for (int j = 0; j < kGrid; ++j)
      for (int i = 0; i < kGrid; ++i) {
        const double s = score[size_t(j * kGrid + i)];
        const double v = is_probabilistic(loss) ? 1 / (1 + std::exp(-s)) : 0.5 + 0.5 * std::tanh((s - median) / (2 * spread));
        canvas.fill_rect(i * cell, j * cell, (i + 1) * cell, (j + 1) * cell, belief_colour(v));
      }
  }
  const std::vector<double> r = real.to_vector(), f = fake.to_vector();
  for (size_t i = 0; i + 1 < r.size(); i += 2) canvas.disc(to_px(r[i]), kSize - to_px(r[i + 1]), 2.0, {20, 120, 50}, 0.7);
  for (size_t i = 0; i + 1 < f.size(); i += 2) canvas.disc(to_px(f[i]), kSize - to_px(f[i + 1]), 2.0, {110, 40, 150}, 0.7);
  // Per-sample gradient of the generator's loss (the loss is a mean: scale by the batch size).
  const int64_t n_arrows = std::min<int64_t>(64, fake.size(0));
  Tensor x = narrow(fake, 0, 0, n_arrows).detach().requires_grad_(true);
  const Tensor gx = grad({g_loss(loss, m.critic(x, Tensor()))}, {x})[0] * double(n_arrows);
  const std::vector<double> gv = gx.to_vector(), xv = x.to_vector();
  for (int64_t i = 0; i < n_arrows; ++i) {
    const double dx = -gv[size_t(2 * i)], dy = -gv[size_t(2 * i + 1)];
    // A fixed scale across frames and runs, so a vanishing gradient shows as a vanishing arrow.
    const double norm = std::hypot(dx, dy), len = std::min(40.0, 25.0 * norm);
    if (len < 0.5) continue;
    const double x0 = to_px(xv[size_t(2 * i)]), y0 = kSize - to_px(xv[size_t(2 * i + 1)]);
    canvas.arrow(x0, y0, x0 + dx / norm * len, y0 - dy / norm * len, {40, 40, 40}, 1.2);
  }
  canvas.save_png(path);
}

std::string lab_html(const LabConfig& c, const std::vector<int64_t>& frame_steps, const std::string& charts) {
  std::ostringstream os;
  os << "<!doctype html><html><head><meta charset=\"utf-8\"><title>duel lab: " << html_escape(c.dist) << " / "
     << html_escape(loss_name(c.optim.loss)) << "</title><style>body{font-family:sans-serif;margin:20px;max-width:1000px}"
     << "img{border:1px solid #ccc;image-rendering:auto}#bar{width:480px}.legend span{display:inline-block;"
     << "width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}</style></head><body>"
     << "<h1>duel lab: " << html_escape(c.dist) << " with the " << html_escape(loss_name(c.optim.loss)) << " loss</h1>"
     << "<p>" << c.steps << " steps, batch " << c.batch << ", " << c.optim.n_critic
     << " critic update(s) per step, learning rates G " << c.optim.lr_g << " / D " << c.optim.lr_d << ", seed " << c.seed
     << ".</p><p class=\"legend\"><span style=\"background:#145032\"></span>real points"
     << "<span style=\"background:#6e2896\"></span>generated points<span style=\"background:#8cd6a0\"></span>critic: real"
     << "<span style=\"background:#c496de\"></span>critic: fake &nbsp; arrows: where the generator's gradient pushes its samples</p>"
     << "<div><img id=\"frame\" width=\"480\" height=\"480\" alt=\"frame\"></div>"
     << "<div><button id=\"play\">play</button> <input id=\"bar\" type=\"range\" min=\"0\" max=\""
     << (frame_steps.empty() ? 0 : frame_steps.size() - 1) << "\" value=\"0\"> <span id=\"label\"></span></div>"
     << "<script>const steps=[";
  for (size_t i = 0; i < frame_steps.size(); ++i) os << (i ? "," : "") << frame_steps[i];
  os << "];const img=document.getElementById('frame'),bar=document.getElementById('bar'),label=document.getElementById('label');"
     << "function show(i){const s=String(steps[i]).padStart(6,'0');img.src='frames/frame_'+s+'.png';"
     << "label.textContent='step '+steps[i];bar.value=i;}let timer=null;bar.oninput=()=>show(+bar.value);"
     << "document.getElementById('play').onclick=function(){if(timer){clearInterval(timer);timer=null;this.textContent='play';return;}"
     << "this.textContent='pause';timer=setInterval(()=>{let i=+bar.value+1;if(i>=steps.length){i=0;}show(i);},120);};"
     << "if(steps.length)show(0);</script>" << charts << "</body></html>\n";
  return os.str();
}

}  // namespace

int run_lab(const LabConfig& c) {
  DUEL_CHECK(!c.out.empty(), "lab: --out DIR is required");
  DUEL_CHECK(c.steps >= 1 && c.batch >= 2 && c.z_dim >= 1 && c.hidden >= 1, "lab: --steps, --batch (>= 2), "
             "--z-dim and --hidden must be positive");
  const Distribution2D dist = make_distribution(c.dist);
  const int64_t frame_every = c.frame_every > 0 ? c.frame_every : std::max<int64_t>(1, c.steps / 100);
  std::error_code ec;
  fs::create_directories(c.out + "/frames", ec);
  DUEL_CHECK(!ec, "lab: cannot create ", c.out, "/frames: ", ec.message());

  Generator rng(c.seed);
  MlpGan m(c.z_dim, c.hidden);
  nn::reset_all(m.G(), rng);
  nn::reset_all(m.D(), rng);
  GanStep step(m, c.optim);
  Generator fixed(c.seed ^ 0x5EED);
  const Tensor z_show = randn({c.eval_samples, c.z_dim}, fixed);
  const Tensor real_show = dist.sample(512, fixed);

  std::ofstream metrics(c.out + "/metrics.jsonl", std::ios::trunc);
  DUEL_CHECK(metrics.good(), "lab: cannot write ", c.out, "/metrics.jsonl");
  std::vector<int64_t> frame_steps;
  Series modes{"modes covered", series_colour(0), {}, {}}, quality{"high-quality fraction", series_colour(1), {}, {}};
  Series ld{"loss_D", series_colour(0), {}, {}}, lg{"loss_G", series_colour(1), {}, {}};
  Series gn{"grad norm G", series_colour(2), {}, {}}, dn{"grad norm D", series_colour(3), {}, {}};
  const bool gp = c.optim.loss == LossKind::wgan_gp;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t s = 0; s <= c.steps; ++s) {
    DStats d;
    GStats g;
    if (s > 0) {  // frame 0 shows the initial state
      Tensor fake;
      for (int64_t k = 0; k < c.optim.n_critic; ++k) {
        const Tensor real = dist.sample(c.batch, rng);
        const Tensor z = randn({c.batch, c.z_dim}, rng);
        const Tensor eps = gp ? rand({c.batch, 1}, rng) : Tensor();
        if (k + 1 == c.optim.n_critic) {
          fake = m.generate(z);
        } else {
          NoGradGuard no_grad;
          fake = m.generate(z);
        }
        d = step.d_update(real, Tensor(), fake, eps);
      }
      g = step.g_update(fake, Tensor());
    }
    if (s % frame_every != 0 && s != c.steps) continue;
    Tensor shown;
    {
      NoGradGuard no_grad;
      shown = m.generate(z_show);
    }
    const Coverage2D cov = coverage(dist, shown);
    char name[64];
    std::snprintf(name, sizeof name, "/frames/frame_%06lld.png", (long long)s);
    draw_frame(c.out + name, m, c.optim.loss, dist, real_show, narrow(shown, 0, 0, std::min<int64_t>(512, shown.size(0))));
    frame_steps.push_back(s);
    nlohmann::json j{{"step", s}, {"modes_covered", cov.modes_covered}, {"modes", dist.mode_count},
                     {"high_quality_fraction", cov.high_quality}};
    if (s > 0) {
      j["loss_D"] = d.loss.item();
      j["loss_G"] = g.loss.item();
      if (d.gp.defined()) j["gp"] = d.gp.item();
      j["D_x"] = mean_output(c.optim.loss, d.d_real);
      j["D_G_z"] = mean_output(c.optim.loss, d.d_fake);
      j["grad_norm_G"] = global_norm(g.grads);
      j["grad_norm_D"] = global_norm(d.grads);
      ld.x.push_back(double(s));
      ld.y.push_back(j["loss_D"].get<double>());
      lg.x.push_back(double(s));
      lg.y.push_back(j["loss_G"].get<double>());
      gn.x.push_back(double(s));
      gn.y.push_back(j["grad_norm_G"].get<double>());
      dn.x.push_back(double(s));
      dn.y.push_back(j["grad_norm_D"].get<double>());
    }
    modes.x.push_back(double(s));
    modes.y.push_back(double(cov.modes_covered));
    quality.x.push_back(double(s));
    quality.y.push_back(cov.high_quality);
    metrics << j.dump() << "\n";
    metrics.flush();
    std::printf("step %lld/%lld  modes %lld/%lld  high-quality %.3f%s\n", (long long)s, (long long)c.steps,
                (long long)cov.modes_covered, (long long)dist.mode_count, cov.high_quality,
                s > 0 ? ("  grad norm G " + std::to_string(j["grad_norm_G"].get<double>())).c_str() : "");
    std::fflush(stdout);
  }
  const std::vector<std::string> charts{
      svg_line_chart("modes covered (of " + std::to_string(dist.mode_count) + ")", {modes}, "step"),
      svg_line_chart("fraction of samples within 3 std of the data", {quality}, "step"),
      svg_line_chart("losses", {ld, lg}, "step"),
      svg_line_chart("gradient norms (log scale)", {gn, dn}, "step", 640, 280, true)};
  std::string all_charts, stacked;
  for (size_t i = 0; i < charts.size(); ++i) {
    all_charts += charts[i];
    stacked += "<g transform=\"translate(0," + std::to_string(280 * i) + ")\">" + charts[i] + "</g>";
  }
  write_text_atomic(c.out + "/curves.svg",
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"1120\">" + stacked + "</svg>\n");
  write_text_atomic(c.out + "/lab.html", lab_html(c, frame_steps, all_charts));
  std::printf("done in %.1f s: %s/lab.html\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), c.out.c_str());
  return 0;
}

}  // namespace duel::gan
