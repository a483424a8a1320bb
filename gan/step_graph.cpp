#include "gan/step_graph.h"

#include <cstring>
#include <exception>
#include <iterator>

#include "core/autograd.h"
#include "core/error.h"

namespace duel::gan {

std::optional<bool> parse_cuda_graph(const std::optional<std::string>& flag) {
  if (!flag) return std::nullopt;
  DUEL_CHECK(*flag == "on" || *flag == "off", "--cuda-graph expects on or off, got '", *flag, "'");
  return *flag == "on";
}

std::string cuda_graph_unsupported(Device device, const ModelConfig& model) {
  if (!device.is_cuda()) return "the device is " + device.str() + "; CUDA graphs need --device cuda";
  if (model.conditional)
    return "a conditional model reads its labels on the host (the critic's one-hot planes)";
  if (anomaly_mode_enabled()) return "anomaly mode reads every result on the host";
  return "";
}

bool decide_cuda_graph(const std::string& command, std::optional<bool> flag, Device device,
                       const ModelConfig& model, std::string* note) {
  const std::string why = cuda_graph_unsupported(device, model);
  if (flag && *flag) {
    DUEL_CHECK(why.empty(), command, ": --cuda-graph on: ", why);
    return true;
  }
  if (flag) return false;
  if (!why.empty() && device.is_cuda() && note) *note = "CUDA graph off: " + why + "; running eagerly";
  return why.empty();
}

// ---------------------------------------------------------------------------------------------
// GraphedStep
// ---------------------------------------------------------------------------------------------

GraphedStep::GraphedStep(Device device, bool enabled, bool capture_first)
    : device_(device), enabled_(enabled && device.is_cuda()), capture_first_(capture_first) {}

namespace {

// The launches by name made since `before` (a kernel_launches_by_name() snapshot).
std::map<std::string, int64_t> launches_since(const std::map<std::string, int64_t>& before) {
  std::map<std::string, int64_t> now = cuda_backend::kernel_launches_by_name();
  for (auto it = now.begin(); it != now.end();) {
    auto b = before.find(it->first);
    it->second -= b == before.end() ? 0 : b->second;
    it = it->second == 0 ? now.erase(it) : std::next(it);
  }
  return now;
}

}  // namespace

void GraphedStep::run_eager(const std::function<void()>& body, bool watch) {
  const int64_t before = cuda_backend::kernel_launches();
  const std::map<std::string, int64_t> by_name = cuda_backend::kernel_launches_by_name();
  if (!watch) {
    body();
  } else {
    cuda_backend::HostSyncWatch host;
    body();
    if (host.count() > 0) {
      enabled_ = false;
      fallback_ = "the step reads the device from the host (" + host.first() + ")";
    }
  }
  eager_kernels_ = cuda_backend::kernel_launches() - before;
  by_name_ = launches_since(by_name);
}

void GraphedStep::run(const std::function<void()>& body) {
  ++calls_;
  if (graph_) {
    graph_->launch();
    return;
  }
  if (!enabled_ || (!capture_first_ && calls_ == 1)) {
    run_eager(body, enabled_);  // the first call of a graph run is the check
    return;
  }
  pool_ = std::make_shared<cuda_backend::GraphPool>(device_);
  const std::map<std::string, int64_t> by_name = cuda_backend::kernel_launches_by_name();
  try {
    cuda_backend::begin_capture(device_, pool_);
    body();
    graph_ = cuda_backend::end_capture(device_);
    by_name_ = launches_since(by_name);
  } catch (const std::exception& e) {
    // Nothing ran while capturing: give up the graph and do this call's work eagerly.
    cuda_backend::abort_capture(device_);
    enabled_ = false;
    fallback_ = e.what();
    run_eager(body, false);
    return;
  }
  graph_->launch();
}

// ---------------------------------------------------------------------------------------------
// StepRunner
// ---------------------------------------------------------------------------------------------

StepRunner::StepRunner(Gan& gan, GanStep& step, Generator& rng, int64_t batch, Device device, bool cuda_graph)
    : gan_(gan), step_(step), rng_(rng), device_(device), conditional_(gan.config().conditional),
      graphed_(device, cuda_graph) {
  DUEL_CHECK(batch > 0, "training step: the batch size must be positive, got ", batch);
  const int64_t s = gan.config().image_size(), c = gan.config().channels;
  const int64_t n_critic = step.config().n_critic;
  for (int64_t k = 0; k < n_critic; ++k) {
    real_.push_back(zeros({batch, c, s, s}, DType::f32, device));
    if (conditional_) labels_.push_back(zeros({batch}, DType::i64, device));
  }
  image_bytes_ = real_.front().nbytes();
  label_bytes_ = conditional_ ? labels_.front().nbytes() : 0;
  slot_bytes_ = size_t(n_critic) * (image_bytes_ + label_bytes_);
  if (device.is_cuda()) {
    for (void*& p : pinned_) p = cuda_backend::pinned_allocate(slot_bytes_, device);
    for (int k = 0; k < 2; ++k) staged_.push_back(std::make_unique<cuda_backend::Event>(device));
  }
}

StepRunner::~StepRunner() {
  for (const auto& e : staged_) e->wait();  // no copy may still read the pinned slots
  for (void* p : pinned_) cuda_backend::pinned_release(p, device_);
}

void StepRunner::stage(const std::vector<Batch>& batches) {
  DUEL_CHECK(batches.size() == real_.size(), "training step: ", real_.size(), " batch(es) expected, got ",
             batches.size());
  for (size_t k = 0; k < batches.size(); ++k) {
    const Batch& b = batches[k];
    DUEL_CHECK(b.images.device().is_cpu() && b.images.dtype() == DType::f32 && b.images.shape() == real_[k].shape(),
               "training step: batch ", k, " must be f32 ", shape_str(real_[k].shape()), " on the cpu, got ",
               describe(b.images));
    DUEL_CHECK(!conditional_ || (b.labels.defined() && b.labels.device().is_cpu() &&
                                 b.labels.dtype() == DType::i64 && b.labels.shape() == labels_[k].shape()),
               "training step: batch ", k, " needs i64 labels [", real_[k].size(0), "] on the cpu");
  }
  if (device_.is_cpu()) {
    for (size_t k = 0; k < batches.size(); ++k) {
      std::memcpy(real_[k].raw_data(), batches[k].images.raw_data(), image_bytes_);
      if (conditional_) std::memcpy(labels_[k].raw_data(), batches[k].labels.raw_data(), label_bytes_);
    }
    return;
  }
  const size_t slot = size_t(stagings_++ % 2);
  staged_[slot]->wait();  // the copies from this slot two iterations ago are done
  char* p = static_cast<char*>(pinned_[slot]);
  for (size_t k = 0; k < batches.size(); ++k) {
    char* images = p + k * (image_bytes_ + label_bytes_);
    std::memcpy(images, batches[k].images.raw_data(), image_bytes_);
    cuda_backend::copy(real_[k].raw_data(), device_, images, Device::cpu(), image_bytes_);
    if (conditional_) {
      std::memcpy(images + image_bytes_, batches[k].labels.raw_data(), label_bytes_);
      cuda_backend::copy(labels_[k].raw_data(), device_, images + image_bytes_, Device::cpu(), label_bytes_);
    }
  }
  staged_[slot]->record();
}

void StepRunner::run(bool want_scalars) {
  const bool scalars = want_scalars || device_.is_cuda();
  graphed_.run([&] { it_ = run_iteration(gan_, step_, rng_, real_, labels_, scalars); });
}

int64_t StepRunner::kernels_per_iteration() const {
  return graphed_.graph_live() ? graphed_.graph_kernels() : graphed_.eager_kernels();
}

// ---------------------------------------------------------------------------------------------
// ScalarReader
// ---------------------------------------------------------------------------------------------

ScalarReader::ScalarReader(Device device) : device_(device) {
  for (size_t k = 0; k < 2; ++k) {
    pinned_[k] = static_cast<float*>(cuda_backend::pinned_allocate(sizeof(Values), device));
    done_[k] = std::make_unique<cuda_backend::Event>(device);
  }
}

ScalarReader::~ScalarReader() {
  for (size_t k = 0; k < 2; ++k) {
    done_[k]->wait();
    cuda_backend::pinned_release(pinned_[k], device_);
  }
}

std::optional<std::pair<int64_t, ScalarReader::Values>> ScalarReader::push(int64_t step, const Tensor& scalars) {
  DUEL_CHECK(scalars.defined() && scalars.dtype() == DType::f32 && scalars.numel() == kNumStepScalars &&
                 scalars.device() == device_,
             "scalar log: expected f32 [", int(kNumStepScalars), "] on ", device_.str(), ", got ", describe(scalars));
  std::optional<std::pair<int64_t, Values>> popped;
  if (count_ == 2) popped = pop();
  const size_t slot = (first_ + count_) % 2;
  cuda_backend::copy_to_host_async(pinned_[slot], scalars.raw_data(), sizeof(Values), device_);
  done_[slot]->record();
  step_[slot] = step;
  ++count_;
  return popped;
}

std::optional<std::pair<int64_t, ScalarReader::Values>> ScalarReader::pop() {
  if (count_ == 0) return std::nullopt;
  const size_t slot = first_;
  done_[slot]->wait();
  Values v;
  std::memcpy(v.data(), pinned_[slot], sizeof(Values));
  first_ = (first_ + 1) % 2;
  --count_;
  return std::make_pair(step_[slot], v);
}

}  // namespace duel::gan
