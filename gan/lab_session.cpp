#include "gan/lab_session.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "core/autograd.h"

namespace duel::gan {

UpdateOrder parse_update_order(const std::string& s) {
  if (s == "alternating") return UpdateOrder::alternating;
  if (s == "simultaneous") return UpdateOrder::simultaneous;
  fail("unknown update order '", s, "' (expected alternating or simultaneous)");
}

std::string update_order_name(UpdateOrder u) {
  return u == UpdateOrder::alternating ? "alternating" : "simultaneous";
}

OptimConfig lab_defaults_for(LossKind loss) {
  OptimConfig c = defaults_for(loss);
  if (loss == LossKind::wgan_gp) {
    // The WGAN-GP paper's settings for its 2D toy data (its gan_toy code): lambda 0.1, beta1 0.5.
    c.gp_lambda = 0.1;
    c.beta1 = 0.5;
  }
  return c;
}

Distribution2D lab_distribution(const LabSettings& s) {
  if (s.dist != "drawn") return make_distribution(s.dist);
  const size_t points = s.drawn.size() / 2;
  DUEL_CHECK(s.drawn.size() % 2 == 0 && points >= 2 && points <= 20000,
             "lab: a drawn distribution needs between 2 and 20000 points (x, y pairs), got ", s.drawn.size(),
             " numbers");
  Distribution2D d;
  d.name = "drawn";
  d.view = 3.0;
  d.std = 0.05;
  for (double v : s.drawn) {
    DUEL_CHECK(std::isfinite(v) && std::abs(v) <= d.view, "lab: drawn points must lie in [-", d.view, ", ", d.view,
               "], got ", v);
    d.modes.push_back(v);
  }
  d.mode_count = int64_t(std::min<size_t>(20, points));  // segments along the drawing, as the spiral
  return d;
}

nlohmann::json LabMetrics::json() const {
  nlohmann::json j{{"step", step}, {"critic_steps", critic_steps}};
  auto put = [&](const char* k, const auto& v) {
    if (v) j[k] = *v;
  };
  put("loss_D", loss_d);
  put("loss_G", loss_g);
  put("gp", gp);
  put("D_x", d_x);
  put("D_G_z", d_g_z);
  put("grad_norm_D", grad_norm_d);
  put("grad_norm_G", grad_norm_g);
  put("modes_covered", modes_covered);
  put("high_quality_fraction", high_quality);
  put("top_mode", top_mode);
  put("top_mode_share", top_share);
  return j;
}

LabSession::LabSession(const LabSettings& settings) { reset(settings); }

void LabSession::reset(const LabSettings& s) {
  DUEL_CHECK(s.batch >= 2 && s.batch <= 65536, "lab: batch must be in [2, 65536], got ", s.batch);
  DUEL_CHECK(s.z_dim >= 1 && s.z_dim <= 1024 && s.hidden >= 1 && s.hidden <= 4096,
             "lab: z_dim must be in [1, 1024] and hidden in [1, 4096]");
  Distribution2D dist = lab_distribution(s);
  settings_ = s;
  dist_ = std::move(dist);
  rng_ = Generator(s.seed);
  model_ = std::make_unique<MlpGan>(s.z_dim, s.hidden);
  nn::reset_all(model_->G(), rng_);
  nn::reset_all(model_->D(), rng_);
  step_ = std::make_unique<GanStep>(*model_, s.optim);
  Generator fixed(s.seed ^ 0x5EED);
  z_eval_ = randn({2500, s.z_dim}, fixed);
  real_show_ = dist_.sample(512, fixed);
  g_steps_ = d_steps_ = 0;
  history_.clear();
  graph_.reset();
}

void LabSession::apply(const LabSettings& s) {
  DUEL_CHECK(s.seed == settings_.seed && s.z_dim == settings_.z_dim && s.hidden == settings_.hidden,
             "lab: a new seed, latent size or width needs a reset");
  DUEL_CHECK(s.batch >= 2 && s.batch <= 65536, "lab: batch must be in [2, 65536], got ", s.batch);
  const bool new_dist = s.dist != settings_.dist || s.drawn != settings_.drawn;
  Distribution2D dist = new_dist ? lab_distribution(s) : dist_;
  step_->reconfigure(s.optim);  // validates before anything changes
  settings_ = s;
  if (new_dist) {
    dist_ = std::move(dist);
    Generator fixed(s.seed ^ 0x5EED);
    randn({2500, s.z_dim}, fixed);  // same draws as reset(), so the real sample matches a fresh run
    real_show_ = dist_.sample(512, fixed);
  }
}

LabMetrics& LabSession::next_entry() {
  LabMetrics m;
  m.step = g_steps_;
  m.critic_steps = d_steps_;
  history_.push_back(m);
  return history_.back();
}

// One critic update on a fresh batch. `with_graph`: G(z) is kept with its graph (for a generator
// update that follows) and returned through fake_out.
DStats LabSession::d_update_once(bool with_graph, Tensor* fake_out, const Tensor& z_in) {
  const bool gp = settings_.optim.loss == LossKind::wgan_gp;
  const Tensor real = dist_.sample(settings_.batch, rng_);
  const Tensor z = z_in.defined() ? z_in : randn({settings_.batch, settings_.z_dim}, rng_);
  const Tensor eps = gp ? rand({settings_.batch, 1}, rng_) : Tensor();
  Tensor fake;
  trace_input(z, "z");
  if (with_graph) {
    fake = model_->generate(z);
  } else {
    NoGradGuard no_grad;
    fake = model_->generate(z);
  }
  if (fake_out) *fake_out = fake;
  ++d_steps_;
  return step_->d_update(real, Tensor(), fake, eps);
}

namespace {

void record_d(LabMetrics& m, LossKind loss, const DStats& d) {
  m.loss_d = d.loss.item();
  if (d.gp.defined()) m.gp = d.gp.item();
  m.d_x = mean_output(loss, d.d_real);
  m.d_g_z = mean_output(loss, d.d_fake);
  m.grad_norm_d = global_norm(d.grads);
}

void record_g(LabMetrics& m, LossKind loss, const GStats& g, bool with_d_g_z) {
  m.loss_g = g.loss.item();
  m.grad_norm_g = global_norm(g.grads);
  if (with_d_g_z) m.d_g_z = mean_output(loss, g.d_fake);
}

const char* optimiser_title(const std::string& kind) {
  return kind == "rmsprop" ? "RMSProp" : kind == "sgd" ? "SGD" : "Adam";
}

}  // namespace

void LabSession::critic_update(bool trace) {
  std::unique_ptr<GraphTrace> tr = trace ? std::make_unique<GraphTrace>() : nullptr;
  const DStats d = d_update_once(false, nullptr);
  LabMetrics& m = next_entry();
  record_d(m, settings_.optim.loss, d);
  if (tr)
    graph_ = std::make_shared<IterationGraph>(build_iteration_graph(
        *tr, {{"D", optimiser_title(optimiser_kind(settings_.optim, false)), d.loss, model_->D().named_parameters(), d.grads}},
        "one critic update (" + loss_name(settings_.optim.loss) + ")"));
}

void LabSession::generator_update(bool trace) {
  std::unique_ptr<GraphTrace> tr = trace ? std::make_unique<GraphTrace>() : nullptr;
  const Tensor z = randn({settings_.batch, settings_.z_dim}, rng_);
  trace_input(z, "z");
  const Tensor fake = model_->generate(z);
  const GStats g = step_->g_update(fake, Tensor());
  ++g_steps_;
  LabMetrics& m = next_entry();
  record_g(m, settings_.optim.loss, g, true);
  if (tr)
    graph_ = std::make_shared<IterationGraph>(build_iteration_graph(
        *tr, {{"G", optimiser_title(optimiser_kind(settings_.optim, true)), g.loss, model_->G().named_parameters(), g.grads}},
        "one generator update (" + loss_name(settings_.optim.loss) + ")"));
}

void LabSession::step(bool trace) {
  const OptimConfig& c = settings_.optim;
  DStats d;
  GStats g;
  std::unique_ptr<GraphTrace> tr;
  for (int64_t k = 0; k + 1 < c.n_critic; ++k) d = d_update_once(false, nullptr);
  if (trace) tr = std::make_unique<GraphTrace>();  // the last critic update and the generator update
  Tensor fake;
  if (settings_.order == UpdateOrder::alternating) {
    d = d_update_once(true, &fake);
    g = step_->g_update(fake, Tensor());
  } else {
    // Both gradients at the same parameters: G's through the critic before its update, the
    // critic's on the samples G made before its update.
    const bool gp = c.loss == LossKind::wgan_gp;
    const Tensor real = dist_.sample(settings_.batch, rng_);
    const Tensor z = randn({settings_.batch, settings_.z_dim}, rng_);
    const Tensor eps = gp ? rand({settings_.batch, 1}, rng_) : Tensor();
    trace_input(z, "z");
    fake = model_->generate(z);
    g = step_->g_update(fake, Tensor());
    d = step_->d_update(real, Tensor(), fake, eps);
    ++d_steps_;
  }
  ++g_steps_;
  LabMetrics& m = next_entry();
  record_d(m, c.loss, d);
  record_g(m, c.loss, g, false);
  if (tr) {
    std::vector<TracedUpdate> updates{
        {"D", optimiser_title(optimiser_kind(c, false)), d.loss, model_->D().named_parameters(), d.grads},
        {"G", optimiser_title(optimiser_kind(c, true)), g.loss, model_->G().named_parameters(), g.grads}};
    if (settings_.order == UpdateOrder::simultaneous) std::swap(updates[0], updates[1]);
    graph_ = std::make_shared<IterationGraph>(build_iteration_graph(
        *tr, updates,
        "one " + update_order_name(settings_.order) + " step (" + loss_name(c.loss) + "): " +
            (settings_.order == UpdateOrder::alternating ? "the critic update, then the generator update"
                                                         : "both gradients at the same parameters")));
  }
}

Tensor LabSession::shown_fake(int64_t n) {
  NoGradGuard no_grad;
  return model_->generate(narrow(z_eval_, 0, 0, std::min<int64_t>(n, z_eval_.size(0))));
}

void LabSession::measure_coverage() {
  NoGradGuard no_grad;
  const Coverage2D cov = coverage(dist_, model_->generate(z_eval_));
  if (history_.empty() || history_.back().step != g_steps_ || history_.back().critic_steps != d_steps_) next_entry();
  history_.back().modes_covered = cov.modes_covered;
  history_.back().high_quality = cov.high_quality;
  history_.back().top_mode = cov.top_mode;
  history_.back().top_share = cov.top_share;
}

namespace {

double rounded(double v) { return std::round(v * 1e4) / 1e4; }

nlohmann::json flat(const Tensor& t) {
  nlohmann::json a = nlohmann::json::array();
  for (double v : t.to_vector()) a.push_back(rounded(v));
  return a;
}

}  // namespace

nlohmann::json LabSession::view(int grid, int64_t n_fake, int transport) {
  DUEL_CHECK(grid >= 2 && grid <= 256 && transport >= 2 && transport <= 64 && n_fake >= 1 && n_fake <= 2500,
             "lab view: grid in [2, 256], transport in [2, 64], points in [1, 2500]");
  const double view = dist_.view;
  const LossKind loss = settings_.optim.loss;
  nlohmann::json j{{"view", view}, {"step", g_steps_}, {"critic_steps", d_steps_}, {"grid", grid},
                   {"probabilistic", is_probabilistic(loss)}, {"modes", dist_.mode_count}};
  {
    NoGradGuard no_grad;
    std::vector<double> cells;
    for (int r = 0; r < grid; ++r)
      for (int c = 0; c < grid; ++c) {
        cells.push_back(-view + (c + 0.5) * 2 * view / grid);
        cells.push_back(view - (r + 0.5) * 2 * view / grid);
      }
    const std::vector<double> score = model_->critic(from_vector(cells, {int64_t(grid) * grid, 2}), Tensor()).to_vector();
    j["heat"] = critic_belief(loss, score);
    double lo = score[0], hi = score[0];
    for (double s : score) lo = std::min(lo, s), hi = std::max(hi, s);
    j["score_range"] = {lo, hi};

    j["real"] = flat(real_show_);
    j["fake"] = flat(shown_fake(n_fake));
    // Where a grid of latent vectors lands: z over [-2, 2]^2 in its first two coordinates.
    std::vector<double> zs;
    for (int r = 0; r < transport; ++r)
      for (int c = 0; c < transport; ++c) {
        for (int64_t d = 0; d < settings_.z_dim; ++d)
          zs.push_back(d == 0 ? -2 + 4.0 * c / (transport - 1) : d == 1 ? -2 + 4.0 * r / (transport - 1) : 0.0);
      }
    j["transport"] = flat(model_->generate(from_vector(zs, {int64_t(transport) * transport, settings_.z_dim})));
    j["transport_size"] = transport;
  }
  // -grad_x of the generator's loss on 64 generated points, per sample (the loss is a mean).
  const int64_t n_arrows = std::min<int64_t>(64, n_fake);
  Tensor x = shown_fake(n_arrows).detach().requires_grad_(true);
  const Tensor gx = grad({g_loss(loss, model_->critic(x, Tensor()))}, {x})[0] * double(n_arrows);
  const std::vector<double> gv = gx.to_vector(), xv = x.to_vector();
  nlohmann::json arrows = nlohmann::json::array();
  for (int64_t i = 0; i < n_arrows; ++i)
    arrows.push_back({rounded(xv[size_t(2 * i)]), rounded(xv[size_t(2 * i + 1)]), rounded(-gv[size_t(2 * i)]),
                      rounded(-gv[size_t(2 * i + 1)])});
  j["arrows"] = arrows;
  return j;
}

}  // namespace duel::gan
