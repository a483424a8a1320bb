#include "gan/ema.h"

#include <vector>

#include "core/autograd.h"
#include "core/random.h"

namespace duel::gan {

namespace {

void collect_batch_norms(nn::Module& m, std::vector<nn::BatchNorm2d*>& out) {
  if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m)) out.push_back(bn);
  for (auto& [name, child] : m.children()) collect_batch_norms(*child, out);
}

}  // namespace

void ema_update(nn::Module& ema, const nn::Module& live, double decay) {
  DUEL_CHECK(decay >= 0 && decay < 1, "ema: decay must be in [0, 1), got ", decay);
  NoGradGuard no_grad;
  const NamedTensors e = ema.named_parameters(), p = live.named_parameters();
  DUEL_CHECK(e.size() == p.size(), "ema: the average and G have different layer lists");
  for (size_t i = 0; i < e.size(); ++i) {
    DUEL_CHECK(e[i].first == p[i].first && e[i].second.shape() == p[i].second.shape(), "ema: parameter ",
               e[i].first, " does not match G's ", p[i].first);
    Tensor target = e[i].second;
    target.copy_(e[i].second * decay + p[i].second.detach() * (1.0 - decay));
  }
}

void copy_state(nn::Module& to, const nn::Module& from) {
  NoGradGuard no_grad;
  const NamedTensors a = to.state(), b = from.state();
  DUEL_CHECK(a.size() == b.size(), "ema: the average and G have different layer lists");
  for (size_t i = 0; i < a.size(); ++i) {
    Tensor target = a[i].second;
    target.copy_(b[i].second.detach());
  }
}

void recalibrate_batch_norm(Gan& gan, uint64_t seed, int64_t batches, int64_t batch) {
  std::vector<nn::BatchNorm2d*> norms;
  collect_batch_norms(gan.G(), norms);
  if (norms.empty()) return;
  NoGradGuard no_grad;
  std::vector<double> momenta;
  for (nn::BatchNorm2d* bn : norms) {
    momenta.push_back(bn->momentum);
    for (auto& [name, t] : bn->named_buffers()) {
      Tensor b = t;
      b.fill_(name == "running_var" ? 1.0 : 0.0);
    }
  }
  gan.G().train();
  Generator gen(seed);
  const Device dev = gan.G().device();
  for (int64_t k = 0; k < batches; ++k) {
    // momentum 1/(k+1): after batch k the running value is the mean of the k+1 batch statistics
    for (nn::BatchNorm2d* bn : norms) bn->momentum = 1.0 / double(k + 1);
    const Tensor z = randn({batch, gan.config().nz, 1, 1}, gen, DType::f32, dev);
    Tensor labels;
    if (gan.config().conditional) {
      labels = empty({batch}, DType::i64);
      for (int64_t i = 0; i < batch; ++i) labels.data<int64_t>()[i] = (k * batch + i) % gan.config().num_classes;
      labels = labels.to(dev);
    }
    gan.generate(z, labels);
  }
  for (size_t i = 0; i < norms.size(); ++i) norms[i]->momentum = momenta[i];
  gan.G().eval();
}

}  // namespace duel::gan
