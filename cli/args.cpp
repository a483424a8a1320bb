#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.h"
#include "gan/models.h"
#include "gan/step.h"
#include "gan/train_config.h"

namespace duel::cli {

// ---------------------------------------------------------------------------------------------
// Declarations
// ---------------------------------------------------------------------------------------------

Flag switch_flag(std::string name, std::string help) {
  Flag f;
  f.name = std::move(name);
  f.type = Flag::Type::boolean;
  f.help = std::move(help);
  return f;
}

Flag text_flag(std::string name, std::string value_name, std::string help, std::string default_text) {
  Flag f;
  f.name = std::move(name);
  f.type = Flag::Type::text;
  f.value_name = std::move(value_name);
  f.help = std::move(help);
  f.default_text = std::move(default_text);
  return f;
}

Flag int_flag(std::string name, std::string value_name, std::string help, Range range, std::string default_text) {
  Flag f = text_flag(std::move(name), std::move(value_name), std::move(help), std::move(default_text));
  f.type = Flag::Type::integer;
  f.range = range;
  f.range.integer = true;
  return f;
}

Flag real_flag(std::string name, std::string value_name, std::string help, Range range, std::string default_text) {
  Flag f = text_flag(std::move(name), std::move(value_name), std::move(help), std::move(default_text));
  f.type = Flag::Type::real;
  f.range = range;
  f.range.integer = false;
  return f;
}

Flag choice_flag(std::string name, std::vector<std::string> choices, std::string help, std::string default_text) {
  Flag f;
  f.name = std::move(name);
  f.type = Flag::Type::choice;
  f.choices = std::move(choices);
  for (size_t i = 0; i < f.choices.size(); ++i) f.value_name += (i ? "|" : "") + f.choices[i];
  f.help = std::move(help);
  f.default_text = std::move(default_text);
  return f;
}

Flag repeatable(Flag f) {
  f.repeatable = true;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

namespace {

// "1..65536", "> 0, <= 10", ">= 0": the range for the help's flag list.
std::string interval(const Range& r) {
  const bool lo = std::isfinite(r.min), hi = std::isfinite(r.max) && r.max < 9e18;  // 2^63-ish: no bound worth showing
  if (lo && hi && !r.min_open && !r.max_open) return number_text(r.min) + ".." + number_text(r.max);
  std::string out;
  if (lo) out += std::string(r.min_open ? "> " : ">= ") + number_text(r.min);
  if (lo && hi) out += ", ";
  if (hi) out += std::string(r.max_open ? "< " : "<= ") + number_text(r.max);
  return out;
}

std::string flag_column(const Flag& f) {
  std::string s = "--" + f.name;
  if (f.type != Flag::Type::boolean) s += " " + (f.value_name.empty() ? std::string("VALUE") : f.value_name);
  return s;
}

std::string flag_note(const Flag& f) {
  std::vector<std::string> parts;
  if (f.type == Flag::Type::integer || f.type == Flag::Type::real) {
    const std::string iv = interval(f.range);
    if (!iv.empty()) parts.push_back((f.type == Flag::Type::integer ? "integer " : "") + iv);
  }
  if (!f.default_text.empty()) parts.push_back("default " + f.default_text);
  if (f.repeatable) parts.push_back("repeatable");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : "") + parts[i];
  return out.empty() ? "" : " [" + out + "]";
}

}  // namespace

std::string help_text(const Command& c) {
  std::string out = "usage: duel " + c.name;
  if (!c.flags.empty()) out += " [flags]";
  if (!c.positionals.empty()) out += " " + c.positionals;
  out += "\n\n" + c.summary + "\n\nflags:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const Flag& f : c.flags) rows.emplace_back(flag_column(f), f.help + flag_note(f));
  rows.emplace_back("-h, --help", "show this help");
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  width = std::min<size_t>(width, 34);
  for (const auto& [left, right] : rows) {
    out += "  " + left;
    if (left.size() > width) out += "\n  " + std::string(width, ' ');
    else out += std::string(width - left.size(), ' ');
    out += "  " + right + "\n";
  }
  if (!c.details.empty()) out += "\n" + c.details + (c.details.back() == '\n' ? "" : "\n");
  return out;
}

int print_help(const Command& c) {
  std::fputs(help_text(c).c_str(), stdout);
  return 0;
}

std::string check_output_extension(const std::string& command, const std::string& path,
                                   const std::vector<std::string>& extensions, const std::string& what) {
  std::string lower = path;
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& e : extensions)
    if (lower.size() > e.size() && lower.compare(lower.size() - e.size(), e.size(), e) == 0) return e;
  std::string list;
  for (size_t i = 0; i < extensions.size(); ++i)
    list += (i == 0 ? "" : i + 1 == extensions.size() ? " or " : ", ") + extensions[i];
  fail(command, ": --out ", path, ": ", command, " writes ", what, "; give a file name ending in ", list);
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  // Optimal string alignment distance (Levenshtein plus adjacent transpositions).
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
      for (size_t j = 1; j <= b.size(); ++j) {
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1])});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    return d[a.size()][b.size()];
  };
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    // A unique prefix counts as close ("--check" for "--checkpoint-every" is not unique, though).
    const size_t d = c.rfind(word, 0) == 0 && word.size() >= 3 ? 1 : distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  return best_d <= limit ? best : std::string();
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

namespace {

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  (void)std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// "--steps", "-h", "-x": an argument that reads as a flag (a negative number does not).
bool looks_like_flag(const std::string& s) { return s.size() >= 2 && s[0] == '-' && !is_number(s); }

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return s.size() > 60 ? out + "..." : out;
}

}  // namespace

Args::Args(const Command& command, int argc, char** argv, int first) : command_(command) { parse(argc, argv, first); }

Args::Args(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& value_flags,
           const std::set<std::string>& bool_flags) {
  command_.name = command;
  command_.summary = "(no description)";
  command_.positionals = "[ARG...]";
  command_.max_positionals = 1 << 20;
  for (const auto& f : value_flags) command_.flags.push_back(text_flag(f, "VALUE", ""));
  for (const auto& f : bool_flags)
    if (f != "help") command_.flags.push_back(switch_flag(f, ""));
  parse(argc, argv, first);
}

void Args::parse(int argc, char** argv, int first) {
  const std::string& cmd = command_.name;
  // Help wins over every other problem on the line: `duel train --bogus --help` shows the help.
  for (int i = first; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--")) break;
    if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) help_ = true;
  }
  if (help_) return;
  std::vector<std::string> names;
  for (const Flag& f : command_.flags) names.push_back("--" + f.name);
  bool flags_done = false;
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (!flags_done && a == "--") {
      flags_done = true;
      continue;
    }
    if (flags_done || !looks_like_flag(a)) {
      if (int(positional_.size()) >= command_.max_positionals) {
        std::string hint;
        for (const Flag& f : command_.flags)
          if (f.name == a) hint = " (did you mean --" + a + "?)";
        fail(cmd, ": unexpected argument '", printable(a), "'", hint,
             hint.empty() ? str_cat(" (run `duel ", cmd, " --help`)") : "");
      }
      positional_.push_back(a);
      continue;
    }
    std::string name = a.rfind("--", 0) == 0 ? a.substr(2) : a.substr(1), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos && a.rfind("--", 0) == 0;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Flag* flag = nullptr;
    for (const Flag& f : command_.flags)
      if (f.name == name && a.rfind("--", 0) == 0) flag = &f;
    if (!flag) {
      const std::string guess = closest("--" + name, names);
      fail(cmd, ": unknown flag ", printable(a.substr(0, a.find('='))),
           guess.empty() ? str_cat(" (run `duel ", cmd, " --help` for its flags)") : " (did you mean " + guess + "?)");
    }
    if (flag->type == Flag::Type::boolean) {
      DUEL_CHECK(!inline_value, cmd, ": --", name, " is a switch and takes no value");
      DUEL_CHECK(!bools_.count(name), cmd, ": --", name, " is given twice");
      bools_.insert(name);
      continue;
    }
    if (!inline_value) {
      DUEL_CHECK(i + 1 < argc, cmd, ": --", name, " needs a value (", flag->value_name, ")");
      value = argv[++i];
      DUEL_CHECK(!looks_like_flag(value), cmd, ": --", name, " needs a value, but the next argument is the flag '",
                 printable(value), "' (write --", name, "=", printable(value), " if that is the value)");
    }
    DUEL_CHECK(!value.empty(), cmd, ": --", name, " needs a value (", flag->value_name, "), got an empty one");
    auto& seen = values_[name];
    DUEL_CHECK(flag->repeatable || seen.empty(), cmd, ": --", name, " is given twice ('", printable(seen.empty() ? "" : seen[0]),
               "' and '", printable(value), "'); give it once");
    const std::string what = cmd + ": --" + name;
    switch (flag->type) {
      case Flag::Type::integer: (void)parse_int_in(value, flag->range, what); break;
      case Flag::Type::real: (void)parse_real_in(value, flag->range, what); break;
      case Flag::Type::choice:
        if (std::find(flag->choices.begin(), flag->choices.end(), value) == flag->choices.end()) {
          const std::string guess = closest(value, flag->choices);
          fail(what, " must be one of ", flag->value_name, ", got '", printable(value), "'",
               guess.empty() ? "" : " (did you mean " + guess + "?)");
        }
        break;
      default: break;
    }
    seen.push_back(value);
  }
  if (int(positional_.size()) < command_.min_positionals)
    fail(cmd, ": missing ", command_.positionals, " (usage: duel ", cmd, " [flags] ", command_.positionals, ")");
}

const Flag& Args::declared(const std::string& flag) const {
  for (const Flag& f : command_.flags)
    if (f.name == flag) return f;
  fail("internal: ", command_.name, " reads the undeclared flag --", flag);
}

bool Args::has(const std::string& flag) const {
  if (flag == "help") return help_;
  (void)declared(flag);
  return values_.count(flag) || bools_.count(flag);
}

std::optional<std::string> Args::get(const std::string& flag) const {
  (void)declared(flag);
  auto it = values_.find(flag);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& flag, const std::string& fallback) const {
  return get(flag).value_or(fallback);
}

std::string Args::required(const std::string& flag) const {
  auto v = get(flag);
  DUEL_CHECK(v.has_value(), command_.name, ": missing --", flag, " (run `duel ", command_.name, " --help`)");
  return *v;
}

std::vector<std::string> Args::all(const std::string& flag) const {
  (void)declared(flag);
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

int64_t Args::get_int(const std::string& flag, int64_t fallback) const {
  const Flag& f = declared(flag);
  auto v = get(flag);
  if (!v) return fallback;
  const Range r = f.type == Flag::Type::integer ? f.range : Range::ints(-9.2e18, 9.2e18);
  return parse_int_in(*v, r, command_.name + ": --" + flag);
}

double Args::get_double(const std::string& flag, double fallback) const {
  const Flag& f = declared(flag);
  auto v = get(flag);
  if (!v) return fallback;
  const Range r = f.type == Flag::Type::real ? f.range : Range::reals(-HUGE_VAL, HUGE_VAL);
  return parse_real_in(*v, r, command_.name + ": --" + flag);
}

// ---------------------------------------------------------------------------------------------
// Optimiser flags, with config.json's ranges
// ---------------------------------------------------------------------------------------------

std::vector<Flag> optim_flags() {
  std::vector<Flag> out;
  for (const char* key : {"lr_g", "lr_d", "beta1", "beta2", "n_critic", "gp_lambda", "clip"}) {
    const gan::Setting& s = gan::train_setting(key);
    out.push_back(s.kind == gan::Setting::Kind::integer ? int_flag(s.flag, s.value_name, s.help, s.range)
                                                        : real_flag(s.flag, s.value_name, s.help, s.range));
  }
  return out;
}

std::vector<Flag> model_flags() {
  std::vector<Flag> out;
  const std::pair<const char*, const char*> keys[] = {
      {"model", "dcgan28, or dcgan when a size or width is given"}, {"image_size", "64 for dcgan"},
      {"ngf", "64"}, {"ndf", "64"}, {"nz", "100"}, {"upsample", "convT"}};
  for (const auto& [key, default_text] : keys) {
    const gan::Setting& s = gan::train_setting(key);
    out.push_back(s.kind == gan::Setting::Kind::integer ? int_flag(s.flag, s.value_name, s.help, s.range, default_text)
                                                        : choice_flag(s.flag, s.choices, s.help, default_text));
  }
  return out;
}

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
  const auto& flags = args.command().flags;  // duel step takes nz from its batch file
  if (std::any_of(flags.begin(), flags.end(), [](const Flag& f) { return f.name == "nz"; }))
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
