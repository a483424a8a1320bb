#include "cli/args.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "core/error.h"
#include <string>

#include "gan/models.h"
#include "gan/step.h"

namespace duel::cli {

Args::Args(const std::string& command, int argc, char** argv, int first,
           const std::set<std::string>& value_flags, const std::set<std::string>& bool_flags)
    : command_(command) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() < 3 || a.rfind("--", 0) != 0) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (bool_flags.count(name)) {
      DUEL_CHECK(!inline_value, command_, ": --", name, " takes no value");
      bools_.insert(name);
    } else if (value_flags.count(name)) {
      if (!inline_value) {
        DUEL_CHECK(i + 1 < argc, command_, ": --", name, " needs a value");
        value = argv[++i];
      }
      values_[name].push_back(value);
    } else {
      std::string known;
      for (const auto& f : value_flags) known += " --" + f;
      for (const auto& f : bool_flags) known += " --" + f;
      fail(command_, ": unknown flag --", name, " (flags:", known, ")");
    }
  }
}

std::optional<std::string> Args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& flag, const std::string& fallback) const {
  return get(flag).value_or(fallback);
}

std::string Args::required(const std::string& flag) const {
  auto v = get(flag);
  DUEL_CHECK(v.has_value(), command_, ": missing --", flag);
  return *v;
}

std::vector<std::string> Args::all(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::get_int(const std::string& flag, int64_t fallback) const {
  auto v = get(flag);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(v->c_str(), &end, 10);
  DUEL_CHECK(errno == 0 && !v->empty() && end == v->c_str() + v->size(), command_, ": --",
             flag, " expects an integer, got '", *v, "'");
  return n;
}

}  // namespace duel::cli

namespace duel::cli {

double Args::get_double(const std::string& flag, double fallback) const {
  auto v = get(flag);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  DUEL_CHECK(errno == 0 && !v->empty() && end == v->c_str() + v->size() && std::isfinite(d), command_,
             ": --", flag, " expects a number, got '", *v, "'");
  return d;
}

}  // namespace duel::cli

namespace duel::cli {

void apply_model_flags(const Args& args, gan::ModelConfig& m) {
  const bool sized = args.has("image-size") || args.has("ngf") || args.has("ndf");
  m.kind = gan::parse_model(args.get_or("model", sized ? "dcgan" : "dcgan28"));
  if (m.kind == gan::ModelKind::dcgan) {
    m.size = args.get_int("image-size", 64);
    m.ngf = args.get_int("ngf", 64);
    m.ndf = args.get_int("ndf", 64);
  } else {
    // A named configuration is exactly that: its size and widths cannot be changed.
    for (const char* flag : {"image-size", "ngf", "ndf"}) {
      const int64_t fixed = std::string(flag) == "image-size" ? m.image_size() : 64;
      DUEL_CHECK(args.get_int(flag, fixed) == fixed, "--model ", gan::model_name(m.kind), " is the named configuration "
                 "of ", m.image_size(), "x", m.image_size(), " images with ngf = ndf = 64; for --", flag, " ",
                 args.get_int(flag, fixed), " use --model dcgan");
    }
  }
  m.nz = args.get_int("nz", m.nz);
  m.upsample = gan::parse_upsample(args.get_or("upsample", "convT"));
}

void apply_optim_flags(const Args& args, gan::OptimConfig& c) {
  c.lr_g = args.get_double("lr-g", c.lr_g);
  c.lr_d = args.get_double("lr-d", c.lr_d);
  c.beta1 = args.get_double("beta1", c.beta1);
  c.beta2 = args.get_double("beta2", c.beta2);
  c.n_critic = args.get_int("n-critic", c.n_critic);
  c.gp_lambda = args.get_double("gp-lambda", c.gp_lambda);
  c.clip = args.get_double("clip", c.clip);
}

}  // namespace duel::cli
