// A whole training iteration as one CUDA graph: `duel train`, `duel bench step` and `duel step`
// with --cuda-graph on.
//
// An iteration (n_critic critic updates with the gradient penalty's double backward, the
// generator update, both optimisers, the logged scalars) is graph-ready: its random numbers come
// from a generator that lives on the device, the optimisers' step counts are on the device, the
// batch is read from fixed device buffers that pinned host memory is copied into before the
// iteration, and nothing in it reads the device from the host: the scalars land in a device
// buffer that ScalarReader copies back asynchronously and reads one iteration late.
//
// GraphedStep runs such a body: the first call eagerly, watching for host reads (a body that
// makes one is never captured: it would fail, or freeze the value it read), the second by
// capturing it into a graph (its allocations from a private pool, core/graph_pool.h) and
// launching that, every later call by launching the graph again. No host code of the body runs
// after the capture; its tensors' handles stay valid and hold the latest replay's values.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/cuda_backend.h"
#include "core/graph_pool.h"
#include "gan/data.h"
#include "gan/step.h"

namespace duel::gan {

// --cuda-graph on|off; nullopt when the flag was not given (then: on for CUDA when supported).
std::optional<bool> parse_cuda_graph(const std::optional<std::string>& flag);
// Why a run with this configuration cannot be captured, or "" when it can.
std::string cuda_graph_unsupported(Device device, const ModelConfig& model);
// Whether to capture: `flag` on with a CPU device or an unsupported configuration throws one line
// naming `command`; the default is on for CUDA when supported, with `note` saying why not.
bool decide_cuda_graph(const std::string& command, std::optional<bool> flag, Device device,
                       const ModelConfig& model, std::string* note);

class GraphedStep {
 public:
  // capture_first: capture on the first call already (no eager check: `duel step`).
  GraphedStep(Device device, bool enabled, bool capture_first = false);
  // Runs `body` (eagerly, or captured and launched, or by launching the graph).
  void run(const std::function<void()>& body);
  bool enabled() const { return enabled_; }
  bool graph_live() const { return graph_ != nullptr; }
  // Why capturing was given up after it was enabled ("" if it was not).
  const std::string& fallback() const { return fallback_; }
  int64_t eager_kernels() const { return eager_kernels_; }  // the last eager call's launches
  int64_t graph_kernels() const { return graph_ ? graph_->kernel_nodes() : 0; }
  // The kernels of the graph (or of the last eager call, without one) by name.
  const std::map<std::string, int64_t>& kernels_by_name() const { return by_name_; }
  int64_t graph_nodes() const { return graph_ ? graph_->nodes() : 0; }
  int64_t calls() const { return calls_; }

 private:
  void run_eager(const std::function<void()>& body, bool watch);
  Device device_;
  bool enabled_, capture_first_;
  std::string fallback_;
  std::shared_ptr<cuda_backend::GraphPool> pool_;
  std::unique_ptr<cuda_backend::Graph> graph_;
  int64_t eager_kernels_ = 0, calls_ = 0;
  std::map<std::string, int64_t> by_name_;
};

// The iterations of a training run: fixed device buffers for the n_critic real batches (and
// labels), staging through pinned host memory, and the iteration run eagerly or as a graph.
class StepRunner {
 public:
  StepRunner(Gan& gan, GanStep& step, Generator& rng, int64_t batch, Device device, bool cuda_graph);
  ~StepRunner();
  StepRunner(const StepRunner&) = delete;
  StepRunner& operator=(const StepRunner&) = delete;

  // The device buffers critic update c reads (images [B, C, S, S]; labels [B] or undefined).
  const std::vector<Tensor>& real() const { return real_; }
  // Copies n_critic host batches into them through pinned memory: asynchronous on a GPU, it
  // waits only for the copy made from the same pinned slot two iterations ago.
  void stage(const std::vector<Batch>& batches);
  // Runs one iteration on what is staged. `want_scalars`: the CPU computes the logged scalars
  // only when asked; on CUDA every iteration computes them (a graph's work is fixed).
  void run(bool want_scalars = true);
  const Iteration& last() const { return it_; }
  const GraphedStep& graph() const { return graphed_; }
  int64_t kernels_per_iteration() const;

 private:
  Gan& gan_;
  GanStep& step_;
  Generator& rng_;
  Device device_;
  bool conditional_;
  std::vector<Tensor> real_, labels_;
  Iteration it_;
  GraphedStep graphed_;
  // Pinned staging: two slots, each holding n_critic batches (images, then labels).
  std::array<void*, 2> pinned_{};
  size_t slot_bytes_ = 0, image_bytes_ = 0, label_bytes_ = 0;
  std::vector<std::unique_ptr<cuda_backend::Event>> staged_;
  int64_t stagings_ = 0;
};

// An iteration's logged scalars, copied back to pinned host memory without waiting and read
// later: push() after queuing iteration k, pop() once iteration k+1 is queued, so the host never
// waits for the GPU to finish the iteration it has just queued.
class ScalarReader {
 public:
  explicit ScalarReader(Device device);
  ~ScalarReader();
  ScalarReader(const ScalarReader&) = delete;
  ScalarReader& operator=(const ScalarReader&) = delete;
  using Values = std::array<float, kNumStepScalars>;
  // Queues the copy of `scalars` (step `step`'s). At most two may be pending: push pops the
  // oldest first when both slots are taken and returns it.
  std::optional<std::pair<int64_t, Values>> push(int64_t step, const Tensor& scalars);
  // The oldest pending step's values (waiting for its copy), or nullopt when none is pending.
  std::optional<std::pair<int64_t, Values>> pop();
  size_t pending() const { return count_; }

 private:
  Device device_;
  std::array<float*, 2> pinned_{};
  std::array<std::unique_ptr<cuda_backend::Event>, 2> done_;
  std::array<int64_t, 2> step_{};
  size_t first_ = 0, count_ = 0;
};

}  // namespace duel::gan
