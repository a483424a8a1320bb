// The command-line parser (cli/args.h) on its own: every declared flag is listed in the help and
// accepted, and each surprise seen in use is an error of one line.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "core/error.h"

using namespace duel;
using namespace duel::cli;
using Catch::Matchers::Contains;

namespace {

const Command kToy{"toy",
                   "A command for the tests.",
                   "[FILE]",
                   0,
                   1,
                   {int_flag("steps", "N", "how many", Range::ints(1, 1000), "10"),
                    real_flag("lr", "LR", "a rate", Range::reals(0, 1, true)),
                    choice_flag("loss", {"ns", "wgan-gp"}, "the loss", "ns"), text_flag("out", "DIR", "where"),
                    switch_flag("resume", "go on"), repeatable(text_flag("run", "NAME=DIR", "a run")),
                    real_flag("gp-lambda", "L", "weight", Range::reals(0, 100))},
                   "Details."};

// Parses `line` (space-separated) as `duel toy <line>`.
Args parse(const std::string& line) {
  static std::vector<std::string> words;
  static std::vector<char*> argv;
  words = {"duel", "toy"};
  std::string w;
  for (char c : line + " ") {
    if (c == ' ') {
      if (!w.empty()) words.push_back(w);
      w.clear();
    } else {
      w += c;
    }
  }
  argv.clear();
  for (auto& s : words) argv.push_back(s.data());
  return Args(kToy, int(argv.size()), argv.data(), 2);
}

std::string error_of(const std::string& line) {
  try {
    parse(line);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the help lists every declared flag with its range, choices and default", "[cli][args]") {
  const std::string h = help_text(kToy);
  CHECK_THAT(h, Contains("usage: duel toy [flags] [FILE]"));
  for (const Flag& f : kToy.flags) {
    INFO(f.name);
    CHECK_THAT(h, Contains("--" + f.name));
    CHECK_THAT(h, Contains(f.help));
  }
  CHECK_THAT(h, Contains("integer 1..1000; default 10"));
  CHECK_THAT(h, Contains("> 0, <= 1"));
  CHECK_THAT(h, Contains("--loss ns|wgan-gp"));
  CHECK_THAT(h, Contains("repeatable"));
  CHECK_THAT(h, Contains("-h, --help"));
  CHECK_THAT(h, Contains("Details."));
}

TEST_CASE("every flag the help lists is accepted", "[cli][args]") {
  const Args a = parse("--steps 5 --lr=0.5 --loss wgan-gp --out d --resume --run a=x --run b=y --gp-lambda 0 file");
  CHECK(a.get_int("steps", 0) == 5);
  CHECK(a.get_double("lr", 0) == 0.5);
  CHECK(a.get_or("loss", "") == "wgan-gp");
  CHECK(a.required("out") == "d");
  CHECK(a.has("resume"));
  CHECK(a.all("run") == std::vector<std::string>{"a=x", "b=y"});
  CHECK(a.positional() == std::vector<std::string>{"file"});
  CHECK(a.get_int("steps", 0) == 5);
  CHECK_FALSE(parse("").has("steps"));
  CHECK(parse("").get_int("steps", 10) == 10);
}

TEST_CASE("-h and --help win over anything else on the line", "[cli][args]") {
  CHECK(parse("-h").help());
  CHECK(parse("--help").help());
  CHECK(parse("--bogus --steps -3 --help").help());
  CHECK_FALSE(parse("-- --help").help());  // after --, it is a file name
}

TEST_CASE("surprises are errors of one line", "[cli][args]") {
  // A value that is itself a flag: `--out --steps` once made a folder named --steps.
  CHECK_THAT(error_of("--out --steps 5"),
             Contains("toy: --out needs a value, but the next argument is the flag '--steps'") &&
                 Contains("--out=--steps"));
  CHECK(parse("--out=--steps").required("out") == "--steps");  // said explicitly, it is the value
  CHECK(parse("--gp-lambda 0").get_double("gp-lambda", 1) == 0);
  // Repeated.
  CHECK_THAT(error_of("--steps 5 --steps 6"), Contains("--steps is given twice ('5' and '6')"));
  CHECK_THAT(error_of("--resume --resume"), Contains("--resume is given twice"));
  // Unknown, with a suggestion when one is close.
  CHECK_THAT(error_of("--stpes 5"), Contains("unknown flag --stpes (did you mean --steps?)"));
  CHECK_THAT(error_of("--gp-lamda 5"), Contains("did you mean --gp-lambda?"));
  CHECK_THAT(error_of("--zzzzzzzz"), Contains("unknown flag --zzzzzzzz") && Contains("duel toy --help"));
  CHECK_THAT(error_of("-x"), Contains("unknown flag -x"));
  // Ranges and types, checked while parsing.
  CHECK_THAT(error_of("--gp-lambda -10"), Contains("--gp-lambda must be a number from 0 to 100, got '-10'"));
  CHECK_THAT(error_of("--steps 0"), Contains("--steps must be an integer from 1 to 1000, got '0'"));
  CHECK_THAT(error_of("--steps 1.5"), Contains("got '1.5'"));
  CHECK_THAT(error_of("--steps 99999999999999999999"), Contains("got '99999999999999999999'"));
  CHECK_THAT(error_of("--lr 0"), Contains("--lr must be a number > 0 and <= 1"));
  CHECK_THAT(error_of("--lr nan"), Contains("got 'nan'"));
  CHECK_THAT(error_of("--lr inf"), Contains("got 'inf'"));
  CHECK_THAT(error_of("--lr 0x1p-3junk"), Contains("got '0x1p-3junk'"));
  CHECK_THAT(error_of("--loss wgangp"), Contains("--loss must be one of ns|wgan-gp, got 'wgangp' (did you mean wgan-gp?)"));
  // Values and switches.
  CHECK_THAT(error_of("--steps"), Contains("--steps needs a value"));
  CHECK_THAT(error_of("--out="), Contains("--out needs a value (DIR), got an empty one"));
  CHECK_THAT(error_of("--resume=yes"), Contains("--resume is a switch and takes no value"));
  // Positionals.
  CHECK_THAT(error_of("a b"), Contains("unexpected argument 'b'"));
  CHECK_THAT(error_of("a steps"), Contains("unexpected argument 'steps' (did you mean --steps?)"));
  // Control characters never reach the terminal raw.
  const std::string escape = error_of("--ou\x1b[31mt 1");
  CHECK_THAT(escape, Contains("unknown flag --ou?[31mt"));
  CHECK_THAT(escape, !Contains("\x1b"));
}

TEST_CASE("reading an undeclared flag is a programming error, not a silent default", "[cli][args]") {
  const Args a = parse("");
  CHECK_THROWS_WITH(a.get("nope"), Contains("undeclared flag --nope"));
}

TEST_CASE("closest suggests only plausible typos", "[cli][args]") {
  CHECK(closest("trian", {"train", "sample"}) == "train");
  CHECK(closest("smaple", {"train", "sample"}) == "sample");
  CHECK(closest("frobnicate", {"train", "sample"}).empty());
}

TEST_CASE("an output's name must promise the format written", "[cli][args]") {
  CHECK(check_output_extension("sample", "a/b.PNG", {".png", ".jpg"}, "pictures") == ".png");
  CHECK_THROWS_WITH(check_output_extension("chart", "x.png", {".svg"}, "an SVG chart"),
                    Contains("chart: --out x.png: chart writes an SVG chart; give a file name ending in .svg"));
  CHECK_THROWS_WITH(check_output_extension("sample", ".png", {".png"}, "pictures"), Contains("ending in .png"));
}
