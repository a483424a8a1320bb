#include "gan/dirac.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "core/autograd.h"
#include "gan/files.h"
#include "gan/svg.h"
#include "nn/optim.h"

namespace duel::gan {

DiracPenalty parse_dirac_penalty(const std::string& s) {
  if (s == "none") return DiracPenalty::none;
  if (s == "r1") return DiracPenalty::r1;
  if (s == "wgan-gp") return DiracPenalty::wgan_gp;
  fail("unknown penalty '", s, "' (expected none, r1 or wgan-gp)");
}

std::string dirac_penalty_name(DiracPenalty p) {
  return p == DiracPenalty::none ? "none" : p == DiracPenalty::r1 ? "r1" : "wgan-gp";
}

namespace {

// The two players as float64 leaves [1], and their losses built from gan/losses.h.
struct DiracGame {
  const DiracConfig& c;
  Tensor theta, psi;

  DiracGame(const DiracConfig& config, double t, double p)
      : c(config),
        theta(full({1}, t, DType::f64).requires_grad_(true)),
        psi(full({1}, p, DType::f64).requires_grad_(true)) {}

  // D(x) = psi x for a batch x [1, 1] -> [1].
  Tensor critic(const Tensor& x) const { return reshape(mul(x, psi), {1}); }
  Tensor fake() const { return reshape(theta, {1, 1}); }

  Tensor critic_loss() const {
    const Tensor real = zeros({1, 1}, DType::f64);
    Tensor loss = add(d_real_term(c.loss, critic(real)), d_fake_term(c.loss, critic(fake().detach())));
    if (c.penalty == DiracPenalty::r1) {
      // R1 (Mescheder et al. 2018, eq. 9): gamma/2 |grad_x D(x)|^2 on the real data.
      const Tensor x = real.clone().requires_grad_(true);
      const Tensor g = grad({sum(critic(x))}, {x}, {}, /*create_graph=*/true)[0];
      loss = add(loss, sum(mul(g, g)) * (0.5 * c.gamma));
    } else if (c.penalty == DiracPenalty::wgan_gp) {
      const Tensor eps = full({1, 1}, 0.5, DType::f64);  // D is linear: where x_hat lies does not matter
      loss = add(loss, gradient_penalty([this](const Tensor& x) { return critic(x); }, real, fake(), eps) * c.gamma);
    }
    return loss;
  }
  Tensor generator_loss() const { return g_loss(c.loss, critic(fake())); }

  double d_theta() const { return grad({generator_loss()}, {theta})[0].item(); }
  double d_psi() const { return grad({critic_loss()}, {psi})[0].item(); }
};

void check(const DiracConfig& c) {
  DUEL_CHECK(c.lr > 0 && std::isfinite(c.lr), "dirac: --lr must be positive");
  DUEL_CHECK(c.steps >= 1 && c.steps <= 1'000'000, "dirac: --steps must be in [1, 1000000]");
  DUEL_CHECK(c.gamma >= 0 && std::isfinite(c.gamma), "dirac: --gamma must be >= 0");
  DUEL_CHECK(std::isfinite(c.theta0) && std::isfinite(c.psi0), "dirac: the start must be finite");
  DUEL_CHECK(c.loss != LossKind::wgan_gp, "dirac: choose the penalty with --penalty wgan-gp and the loss with "
             "--loss wgan");
}

}  // namespace

DiracPoint dirac_field(const DiracConfig& c, double theta, double psi) {
  DiracGame game(c, theta, psi);
  return {-game.d_theta(), -game.d_psi()};
}

std::vector<DiracPoint> dirac_trajectory(const DiracConfig& c) {
  check(c);
  DiracGame game(c, c.theta0, c.psi0);
  nn::SGD opt_g({{"theta", game.theta}}, c.lr), opt_d({{"psi", game.psi}}, c.lr);
  std::vector<DiracPoint> path{{c.theta0, c.psi0}};
  auto set = [](Tensor& p, double g) { p.set_grad(full({1}, g, DType::f64)); };
  for (int64_t s = 0; s < c.steps; ++s) {
    if (c.order == UpdateOrder::simultaneous) {  // both gradients at the same point
      const double gt = game.d_theta(), gp = game.d_psi();
      set(game.theta, gt);
      set(game.psi, gp);
      opt_g.step();
      opt_d.step();
    } else {  // the critic first, then the generator against the updated critic
      set(game.psi, game.d_psi());
      opt_d.step();
      set(game.theta, game.d_theta());
      opt_g.step();
    }
    const double t = game.theta.item(), p = game.psi.item();
    path.push_back({t, p});
    if (!std::isfinite(t) || !std::isfinite(p) || std::abs(t) > 1e6 || std::abs(p) > 1e6) break;  // diverged
  }
  return path;
}

std::string dirac_svg(const std::vector<DiracConfig>& configs, const std::vector<std::vector<DiracPoint>>& paths,
                      const std::vector<std::string>& titles, int columns) {
  constexpr int kPanel = 320, kPad = 36, kTitle = 34;
  const int rows = int((configs.size() + size_t(columns) - 1) / size_t(columns));
  const int width = columns * (kPanel + kPad) + kPad, height = rows * (kPanel + kPad + kTitle) + 30;
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height << "\" viewBox=\"0 0 "
     << width << " " << height << "\" font-family=\"sans-serif\" font-size=\"11\"><rect width=\"100%\" height=\"100%\" "
     << "fill=\"white\"/><text x=\"" << width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\">"
     << "Dirac GAN: generator θ (horizontal), critic ψ (vertical); arrows: the gradient field; the equilibrium is "
        "the cross at (0, 0)</text>";
  for (size_t k = 0; k < configs.size(); ++k) {
    const int ox = kPad + int(k % size_t(columns)) * (kPanel + kPad), oy = 30 + int(k / size_t(columns)) * (kPanel + kPad + kTitle);
    const auto& path = paths[k];
    double range = 2.0;
    for (const DiracPoint& p : path)
      if (std::isfinite(p.theta) && std::isfinite(p.psi)) range = std::max({range, 1.1 * std::abs(p.theta), 1.1 * std::abs(p.psi)});
    range = std::min(range, 50.0);
    auto X = [&](double t) { return ox + (t / range + 1) / 2 * kPanel; };
    auto Y = [&](double p) { return oy + kTitle + (1 - (p / range + 1) / 2) * kPanel; };
    const int py0 = oy + kTitle;
    os << "<text x=\"" << ox + kPanel / 2 << "\" y=\"" << oy + 14 << "\" text-anchor=\"middle\" font-weight=\"bold\">"
       << html_escape(titles[k]) << "</text>";
    const double d0 = std::hypot(path.front().theta, path.front().psi), d1 = std::hypot(path.back().theta, path.back().psi);
    char line[160];
    std::snprintf(line, sizeof line, "distance to equilibrium %.3g → %.3g after %zu steps", d0, d1, path.size() - 1);
    os << "<text x=\"" << ox + kPanel / 2 << "\" y=\"" << oy + 28 << "\" text-anchor=\"middle\">" << line << "</text>";
    os << "<rect x=\"" << ox << "\" y=\"" << py0 << "\" width=\"" << kPanel << "\" height=\"" << kPanel
       << "\" fill=\"#fbfbfb\" stroke=\"#444\"/>";
    // The field, arrows of fixed length in the direction the players move.
    constexpr int kArrows = 13;
    os << "<g stroke=\"#9ecae1\" stroke-width=\"1\">";
    for (int i = 0; i < kArrows; ++i)
      for (int j = 0; j < kArrows; ++j) {
        const double t = -range + (i + 0.5) * 2 * range / kArrows, p = -range + (j + 0.5) * 2 * range / kArrows;
        const DiracPoint v = dirac_field(configs[k], t, p);
        const double n = std::hypot(v.theta, v.psi);
        if (!(n > 1e-12)) continue;
        const double len = 0.35 * 2 * range / kArrows, ex = t + v.theta / n * len, ey = p + v.psi / n * len;
        const double ax = X(ex) - X(t), ay = Y(ey) - Y(p), a = std::atan2(ay, ax);
        os << "<path d=\"M" << X(t) << "," << Y(p) << "L" << X(ex) << "," << Y(ey) << "M" << X(ex) - 4 * std::cos(a - 0.5)
           << "," << Y(ey) - 4 * std::sin(a - 0.5) << "L" << X(ex) << "," << Y(ey) << "L" << X(ex) - 4 * std::cos(a + 0.5)
           << "," << Y(ey) - 4 * std::sin(a + 0.5) << "\" fill=\"none\"/>";
      }
    os << "</g>";
    // Axes through 0 and tick labels at the edges.
    os << "<g stroke=\"#bbb\"><line x1=\"" << X(-range) << "\" x2=\"" << X(range) << "\" y1=\"" << Y(0) << "\" y2=\"" << Y(0)
       << "\"/><line x1=\"" << X(0) << "\" x2=\"" << X(0) << "\" y1=\"" << Y(-range) << "\" y2=\"" << Y(range) << "\"/></g>";
    char lim[32];
    std::snprintf(lim, sizeof lim, "%.3g", range);
    os << "<text x=\"" << X(range) - 2 << "\" y=\"" << Y(0) - 4 << "\" text-anchor=\"end\">θ = " << lim << "</text>"
       << "<text x=\"" << X(0) + 4 << "\" y=\"" << Y(range) + 12 << "\">ψ = " << lim << "</text>";
    // The trajectory.
    os << "<polyline fill=\"none\" stroke=\"#d6604d\" stroke-width=\"1.4\" points=\"";
    for (const DiracPoint& p : path)
      if (std::isfinite(p.theta) && std::isfinite(p.psi))
        os << X(std::clamp(p.theta, -range, range)) << "," << Y(std::clamp(p.psi, -range, range)) << " ";
    os << "\"/>";
    os << "<circle cx=\"" << X(path.front().theta) << "\" cy=\"" << Y(path.front().psi) << "\" r=\"4\" fill=\"#1a9850\"/>";
    const DiracPoint& e = path.back();
    if (std::isfinite(e.theta) && std::isfinite(e.psi))
      os << "<circle cx=\"" << X(std::clamp(e.theta, -range, range)) << "\" cy=\"" << Y(std::clamp(e.psi, -range, range))
         << "\" r=\"4\" fill=\"#b2182b\"/>";
    os << "<path d=\"M" << X(0) - 6 << "," << Y(0) - 6 << "L" << X(0) + 6 << "," << Y(0) + 6 << "M" << X(0) - 6 << ","
       << Y(0) + 6 << "L" << X(0) + 6 << "," << Y(0) - 6 << "\" stroke=\"#000\" stroke-width=\"2\"/>";
  }
  os << "<text x=\"" << kPad << "\" y=\"" << height - 8 << "\">green: start; red: end; curve: the iterates</text></svg>\n";
  return os.str();
}

namespace {

std::string title_of(const DiracConfig& c) {
  char b[160];
  std::snprintf(b, sizeof b, "%s, %s, penalty %s%s", update_order_name(c.order).c_str(), loss_name(c.loss).c_str(),
                dirac_penalty_name(c.penalty).c_str(),
                c.penalty == DiracPenalty::none ? "" : (" (γ " + std::to_string(c.gamma).substr(0, 4) + ")").c_str());
  return b;
}

void report(const DiracConfig& c, const std::vector<DiracPoint>& path) {
  auto dist = [&](size_t i) { return std::hypot(path[i].theta, path[i].psi); };
  std::printf("%-48s distance to (0, 0): start %.4g, step %zu %.4g, end (step %zu) %.4g\n", title_of(c).c_str(), dist(0),
              path.size() / 2, dist(path.size() / 2), path.size() - 1, dist(path.size() - 1));
}

}  // namespace

int run_dirac(const DiracConfig& c, bool all, const std::string& out) {
  check(c);
  DUEL_CHECK(!out.empty(), "dirac: --out DIR is required");
  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  DUEL_CHECK(!ec, "dirac: cannot create ", out, ": ", ec.message());
  std::vector<DiracConfig> configs;
  if (all) {
    for (const UpdateOrder o : {UpdateOrder::simultaneous, UpdateOrder::alternating})
      for (const DiracPenalty p : {DiracPenalty::none, DiracPenalty::r1, DiracPenalty::wgan_gp}) {
        DiracConfig k = c;
        k.order = o;
        k.penalty = p;
        configs.push_back(k);
      }
  } else {
    configs.push_back(c);
  }
  std::vector<std::vector<DiracPoint>> paths;
  std::vector<std::string> titles;
  for (const DiracConfig& k : configs) {
    paths.push_back(dirac_trajectory(k));
    titles.push_back(title_of(k));
    report(k, paths.back());
  }
  if (!all) {
    std::ostringstream csv;
    csv << "step,theta,psi,distance\n";
    for (size_t i = 0; i < paths[0].size(); ++i)
      csv << i << "," << paths[0][i].theta << "," << paths[0][i].psi << ","
          << std::hypot(paths[0][i].theta, paths[0][i].psi) << "\n";
    write_text_atomic(out + "/trajectory.csv", csv.str());
  }
  const std::string svg_path = out + (all ? "/dirac_all.svg" : "/dirac.svg");
  write_text_atomic(svg_path, dirac_svg(configs, paths, titles, all ? 3 : 1));
  std::printf("wrote %s\n", svg_path.c_str());
  return 0;
}

}  // namespace duel::gan
