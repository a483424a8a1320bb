// Runs the `duel` program for end-to-end tests. Output files are named by process id, because
// ctest runs test cases of one executable in parallel processes.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace duel::test {

struct Run {
  int code;
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A fresh, empty directory under the test scratch space.
inline std::string tmp_dir(const std::string& name) {
  const std::string d = std::string(DUEL_TEST_TMP) + "/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// `env` is prepended to the command line ("DUEL_CUDA_EMULATE=1").
inline Run run_duel(const std::string& args, const std::string& env = "") {
  std::filesystem::create_directories(DUEL_TEST_TMP);
  const std::string base = std::string(DUEL_TEST_TMP) + "/run_" + std::to_string(::getpid());
  const int status = std::system((env + (env.empty() ? "" : " ") + std::string(DUEL_BINARY) + " " + args +
                                  " >" + base + ".out 2>" + base + ".err").c_str());
  return {WEXITSTATUS(status), slurp(base + ".out"), slurp(base + ".err")};
}

// Command lines that must be refused: each exits non-zero with one error line containing `expect`.
struct Refusal {
  Refusal(std::string a, std::string e, std::string v = "") : args(std::move(a)), expect(std::move(e)), env(std::move(v)) {}
  std::string args, expect, env;
};

inline void check_refusals(const std::vector<Refusal>& cases) {
  for (const Refusal& c : cases) {
    const Run r = run_duel(c.args, c.env);
    INFO("duel " << c.args << "\n" << r.err);
    CHECK(r.code != 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.find(c.expect) != std::string::npos);
  }
}

}  // namespace duel::test
