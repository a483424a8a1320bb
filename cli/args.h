// The command-line parser every `duel` command uses: a command declares its flags once (name,
// type, range or choices, one line of help, default), and from that one declaration come
//   * `-h` / `--help` (and `duel help CMD`): a help text that lists every accepted flag;
//   * parsing of `--name value` and `--name=value`, `--` ending the flags;
//   * one-line errors for an unknown flag (with "did you mean"), a repeated flag, a missing
//     value, a value that is itself a flag (`--out --steps`), a value out of range or not a
//     choice, and an unexpected positional argument.
// Every value is checked while parsing, before the command does anything, so a refused command
// line never leaves a half-made output behind.
//
// A new command: declare `const Command kMine{...}` with its flags, then
//   const Args args(kMine, argc, argv, 2);   // 2: the flags start after "duel mine"
//   if (args.help()) return print_help(kMine);
// and add it to the command table in cli/main.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/checked.h"

namespace duel::cli {

struct Flag {
  enum class Type { boolean, text, integer, real, choice };
  std::string name;          // without the leading "--"
  Type type = Type::text;
  std::string value_name;    // shown after the flag in help: "N", "DIR"
  std::string help;          // one line
  std::string default_text;  // "(default ...)" in help; empty: none shown
  Range range;               // integer and real flags
  std::vector<std::string> choices;  // choice flags
  bool repeatable = false;   // may be given more than once (Args::all)
};

// Flag builders, so a declaration reads as one line per flag.
Flag switch_flag(std::string name, std::string help);
Flag text_flag(std::string name, std::string value_name, std::string help, std::string default_text = "");
Flag int_flag(std::string name, std::string value_name, std::string help, Range range,
              std::string default_text = "");
Flag real_flag(std::string name, std::string value_name, std::string help, Range range,
               std::string default_text = "");
Flag choice_flag(std::string name, std::vector<std::string> choices, std::string help,
                 std::string default_text = "");
Flag repeatable(Flag f);

struct Command {
  std::string name;          // "train", "bench step"
  std::string summary;       // one line: what it does
  std::string positionals;   // in the usage line, e.g. "DIR"; empty: the command takes none
  int min_positionals = 0, max_positionals = 0;
  std::vector<Flag> flags;   // -h/--help is added by the parser
  std::string details;       // paragraphs after the flag list (may be empty)
};

// The full help text: usage line, summary, every flag with its type, range and default, details.
std::string help_text(const Command& c);
// Prints help_text to stdout; returns 0 (the exit code of `duel CMD --help`).
int print_help(const Command& c);

// Output files are written in the format their name promises: throws "<command>: --out PATH: ..."
// unless `path` ends in one of `extensions` (any case), naming the format written (`what`).
// Returns the matching extension, lower case.
std::string check_output_extension(const std::string& command, const std::string& path,
                                   const std::vector<std::string>& extensions, const std::string& what);

// The closest of `candidates` to `word` when it is plausibly a typo (edit distance at most 2,
// or a third of the word), else empty.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

class Args {
 public:
  Args(const Command& command, int argc, char** argv, int first);
  // Untyped declaration (older commands): value flags and switches by name, no help text.
  Args(const std::string& command, int argc, char** argv, int first,
       const std::set<std::string>& value_flags, const std::set<std::string>& bool_flags);

  bool help() const { return help_; }  // -h or --help was given: print the help, exit 0
  bool has(const std::string& flag) const;
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& fallback) const;
  std::string required(const std::string& flag) const;
  std::vector<std::string> all(const std::string& flag) const;  // every occurrence, in order
  // The value as a number of the flag's declared range (checked while parsing).
  int64_t get_int(const std::string& flag, int64_t fallback) const;
  double get_double(const std::string& flag, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  const Command& command() const { return command_; }

 private:
  void parse(int argc, char** argv, int first);
  const Flag& declared(const std::string& flag) const;  // throws for an undeclared name (a bug)

  Command command_;
  bool help_ = false;
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
// The model flags (--model, --image-size, --ngf, --ndf, --nz, --upsample) with the ranges and
// choices a run's config.json is held to, for commands that build a model.
std::vector<Flag> model_flags();
// Those of them given, over `m` (--model defaults to dcgan when a size or width is given, else
// dcgan28); a named configuration refuses another size or width.
void apply_model_flags(const Args& args, gan::ModelConfig& m);
// The optimiser flags (--lr-g, --lr-d, --beta1, --beta2, --n-critic, --gp-lambda, --clip) with
// the ranges a run's config.json is held to (gan/train_config.h), for commands that take them.
std::vector<Flag> optim_flags();
// Those of them given on the command line, over `c`.
void apply_optim_flags(const Args& args, gan::OptimConfig& c);
}  // namespace duel::cli
