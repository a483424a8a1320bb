// The teaching tools: graph tracing (values, gradients, scopes), the iteration graph's parts and
// passes, the lab session behind duel studio, the studio's settings parser, and the Dirac GAN.
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "core/autograd.h"
#include "gan/dirac.h"
#include "gan/graph.h"
#include "gan/lab_session.h"
#include "nn/layers.h"
#include "studio/studio.h"

using namespace duel;
using namespace duel::gan;

namespace {

std::vector<double> all_parameters(MlpGan& m) {
  std::vector<double> out;
  for (nn::Module* mod : {&m.G(), &m.D()})
    for (const auto& [n, t] : mod->named_parameters())
      for (double v : t.to_vector()) out.push_back(v);
  return out;
}

// One wgan-gp iteration on a fresh lab MLP, traced or not; returns the parameters after it.
std::vector<double> one_iteration(bool traced) {
  Generator rng(7);
  MlpGan m(2, 8);
  nn::reset_all(m.G(), rng);
  nn::reset_all(m.D(), rng);
  GanStep step(m, lab_defaults_for(LossKind::wgan_gp));
  const Tensor real = randn({6, 2}, rng), z = randn({6, 2}, rng), eps = rand({6, 1}, rng);
  std::unique_ptr<GraphTrace> trace = traced ? std::make_unique<GraphTrace>() : nullptr;
  const Tensor fake = m.generate(z);
  step.d_update(real, Tensor(), fake, eps);
  step.g_update(fake, Tensor());
  return all_parameters(m);
}

}  // namespace

TEST_CASE("a traced iteration updates the parameters exactly as an untraced one", "[trace]") {
  const std::vector<double> plain = one_iteration(false), traced = one_iteration(true);
  REQUIRE(plain.size() == traced.size());
  for (size_t i = 0; i < plain.size(); ++i) REQUIRE(plain[i] == traced[i]);
}

TEST_CASE("a trace keeps each node's value, the gradient that reached it and its scope", "[trace]") {
  const Tensor x = from_vector({1.0, 2.0, 3.0}, {3}, DType::f64);
  Tensor w = from_vector({0.5, -1.0, 2.0}, {3}, DType::f64).requires_grad_(true);
  GraphTrace trace;
  trace_input(x, "x");
  Tensor prod, loss;
  {
    NameScope scope("layer");
    prod = mul(x, w);
  }
  loss = sum(prod);
  const Tensor gw = grad({loss}, {w})[0];
  const TracedNode* p = trace.find(prod.grad_fn().get());
  REQUIRE(p != nullptr);
  CHECK(prod.grad_fn()->context == "layer");
  CHECK(p->value.to_vector() == std::vector<double>{0.5, -2.0, 6.0});
  CHECK(p->grad.to_vector() == std::vector<double>{1.0, 1.0, 1.0});  // d sum / d prod
  CHECK(p->grad_passes == 1);
  REQUIRE(p->constants.size() == 1);  // x takes no gradient
  CHECK(p->constants[0].first == 0);
  REQUIRE(trace.input_for(p->constants[0].second) != nullptr);
  CHECK(trace.input_for(p->constants[0].second)->name == "x");
  const TracedNode* acc = trace.find(prod.grad_fn()->next[1].node.get());
  REQUIRE(acc != nullptr);
  CHECK(acc->value.to_vector() == std::vector<double>{0.5, -1.0, 2.0});  // w's value when used
  CHECK(acc->grad.to_vector() == gw.to_vector());                        // = x
  CHECK(active_graph_trace() == &trace);
}

TEST_CASE("without a trace nothing is recorded or kept", "[trace]") {
  REQUIRE(active_graph_trace() == nullptr);
  Tensor w = ones({2}, DType::f64).requires_grad_(true);
  const Tensor y = mul(w, w);
  CHECK(y.grad_fn()->context.empty());
}

TEST_CASE("the iteration graph groups nodes by part and pass and draws the data", "[graph]") {
  const IterationGraph gp = trace_iteration("mlp", LossKind::wgan_gp, 4);
  const std::set<std::string> clusters(gp.clusters.begin(), gp.clusters.end());
  for (const char* c : {"G · forward", "G · backward", "D on real · forward", "D on fake · forward", "D on x̂ · forward",
                        "D on x̂ · backward", "D on x̂ · double backward", "penalty · forward", "D on G(z) · forward",
                        "losses · forward", "G parameters", "D parameters", "data", "optimiser"})
    CHECK(clusters.count(c) == 1);
  std::map<std::string, int> inputs;
  for (size_t i = 0; i < gp.nodes.size(); ++i)
    if (gp.nodes[i].kind == GraphNodeKind::input) inputs[gp.nodes[i].label] = int(i);
  for (const char* name : {"z", "real", "ε", "x̂", "G(z), detached"}) CHECK(inputs.count(name) == 1);
  // x̂ is made from ε, real and G(z) without gradient; G(z) detached comes from G's output.
  std::set<std::string> into_x_hat;
  bool detach_edge = false;
  for (const GraphEdge& e : gp.edges) {
    if (e.to == inputs["x̂"]) {
      into_x_hat.insert(gp.nodes[size_t(e.from)].label);
      CHECK_FALSE(e.carries_gradient);
    }
    if (e.to == inputs["G(z), detached"] && e.label == "detach()") {
      detach_edge = true;
      CHECK(gp.nodes[size_t(e.from)].cluster == "G · forward");
    }
  }
  CHECK(into_x_hat == std::set<std::string>{"ε", "real", "G(z), detached"});
  CHECK(detach_edge);
  // Parameters are named, and their traced gradient is the one the update used.
  int named = 0;
  for (const GraphNode& n : gp.nodes)
    if (n.kind == GraphNodeKind::parameter) {
      ++named;
      CHECK((n.label.rfind("D.", 0) == 0 || n.label.rfind("G.", 0) == 0));
      CHECK(n.grad.defined());
    }
  CHECK(named == 12);  // 3 Linear layers in each network, weight and bias

  const IterationGraph ns = trace_iteration("mlp", LossKind::ns, 4);
  for (const std::string& c : ns.clusters) CHECK(c.find("double backward") == std::string::npos);
  CHECK(ns.stats().double_backward == 0);
  CHECK(gp.stats().double_backward > 0);
}

TEST_CASE("the graph's views: every node, a collapsed part, one box per part", "[graph]") {
  const IterationGraph g = trace_iteration("mlp", LossKind::wgan_gp, 3);
  auto count = [](const std::string& dot, const std::string& what) {
    size_t n = 0;
    for (size_t at = dot.find(what); at != std::string::npos; at = dot.find(what, at + 1)) ++n;
    return n;
  };
  const std::string full = graph_dot(g, {});
  CHECK(count(full, " [id=\"n") == g.nodes.size());
  CHECK(count(full, "subgraph cluster_") == g.clusters.size() + 1);  // + the legend
  DotOptions collapse;
  collapse.collapsed.insert("G · backward");
  const std::string one = graph_dot(g, collapse);
  size_t g_backward = 0;
  for (const GraphNode& n : g.nodes) g_backward += n.cluster == "G · backward";
  CHECK(count(one, " [id=\"n") == g.nodes.size() - g_backward);
  CHECK(count(one, " [id=\"c") == 1);
  DotOptions summary;
  summary.summary = true;
  const std::string slide = graph_dot(g, summary);
  size_t data = 0;
  for (const GraphNode& n : g.nodes) data += n.cluster == "data";
  CHECK(count(slide, " [id=\"n") == data);
  CHECK(count(slide, " [id=\"c") == g.clusters.size() - 1);
  DotOptions values;
  values.values = true;
  CHECK(graph_dot(g, values).find("∇ ‖") != std::string::npos);
}

TEST_CASE("node details: statistics and a histogram of every finite element", "[graph]") {
  const IterationGraph g = trace_iteration("mlp", LossKind::ns, 5);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nlohmann::json d = node_details(g, int(i));
    if (d["value"].is_null()) continue;
    int64_t total = 0;
    for (const auto& c : d["value"]["histogram"]["counts"]) total += c.get<int64_t>();
    CHECK(total == d["value"]["count"].get<int64_t>());
    CHECK(d["value"]["min"].get<double>() <= d["value"]["mean"].get<double>() + 1e-12);
    CHECK(d["value"]["mean"].get<double>() <= d["value"]["max"].get<double>() + 1e-12);
  }
  CHECK_THROWS_WITH(node_details(g, int(g.nodes.size())), Catch::Contains("no node"));
}

TEST_CASE("a lab session steps, takes new settings at the next step and resets", "[lab]") {
  LabSettings s;
  s.optim = lab_defaults_for(LossKind::ns);
  s.batch = 32;
  s.hidden = 16;
  LabSession lab(s);
  lab.step();
  lab.critic_update();
  lab.generator_update(true);
  CHECK(lab.steps() == 2);
  REQUIRE(lab.history().size() == 3);
  CHECK(lab.history()[1].critic_steps == 2);
  REQUIRE(lab.last_graph() != nullptr);
  CHECK(lab.last_graph()->title.find("generator update") != std::string::npos);

  LabSettings next = s;
  next.optim = lab_defaults_for(LossKind::wgan_gp);
  next.optim.opt_d = "sgd";
  next.dist = "grid25";
  lab.apply(next);
  lab.step(true);
  CHECK(lab.settings().optim.loss == LossKind::wgan_gp);
  CHECK(lab.distribution().mode_count == 25);
  CHECK(lab.history().back().gp.has_value());
  CHECK(lab.history().back().critic_steps == 2 + 5);
  bool double_backward = false;
  for (const std::string& c : lab.last_graph()->clusters) double_backward |= c.find("double backward") != std::string::npos;
  CHECK(double_backward);

  LabSettings reseeded = next;
  reseeded.seed = 3;
  CHECK_THROWS_WITH(lab.apply(reseeded), Catch::Contains("reset"));
  lab.reset(reseeded);
  CHECK(lab.steps() == 0);
  CHECK(lab.history().empty());

  const nlohmann::json v = lab.view(8, 20, 5);
  CHECK(v["heat"].size() == 64);
  CHECK(v["fake"].size() == 40);
  CHECK(v["transport"].size() == 50);
  CHECK(v["arrows"].size() == 20);
  for (const auto& b : v["heat"]) CHECK((b.get<double>() >= 0 && b.get<double>() <= 1));

  LabSettings drawn = s;
  drawn.dist = "drawn";
  drawn.drawn = {0, 0, 1, 1, 2, 0};
  LabSession d(drawn);
  CHECK(d.distribution().mode_count == 3);
  drawn.drawn = {0, 0, 9, 9};
  CHECK_THROWS_WITH(LabSession(drawn), Catch::Contains("drawn points"));
}

TEST_CASE("simultaneous and alternating lab steps differ and both run", "[lab]") {
  LabSettings s;
  s.optim = lab_defaults_for(LossKind::ns);
  s.batch = 16;
  s.hidden = 8;
  LabSession a(s);
  s.order = UpdateOrder::simultaneous;
  LabSession b(s);
  a.step();
  b.step();
  CHECK(a.history().back().loss_d.value() == b.history().back().loss_d.value());  // same critic batch, same start
  const std::vector<double> pa = all_parameters(a.model()), pb = all_parameters(b.model());
  CHECK(pa != pb);  // the generator saw the critic before (simultaneous) or after (alternating) its update
}

TEST_CASE("the studio's settings parser names what is wrong", "[studio]") {
  LabSettings base;
  const LabSettings s = studio::settings_from_json(
      nlohmann::json{{"loss", "wgan-gp"}, {"lr_g", 1e-3}, {"n_critic", 3}, {"opt_d", "sgd"}, {"updates", "simultaneous"}},
      base);
  CHECK(s.optim.loss == LossKind::wgan_gp);
  CHECK(s.optim.lr_g == 1e-3);
  CHECK(s.optim.n_critic == 3);
  CHECK(s.optim.opt_d == "sgd");
  CHECK(s.order == UpdateOrder::simultaneous);
  CHECK(s.dist == base.dist);
  CHECK_THROWS_WITH(studio::settings_from_json({{"speed", 3}}, base), Catch::Contains("unknown key 'speed'"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"lr_d", "fast"}}, base), Catch::Contains("'lr_d' must be a number"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"lr_d", -1}}, base), Catch::Contains("'lr_d' must be in"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"n_critic", 2.5}}, base), Catch::Contains("integer"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"loss", "kl"}}, base), Catch::Contains("unknown loss"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"opt_g", "lbfgs"}}, base), Catch::Contains("adam, rmsprop or sgd"));
  CHECK_THROWS_WITH(studio::settings_from_json({{"drawn", {1, "x"}}}, base), Catch::Contains("'drawn'"));
  CHECK_THROWS_WITH(studio::settings_from_json(nlohmann::json::array(), base), Catch::Contains("JSON object"));
  const nlohmann::json round = studio::settings_to_json(s);
  CHECK(round["loss"] == "wgan-gp");
  CHECK(round["opt_g"] == "adam");
}

TEST_CASE("Dirac GAN: the first step matches the formulas, the orders and penalties behave as in the paper", "[dirac]") {
  // Minimax Dirac GAN: L_D = softplus(-0) + softplus(psi theta), L_G = -softplus(psi theta), so
  // dL_D/dpsi = theta s(psi theta) and dL_G/dtheta = -psi s(psi theta), s the logistic function.
  const auto s = [](double t) { return 1 / (1 + std::exp(-t)); };
  DiracConfig c;
  c.steps = 1;
  c.lr = 0.1;
  c.theta0 = 0.8;
  c.psi0 = -0.6;
  const double t0 = c.theta0, p0 = c.psi0, h = c.lr;
  c.order = UpdateOrder::simultaneous;
  std::vector<DiracPoint> p = dirac_trajectory(c);
  CHECK(p[1].theta == Approx(t0 + h * p0 * s(p0 * t0)).epsilon(1e-12));
  CHECK(p[1].psi == Approx(p0 - h * t0 * s(p0 * t0)).epsilon(1e-12));
  c.order = UpdateOrder::alternating;
  p = dirac_trajectory(c);
  const double p1 = p0 - h * t0 * s(p0 * t0);
  CHECK(p[1].psi == Approx(p1).epsilon(1e-12));
  CHECK(p[1].theta == Approx(t0 + h * p1 * s(p1 * t0)).epsilon(1e-12));

  auto final_distance = [](DiracConfig k) {
    k.steps = 400;
    k.theta0 = k.psi0 = 1;
    const auto path = dirac_trajectory(k);
    return std::hypot(path.back().theta, path.back().psi);
  };
  DiracConfig k;
  const double start = std::sqrt(2.0);
  k.order = UpdateOrder::simultaneous;
  CHECK(final_distance(k) > 1.3 * start);  // spirals out
  k.order = UpdateOrder::alternating;
  CHECK(std::abs(final_distance(k) - start) < 0.05 * start);  // keeps circling
  k.penalty = DiracPenalty::r1;
  CHECK(final_distance(k) < 0.01);  // converges
  k.order = UpdateOrder::simultaneous;
  CHECK(final_distance(k) < 0.01);
  // The field at a point: minus each player's own gradient.
  const DiracPoint f = dirac_field(DiracConfig{}, 0.5, 0.25);
  CHECK(f.theta == Approx(0.25 * s(0.125)).epsilon(1e-12));
  CHECK(f.psi == Approx(-0.5 * s(0.125)).epsilon(1e-12));
}
