// duel gradcheck [--op NAME | --all] [--json] [--cpu-path fast|reference]
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "core/gradcheck.h"

namespace duel::cli {

namespace {
const Command kGradcheck{
    "gradcheck",
    "float64 central differences (eps 1e-6) against the analytic Jacobian, first and second\n"
    "derivative, on every sample input of the op(s); passes when |a - n| <= 1e-5 + 1e-3 |n| for\n"
    "every Jacobian entry. Exits 1 if any check fails.",
    "",
    0,
    0,
    {text_flag("op", "NAME", "check one op (see `duel ops`)"), switch_flag("all", "check every op (the default)"),
     switch_flag("json", "machine-readable output"),
     choice_flag("cpu-path", {"fast", "reference"}, "which CPU kernels run", "fast")},
    ""};
}  // namespace

int cmd_gradcheck(int argc, char** argv) {
  const Args args(kGradcheck, argc, argv, 2);
  if (args.help()) return print_help(kGradcheck);
  DUEL_CHECK(!(args.has("op") && args.has("all")), "gradcheck: give --op NAME or --all, not both");
  if (auto p = args.get("cpu-path")) set_cpu_path(parse_cpu_path(*p));
  std::vector<const OpInfo*> ops;
  if (auto name = args.get("op")) {
    ops.push_back(&find_op(*name));
  } else {
    for (const OpInfo& op : op_table()) ops.push_back(&op);
  }
  const bool json = args.has("json");
  nlohmann::json results = nlohmann::json::array();
  int failed = 0, total = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const OpInfo* op : ops) {
    for (const OpCheckResult& r : check_op(*op)) {
      ++total;
      if (!r.ok()) ++failed;
      if (json) {
        auto part = [](const CheckResult& c) {
          return nlohmann::json{{"ok", c.ok}, {"entries", c.entries},
                                {"max_abs_error", c.max_abs_error}, {"worst_ratio", c.worst_ratio},
                                {"detail", c.detail}};
        };
        nlohmann::json j{{"op", r.op}, {"sample", r.sample}, {"ok", r.ok()}};
        if (r.error.empty()) {
          j["grad"] = part(r.grad);
          j["gradgrad"] = part(r.gradgrad);
        } else {
          j["error"] = r.error;
        }
        results.push_back(j);
      } else if (!r.error.empty()) {
        std::printf("FAIL %-33s %-40s error: %s\n", r.op.c_str(), r.sample.c_str(), r.error.c_str());
      } else {
        std::printf("%s %-33s %-40s grad %.1e (%lld)  gradgrad %.1e (%lld)%s%s\n",
                    r.ok() ? "ok  " : "FAIL", r.op.c_str(), r.sample.c_str(), r.grad.max_abs_error,
                    (long long)r.grad.entries, r.gradgrad.max_abs_error,
                    (long long)r.gradgrad.entries, r.ok() ? "" : "  ",
                    (r.grad.detail + " " + r.gradgrad.detail).c_str());
      }
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (json) {
    std::puts(nlohmann::json{{"ok", failed == 0},
                             {"checked", total},
                             {"failed", failed},
                             {"cpu_path", std::string(cpu_path_name(cpu_path()))},
                             {"tolerance", {{"eps", 1e-6}, {"atol", 1e-5}, {"rtol", 1e-3}}},
                             {"results", results}}
                  .dump(2)
                  .c_str());
  } else {
    std::printf("%d of %d samples passed gradcheck and gradgradcheck over %zu op(s) (%s CPU path, "
                "%.1f s)\n",
                total - failed, total, ops.size(), std::string(cpu_path_name(cpu_path())).c_str(), secs);
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace duel::cli
