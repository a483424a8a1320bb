#include "gan/trainer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "gan/data.h"
#include "gan/ema.h"
#include "gan/files.h"
#include "gan/image.h"
#include "gan/metrics.h"
#include "gan/metrics_log.h"
#include "gan/step_graph.h"
#include "gan/swd.h"

namespace duel::gan {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Sample grids
// ---------------------------------------------------------------------------------------------

Tensor fixed_latents(int64_t n, int64_t nz, uint64_t seed) {
  Generator g(seed ^ 0x9E3779B97F4A7C15ULL);  // a stream of its own: sampling never moves training's
  return randn({n, nz, 1, 1}, g);
}

Tensor grid_labels(int64_t n, const ModelConfig& m) {
  if (!m.conditional) return Tensor();
  Tensor l = empty({n}, DType::i64);
  for (int64_t i = 0; i < n; ++i) l.data<int64_t>()[i] = i % m.num_classes;
  return l;
}

Tensor generate_images(Gan& gan, int64_t n, uint64_t seed) {
  DUEL_CHECK(n >= 1, "generate: n must be positive");
  NoGradGuard no_grad;
  const bool was_training = gan.G().training();
  gan.G().eval();
  const int64_t s = gan.config().image_size(), c = gan.config().channels;
  Tensor out = empty({n, c, s, s});
  Generator g(seed);
  for (int64_t start = 0; start < n; start += 500) {
    const int64_t b = std::min<int64_t>(500, n - start);
    const Device dev = gan.G().device();
    const Tensor z = randn({b, gan.config().nz, 1, 1}, g, DType::f32, dev);
    Tensor labels = grid_labels(b, gan.config());
    if (labels.defined()) {
      for (int64_t i = 0; i < b; ++i) labels.data<int64_t>()[i] = (start + i) % gan.config().num_classes;
      labels = labels.to(dev);
    }
    const Tensor images = gan.generate(z, labels).to(Device::cpu());
    std::memcpy(out.data<float>() + start * c * s * s, images.data<float>(), images.nbytes());
  }
  gan.G().train(was_training);
  return out;
}

void write_sample_grid(Gan& gan, const std::string& path, const Tensor& z, const Tensor& labels) {
  // Evaluation mode (running batch-norm statistics) and no graph: sampling must not change the
  // training state, or a resumed run would differ from a straight one.
  NoGradGuard no_grad;
  const bool was_training = gan.G().training();
  gan.G().eval();
  const Tensor images = gan.generate(z, labels).to(Device::cpu());
  gan.G().train(was_training);
  const int64_t nrow = std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(z.size(0))))));
  save_image_grid(path, images, nrow);
}

// ---------------------------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------------------------

namespace {

// ----- Ctrl-C and SIGTERM ----------------------------------------------------------------------
// The first signal asks the loop to stop after the current step and write a checkpoint; it says
// so at once. A second one ends the process at once: the last complete checkpoint stays, since a
// checkpoint only ever replaces the previous one whole (gan/files.h), and the partial files of
// the interrupted write are removed at the next start. Only async-signal-safe calls here.

std::atomic<int> g_stop_signal{0};             // the first SIGINT / SIGTERM received, else 0
std::atomic<int64_t> g_checkpoint_step{-1};    // the last complete checkpoint's step

void say(const char* text) {
  const ssize_t ignored = ::write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

extern "C" void on_stop_signal(int sig) {
  int expected = 0;
  if (g_stop_signal.compare_exchange_strong(expected, sig)) {
    say(sig == SIGTERM ? "\nduel train: SIGTERM: stopping after the current step and writing a checkpoint\n"
                       : "\nduel train: stopping after the current step and writing a checkpoint (Ctrl-C again "
                         "to stop at once)\n");
    return;
  }
  char digits[24];
  int64_t step = g_checkpoint_step.load();
  int n = 0;
  if (step >= 0) {
    char rev[24];
    do rev[n++] = char('0' + step % 10), step /= 10;
    while (step > 0 && n < 23);
    for (int i = 0; i < n; ++i) digits[i] = rev[n - 1 - i];
  }
  digits[n] = '\0';
  say("\nduel train: stopping now; ");
  if (n > 0) {
    say("the last complete checkpoint (step ");
    say(digits);
    say(") is kept; continue with --resume\n");
  } else {
    say("no checkpoint was written yet\n");
  }
  ::_exit(sig == SIGTERM ? 143 : 130);
}

// Installs the handlers for its lifetime.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int received() const { return g_stop_signal.load(); }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

std::string format_duration(double s) {
  char buf[32];
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)t / 3600, (long long)(t / 60) % 60, (long long)t % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)t / 60, (long long)t % 60);
  return buf;
}

Tensor scalar_i64(int64_t v) { return full({}, double(v), DType::i64); }

int64_t read_i64(const std::map<std::string, Tensor>& s, const std::string& name, const std::string& source) {
  auto it = s.find(name);
  DUEL_CHECK(it != s.end() && it->second.dtype() == DType::i64 && it->second.numel() == 1, source,
             ": missing or malformed '", name, "'");
  return it->second.data<int64_t>()[0];
}

// The first parameter or buffer of `m` holding a NaN or an infinity, or "".
std::string first_non_finite(const nn::Module& m) {
  for (const auto& [name, t] : m.state())
    if (has_non_finite(t)) return name;
  return "";
}

// Keeps the lines of metrics.jsonl up to `step` (a resumed run rewrites what came after its
// checkpoint). Lines of older runs with bare NaN/Infinity are kept, rewritten with null.
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j;
    if (!parse_metrics_line(line, &j) || !j.contains("step") || !j["step"].is_number_integer()) break;  // cut by a crash
    if (j["step"].get<int64_t>() > step) break;
    kept += j.dump() + "\n";
  }
  write_text_atomic(path, kept);
}

// The model fields of a configuration that decide its state's names and shapes, as one line.
std::string model_signature(const ModelConfig& m) {
  return str_cat(describe_model(m), ", ", m.channels, " channel(s), nz ", m.nz, ", critic norm ",
                 critic_norm_name(m.critic_norm), m.conditional ? str_cat(", ", m.num_classes, " classes") : "");
}

// --init-from: G and D from another run's checkpoint (built with the same architecture).
void start_from(Gan& gan, const std::string& dir) {
  const std::string ckpt = checkpoint_dir(dir);
  DUEL_CHECK(fs::exists(ckpt + "/config.json"), "train: --init-from ", dir, ": no checkpoint there (expected "
             "config.json, G.safetensors and D.safetensors in it or in its checkpoint/)");
  const TrainConfig source = config_from_json(read_text(ckpt + "/config.json"), ckpt + "/config.json");
  const std::string have = model_signature(source.model), want = model_signature(gan.config());
  DUEL_CHECK(have == want, "train: --init-from ", dir, " holds ", have, "; this run builds ", want);
  nn::load_module(gan.G(), ckpt + "/G.safetensors", "G");
  nn::load_module(gan.D(), ckpt + "/D.safetensors", "D");
}

// Names matching write_file_atomic's temporary files: NAME.tmp.PID.N
bool is_temporary_file(const fs::path& p) {
  const std::string name = p.filename().string();
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0) return false;
  const std::string tail = name.substr(at + 5);
  const size_t dot = tail.find('.');
  auto digits = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dot != std::string::npos && digits(tail.substr(0, dot)) && digits(tail.substr(dot + 1));
}

class Run {
 public:
  Run(TrainConfig cfg, bool resume, TrainOptions options)
      : cfg_(std::move(cfg)), resume_(resume), options_(options) {}
  ~Run();
  int go();

 private:
  void check_new_run_folder() const;
  void prepare_output();
  void clean_stale_files();
  void load_checkpoint();
  void save_checkpoint();
  void check_finite_weights(const char* when);
  // step: the step that diverged (-1: the latest, done_).
  [[noreturn]] void diverged(const std::string& what, int64_t step = -1);
  // A step's logged values come back from the device late (gan/step_graph.h ScalarReader): every
  // step's scalars are queued after the step, and each is checked for NaN or infinity (and its
  // log line written, if it has one) when it is back: one or two steps later, or at once where
  // the host reads the device anyway (the CPU, samples, evaluations, checkpoints, the end).
  struct PendingLog {
    int64_t step;
    double epoch, images_per_s, time_s;
    bool with_eval;
  };
  void after_step(int64_t step, bool log_now, bool eval_now);
  void drain();  // waits for every queued step's scalars and handles them
  void handle(int64_t step, const ScalarReader::Values& v);
  void write_log(const PendingLog& p, const ScalarReader::Values& v, const std::string& eval);
  void prepare_evaluation();
  std::string evaluate_now(int64_t step);
  void progress(int64_t step, bool force);

  TrainConfig cfg_;
  bool resume_;
  TrainOptions options_;
  Dataset data_;
  std::unique_ptr<Gan> gan_;
  std::unique_ptr<Gan> ema_;  // --ema: G's moving average (only its G is used)
  std::unique_ptr<GanStep> step_;
  std::unique_ptr<BatchLoader> loader_;
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<ScalarReader> reader_;
  std::deque<PendingLog> pending_logs_;
  bool graph_fallback_told_ = false;
  Generator rng_;
  int64_t done_ = 0, start_step_ = 0, target_ = 0, checkpoint_step_ = -1;
  int lock_fd_ = -1;
  Tensor fixed_z_, fixed_labels_;
  MetricsLog metrics_;
  std::chrono::steady_clock::time_point t0_, t_log_;
  int64_t images_since_log_ = 0;
  bool tty_ = false;
  std::chrono::steady_clock::time_point last_bar_;
  double last_loss_d_ = NAN, last_loss_g_ = NAN;
  // --eval-every: the real images for the sliced Wasserstein distance and (28x28 gray images) the
  // feature network and the test set's features, prepared before training starts.
  Tensor swd_real_;
  std::unique_ptr<Classifier> classifier_;
  FeatureSet test_features_;
  Moments test_moments_;
  std::string dir() const { return cfg_.out; }
  // The generator that grids and evaluations show: the average, its batch norms recalibrated
  // (the same draws every time, so the result does not depend on when it was last used), or G.
  Gan& shown() {
    if (!ema_) return *gan_;
    recalibrate_batch_norm(*ema_, cfg_.seed ^ 0xB7E15163ULL);
    return *ema_;
  }
};

Run::~Run() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void Run::check_new_run_folder() const {
  const bool checkpoint = fs::exists(cfg_.out + "/checkpoint") || fs::exists(cfg_.out + "/checkpoint.old");
  DUEL_CHECK(checkpoint || !fs::exists(cfg_.out + "/metrics.jsonl"), "train: ", cfg_.out,
             " holds a run that was stopped before its first checkpoint; remove the folder to start again, or "
             "choose another --out");
  DUEL_CHECK(!checkpoint, "train: ", cfg_.out, " already holds a run; pass --resume to continue it, or choose another --out");
}

void Run::prepare_output() {
  if (!resume_) check_new_run_folder();
  std::error_code ec;
  fs::create_directories(cfg_.out, ec);
  DUEL_CHECK(!ec, "train: cannot create ", cfg_.out, ": ", ec.message());
  // One writer per run: a second `duel train` on the same folder would interleave checkpoints.
  const std::string lock = cfg_.out + "/.lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  DUEL_CHECK(lock_fd_ >= 0, "train: cannot create ", lock, ": ", std::strerror(errno));
  DUEL_CHECK(::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0, "train: another duel train is writing to ", cfg_.out,
             " (it holds ", lock, ")");
  clean_stale_files();
  fs::create_directories(cfg_.out + "/samples", ec);
  DUEL_CHECK(!ec, "train: cannot create ", cfg_.out, "/samples: ", ec.message());
}

void Run::clean_stale_files() {
  // What a kill or a full disk can leave: a staged checkpoint and temporary files of atomic
  // writes. Safe to remove: this process holds the run's lock, so nobody else is writing.
  int removed = 0;
  std::error_code ec;
  if (fs::exists(cfg_.out + "/checkpoint.new", ec)) removed += int(fs::remove_all(cfg_.out + "/checkpoint.new", ec) > 0);
  recover_directory(cfg_.out + "/checkpoint");
  for (const std::string& dir : {cfg_.out, cfg_.out + "/checkpoint", cfg_.out + "/samples"}) {
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (is_temporary_file(e.path()) && fs::remove(e.path(), ec)) ++removed;
  }
  if (removed > 0)
    std::printf("duel train: removed %d partial file(s) left in %s by an interrupted run\n", removed, cfg_.out.c_str());
}

void Run::check_finite_weights(const char* when) {
  for (nn::Module* m : {&gan_->G(), &gan_->D()}) {
    const std::string bad = first_non_finite(*m);
    if (!bad.empty())
      diverged(str_cat((m == &gan_->G() ? "G." : "D."), bad, " holds NaN or infinity ", when));
  }
}

void Run::diverged(const std::string& what, int64_t step) {
  std::fflush(stdout);
  if (tty_) std::fputc('\n', stderr);
  fail("train: step ", step >= 0 ? step : done_, ": ", what, ": training diverged (try lower --lr-d/--lr-g",
       options_.anomaly ? "" : ", or --anomaly to name the op that made the first NaN", "); ",
       checkpoint_step_ >= 0 ? str_cat("the checkpoint of step ", checkpoint_step_, " is kept")
                             : std::string("no checkpoint was written"));
}

void Run::save_checkpoint() {
  // Never replace a good checkpoint with NaNs: the weights and optimiser state are checked first.
  check_finite_weights("before the checkpoint");
  NamedTensors opt_state;
  for (auto& [n, t] : step_->opt_g().state()) opt_state.emplace_back("opt_G." + n, t);
  for (auto& [n, t] : step_->opt_d().state()) opt_state.emplace_back("opt_D." + n, t);
  for (const auto& [n, t] : opt_state)
    if (has_non_finite(t)) diverged(str_cat("the optimiser state ", n, " holds NaN or infinity"));

  const std::string stage = cfg_.out + "/checkpoint.new";
  fs::remove_all(stage);
  fs::create_directories(stage);
  const std::map<std::string, std::string> meta{{"step", std::to_string(done_)}, {"format", "duel-checkpoint-1"}};
  nn::save_module(gan_->G(), stage + "/G.safetensors", meta);
  nn::save_module(gan_->D(), stage + "/D.safetensors", meta);
  if (ema_) nn::save_module(shown().G(), stage + "/G_ema.safetensors", meta);
  NamedTensors state{{"step", scalar_i64(done_)},
                     {"rng.seed", scalar_i64(int64_t(rng_.seed()))},
                     {"rng.offset", scalar_i64(int64_t(rng_.offset()))},
                     {"data.epoch", scalar_i64(loader_->epoch())},
                     {"data.position", scalar_i64(loader_->position())}};
  state.insert(state.end(), opt_state.begin(), opt_state.end());
  save_safetensors(stage + "/train_state.safetensors", state, meta);
  write_text_atomic(stage + "/config.json", config_to_json(cfg_));
  metrics_.sync();  // the log lines up to this checkpoint survive with it
  replace_directory(stage, cfg_.out + "/checkpoint");
  checkpoint_step_ = done_;
  g_checkpoint_step.store(done_);
}

void Run::load_checkpoint() {
  const std::string ckpt = cfg_.out + "/checkpoint";
  nn::load_module(gan_->G(), ckpt + "/G.safetensors", "G");
  nn::load_module(gan_->D(), ckpt + "/D.safetensors", "D");
  if (ema_) nn::load_module(ema_->G(), ckpt + "/G_ema.safetensors", "G's moving average");
  for (nn::Module* m : {&gan_->G(), &gan_->D()}) {
    const std::string bad = first_non_finite(*m);
    DUEL_CHECK(bad.empty(), ckpt, "/", m == &gan_->G() ? "G" : "D", ".safetensors: ", bad,
               " holds NaN or infinity; this checkpoint cannot be resumed");
  }
  const std::string state_path = ckpt + "/train_state.safetensors";
  const std::map<std::string, Tensor> s = load_safetensors_map(state_path);
  done_ = read_i64(s, "step", state_path);
  DUEL_CHECK(done_ >= 0, state_path, ": negative step");
  const int64_t seed = read_i64(s, "rng.seed", state_path), offset = read_i64(s, "rng.offset", state_path);
  DUEL_CHECK(seed >= 0 && offset >= 0, state_path, ": negative random-number state (seed ", seed, ", offset ", offset, ")");
  rng_.set_state(uint64_t(seed), uint64_t(offset));
  loader_->seek(read_i64(s, "data.epoch", state_path), read_i64(s, "data.position", state_path));
  std::map<std::string, Tensor> og, od;
  for (const auto& [n, t] : s) {
    if (n.rfind("opt_G.", 0) == 0) og[n.substr(6)] = t;
    if (n.rfind("opt_D.", 0) == 0) od[n.substr(6)] = t;
  }
  step_->opt_g().load_state(og, state_path + " (G optimiser)");
  step_->opt_d().load_state(od, state_path + " (D optimiser)");
  checkpoint_step_ = done_;
  g_checkpoint_step.store(done_);
}

void Run::prepare_evaluation() {
  // The real side, chosen once: eval_n training images (all of them when there are fewer) for
  // the sliced Wasserstein distance, and for 28x28 gray images the Fashion-MNIST classifier and
  // its test set's features.
  const int64_t m = std::min(cfg_.eval_n, data_.count());
  DUEL_CHECK(m >= 2, "train: --eval-every needs at least 2 real images, ", data_.description, " has ",
             data_.count());
  swd_real_ = sample_images(data_, m, cfg_.seed ^ 0x5EA1ULL);
  if (cfg_.model.image_size() == 28 && cfg_.model.channels == 1) {
    classifier_ = load_classifier(default_classifier_path());
    const Dataset test = load_dataset("fashion-mnist", false, 1, 28);
    test_features_ = extract_features(*classifier_, test.images);
    test_moments_ = moments(test_features_);
  }
}

std::string Run::evaluate_now(int64_t step) {
  // Latent vectors from a seed of their own: evaluating never moves the training stream.
  const Tensor fake = generate_images(shown(), cfg_.eval_n, cfg_.seed ^ 0xE7A1ULL ^ uint64_t(step));
  std::ostringstream os;
  const int64_t m = swd_real_.size(0);
  os << ",\"eval_of\":\"" << (ema_ ? "G_ema" : "G") << "\","
     << swd_json_fields(sliced_wasserstein(swd_real_, m < cfg_.eval_n ? narrow(fake, 0, 0, m) : fake, cfg_.seed));
  if (!classifier_) return os.str();
  const EvalReport r = evaluate(test_features_, test_moments_, extract_features(*classifier_, fake), cfg_.seed);
  os << ",\"fid\":" << json_number(r.fid) << ",\"kid\":" << json_number(r.kid.mean) << ",\"kid_std\":"
     << json_number(r.kid.std) << ",\"precision\":" << json_number(r.pr.precision) << ",\"recall\":"
     << json_number(r.pr.recall) << ",\"classifier_score\":" << json_number(r.classifier_score)
     << ",\"class_entropy_bits\":" << json_number(r.coverage.entropy_bits)
     << ",\"classes_covered\":" << r.coverage.classes_covered;
  return os.str();
}

void Run::after_step(int64_t step, bool log_now, bool eval_now) {
  if (log_now) {
    const auto now = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>(now - t_log_).count();
    PendingLog p;
    p.step = step;
    p.images_per_s = dt > 0 ? double(images_since_log_) / dt : 0.0;
    p.time_s = std::chrono::duration<double>(now - t0_).count();
    p.epoch = double(loader_->epoch()) + double(loader_->position()) / double(loader_->batches_per_epoch() * cfg_.batch);
    p.with_eval = eval_now;
    t_log_ = now;
    images_since_log_ = 0;
    pending_logs_.push_back(p);
  }
  if (auto older = reader_->push(step, runner_->last().scalars)) handle(older->first, older->second);
}

void Run::drain() {
  while (auto v = reader_->pop()) handle(v->first, v->second);
}

void Run::handle(int64_t step, const ScalarReader::Values& v) {
  while (!pending_logs_.empty() && pending_logs_.front().step < step) pending_logs_.pop_front();  // cannot happen
  const bool logged = !pending_logs_.empty() && pending_logs_.front().step == step;
  if (v[kNonFinite] != 0) {
    PendingLog p = logged ? pending_logs_.front() : PendingLog{step, NAN, 0.0, NAN, false};
    if (!logged) {
      p.time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
      p.epoch = double(loader_->epoch()) + double(loader_->position()) / double(loader_->batches_per_epoch() * cfg_.batch);
    }
    write_log(p, v, "");  // the diverged step's line (null where not finite)
    const struct {
      StepScalar i;
      const char* name;
    } order[] = {{kLossD, "loss_D"}, {kLossG, "loss_G"}, {kGp, "the gradient penalty"},
                 {kGradNormD, "D's gradient norm"}, {kGradNormG, "G's gradient norm"}, {kDx, "D(x)"},
                 {kDGz, "D(G(z))"}, {kDGzAfter, "D(G(z)) after the critic's update"}};
    for (const auto& [i, name] : order)
      if (!std::isfinite(v[i])) diverged(str_cat(name, " is ", v[i]), step);
    diverged("a logged value is NaN or infinite", step);
  }
  if (!logged) return;
  const PendingLog p = pending_logs_.front();
  pending_logs_.pop_front();
  // An evaluation needs the weights of its step: its step drains the scalars before the next one.
  const std::string eval = p.with_eval && step == done_ ? evaluate_now(step) : "";
  if (p.with_eval) t_log_ = std::chrono::steady_clock::now();  // the evaluation's time is not training time
  write_log(p, v, eval);
}

void Run::write_log(const PendingLog& p, const ScalarReader::Values& v, const std::string& eval) {
  last_loss_d_ = v[kLossD];
  last_loss_g_ = v[kLossG];
  std::ostringstream os;
  os << "{\"step\":" << p.step << ",\"epoch\":" << json_number(p.epoch) << ",\"loss_D\":" << json_number(v[kLossD])
     << ",\"loss_G\":" << json_number(v[kLossG]);
  if (cfg_.optim.loss == LossKind::wgan_gp) os << ",\"gp\":" << json_number(v[kGp]);
  os << ",\"D_x\":" << json_number(v[kDx]) << ",\"D_G_z\":" << json_number(v[kDGz])
     << ",\"D_G_z_after\":" << json_number(v[kDGzAfter]) << ",\"grad_norm_G\":" << json_number(v[kGradNormG])
     << ",\"grad_norm_D\":" << json_number(v[kGradNormD]) << ",\"images_per_s\":" << json_number(p.images_per_s)
     << ",\"time_s\":" << json_number(p.time_s) << eval << "}";
  metrics_.append(os.str());
  if (!tty_) {
    const double rate = double(p.step - start_step_) / std::max(1e-9, p.time_s);
    std::printf("step %lld/%lld  loss_D %.4f  loss_G %.4f  %.1f it/s  ETA %s\n", (long long)p.step,
                (long long)target_, last_loss_d_, last_loss_g_, rate,
                format_duration(double(target_ - p.step) / std::max(rate, 1e-9)).c_str());
    std::fflush(stdout);
  }
}

void Run::progress(int64_t step, bool force) {
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - last_bar_).count() < 0.1) return;
  last_bar_ = now;
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double rate = double(step - start_step_) / std::max(elapsed, 1e-9);
  const int width = 30;
  const int filled = int(double(width) * double(step) / double(std::max<int64_t>(target_, 1)));
  std::string bar(size_t(filled), '#');
  bar.resize(size_t(width), '.');
  std::fprintf(stderr, "\r[%s] %lld/%lld %.2f it/s ETA %s  loss_D %.4f loss_G %.4f   ", bar.c_str(),
               (long long)step, (long long)target_, rate,
               format_duration(double(target_ - step) / std::max(rate, 1e-9)).c_str(), last_loss_d_, last_loss_g_);
  if (step == target_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

int Run::go() {
  // Everything that can refuse the run comes before anything is written to --out.
  DUEL_CHECK(!cfg_.out.empty(), "train: --out DIR is required");
  cuda_backend::check_usable(cfg_.device);
  {
    TrainConfig check = cfg_;
    if (check.epochs > 0 && check.steps == 0) check.steps = 1;  // steps follow from the data, below
    validate(check, "train");
  }
  check_math_device(cfg_.math, cfg_.device.is_cpu());
  std::string graph_note;
  bool graph = false;
  {
    const AnomalyModeGuard anomaly(options_.anomaly || anomaly_mode_enabled());  // anomaly mode is not captured
    graph = decide_cuda_graph("train", options_.cuda_graph, cfg_.device, cfg_.model, &graph_note);
  }
  set_run_math_mode(cfg_.math, cfg_.device.is_cpu());
  if (resume_) DUEL_CHECK(fs::exists(cfg_.out + "/checkpoint/config.json"), "train: --resume: no checkpoint in ", cfg_.out);
  else
    check_new_run_folder();
  DataOptions data_options;
  data_options.background = parse_background(cfg_.background);
  data_options.class_folders = cfg_.model.conditional;
  if (cfg_.data_memory_mb >= 0) data_options.memory_budget = cfg_.data_memory_mb << 20;
  data_ = load_dataset(cfg_.data, true, cfg_.model.channels, cfg_.model.image_size(), data_options);
  for (const std::string& note : data_.notes) std::fprintf(stderr, "duel: warning: %s\n", note.c_str());
  if (cfg_.model.conditional) {
    DUEL_CHECK(data_.labels.defined(), "train: --conditional needs labelled data; ", data_.description,
               " has no labels");
    DUEL_CHECK(!resume_ || cfg_.model.num_classes == data_.num_classes, "train: --resume: the checkpoint's model has ",
               cfg_.model.num_classes, " classes but ", data_.description, " has ", data_.num_classes);
    cfg_.model.num_classes = data_.num_classes;
  }
  gan_ = std::make_unique<Gan>(cfg_.model);
  loader_ = std::make_unique<BatchLoader>(data_, cfg_.batch, cfg_.seed, cfg_.flip);
  if (cfg_.eval_every > 0) prepare_evaluation();  // refuses what cannot be measured before step 1
  if (cfg_.epochs > 0)
    cfg_.steps = std::max<int64_t>(1, cfg_.epochs * loader_->batches_per_epoch() / cfg_.optim.n_critic);
  DUEL_CHECK(cfg_.steps > 0, "train: give --steps N or --epochs E (both positive)");
  target_ = cfg_.steps;
  rng_.set_state(cfg_.seed, 0);
  if (!resume_) gan_->init_dcgan(rng_);  // on the host, so a seed gives the same weights anywhere
  if (!resume_ && !cfg_.init_from.empty()) start_from(*gan_, cfg_.init_from);
  if (cfg_.ema > 0) {
    ema_ = std::make_unique<Gan>(cfg_.model);
    copy_state(ema_->G(), gan_->G());
    ema_->G().to_device(cfg_.device);
    ema_->G().eval();
  }
  gan_->G().to_device(cfg_.device);
  gan_->D().to_device(cfg_.device);
  rng_.to_device(cfg_.device);  // z and eps are drawn, and the offset advanced, on the device
  step_ = std::make_unique<GanStep>(*gan_, cfg_.optim);
  prepare_output();
  if (resume_) load_checkpoint();
  DUEL_CHECK(done_ <= target_, "train: the checkpoint is at step ", done_, ", beyond --steps ", target_);
  if (resume_ && done_ == target_) {
    std::printf("duel train: nothing to do: %s is already at step %lld of %lld (give a larger --steps to train "
                "further)\n", cfg_.out.c_str(), (long long)done_, (long long)target_);
    return 0;
  }
  runner_ = std::make_unique<StepRunner>(*gan_, *step_, rng_, cfg_.batch, cfg_.device, graph);
  reader_ = std::make_unique<ScalarReader>(cfg_.device);
  start_step_ = done_;
  fixed_z_ = fixed_latents(64, cfg_.model.nz, cfg_.seed).to(cfg_.device);
  fixed_labels_ = grid_labels(64, cfg_.model);
  if (fixed_labels_.defined()) fixed_labels_ = fixed_labels_.to(cfg_.device);
  const std::string metrics_path = cfg_.out + "/metrics.jsonl";
  if (resume_) truncate_metrics(metrics_path, done_);
  metrics_.open(metrics_path);
  write_text_atomic(cfg_.out + "/config.json", config_to_json(cfg_));
  if (!resume_) {
    // The first grid of a run: the first batch exactly as the networks will see it (order, flips).
    BatchLoader first(data_, cfg_.batch, cfg_.seed, cfg_.flip);
    const Tensor real = first.next().images;
    const int64_t shown = std::min<int64_t>(64, cfg_.batch);
    save_image_grid(cfg_.out + "/samples/real.png", narrow(real, 0, 0, shown),
                    std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(shown))))));
  }

  tty_ = ::isatty(STDERR_FILENO);
  std::printf("duel train: %s with %s loss on %s, batch %lld, %lld critic update(s) per step, steps %lld..%lld, "
              "%d CPU thread(s)%s -> %s\n",
              describe_model(cfg_.model).c_str(), loss_name(cfg_.optim.loss).c_str(), data_.description.c_str(),
              (long long)cfg_.batch, (long long)cfg_.optim.n_critic, (long long)done_ + 1, (long long)target_,
              num_threads(), graph ? ", one CUDA graph per step" : "", cfg_.out.c_str());
  if (!graph_note.empty()) std::printf("%s\n", graph_note.c_str());
  if (!data_.class_names.empty()) {
    std::string classes;
    for (size_t k = 0; k < data_.class_names.size(); ++k)
      classes += str_cat(k ? ", " : "", k, " ", data_.class_names[k]);
    std::printf("classes (the labels of --label): %s\n", classes.c_str());
  }
  std::fflush(stdout);
  g_checkpoint_step.store(checkpoint_step_);
  const StopSignals signals;
  const AnomalyModeGuard anomaly(options_.anomaly || anomaly_mode_enabled());
  t0_ = t_log_ = last_bar_ = std::chrono::steady_clock::now();

  int code = 0;
  while (done_ < target_) {
    std::vector<Batch> batches;
    for (int64_t c = 0; c < cfg_.optim.n_critic; ++c) batches.push_back(loader_->next());
    runner_->stage(batches);
    runner_->run();
    if (!runner_->graph().fallback().empty() && !graph_fallback_told_) {
      std::printf("CUDA graph off from step %lld: %s; running eagerly\n", (long long)done_ + 1,
                  runner_->graph().fallback().c_str());
      std::fflush(stdout);
      graph_fallback_told_ = true;
    }
    images_since_log_ += cfg_.batch * cfg_.optim.n_critic;
    // The decay ramps up as tf.train.ExponentialMovingAverage's with num_updates, so the
    // average forgets the random initial weights within the first few hundred steps.
    if (ema_) ema_update(ema_->G(), gan_->G(), std::min(cfg_.ema, double(1 + done_) / double(10 + done_)));
    ++done_;
    const bool last = done_ == target_;
    const bool stop = signals.received() != 0;
    const bool eval_now = cfg_.eval_every > 0 && (done_ % cfg_.eval_every == 0 || last);
    const bool log_now = done_ % cfg_.log_every == 0 || last || eval_now;
    const bool sample_now = (cfg_.sample_every > 0 && done_ % cfg_.sample_every == 0) || last;
    const bool checkpoint_now = (cfg_.checkpoint_every > 0 && done_ % cfg_.checkpoint_every == 0) || last || stop;
    // Non-finite training stops at the step that made it. The scalars of a step (losses, outputs,
    // gradient norms, a non-finite flag) are read back late on a GPU, so that the host never
    // waits for the step it has just queued; where the host reads the device anyway (the CPU,
    // samples, evaluations, checkpoints) every step up to this one is checked first.
    after_step(done_, log_now, eval_now);
    if (cfg_.device.is_cpu() || eval_now || sample_now || checkpoint_now) drain();
    if (cfg_.device.is_cpu()) check_finite_weights("after the update");
    if (sample_now) {
      char name[64];
      std::snprintf(name, sizeof name, "/samples/step_%06lld.png", (long long)done_);
      write_sample_grid(shown(), cfg_.out + name, fixed_z_, fixed_labels_);
    }
    if (checkpoint_now) save_checkpoint();
    progress(done_, last);
    if (stop && !last) {
      if (tty_) std::fputc('\n', stderr);
      std::printf("interrupted: checkpoint written at step %lld; continue with --resume\n", (long long)done_);
      code = signals.received() == SIGTERM ? 143 : 130;
      break;
    }
  }
  drain();
  if (code == 0)
    std::printf("done: %lld steps in %s; samples in %s/samples, checkpoint in %s/checkpoint\n", (long long)target_,
                format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count()).c_str(),
                cfg_.out.c_str(), cfg_.out.c_str());
  return code;
}

}  // namespace

std::string checkpoint_dir(const std::string& dir) {
  // A run directory holds checkpoint/ (and a config.json of its own, without weights).
  recover_directory(dir + "/checkpoint");
  return fs::exists(dir + "/checkpoint/config.json") ? dir + "/checkpoint" : dir;
}

std::unique_ptr<Gan> load_checkpoint_models(const std::string& dir, TrainConfig* config, bool with_d,
                                            bool use_ema, bool* used_ema) {
  const std::string ckpt = checkpoint_dir(dir);
  DUEL_CHECK(fs::exists(ckpt + "/config.json"), "no checkpoint in ", dir, " (expected config.json and "
             "G.safetensors there or in ", dir, "/checkpoint)");
  const TrainConfig c = config_from_json(read_text(ckpt + "/config.json"), ckpt + "/config.json");
  auto gan = std::make_unique<Gan>(c.model);
  const bool ema = use_ema && fs::exists(ckpt + "/G_ema.safetensors");
  nn::load_module(gan->G(), ckpt + (ema ? "/G_ema.safetensors" : "/G.safetensors"), ema ? "G's moving average" : "G");
  if (with_d) nn::load_module(gan->D(), ckpt + "/D.safetensors", "D");
  for (nn::Module* m : {&gan->G(), &gan->D()}) {
    if (m == &gan->D() && !with_d) continue;
    const std::string bad = first_non_finite(*m);
    DUEL_CHECK(bad.empty(), ckpt, "/", m == &gan->G() ? "G" : "D", ".safetensors: ", bad, " holds NaN or infinity");
  }
  if (config) *config = c;
  if (used_ema) *used_ema = ema;
  return gan;
}

int train(TrainConfig config, bool resume, const std::map<std::string, std::string>& overrides,
          const TrainOptions& options) {
  if (resume) {
    DUEL_CHECK(!config.out.empty(), "train: --resume needs --out DIR");
    DUEL_CHECK(config.init_from.empty(), "train: --init-from starts a new run from another's weights; --resume "
               "continues ", config.out, " from its own checkpoint (give one of them)");
    const std::string ckpt = config.out + "/checkpoint";
    recover_directory(ckpt);
    DUEL_CHECK(fs::exists(ckpt + "/config.json"), "train: --resume: no checkpoint in ", ckpt);
    TrainConfig saved = config_from_json(read_text(ckpt + "/config.json"), ckpt + "/config.json");
    const json given = json::parse(config_to_json(config)), have = json::parse(config_to_json(saved));
    for (const auto& [flag, key] : overrides) {
      if (key == "epochs" || train_setting(key).may_change_on_resume) continue;
      DUEL_CHECK(given.at(key) == have.at(key), "train: --resume: --", flag, " ", given.at(key).dump(),
                 " differs from the checkpoint's ", have.at(key).dump());
    }
    for (const auto& [flag, key] : overrides) {
      if (key == "steps") saved.steps = config.steps, saved.epochs = 0;
      if (key == "epochs") saved.epochs = config.epochs;
      if (key == "log_every") saved.log_every = config.log_every;
      if (key == "sample_every") saved.sample_every = config.sample_every;
      if (key == "checkpoint_every") saved.checkpoint_every = config.checkpoint_every;
      if (key == "eval_every") saved.eval_every = config.eval_every;
      if (key == "eval_n") saved.eval_n = config.eval_n;
      if (key == "data_memory_mb") saved.data_memory_mb = config.data_memory_mb;
    }
    saved.out = config.out;
    config = saved;
  }
  Run run(std::move(config), resume, options);
  return run.go();
}

}  // namespace duel::gan
