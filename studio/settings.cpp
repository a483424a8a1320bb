// The lab settings as JSON, checked key by key: the studio's page sends them with every step.
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "studio/studio.h"

namespace duel::studio {

namespace {

double number(const nlohmann::json& j, const char* key, double lo, double hi) {
  const nlohmann::json& v = j.at(key);
  DUEL_CHECK(v.is_number(), "settings: '", key, "' must be a number, got ", v.dump());
  const double d = v.get<double>();
  DUEL_CHECK(std::isfinite(d) && d >= lo && d <= hi, "settings: '", key, "' must be in [", lo, ", ", hi, "], got ", d);
  return d;
}

int64_t integer(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi) {
  const double d = number(j, key, double(lo), double(hi));
  DUEL_CHECK(d == std::floor(d), "settings: '", key, "' must be an integer, got ", d);
  return int64_t(d);
}

std::string text(const nlohmann::json& j, const char* key) {
  const nlohmann::json& v = j.at(key);
  DUEL_CHECK(v.is_string(), "settings: '", key, "' must be a string, got ", v.dump());
  return v.get<std::string>();
}

}  // namespace

gan::LabSettings settings_from_json(const nlohmann::json& j, const gan::LabSettings& base) {
  DUEL_CHECK(j.is_object(), "settings must be a JSON object, got ", j.dump());
  static const char* kKeys[] = {"dist", "drawn", "loss", "opt_g", "opt_d", "lr_g", "lr_d", "beta1", "beta2",
                                "n_critic", "gp_lambda", "clip", "batch", "updates", "seed", "hidden", "z_dim"};
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (const char* k : kKeys) known = known || key == k;
    DUEL_CHECK(known, "settings: unknown key '", key, "'");
  }
  gan::LabSettings s = base;
  if (j.contains("loss")) s.optim.loss = gan::parse_loss(text(j, "loss"));
  if (j.contains("dist")) {
    s.dist = text(j, "dist");
    DUEL_CHECK(s.dist == "ring8" || s.dist == "grid25" || s.dist == "spiral" || s.dist == "gaussian" || s.dist == "drawn",
               "settings: 'dist' must be ring8, grid25, spiral, gaussian or drawn, got '", s.dist, "'");
  }
  if (j.contains("drawn")) {
    const nlohmann::json& d = j.at("drawn");
    DUEL_CHECK(d.is_array() && d.size() <= 40000, "settings: 'drawn' must be an array of at most 40000 numbers");
    s.drawn.clear();
    for (const auto& v : d) {
      DUEL_CHECK(v.is_number(), "settings: 'drawn' must hold numbers, got ", v.dump());
      s.drawn.push_back(v.get<double>());
    }
  }
  for (const char* k : {"opt_g", "opt_d"})
    if (j.contains(k)) {
      const std::string o = text(j, k);
      DUEL_CHECK(o == "adam" || o == "rmsprop" || o == "sgd", "settings: '", k, "' must be adam, rmsprop or sgd, got '",
                 o, "'");
      (std::string(k) == "opt_g" ? s.optim.opt_g : s.optim.opt_d) = o;
    }
  if (j.contains("lr_g")) s.optim.lr_g = number(j, "lr_g", 1e-7, 10);
  if (j.contains("lr_d")) s.optim.lr_d = number(j, "lr_d", 1e-7, 10);
  if (j.contains("beta1")) s.optim.beta1 = number(j, "beta1", 0, 0.999999);
  if (j.contains("beta2")) s.optim.beta2 = number(j, "beta2", 0, 0.999999);
  if (j.contains("n_critic")) s.optim.n_critic = integer(j, "n_critic", 1, 100);
  if (j.contains("gp_lambda")) s.optim.gp_lambda = number(j, "gp_lambda", 0, 1000);
  if (j.contains("clip")) s.optim.clip = number(j, "clip", 1e-6, 100);
  if (j.contains("batch")) s.batch = integer(j, "batch", 2, 4096);
  if (j.contains("updates")) s.order = gan::parse_update_order(text(j, "updates"));
  if (j.contains("seed")) s.seed = uint64_t(integer(j, "seed", 0, 1'000'000'000));
  if (j.contains("hidden")) s.hidden = integer(j, "hidden", 1, 512);
  if (j.contains("z_dim")) s.z_dim = integer(j, "z_dim", 1, 512);
  return s;
}

nlohmann::json settings_to_json(const gan::LabSettings& s) {
  return {{"dist", s.dist},
          {"loss", gan::loss_name(s.optim.loss)},
          {"opt_g", gan::optimiser_kind(s.optim, true)},
          {"opt_d", gan::optimiser_kind(s.optim, false)},
          {"lr_g", s.optim.lr_g},
          {"lr_d", s.optim.lr_d},
          {"beta1", s.optim.beta1},
          {"beta2", s.optim.beta2},
          {"n_critic", s.optim.n_critic},
          {"gp_lambda", s.optim.gp_lambda},
          {"clip", s.optim.clip},
          {"batch", s.batch},
          {"updates", gan::update_order_name(s.order)},
          {"seed", s.seed},
          {"hidden", s.hidden},
          {"z_dim", s.z_dim}};
}

}  // namespace duel::studio
