// The `duel` program as a user meets it: help everywhere, refusals of one line that leave nothing
// behind, outputs in the format their name promises, honest device errors, Ctrl-C and SIGTERM,
// and the inputs of the 2026-11-30 reliability probe (run configs, op attributes, data budgets,
// non-finite training, stale partial files), each kept as a regression test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <signal.h>
#include <spawn.h>
#include <string>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/cuda_backend.h"
#include "nn/safetensors.h"
#include "tests/run_duel.h"

using namespace duel;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using test::Run;
using test::run_duel;
using test::slurp;
using test::tmp_dir;

extern char** environ;

namespace {

int lines(const std::string& s) { return int(std::count(s.begin(), s.end(), '\n')); }

// Whether `--device cuda` works here: a GPU is visible, or the emulated device is on (the suite
// runs a second time with DUEL_CUDA_EMULATE=1).
bool cuda_device_usable() {
  if (cuda_backend::emulated()) return true;
  return run_duel("version").out.find(" 0 GPU(s)") == std::string::npos;
}

// A small finished run to read, resume and break: dcgan28 on synthetic data, 2 steps.
std::string small_run(const std::string& name, const std::string& extra = "") {
  const std::string dir = tmp_dir(name) + "/run";
  const Run r = run_duel("train --data synthetic --batch 8 --steps 2 --log-every 1 --seed 4 --out " + dir + " " + extra);
  INFO(r.err);
  REQUIRE(r.code == 0);
  return dir;
}

void edit_config(const std::string& run, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = run + "/checkpoint/config.json";
  nlohmann::json j = nlohmann::json::parse(slurp(path));
  edit(j);
  std::ofstream(path) << j.dump(2);
}

// Sets every element of float tensor `name` in a safetensors file to `value`.
void poke_tensor(const std::string& path, const std::string& name, float value) {
  safetensors::Contents c = safetensors::read_file(path);
  bool found = false;
  for (auto& t : c.tensors) {
    if (t.name != name) continue;
    REQUIRE(t.dtype == "F32");
    for (size_t i = 0; i + 4 <= t.data.size(); i += 4) std::memcpy(t.data.data() + i, &value, 4);
    found = true;
  }
  REQUIRE(found);
  safetensors::write_file_atomic(path, c);
}

// `duel ARGS` started in the background, stdout and stderr to files.
struct Background {
  pid_t pid = -1;
  std::string out, err;
  int wait_exit() {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

Background start_duel(const std::vector<std::string>& args, const std::string& base) {
  Background b;
  b.out = base + ".out";
  b.err = base + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, b.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, b.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all{DUEL_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  REQUIRE(posix_spawn(&b.pid, DUEL_BINARY, &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  return b;
}

// Waits (at most a minute) until `path` exists.
void wait_for(const std::string& path) {
  for (int i = 0; i < 600 && !fs::exists(path); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(fs::exists(path));
}

// The commands `duel help` lists.
std::vector<std::string> listed_commands() {
  const Run r = run_duel("help");
  REQUIRE(r.code == 0);
  std::vector<std::string> names;
  std::istringstream in(r.out);
  bool in_list = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "commands:") in_list = true;
    else if (line.empty()) in_list = false;
    else if (in_list && line.rfind("  ", 0) == 0) names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  return names;
}

}  // namespace

// ---- Help --------------------------------------------------------------------------------------

TEST_CASE("every command and sub-command answers -h, --help and duel help with the same full help", "[cli][help]") {
  std::vector<std::string> commands = listed_commands();
  REQUIRE(commands.size() >= 17);
  for (const char* sub : {"bench step", "classifier train", "classifier eval", "lab dirac", "detect train",
                          "detect spectrum", "detect attack"})
    commands.push_back(sub);
  for (const std::string& c : commands) {
    INFO(c);
    const Run h = run_duel(c + " -h"), help = run_duel(c + " --help"), via = run_duel("help " + c);
    CHECK(h.code == 0);
    CHECK(help.code == 0);
    CHECK(via.code == 0);
    CHECK_THAT(h.out, Contains("usage: duel " + c));
    CHECK_THAT(h.out, Contains("-h, --help"));
    CHECK(h.out == help.out);
    CHECK(h.out == via.out);
    CHECK(h.err.empty());
  }
  // The help's flags are what `duel train` accepts, ranges included.
  const std::string train = run_duel("train --help").out;
  for (const char* flag : {"--model", "--loss", "--data", "--steps", "--epochs", "--batch", "--seed", "--device", "--out",
                           "--resume", "--gp-lambda", "--threads", "--eval-every", "--anomaly"})
    CHECK_THAT(train, Contains(flag));
  CHECK_THAT(train, Contains("--gp-lambda L") && Contains("0..1000000"));

  const Run version = run_duel("--version"), version2 = run_duel("version");
  CHECK(version.code == 0);
  CHECK_THAT(version.out, Contains("duel 0.1.0"));
  CHECK(version.out == version2.out);
  const Run bare = run_duel("");
  CHECK(bare.code == 2);
  CHECK_THAT(bare.err, Contains("usage: duel <command>"));
  const Run typo = run_duel("trian --steps 3");
  CHECK(typo.code == 2);
  CHECK_THAT(typo.err, Contains("unknown command 'trian' (did you mean train?)"));
}

// ---- Refusals ----------------------------------------------------------------------------------

TEST_CASE("a refused command line is one line, and leaves nothing behind", "[cli][errors]") {
  const std::string base = tmp_dir("refused");
  const std::string out = base + "/out";
  const std::string garbage = base + "/garbage";
  fs::create_directories(garbage);
  std::ofstream(garbage + "/train-images-idx3-ubyte") << "not an idx file";
  std::ofstream(garbage + "/train-labels-idx1-ubyte") << "nor this";
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"train --out --steps 5", "--out needs a value, but the next argument is the flag '--steps'"},
      {"train --steps 3 --steps 4 --out " + out, "--steps is given twice"},
      {"train --stpes 3 --out " + out, "did you mean --steps?"},
      {"train --steps 3 --gp-lambda -10 --out " + out, "--gp-lambda must be"},
      {"train --steps 0 --out " + out, "--steps must be an integer from 1"},
      {"train --steps 3 --data folder:" + base + "/none --out " + out, "not a folder"},
      {"train --steps 3 --data idx:" + garbage + " --out " + out, "not an IDX file"},
      {"train --steps 3 --data synthetic --batch 4096 --out " + out, "larger than the dataset"},
      {"train --steps 3 --data synthetic --model dcgan --image-size 48 --out " + out, "power of two from 16 to 256"},
      {"train --steps 3 --data synthetic --resume --out " + out, "no checkpoint"},
      // The commands of the studio and detection issue, through the same parser.
      {"graph --view sumary --out " + out + "/g.dot", "--view must be one of full|summary, got 'sumary' (did you "
                                                      "mean summary?)"},
      {"lab --opt-g adm --steps 3 --out " + out, "did you mean adam?"},
      {"lab --updates --steps 3 --out " + out, "--updates needs a value, but the next argument is the flag"},
      {"lab dirac --lr 0 --out " + out, "--lr must be a number > 0"},
      {"lab dirac --start 1 --out " + out, "--start expects THETA,PSI"},
      {"lab dirac --start 1,x --out " + out, "--start's PSI must be"},
      {"lab dirac --stpes 3 --out " + out, "did you mean --steps?"},
      {"studio --port 70000", "--port must be an integer from 0 to 65535"},
      {"detect trian --out " + out, "did you mean train?"},
      {"detect train --fake checkpoint:" + base + "/none --out " + out, "none"},
      {"detect train --fake checkpoint:x --seeds 21 --out " + out, "--seeds must be an integer from 1 to 20"},
      {"detect spectrum --out " + out, "give at least one --fake"},
      {"detect spectrum --fake checkpoint:" + base + "/none --out " + out, "none"},
      {"detect attack --detector x --fake checkpoint:x --eval-n 5 --out " + out, "--eval-n must be an integer from 100"},
  };
  for (const Case& c : cases) {
    const Run r = run_duel(c.args);
    INFO("duel " << c.args << "\n" << r.err);
    CHECK(r.code == 1);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Contains(c.expect));
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists("--steps"));
  }
  if (!cuda_device_usable()) {
    const Run r = run_duel("train --steps 3 --data synthetic --device cuda --out " + out);
    CHECK(r.code == 1);
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("outputs are written in the format their name promises, or refused", "[cli][outputs]") {
  const std::string run = small_run("outputs");
  const std::string dir = fs::path(run).parent_path().string();
  const Run png = run_duel("sample --checkpoint " + run + " --n 4 --out " + dir + "/s.png");
  const Run jpg = run_duel("sample --checkpoint " + run + " --n 4 --out " + dir + "/s.JPG");
  REQUIRE(png.code == 0);
  REQUIRE(jpg.code == 0);
  CHECK(slurp(dir + "/s.png").rfind("\x89PNG\r\n\x1a\n", 0) == 0);
  CHECK(slurp(dir + "/s.JPG").rfind("\xFF\xD8\xFF", 0) == 0);
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"sample --checkpoint " + run + " --out " + dir + "/s.bmp", "sample writes PNG or JPEG pictures"},
      {"chart --metric loss_D --run a=" + run + " --out " + dir + "/c.png", "chart writes an SVG chart"},
      {"graph --out " + dir + "/g.png", "graph writes SVG (rendered with Graphviz) or Graphviz DOT"},
      {"report " + run + " --out " + dir + "/r.txt", "report writes an HTML page"},
  };
  for (const Case& c : cases) {
    const Run r = run_duel(c.args);
    INFO(c.args << "\n" << r.err);
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains(c.expect));
  }
  for (const char* f : {"s.bmp", "c.png", "g.png", "r.txt"}) CHECK_FALSE(fs::exists(dir + "/" + f));
  CHECK(run_duel("chart --metric loss_D --run a=" + run + " --out " + dir + "/c.svg").code == 0);
  CHECK(run_duel("graph --batch 2 --out " + dir + "/g.dot").code == 0);
}

TEST_CASE("device errors say what is missing: the build's CUDA backend or a GPU", "[cli][device]") {
  const std::string run = small_run("device");
  const Run version = run_duel("version");
  // The emulated device runs the CUDA code path of sample.
  const Run emu = run_duel("sample --checkpoint " + run + " --device cuda --n 4 --out " + run + "/../e.png",
                           "DUEL_CUDA_EMULATE=1");
  INFO(emu.err);
  CHECK(emu.code == 0);
  if (cuda_device_usable()) return;  // a GPU (or the emulated one) is here: it just works
  const Run r = run_duel("sample --checkpoint " + run + " --device cuda --out " + run + "/../x.png");
  CHECK(r.code == 1);
  if (version.out.find("kernels compiled") != std::string::npos)
    CHECK_THAT(r.err, Contains("no CUDA GPU is visible"));
  else
    CHECK_THAT(r.err, Contains("this build has no CUDA backend"));
}

// ---- Resume ------------------------------------------------------------------------------------

TEST_CASE("train with --epochs sets the steps from the data", "[cli][train]") {
  const std::string dir = tmp_dir("epochs");
  // synthetic: 1024 pictures, batch 128: 8 steps an epoch.
  const Run r = run_duel("train --data synthetic --batch 128 --epochs 1 --log-every 4 --out " + dir + "/run");
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("steps 1..8"));
  CHECK(nlohmann::json::parse(slurp(dir + "/run/config.json"))["steps"] == 8);
}

TEST_CASE("resuming a finished run says there is nothing to do and changes nothing", "[cli][resume]") {
  const std::string run = small_run("finished");
  const std::string g = slurp(run + "/checkpoint/G.safetensors"), m = slurp(run + "/metrics.jsonl");
  const Run r = run_duel("train --resume --out " + run);
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Contains("nothing to do") && Contains("already at step 2 of 2"));
  CHECK(slurp(run + "/checkpoint/G.safetensors") == g);
  CHECK(slurp(run + "/metrics.jsonl") == m);
}

TEST_CASE("a run's config.json is held to the flags' ranges, with the file and field named", "[cli][hardening]") {
  const std::string run = small_run("config");
  const std::string saved = slurp(run + "/checkpoint/config.json");
  struct Case {
    std::string key;
    nlohmann::json value;
    std::string expect;
  } cases[] = {
      {"nz", int64_t(1) << 54, "\"nz\" must be an integer from 1 to 4096, got 18014398509481984"},
      {"num_classes", int64_t(1) << 54, "\"num_classes\" must be an integer from 1 to 256"},
      {"batch", 1.5, "\"batch\" must be an integer from 1 to 65536, got 1.5"},
      {"lr_g", 1e308, "\"lr_g\" must be a number > 0 and <= 10"},
      {"eval_every", -1, "\"eval_every\" must be an integer from 0"},
      {"seed", std::numeric_limits<uint64_t>::max(), "got 18446744073709551615"},
      {"model", 5, "\"model\" must be one of dcgan28, dcgan64, dcgan, got 5"},
      {"loss", nullptr, "\"loss\" must be one of"},
      {"channels", 2, "\"channels\" must be 1 or 3"},
      {"device", "tpu", "\"device\" must be cpu, cuda or cuda:N"},
      {"data", "ftp://x", "\"data\" must be fashion-mnist"},
      {"surprise", 1, "unknown field \"surprise\""},
      {"upsample", "bilinear", "\"upsample\" must be one of convT, nearest, got \"bilinear\""},
      {"ema", 1.5, "\"ema\" must be a number >= 0 and < 1, got 1.5"},
      {"background", "gray", "\"background\" must be one of white, black"},
      {"data_memory_mb", -2, "\"data_memory_mb\" must be an integer from -1"},
  };
  for (const Case& c : cases) {
    edit_config(run, [&](nlohmann::json& j) { j[c.key] = c.value; });
    for (const std::string& args : {"sample --checkpoint " + run + " --out " + run + "/../x.png",
                                    "train --resume --steps 3 --out " + run}) {
      const Run r = run_duel(args);
      INFO(c.key << ": duel " << args << "\n" << r.err);
      CHECK(r.code == 1);
      CHECK(lines(r.err) == 1);
      CHECK_THAT(r.err, Contains("checkpoint/config.json: ") && Contains(c.expect));
      CHECK_THAT(r.err, !Contains("internal error"));
    }
    std::ofstream(run + "/checkpoint/config.json") << saved;
  }
  edit_config(run, [](nlohmann::json& j) { j.erase("batch"); });
  CHECK_THAT(run_duel("sample --checkpoint " + run + " --out " + run + "/../x.png").err,
             Contains("the field \"batch\" is missing"));
  std::ofstream(run + "/checkpoint/config.json") << "{\"format\": \"duel-train-config-1\", \"model\": ";
  CHECK_THAT(run_duel("sample --checkpoint " + run + " --out " + run + "/../x.png").err, Contains("not valid JSON"));
}

TEST_CASE("op attributes and sizes that once crashed, hung or read outside a buffer are refused", "[cli][hardening]") {
  const std::string dir = tmp_dir("op_attrs");
  // [1,1,3,3] input and [1,1,2,2] weight for the convolutions; a [4] vector for the rest.
  const std::string conv = dir + "/conv.safetensors", vec = dir + "/vec.safetensors", out = dir + "/out.safetensors";
  auto record = [](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return safetensors::TensorRecord{name, "F32", shape, std::vector<std::byte>(size_t(n) * 4, std::byte{0})};
  };
  safetensors::write_file_atomic(conv, {{record("input", {1, 1, 3, 3}), record("weight", {1, 1, 2, 2})}, {}});
  safetensors::write_file_atomic(vec, {{record("input", {4})}, {}});
  struct Case {
    std::string args, expect;
  } cases[] = {
      {"op conv_transpose2d --in " + conv + " --attr stride=4294967295", "stride must be from 1 to"},
      {"op conv2d --in " + conv + " --attr padding=9223372036854775807", "padding must be from 0 to"},
      {"op broadcast_to --in " + vec + " --attr size=1000000000000,1000000000000,4", "more than 2^63 elements"},
      {"op broadcast_to --in " + vec + " --attr size=100000000000,4", "more than this machine's memory"},
      {"op narrow --in " + vec + " --attr dim=0 --attr start=9223372036854775807 --attr length=2", "do not fit"},
      {"op narrow --in " + vec + " --attr dim=0 --attr start=-9223372036854775807 --attr length=2", "do not fit"},
      {"op reshape --in " + vec + " --attr shape=4611686018427387904,4,-1", "more than 2^63 elements"},
  };
  for (const Case& c : cases) {
    const Run r = run_duel(c.args + " --out " + out, "timeout 60");
    INFO(c.args << "\n" << r.err);
    CHECK(r.code == 1);
    CHECK(lines(r.err) == 1);
    CHECK_THAT(r.err, Contains(c.expect));
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("a data set larger than the memory budget is refused before it is inflated", "[cli][hardening]") {
  // 30000 blank 28x28 pictures: a 23 kB gzip file that inflates to 90 MiB of floats.
  const std::string dir = tmp_dir("bomb");
  {
    std::string header{0, 0, 8, 3, 0, 0, 0x75, 0x30, 0, 0, 0, 28, 0, 0, 0, 28};
    std::string labels{0, 0, 8, 1, 0, 0, 0x75, 0x30};
    std::ofstream(dir + "/train-images-idx3-ubyte", std::ios::binary) << header << std::string(30000 * 784, '\0');
    std::ofstream(dir + "/train-labels-idx1-ubyte", std::ios::binary) << labels << std::string(30000, '\0');
  }
  const Run r = run_duel("train --data idx:" + dir + " --steps 1 --out " + dir + "/run", "DUEL_DATA_MEMORY_MB=50");
  CHECK(r.code == 1);
  CHECK_THAT(r.err, Contains("train-images-idx3-ubyte's [30000, 28, 28] pictures need 89.7 MiB") &&
                        Contains("more than the data memory budget of 50.0 MiB"));
  CHECK_FALSE(fs::exists(dir + "/run"));
}

// ---- Non-finite training -----------------------------------------------------------------------

TEST_CASE("non-finite training stops with the step named and the last good checkpoint kept", "[cli][hardening]") {
  const std::string run = small_run("diverge");
  // The critic's last layer at 3e38: its next output overflows, and with it the loss.
  poke_tensor(run + "/checkpoint/D.safetensors", "5.weight", 3e38f);
  const std::string before = slurp(run + "/checkpoint/D.safetensors");
  const Run r = run_duel("train --resume --steps 6 --checkpoint-every 1 --out " + run);
  INFO(r.err);
  CHECK(r.code == 1);
  CHECK(lines(r.err) == 1);
  CHECK_THAT(r.err, Contains("train: step 3: ") && Contains("training diverged") &&
                        Contains("the checkpoint of step 2 is kept"));
  CHECK(slurp(run + "/checkpoint/D.safetensors") == before);
  // metrics.jsonl stays valid JSON: the diverged step's line has null where a number was not finite.
  std::ifstream in(run + "/metrics.jsonl");
  nlohmann::json last;
  int n = 0;
  for (std::string line; std::getline(in, line); ++n) last = nlohmann::json::parse(line);
  CHECK(n == 3);
  CHECK(last["step"] == 3);
  CHECK((last["loss_D"].is_null() || last["grad_norm_D"].is_null()));
  // --anomaly names the op that made the first infinity.
  const Run a = run_duel("train --resume --steps 6 --anomaly --out " + run);
  CHECK(a.code == 1);
  CHECK_THAT(a.err, Contains("anomaly: ") && Contains("produced NaN or Inf"));
}

TEST_CASE("checkpoints holding NaN weights or impossible optimiser state are refused on load", "[cli][hardening]") {
  const std::string run = small_run("bad_state");
  const std::string ckpt = run + "/checkpoint";
  const std::string d = slurp(ckpt + "/D.safetensors"), state = slurp(ckpt + "/train_state.safetensors");
  poke_tensor(ckpt + "/G.safetensors", "0.weight", std::numeric_limits<float>::quiet_NaN());
  CHECK_THAT(run_duel("sample --checkpoint " + run + " --out " + run + "/../x.png").err,
             Contains("G.safetensors: 0.weight holds NaN or infinity"));
  CHECK_THAT(run_duel("train --resume --steps 3 --out " + run).err, Contains("0.weight holds NaN or infinity"));
  const Run fresh = run_duel("train --data synthetic --batch 8 --steps 2 --seed 4 --out " + run + "2");
  REQUIRE(fresh.code == 0);
  poke_tensor(run + "2/checkpoint/train_state.safetensors", "opt_D.0.weight.exp_avg_sq", -1.0f);
  const Run neg = run_duel("train --resume --steps 3 --out " + run + "2");
  CHECK(neg.code == 1);
  CHECK_THAT(neg.err, Contains("(D optimiser): optimiser state '0.weight.exp_avg_sq' holds negative values"));
}

TEST_CASE("metrics.jsonl of older runs with bare NaN keeps its history on resume, and report reads it",
          "[cli][hardening]") {
  const std::string run = small_run("legacy_nan", "--checkpoint-every 1");
  // Step 1's line as older versions wrote a non-finite value.
  std::ifstream in(run + "/metrics.jsonl");
  std::string first, second;
  std::getline(in, first);
  std::getline(in, second);
  const size_t at = first.find("\"grad_norm_G\":");
  REQUIRE(at != std::string::npos);
  const size_t end = first.find(',', at);
  first = first.substr(0, at) + "\"grad_norm_G\":NaN" + first.substr(end);
  std::ofstream(run + "/metrics.jsonl") << first << "\n" << second << "\n";
  const Run r = run_duel("train --resume --steps 3 --out " + run);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::ifstream again(run + "/metrics.jsonl");
  std::vector<nlohmann::json> kept;
  for (std::string line; std::getline(again, line);) kept.push_back(nlohmann::json::parse(line));
  REQUIRE(kept.size() == 3);
  CHECK(kept[0]["grad_norm_G"].is_null());
  CHECK(kept[2]["step"] == 3);
  CHECK(run_duel("report " + run).code == 0);
}

// ---- Partial files, locks, signals -------------------------------------------------------------

TEST_CASE("partial files of an interrupted run are removed at the next start, and a run has one writer",
          "[cli][crash]") {
  const std::string run = small_run("stale");
  for (const std::string& f : {run + "/config.json.tmp.4242.0", run + "/checkpoint/G.safetensors.tmp.4242.3",
                              run + "/samples/step_000009.png.tmp.77.1"})
    std::ofstream(f) << "partial";
  fs::create_directories(run + "/checkpoint.new");
  std::ofstream(run + "/checkpoint.new/D.safetensors") << "partial";
  std::ofstream(run + "/notes.tmp.txt") << "the user's: not ours";

  {
    // Another process holds the run: refused, nothing touched.
    const int fd = ::open((run + "/.lock").c_str(), O_RDWR | O_CREAT, 0666);
    REQUIRE(fd >= 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
    const Run busy = run_duel("train --resume --steps 3 --out " + run);
    CHECK(busy.code == 1);
    CHECK_THAT(busy.err, Contains("another duel train is writing to"));
    CHECK(fs::exists(run + "/checkpoint.new"));
    ::close(fd);
  }
  const Run r = run_duel("train --resume --steps 3 --out " + run);
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, Contains("removed 4 partial file(s)"));
  CHECK_FALSE(fs::exists(run + "/checkpoint.new"));
  CHECK_FALSE(fs::exists(run + "/config.json.tmp.4242.0"));
  CHECK_FALSE(fs::exists(run + "/checkpoint/G.safetensors.tmp.4242.3"));
  CHECK_FALSE(fs::exists(run + "/samples/step_000009.png.tmp.77.1"));
  CHECK(fs::exists(run + "/notes.tmp.txt"));
}

TEST_CASE("Ctrl-C stops after the step with a checkpoint, a second one at once, SIGTERM exits 143",
          "[cli][signals]") {
  const std::string dir = tmp_dir("signals");
  const std::vector<std::string> common{"train", "--data", "synthetic", "--batch", "32", "--steps", "100000",
                                        "--checkpoint-every", "2", "--log-every", "1", "--seed", "6"};
  auto with_out = [&](const std::string& out) {
    std::vector<std::string> a = common;
    a.push_back("--out");
    a.push_back(out);
    return a;
  };
  SECTION("one Ctrl-C") {
    Background b = start_duel(with_out(dir + "/int"), dir + "/int");
    wait_for(dir + "/int/checkpoint/config.json");
    ::kill(b.pid, SIGINT);
    CHECK(b.wait_exit() == 130);
    const std::string err = slurp(b.err), out = slurp(b.out);
    CHECK_THAT(err, Contains("stopping after the current step and writing a checkpoint (Ctrl-C again to stop at once)"));
    CHECK_THAT(out, Contains("interrupted: checkpoint written at step"));
    // The checkpoint is of the last step done, and the run continues from it.
    const size_t at = out.find("written at step ");
    REQUIRE(at != std::string::npos);
    const long step = std::stol(out.substr(at + 16));
    const Run more = run_duel("train --resume --steps " + std::to_string(step + 1) + " --out " + dir + "/int");
    INFO(more.err);
    CHECK(more.code == 0);
    CHECK_THAT(more.out, Contains("steps " + std::to_string(step + 1) + ".." + std::to_string(step + 1)));
  }
  SECTION("two Ctrl-C") {
    Background b = start_duel(with_out(dir + "/twice"), dir + "/twice");
    wait_for(dir + "/twice/checkpoint/config.json");
    ::kill(b.pid, SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::kill(b.pid, SIGINT);
    CHECK(b.wait_exit() == 130);
    CHECK_THAT(slurp(b.err), Contains("stopping now; the last complete checkpoint (step "));
    CHECK(run_duel("sample --checkpoint " + dir + "/twice --n 4 --out " + dir + "/twice.png").code == 0);
  }
  SECTION("SIGTERM") {
    Background b = start_duel(with_out(dir + "/term"), dir + "/term");
    wait_for(dir + "/term/checkpoint/config.json");
    ::kill(b.pid, SIGTERM);
    CHECK(b.wait_exit() == 143);
    CHECK_THAT(slurp(b.err), Contains("SIGTERM: stopping after the current step"));
    CHECK_THAT(slurp(b.out), Contains("interrupted: checkpoint written"));
  }
}
