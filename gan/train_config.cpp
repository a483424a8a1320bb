#include "gan/train_config.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.h"

namespace duel::gan {

using json = nlohmann::json;

namespace {

constexpr double kBillion = 1e9;
constexpr double kMaxSeed = 9223372036854775807.0;  // seeds are stored as int64 in checkpoints

std::vector<Setting> make_settings() {
  using K = Setting::Kind;
  auto ints = [](double lo, double hi) { return Range::ints(lo, hi); };
  std::vector<Setting> s;
  auto add = [&](Setting x) { s.push_back(std::move(x)); };
  add({"model", "model", K::text, {}, {"dcgan28", "dcgan64", "dcgan"}, "",
       "the architecture: dcgan28, dcgan64 or the DCGAN family at --image-size"});
  // The DCGAN family's size and widths (older config.json files have none: their named model
  // fixes them); gan/models.h checks the combinations.
  add({"image_size", "image-size", K::integer, ints(16, 256), {}, "S",
       "dcgan: picture side, a power of two from 16 to 256, or 28", false, true});
  add({"ngf", "ngf", K::integer, ints(1, 4096), {}, "N", "dcgan: the generator's width", false, true});
  add({"ndf", "ndf", K::integer, ints(1, 4096), {}, "N", "dcgan: the critic's width", false, true});
  add({"upsample", "upsample", K::text, {}, {"convT", "nearest"}, "",
       "the generator's upsampling: transposed convolution, or nearest-neighbour + 3x3 convolution", false,
       true});
  add({"critic_norm", "critic-norm", K::text, {}, {"batchnorm", "none", "layernorm"}, "",
       "normalisation in the critic"});
  add({"conditional", "conditional", K::boolean, {}, {}, "", "class-conditional G and D (labelled data)"});
  add({"channels", "channels", K::integer, ints(1, 3), {}, "C",
       "picture channels: 1 (gray) or 3 (RGB)"});
  add({"nz", "nz", K::integer, ints(1, 4096), {}, "N", "latent size"});
  // Labels of IDX data are bytes; the conditional G embeds classes x classes.
  add({"num_classes", "", K::integer, ints(1, 256), {}, "", "classes of a conditional model"});
  add({"loss", "loss", K::text, {}, {"minimax", "ns", "wgan", "wgan-gp", "hinge", "lsgan"}, "",
       "the adversarial loss"});
  add({"lr_g", "lr-g", K::real, Range::reals(0, 10, true), {}, "LR", "the generator's learning rate"});
  add({"lr_d", "lr-d", K::real, Range::reals(0, 10, true), {}, "LR", "the critic's learning rate"});
  add({"beta1", "beta1", K::real, Range::reals(0, 1, false, true), {}, "B", "Adam's first-moment decay"});
  add({"beta2", "beta2", K::real, Range::reals(0, 1, false, true), {}, "B",
       "Adam's second-moment decay (RMSProp's for wgan)"});
  add({"n_critic", "n-critic", K::integer, ints(1, 100), {}, "N",
       "critic updates per generator update"});
  add({"gp_lambda", "gp-lambda", K::real, Range::reals(0, 1e6), {}, "L", "wgan-gp: the gradient penalty's weight"});
  add({"clip", "clip", K::real, Range::reals(0, 1e6, true), {}, "C", "wgan: critic weights are clipped to [-C, C]"});
  add({"data", "data", K::text, {}, {}, "SPEC", "fashion-mnist, mnist, idx:DIR, folder:DIR or synthetic"});
  add({"batch", "batch", K::integer, ints(1, 65536), {}, "B", "pictures per critic update"});
  add({"seed", "seed", K::integer, Range::ints(0, kMaxSeed), {}, "S", "weights, latents and data order"});
  add({"steps", "steps", K::integer, ints(1, kBillion), {}, "N", "generator updates to reach", true});
  add({"log_every", "log-every", K::integer, ints(1, kBillion), {}, "K", "a metrics.jsonl line every K steps", true});
  add({"sample_every", "sample-every", K::integer, ints(0, kBillion), {}, "K",
       "a sample grid every K steps (0: at the end)", true});
  add({"checkpoint_every", "checkpoint-every", K::integer, ints(0, kBillion), {}, "K",
       "a checkpoint every K steps (0: at the end)", true});
  add({"eval_every", "eval-every", K::integer, ints(0, kBillion), {}, "K",
       "the sliced Wasserstein distance (and, for 28x28 gray pictures, FID, KID,\n"
       "                                      precision/recall and coverage) every K steps (0: never)", true, true});
  add({"eval_n", "eval-n", K::integer, ints(10, 100000), {}, "N", "generated pictures per evaluation", true, true});
  add({"device", "device", K::text, {}, {}, "DEV", "cpu, cuda or cuda:N"});
  // Older runs have no "math": they ran before the math modes, in fp32.
  add({"math", "math", K::text, {}, {"fp32", "tf32", "bf16"}, "",
       "the arithmetic of the convolutions and matmuls (tf32: cuda only; bf16: cuda, or a cpu with AVX512_BF16)", false, true});
  // Settings newer than the first config.json files: absent means the default.
  add({"ema", "ema", K::real, Range::reals(0, 1, false, true), {}, "DECAY",
       "keep a moving average of G with this decay, e.g. 0.999 (0: none)", false, true});
  add({"init_from", "init-from", K::text, {}, {}, "DIR", "start G and D from another run's checkpoint", false, true});
  add({"background", "background", K::text, {}, {"white", "black"}, "",
       "folder data: the colour under transparent pixels", false, true});
  add({"flip", "flip", K::boolean, {}, {}, "", "mirror each real picture left to right with probability 1/2", false,
       true});
  add({"data_memory_mb", "data-memory", K::integer, ints(-1, double(int64_t(1) << 40)), {}, "MB",
       "folder data: MB of pictures kept in memory, the rest streamed (0: all streamed; -1: default)", true, true});
  return s;
}

// "an integer" / "true or false" / "one of a, b, c": what a JSON field of a setting must be.
std::string kind_text(const Setting& s) {
  switch (s.kind) {
    case Setting::Kind::integer: return s.range.describe();
    case Setting::Kind::real: return s.range.describe();
    case Setting::Kind::boolean: return "true or false";
    case Setting::Kind::text: break;
  }
  if (s.choices.empty()) return "a string";
  std::string out = "one of";
  for (size_t i = 0; i < s.choices.size(); ++i) out += (i ? ", " : " ") + s.choices[i];
  return out;
}

// A JSON value for a message: short, one line, no control characters (dump escapes them).
std::string shown(const json& v) {
  std::string d = v.dump();
  if (d.size() > 40) d = d.substr(0, 40) + "...";
  return d;
}

void check_data_spec(const std::string& spec, const std::string& where) {
  const bool ok = spec == "fashion-mnist" || spec == "mnist" || spec == "synthetic" ||
                  (spec.rfind("idx:", 0) == 0 && spec.size() > 4) || (spec.rfind("folder:", 0) == 0 && spec.size() > 7);
  DUEL_CHECK(ok, where, " must be fashion-mnist, mnist, idx:DIR, folder:DIR or synthetic, got '",
             spec.substr(0, 60), "'");
}

// Checks one field of the JSON form against its setting; `where` names it in messages.
void check_field(const Setting& s, const json& v, const std::string& where) {
  switch (s.kind) {
    case Setting::Kind::integer: {
      if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(std::numeric_limits<int64_t>::max()) || !s.range.contains(double(u)))
          fail(where, " must be ", kind_text(s), ", got ", shown(v));
      } else if (v.is_number_integer()) {
        check_in(double(v.get<int64_t>()), s.range, where);
      } else {
        fail(where, " must be ", kind_text(s), ", got ", shown(v));
      }
      return;
    }
    case Setting::Kind::real:
      if (!v.is_number() || !s.range.contains(v.get<double>())) fail(where, " must be ", kind_text(s), ", got ", shown(v));
      return;
    case Setting::Kind::boolean:
      if (!v.is_boolean()) fail(where, " must be ", kind_text(s), ", got ", shown(v));
      return;
    case Setting::Kind::text: {
      if (!v.is_string()) fail(where, " must be ", kind_text(s), ", got ", shown(v));
      const std::string text = v.get<std::string>();
      if (!s.choices.empty()) {
        bool known = false;
        for (const auto& c : s.choices) known = known || c == text;
        if (!known) fail(where, " must be ", kind_text(s), ", got ", shown(v));
      }
      if (s.key == "data") check_data_spec(text, where);
      if (s.key == "device") {
        try {
          (void)parse_device(text);
        } catch (const Error&) {
          fail(where, " must be cpu, cuda or cuda:N, got ", shown(v));
        }
      }
      return;
    }
  }
}

// The whole JSON form: every setting present (or optional) and valid, nothing unknown.
void check_json(const json& j, const std::string& source) {
  DUEL_CHECK(j.is_object(), source, ": not a JSON object");
  std::set<std::string> known{"format"};
  for (const Setting& s : train_settings()) {
    known.insert(s.key);
    const auto it = j.find(s.key);
    if (it == j.end()) {
      DUEL_CHECK(s.optional_in_file, source, ": the field \"", s.key, "\" is missing");
      continue;
    }
    check_field(s, *it, source + ": \"" + s.key + "\"");
  }
  for (const auto& [key, value] : j.items())
    DUEL_CHECK(known.count(key), source, ": unknown field \"", key.substr(0, 40), "\"");
  const int64_t channels = j.at("channels").get<int64_t>();
  DUEL_CHECK(channels == 1 || channels == 3, source, ": \"channels\" must be 1 or 3, got ", channels);
}

}  // namespace

const std::vector<Setting>& train_settings() {
  static const std::vector<Setting> settings = make_settings();
  return settings;
}

const Setting& train_setting(std::string_view key) {
  for (const Setting& s : train_settings())
    if (s.key == key) return s;
  fail("train_setting: no setting '", key, "'");
}

std::string config_to_json(const TrainConfig& c) {
  json j;
  j["format"] = "duel-train-config-1";
  j["model"] = model_name(c.model.kind);
  j["critic_norm"] = critic_norm_name(c.model.critic_norm);
  j["conditional"] = c.model.conditional;
  j["channels"] = c.model.channels;
  j["nz"] = c.model.nz;
  j["num_classes"] = c.model.num_classes;
  j["loss"] = loss_name(c.optim.loss);
  j["lr_g"] = c.optim.lr_g;
  j["lr_d"] = c.optim.lr_d;
  j["beta1"] = c.optim.beta1;
  j["beta2"] = c.optim.beta2;
  j["n_critic"] = c.optim.n_critic;
  j["gp_lambda"] = c.optim.gp_lambda;
  j["clip"] = c.optim.clip;
  j["data"] = c.data;
  j["batch"] = c.batch;
  j["seed"] = c.seed;
  j["steps"] = c.steps;
  j["log_every"] = c.log_every;
  j["sample_every"] = c.sample_every;
  j["checkpoint_every"] = c.checkpoint_every;
  j["eval_every"] = c.eval_every;
  j["eval_n"] = c.eval_n;
  j["device"] = c.device.str();
  j["math"] = std::string(math_mode_name(c.math));
  j["image_size"] = c.model.image_size();
  j["ngf"] = c.model.g_width();
  j["ndf"] = c.model.d_width();
  j["upsample"] = upsample_name(c.model.upsample);
  j["ema"] = c.ema;
  j["init_from"] = c.init_from;
  j["background"] = c.background;
  j["flip"] = c.flip;
  j["data_memory_mb"] = c.data_memory_mb;
  return j.dump(2) + "\n";
}

void validate(const TrainConfig& c, const std::string& source) {
  // The same checks as a file gets, on the JSON form of the struct; messages use the flag names.
  const json j = json::parse(config_to_json(c));
  for (const Setting& s : train_settings()) {
    const std::string where = s.flag.empty() ? source + ": " + s.key : source + ": --" + s.flag;
    check_field(s, j.at(s.key), where);
  }
  DUEL_CHECK(c.model.channels == 1 || c.model.channels == 3, source, ": --channels must be 1 or 3, got ",
             c.model.channels);
  try {
    check_model_config(c.model);  // the family's sizes and widths together
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(source, ": not valid JSON (", e.what(), ")");
  }
  DUEL_CHECK(j.is_object() && j.contains("format") && j["format"] == "duel-train-config-1", source,
             ": not a duel training config (format duel-train-config-1)");
  check_json(j, source);
  // Every field was checked above, so the conversions below cannot throw.
  TrainConfig c;
  c.model.kind = parse_model(j.at("model").get<std::string>());
  c.model.critic_norm = parse_critic_norm(j.at("critic_norm").get<std::string>());
  c.model.conditional = j.at("conditional").get<bool>();
  c.model.channels = j.at("channels").get<int64_t>();
  c.model.nz = j.at("nz").get<int64_t>();
  c.model.num_classes = j.at("num_classes").get<int64_t>();
  c.optim.loss = parse_loss(j.at("loss").get<std::string>());
  c.optim.lr_g = j.at("lr_g").get<double>();
  c.optim.lr_d = j.at("lr_d").get<double>();
  c.optim.beta1 = j.at("beta1").get<double>();
  c.optim.beta2 = j.at("beta2").get<double>();
  c.optim.n_critic = j.at("n_critic").get<int64_t>();
  c.optim.gp_lambda = j.at("gp_lambda").get<double>();
  c.optim.clip = j.at("clip").get<double>();
  c.data = j.at("data").get<std::string>();
  c.batch = j.at("batch").get<int64_t>();
  c.seed = j.at("seed").get<uint64_t>();
  c.steps = j.at("steps").get<int64_t>();
  c.log_every = j.at("log_every").get<int64_t>();
  c.sample_every = j.at("sample_every").get<int64_t>();
  c.checkpoint_every = j.at("checkpoint_every").get<int64_t>();
  c.eval_every = j.value("eval_every", int64_t(0));
  c.eval_n = j.value("eval_n", int64_t(2000));
  c.device = parse_device(j.at("device").get<std::string>());
  c.math = parse_math_mode(j.value("math", std::string("fp32")));
  if (c.model.kind == ModelKind::dcgan) {
    DUEL_CHECK(j.contains("image_size") && j.contains("ngf") && j.contains("ndf"), source,
               ": a dcgan run needs \"image_size\", \"ngf\" and \"ndf\"");
    c.model.size = j.at("image_size").get<int64_t>();
    c.model.ngf = j.at("ngf").get<int64_t>();
    c.model.ndf = j.at("ndf").get<int64_t>();
  }
  c.model.upsample = parse_upsample(j.value("upsample", std::string("convT")));
  c.ema = j.value("ema", 0.0);
  c.init_from = j.value("init_from", std::string());
  c.background = j.value("background", std::string("white"));
  c.flip = j.value("flip", false);
  c.data_memory_mb = j.value("data_memory_mb", int64_t(-1));
  try {
    check_model_config(c.model);
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
  return c;
}

}  // namespace duel::gan
