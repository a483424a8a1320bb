#include "gan/graph.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "gan/files.h"
#include "gan/lab.h"
#include "gan/models.h"

namespace duel::gan {

namespace {

const char* kLevelColour[] = {"#9ecae1", "#fdae6b", "#fb6a4a", "#cb181d"};
const char* kLevelName[] = {"forward", "backward", "double backward", "triple backward"};

}  // namespace

GraphStats write_iteration_graph(const std::string& model, LossKind loss, int64_t batch, const std::string& path) {
  DUEL_CHECK(batch >= 2, "graph: --batch must be at least 2");
  Generator rng(0);
  std::unique_ptr<Gan> image_gan;
  std::unique_ptr<MlpGan> mlp;
  Adversaries* adv = nullptr;
  Tensor real, z, eps;
  if (model == "dcgan28") {
    ModelConfig m;
    m.critic_norm = loss == LossKind::wgan_gp ? CriticNorm::none : CriticNorm::batchnorm;
    image_gan = std::make_unique<Gan>(m);
    image_gan->init_dcgan(rng);
    adv = image_gan.get();
    real = uniform({batch, 1, 28, 28}, -1, 1, rng);
    z = randn({batch, m.nz, 1, 1}, rng);
    eps = rand({batch, 1, 1, 1}, rng);
  } else if (model == "mlp") {
    mlp = std::make_unique<MlpGan>(2, 16);
    nn::reset_all(mlp->G(), rng);
    nn::reset_all(mlp->D(), rng);
    adv = mlp.get();
    real = randn({batch, 2}, rng);
    z = randn({batch, 2}, rng);
    eps = rand({batch, 1}, rng);
  } else {
    fail("graph: unknown model '", model, "' (expected dcgan28 or mlp)");
  }
  auto generate = [&](const Tensor& zz) { return image_gan ? image_gan->generate(zz) : mlp->generate(zz); };

  // One iteration's losses and their gradients, everything recorded.
  const Tensor fake = generate(z);
  const Tensor fake_d = fake.detach();
  const Tensor d_real = adv->critic(real, Tensor()), d_fake = adv->critic(fake_d, Tensor());
  Tensor loss_d = add(d_real_term(loss, d_real), d_fake_term(loss, d_fake));
  if (loss == LossKind::wgan_gp)
    loss_d = add(loss_d, gradient_penalty([&](const Tensor& x) { return adv->critic(x, Tensor()); }, real, fake_d, eps) * 10.0);
  const Tensor loss_g = g_loss(loss, adv->critic(fake, Tensor()));
  const NamedTensors dp = adv->D().named_parameters(), gp = adv->G().named_parameters();
  std::vector<Tensor> d_params, g_params;
  for (auto& [n, t] : dp) d_params.push_back(t);
  for (auto& [n, t] : gp) g_params.push_back(t);
  const std::vector<Tensor> d_grads = grad({loss_d}, d_params, {}, true, true);
  const std::vector<Tensor> g_grads = grad({loss_g}, g_params, {}, true, true);

  // Names of the parameters, for their accumulator nodes.
  std::map<const TensorImpl*, std::string> param_names;
  for (auto& [n, t] : dp) param_names[t.impl()] = "D." + n;
  for (auto& [n, t] : gp) param_names[t.impl()] = "G." + n;

  std::vector<std::shared_ptr<Node>> stack;
  std::vector<std::pair<std::string, Tensor>> outputs{{"loss_D", loss_d}, {"loss_G", loss_g}};
  for (size_t i = 0; i < d_grads.size(); ++i) outputs.emplace_back("grad D." + dp[i].first, d_grads[i]);
  for (size_t i = 0; i < g_grads.size(); ++i) outputs.emplace_back("grad G." + gp[i].first, g_grads[i]);
  for (auto& [n, t] : outputs)
    if (t.defined() && t.grad_fn()) stack.push_back(t.grad_fn());
  std::map<const Node*, int> id;
  std::vector<std::shared_ptr<Node>> nodes;
  while (!stack.empty()) {
    std::shared_ptr<Node> n = stack.back();
    stack.pop_back();
    if (id.count(n.get())) continue;
    id[n.get()] = int(nodes.size());
    nodes.push_back(n);
    for (const Edge& e : n->next)
      if (e.node && !id.count(e.node.get())) stack.push_back(e.node);
  }

  GraphStats st;
  std::ostringstream os;
  os << "digraph duel_iteration {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", "
        "fontsize=10];\n  edge [color=\"#666666\", arrowsize=0.6];\n"
     << "  labelloc=t; fontname=\"Helvetica\"; label=\"duel: one " << model << " " << loss_name(loss)
     << " iteration (loss_D, loss_G and their parameter gradients; edges point along the data flow)\";\n";
  for (const auto& n : nodes) {
    const int k = id[n.get()];
    if (n->is_accumulator()) {
      const auto leaf = n->accumulates_into();
      const auto it = leaf ? param_names.find(leaf.get()) : param_names.end();
      os << "  n" << k << " [shape=ellipse, fillcolor=\"#e0e0e0\", label=\""
         << (it != param_names.end() ? it->second : std::string("leaf")) << "\\n" << shape_str(n->out_shape) << "\"];\n";
      ++st.parameters;
      continue;
    }
    const int level = std::min(n->level, 3);
    (level == 0 ? st.forward : level == 1 ? st.backward : st.double_backward)++;
    os << "  n" << k << " [fillcolor=\"" << kLevelColour[level] << "\", label=\"" << n->op << "\\n"
       << shape_str(n->out_shape) << "\"];\n";
  }
  for (const auto& n : nodes)
    for (const Edge& e : n->next)
      if (e.node) {
        os << "  n" << id[e.node.get()] << " -> n" << id[n.get()] << ";\n";
        ++st.edges;
      }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& t = outputs[i].second;
    if (!t.defined() || !t.grad_fn()) continue;
    os << "  out" << i << " [shape=plaintext, style=\"\", label=\"" << outputs[i].first << "\"];\n  n"
       << id[t.grad_fn().get()] << " -> out" << i << " [style=dashed];\n";
  }
  os << "  subgraph cluster_legend {\n    label=\"legend\"; style=dashed;\n";
  for (int l = 0; l < 3; ++l)
    os << "    legend" << l << " [fillcolor=\"" << kLevelColour[l] << "\", label=\"" << kLevelName[l] << "\"];\n";
  os << "    legendp [shape=ellipse, fillcolor=\"#e0e0e0\", label=\"parameter (leaf)\"];\n"
     << "    legend0 -> legend1 -> legend2 -> legendp [style=invis];\n  }\n}\n";
  write_text_atomic(path, os.str());
  return st;
}

}  // namespace duel::gan
