// `duel train`, `duel step` and `duel bench step` with --cuda-graph on the emulated CUDA device:
// 20 graph-replayed steps equal 20 eager steps bit for bit (every metrics line but the clock, and
// every byte of the checkpoint), for ns and for wgan-gp with its five critic updates and their
// double backward; a graph run resumes like an eager one; bad configurations get one line.
//
// The long comparisons are hidden Catch2 cases that tests/CMakeLists.txt registers one by one
// (graph.train.*), so ctest runs them in parallel and only once: they set up the emulated
// device themselves, and the suite's second pass (DUEL_CUDA_EMULATE=1) skips them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gan/models.h"
#include "nn/safetensors.h"
#include "nn/tensor_io.h"
#include "tests/run_duel.h"
#include "tests/train_inputs.h"

using namespace duel;
namespace fs = std::filesystem;

namespace {

using test::Run;
using test::run_duel;
using test::tmp_dir;

const std::string kEmulate = "DUEL_CUDA_EMULATE=1";

// metrics.jsonl without the wall-clock fields.
std::vector<std::string> metrics(const std::string& dir) {
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    j.erase("images_per_s");
    j.erase("time_s");
    lines.push_back(j.dump());
  }
  return lines;
}

void require_same_run(const std::string& a, const std::string& b, size_t lines) {
  const auto ma = metrics(a), mb = metrics(b);
  REQUIRE(ma.size() == lines);
  REQUIRE(mb.size() == lines);
  for (size_t i = 0; i < lines; ++i) CHECK(ma[i] == mb[i]);
  for (const char* file : {"G.safetensors", "D.safetensors", "train_state.safetensors", "config.json"}) {
    INFO(file);
    CHECK(test::slurp(a + "/checkpoint/" + file) == test::slurp(b + "/checkpoint/" + file));
  }
}

Run train(const std::string& args) {
  const Run r = run_duel("train --model dcgan28 --data synthetic --batch 2 --log-every 1 --device cuda " + args, kEmulate);
  INFO("duel train " << args << "\n" << r.out << r.err);
  REQUIRE(r.code == 0);
  return r;
}

}  // namespace

TEST_CASE("20 graph-replayed ns steps equal 20 eager steps bitwise, and a graph run resumes",
          "[.][graph-train][ns]") {
  const std::string dir = tmp_dir("graph_ns");
  // fp32: the emulated tensor-core modes cost three times as much, and a graph records their
  // kernels like any other.
  const std::string common = " --loss ns --seed 4 --steps 20 --math fp32";
  const Run eager = train("--cuda-graph off --out " + dir + "/eager" + common);
  const Run graph = train("--cuda-graph on --out " + dir + "/graph" + common);
  CHECK(eager.out.find("one CUDA graph per step") == std::string::npos);
  CHECK(graph.out.find("one CUDA graph per step") != std::string::npos);
  require_same_run(dir + "/eager", dir + "/graph", 20);
  // A graph run stopped at step 10 and resumed (the default: graphs on for cuda) continues
  // exactly: the device-side generator and step counts went into the checkpoint and came back.
  train("--cuda-graph on --out " + dir + "/split --loss ns --seed 4 --steps 10 --math fp32");
  const Run resumed = train("--resume --steps 20 --out " + dir + "/split");
  CHECK(resumed.out.find("steps 11..20") != std::string::npos);
  CHECK(resumed.out.find("one CUDA graph per step") != std::string::npos);
  require_same_run(dir + "/eager", dir + "/split", 20);
}

TEST_CASE("20 graph-replayed wgan-gp steps (5 critic updates, double backward) equal 20 eager steps bitwise",
          "[.][graph-train][wgan-gp]") {
  const std::string dir = tmp_dir("graph_wgan_gp");
  const std::string common = " --loss wgan-gp --seed 6 --steps 20 --math fp32";
  train("--cuda-graph off --out " + dir + "/eager" + common);
  const Run graph = train("--out " + dir + "/graph" + common);  // on by default for cuda
  CHECK(graph.out.find("one CUDA graph per step") != std::string::npos);
  require_same_run(dir + "/eager", dir + "/graph", 20);
}

TEST_CASE("a diverging graph run stops naming the step that diverged, read late, and keeps the last checkpoint",
          "[.][graph-train][diverge]") {
  const std::string dir = tmp_dir("graph_diverge") + "/run";
  train("--out " + dir + " --loss ns --seed 4 --steps 2 --math fp32");
  // The critic's last layer at 3e38: step 3's critic output overflows, and with it the loss.
  const std::string d_path = dir + "/checkpoint/D.safetensors";
  safetensors::Contents c = safetensors::read_file(d_path);
  bool poked = false;
  for (auto& t : c.tensors)
    if (t.name == "5.weight") {
      const float big = 3e38f;
      for (size_t i = 0; i + 4 <= t.data.size(); i += 4) std::memcpy(t.data.data() + i, &big, 4);
      poked = true;
    }
  REQUIRE(poked);
  safetensors::write_file_atomic(d_path, c);
  const std::string before = test::slurp(d_path);
  // No checkpoint before the end: step 3's values come back while steps 4 and 5 are queued (as
  // graph launches), and the run stops there, naming step 3.
  const Run r = run_duel("train --resume --steps 8 --out " + dir, kEmulate);
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(r.out.find("one CUDA graph per step") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find("train: step 3: ") != std::string::npos);
  CHECK(r.err.find("training diverged") != std::string::npos);
  CHECK(r.err.find("the checkpoint of step 2 is kept") != std::string::npos);
  CHECK(test::slurp(d_path) == before);
  std::ifstream in(dir + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 3);
  CHECK(lines.back()["step"] == 3);
  CHECK((lines.back()["loss_D"].is_null() || lines.back()["grad_norm_D"].is_null()));
}

TEST_CASE("duel bench step reports kernels per step for ns and wgan-gp, eager and graph",
          "[.][graph-train][bench]") {
  for (const char* loss : {"ns", "wgan-gp"}) {
    std::map<std::string, nlohmann::json> out;
    for (const char* mode : {"off", "on"}) {
      const Run r = run_duel(std::string("bench step --model dcgan28 --batch 2 --steps 1 --warmup 1 --device cuda "
                                         "--math fp32 --json --loss ") + loss + " --cuda-graph " + mode,
                             kEmulate);
      INFO(loss << " " << mode << "\n" << r.err);
      REQUIRE(r.code == 0);
      out[mode] = nlohmann::json::parse(r.out);
    }
    INFO(loss);
    CHECK(out["off"].at("cuda_graph") == false);
    CHECK(out["on"].at("cuda_graph") == true);
    const int64_t kernels = out["off"].at("kernels_per_step").get<int64_t>();
    CHECK(kernels > 100);
    CHECK(out["on"].at("kernels_per_step").get<int64_t>() == kernels);
    CHECK(out["on"].at("graph_nodes").get<int64_t>() == kernels);
    CHECK(out["off"].at("host_syncs_per_step").get<double>() == 0.0);
    CHECK(out["on"].at("host_syncs_per_step").get<double>() == 0.0);
  }
}

TEST_CASE("duel step --cuda-graph on dumps what the eager step does, bit for bit", "[cuda-emu][graph][cli]") {
  const std::string dir = tmp_dir("graph_step");
  gan::ModelConfig m;
  m.critic_norm = gan::CriticNorm::none;
  gan::Gan g(m);
  test::init_from_hash(g.G(), 100, DType::f32);
  test::init_from_hash(g.D(), 200, DType::f32);
  nn::save_module(g.G(), dir + "/G.safetensors");
  nn::save_module(g.D(), dir + "/D.safetensors");
  const test::StepInputs in = test::hashed_inputs(0, 2, DType::f32);
  save_safetensors(dir + "/batch.safetensors", {{"real", in.real}, {"z", in.z}, {"eps", in.eps}});
  const std::string common = "step --model dcgan28 --loss wgan-gp --device cuda --init " + dir + " --batch " + dir +
                             "/batch.safetensors --dump " + dir;
  const Run off = run_duel(common + "/off.safetensors --cuda-graph off", kEmulate);
  const Run on = run_duel(common + "/on.safetensors", kEmulate);  // on by default for cuda
  INFO(off.err << on.err);
  REQUIRE(off.code == 0);
  REQUIRE(on.code == 0);
  CHECK(on.err.empty());  // no fallback
  CHECK(off.out.substr(0, off.out.find(" -> ")) == on.out.substr(0, on.out.find(" -> ")));
  const auto a = load_safetensors_map(dir + "/off.safetensors"), b = load_safetensors_map(dir + "/on.safetensors");
  REQUIRE(a.size() == b.size());
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(t.to_vector() == b.at(name).to_vector());
  }
}

TEST_CASE("cuda graphs: bad configurations get one clear line and a non-zero exit", "[graph][cli][errors]") {
  const std::string dir = tmp_dir("graph_bad");
  const std::vector<test::Refusal> cases = {
      {"train --steps 1 --data synthetic --cuda-graph on --out " + dir + "/a",
       "train: --cuda-graph on: the device is cpu; CUDA graphs need --device cuda"},
      {"train --steps 1 --data synthetic --cuda-graph maybe --out " + dir + "/a",
       "train: --cuda-graph must be one of on|off, got 'maybe'"},
      {"train --steps 1 --data synthetic --device cuda --conditional --cuda-graph on --out " + dir + "/a",
       "train: --cuda-graph on: a conditional model reads its labels on the host", kEmulate},
      {"bench step --batch 2 --steps 1 --cuda-graph on", "bench step: --cuda-graph on: the device is cpu"},
      {"step --loss ns --cuda-graph on --init " + dir + " --batch " + dir + "/none.safetensors --dump " + dir + "/d",
       "step: --cuda-graph on: the device is cpu"},
  };
  test::check_refusals(cases);
  CHECK_FALSE(fs::exists(dir + "/a"));  // refused before anything was written
}
