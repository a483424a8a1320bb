// A small command-line parser: `--name value`, `--name=value`, boolean `--name`, repeatable
// flags, positional arguments. Unknown flags are errors that name the flag and the command.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace duel::cli {

class Args {
 public:
  // `value_flags` take a value; `bool_flags` do not. Both without the leading "--".
  Args(const std::string& command, int argc, char** argv, int first,
       const std::set<std::string>& value_flags, const std::set<std::string>& bool_flags);

  bool has(const std::string& flag) const { return values_.count(flag) || bools_.count(flag); }
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& fallback) const;
  std::string required(const std::string& flag) const;
  std::vector<std::string> all(const std::string& flag) const;  // every occurrence, in order
  int64_t get_int(const std::string& flag, int64_t fallback) const;
  double get_double(const std::string& flag, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::set<std::string> bools_;
  std::vector<std::string> positional_;
};

}  // namespace duel::cli

namespace duel::gan {
struct OptimConfig;
struct ModelConfig;
}

namespace duel::cli {
// --model, --image-size, --ngf, --ndf, --nz and --upsample over `m` (--model defaults to dcgan when
// a size or width is given, else dcgan28); a named configuration refuses another size or width.
void apply_model_flags(const Args& args, gan::ModelConfig& m);
// --lr-g, --lr-d, --beta1, --beta2, --n-critic, --gp-lambda and --clip, where given, over `c`.
void apply_optim_flags(const Args& args, gan::OptimConfig& c);
}  // namespace duel::cli
