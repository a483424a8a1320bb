#include "gan/trainer.h"

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <unistd.h>
#include <utility>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <cstring>
#include <sstream>

#include "core/autograd.h"
#include "core/config.h"
#include "core/cuda_backend.h"
#include "gan/data.h"
#include "gan/ema.h"
#include "gan/files.h"
#include "gan/image.h"
#include "gan/metrics.h"
#include "gan/swd.h"

namespace duel::gan {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------

std::string config_to_json(const TrainConfig& c) {
  json j;
  j["format"] = "duel-train-config-1";
  j["model"] = model_name(c.model.kind);
  j["image_size"] = c.model.image_size();
  j["ngf"] = c.model.g_width();
  j["ndf"] = c.model.d_width();
  j["upsample"] = upsample_name(c.model.upsample);
  j["critic_norm"] = critic_norm_name(c.model.critic_norm);
  j["conditional"] = c.model.conditional;
  j["channels"] = c.model.channels;
  j["nz"] = c.model.nz;
  j["num_classes"] = c.model.num_classes;
  j["loss"] = loss_name(c.optim.loss);
  j["lr_g"] = c.optim.lr_g;
  j["lr_d"] = c.optim.lr_d;
  j["beta1"] = c.optim.beta1;
  j["beta2"] = c.optim.beta2;
  j["n_critic"] = c.optim.n_critic;
  j["gp_lambda"] = c.optim.gp_lambda;
  j["clip"] = c.optim.clip;
  j["data"] = c.data;
  j["batch"] = c.batch;
  j["seed"] = c.seed;
  j["steps"] = c.steps;
  j["log_every"] = c.log_every;
  j["sample_every"] = c.sample_every;
  j["checkpoint_every"] = c.checkpoint_every;
  j["eval_every"] = c.eval_every;
  j["eval_n"] = c.eval_n;
  j["device"] = c.device.str();
  j["math"] = std::string(math_mode_name(c.math));
  j["ema"] = c.ema;
  j["init_from"] = c.init_from;
  j["background"] = c.background;
  j["flip"] = c.flip;
  j["data_memory_mb"] = c.data_memory_mb;
  return j.dump(2) + "\n";
}

TrainConfig config_from_json(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(source, ": not valid JSON (", e.what(), ")");
  }
  DUEL_CHECK(j.is_object() && j.value("format", "") == "duel-train-config-1", source,
             ": not a duel training config (format duel-train-config-1)");
  TrainConfig c;
  try {
    c.model.kind = parse_model(j.at("model").get<std::string>());
    // The family's size and widths; the named configurations fix theirs (and runs written before
    // the family existed have none of these fields).
    if (c.model.kind == ModelKind::dcgan) {
      c.model.size = j.at("image_size").get<int64_t>();
      c.model.ngf = j.at("ngf").get<int64_t>();
      c.model.ndf = j.at("ndf").get<int64_t>();
    }
    c.model.upsample = parse_upsample(j.value("upsample", std::string("convT")));
    c.model.critic_norm = parse_critic_norm(j.at("critic_norm").get<std::string>());
    c.model.conditional = j.at("conditional").get<bool>();
    c.model.channels = j.at("channels").get<int64_t>();
    c.model.nz = j.at("nz").get<int64_t>();
    c.model.num_classes = j.at("num_classes").get<int64_t>();
    c.optim.loss = parse_loss(j.at("loss").get<std::string>());
    c.optim.lr_g = j.at("lr_g").get<double>();
    c.optim.lr_d = j.at("lr_d").get<double>();
    c.optim.beta1 = j.at("beta1").get<double>();
    c.optim.beta2 = j.at("beta2").get<double>();
    c.optim.n_critic = j.at("n_critic").get<int64_t>();
    c.optim.gp_lambda = j.at("gp_lambda").get<double>();
    c.optim.clip = j.at("clip").get<double>();
    c.data = j.at("data").get<std::string>();
    c.batch = j.at("batch").get<int64_t>();
    c.seed = j.at("seed").get<uint64_t>();
    c.steps = j.at("steps").get<int64_t>();
    c.log_every = j.at("log_every").get<int64_t>();
    c.sample_every = j.at("sample_every").get<int64_t>();
    c.checkpoint_every = j.at("checkpoint_every").get<int64_t>();
    c.eval_every = j.value("eval_every", int64_t(0));
    c.eval_n = j.value("eval_n", int64_t(2000));
    c.device = parse_device(j.at("device").get<std::string>());
    c.math = parse_math_mode(j.value("math", std::string("fp32")));  // runs before math modes: fp32
    c.ema = j.value("ema", 0.0);
    c.init_from = j.value("init_from", std::string());
    c.background = background_name(parse_background(j.value("background", std::string("white"))));
    c.flip = j.value("flip", false);
    c.data_memory_mb = j.value("data_memory_mb", int64_t(-1));
    check_model_config(c.model);
  } catch (const json::exception& e) {
    fail(source, ": missing or mistyped field (", e.what(), ")");
  } catch (const Error& e) {
    fail(source, ": ", e.what());
  }
  return c;
}

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

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted.store(true); }

std::string fmt9(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "NaN" : (v > 0 ? "Infinity" : "-Infinity");
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

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

// Keeps the lines of metrics.jsonl up to `step` (a resumed run rewrites what came after its
// checkpoint).
void truncate_metrics(const std::string& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (json::parse(line).at("step").get<int64_t>() > step) break;
    } catch (const json::exception&) {
      break;  // a line cut by a crash ends the usable part
    }
    kept += line + "\n";
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

class Run {
 public:
  Run(TrainConfig cfg, bool resume) : cfg_(std::move(cfg)), resume_(resume) {}
  int go();

 private:
  void prepare_output();
  void load_checkpoint();
  void save_checkpoint();
  void log(int64_t step, const DStats& d, const GStats& g, bool with_eval);
  void prepare_evaluation();
  std::string evaluate_now(int64_t step);
  void progress(int64_t step, bool force);

  TrainConfig cfg_;
  bool resume_;
  Dataset data_;
  std::unique_ptr<Gan> gan_;
  std::unique_ptr<Gan> ema_;  // --ema: G's moving average (only its G is used)
  std::unique_ptr<GanStep> step_;
  std::unique_ptr<BatchLoader> loader_;
  Generator rng_;
  int64_t done_ = 0, start_step_ = 0, target_ = 0;
  Tensor fixed_z_, fixed_labels_;
  std::ofstream metrics_;
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

void Run::prepare_output() {
  DUEL_CHECK(!cfg_.out.empty(), "train: --out DIR is required");
  const std::string ckpt = cfg_.out + "/checkpoint";
  if (!resume_) {
    DUEL_CHECK(!fs::exists(ckpt) && !fs::exists(cfg_.out + "/metrics.jsonl"), "train: ", cfg_.out,
               " already holds a run; pass --resume to continue it, or choose another --out");
  }
  std::error_code ec;
  fs::create_directories(cfg_.out + "/samples", ec);
  DUEL_CHECK(!ec, "train: cannot create ", cfg_.out, "/samples: ", ec.message());
}

void Run::save_checkpoint() {
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
  for (auto& [n, t] : step_->opt_g().state()) state.emplace_back("opt_G." + n, t);
  for (auto& [n, t] : step_->opt_d().state()) state.emplace_back("opt_D." + n, t);
  save_safetensors(stage + "/train_state.safetensors", state, meta);
  write_text_atomic(stage + "/config.json", config_to_json(cfg_));
  replace_directory(stage, cfg_.out + "/checkpoint");
}

void Run::load_checkpoint() {
  const std::string ckpt = cfg_.out + "/checkpoint";
  nn::load_module(gan_->G(), ckpt + "/G.safetensors", "G");
  nn::load_module(gan_->D(), ckpt + "/D.safetensors", "D");
  if (ema_) nn::load_module(ema_->G(), ckpt + "/G_ema.safetensors", "G's moving average");
  const std::string state_path = ckpt + "/train_state.safetensors";
  const std::map<std::string, Tensor> s = load_safetensors_map(state_path);
  done_ = read_i64(s, "step", state_path);
  DUEL_CHECK(done_ >= 0, state_path, ": negative step");
  rng_.set_state(uint64_t(read_i64(s, "rng.seed", state_path)), uint64_t(read_i64(s, "rng.offset", state_path)));
  loader_->seek(read_i64(s, "data.epoch", state_path), read_i64(s, "data.position", state_path));
  std::map<std::string, Tensor> og, od;
  for (const auto& [n, t] : s) {
    if (n.rfind("opt_G.", 0) == 0) og[n.substr(6)] = t;
    if (n.rfind("opt_D.", 0) == 0) od[n.substr(6)] = t;
  }
  step_->opt_g().load_state(og, state_path + " (G optimiser)");
  step_->opt_d().load_state(od, state_path + " (D optimiser)");
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
  os << ",\"eval_of\":\"" << (ema_ ? "G_ema" : "G") << "\"," << swd_json_fields(sliced_wasserstein(swd_real_, m < cfg_.eval_n ? narrow(fake, 0, 0, m) : fake, cfg_.seed));
  if (!classifier_) return os.str();
  const EvalReport r = evaluate(test_features_, test_moments_, extract_features(*classifier_, fake), cfg_.seed);
  os << ",\"fid\":" << fmt9(r.fid) << ",\"kid\":" << fmt9(r.kid.mean) << ",\"kid_std\":" << fmt9(r.kid.std)
     << ",\"precision\":" << fmt9(r.pr.precision) << ",\"recall\":" << fmt9(r.pr.recall)
     << ",\"classifier_score\":" << fmt9(r.classifier_score) << ",\"class_entropy_bits\":"
     << fmt9(r.coverage.entropy_bits) << ",\"classes_covered\":" << r.coverage.classes_covered;
  return os.str();
}

void Run::log(int64_t step, const DStats& d, const GStats& g, bool with_eval) {
  const auto now = std::chrono::steady_clock::now();
  const double dt = std::chrono::duration<double>(now - t_log_).count();
  const double ips = dt > 0 ? double(images_since_log_) / dt : 0.0;
  const std::string extra = with_eval ? evaluate_now(step) : "";
  t_log_ = std::chrono::steady_clock::now();  // the evaluation's time is not training time
  images_since_log_ = 0;
  const LossKind k = cfg_.optim.loss;
  last_loss_d_ = d.loss.item();
  last_loss_g_ = g.loss.item();
  std::ostringstream os;
  os << "{\"step\":" << step << ",\"epoch\":"
     << fmt9(double(loader_->epoch()) + double(loader_->position()) / double(loader_->batches_per_epoch() * cfg_.batch))
     << ",\"loss_D\":" << fmt9(last_loss_d_) << ",\"loss_G\":" << fmt9(last_loss_g_);
  if (d.gp.defined()) os << ",\"gp\":" << fmt9(d.gp.item());
  os << ",\"D_x\":" << fmt9(mean_output(k, d.d_real)) << ",\"D_G_z\":" << fmt9(mean_output(k, d.d_fake))
     << ",\"D_G_z_after\":" << fmt9(mean_output(k, g.d_fake)) << ",\"grad_norm_G\":" << fmt9(global_norm(g.grads))
     << ",\"grad_norm_D\":" << fmt9(global_norm(d.grads)) << ",\"images_per_s\":" << fmt9(ips)
     << ",\"time_s\":" << fmt9(std::chrono::duration<double>(now - t0_).count()) << extra << "}\n";
  metrics_ << os.str();
  metrics_.flush();
  if (!tty_) {
    const double rate = double(step - start_step_) / std::max(1e-9, std::chrono::duration<double>(now - t0_).count());
    std::printf("step %lld/%lld  loss_D %.4f  loss_G %.4f  %.1f it/s  ETA %s\n", (long long)step,
                (long long)target_, last_loss_d_, last_loss_g_, rate,
                format_duration(double(target_ - step) / std::max(rate, 1e-9)).c_str());
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
  cuda_backend::check_usable(cfg_.device);
  check_math_device(cfg_.math, cfg_.device.is_cpu());
  set_math_mode(cfg_.math);
  DUEL_CHECK(cfg_.batch > 0, "train: --batch must be positive, got ", cfg_.batch);
  DUEL_CHECK(cfg_.ema >= 0 && cfg_.ema < 1, "train: --ema must be a decay in (0, 1), e.g. 0.999; got ", cfg_.ema);
  DUEL_CHECK(cfg_.log_every > 0, "train: --log-every must be positive, got ", cfg_.log_every);
  DUEL_CHECK(cfg_.sample_every >= 0 && cfg_.checkpoint_every >= 0, "train: --sample-every and "
             "--checkpoint-every must be >= 0");
  prepare_output();
  DUEL_CHECK(cfg_.data_memory_mb >= -1, "train: --data-memory must be >= 0 MB, got ", cfg_.data_memory_mb);
  DataOptions data_options;
  data_options.background = parse_background(cfg_.background);
  data_options.class_folders = cfg_.model.conditional;
  data_options.memory_budget = cfg_.data_memory_mb >= 0 ? cfg_.data_memory_mb << 20 : -1;
  data_ = load_dataset(cfg_.data, true, cfg_.model.channels, cfg_.model.image_size(), data_options);
  for (const std::string& note : data_.notes) std::fprintf(stderr, "duel: warning: %s\n", note.c_str());
  if (cfg_.model.conditional) {
    DUEL_CHECK(data_.labels.defined(), "train: --conditional needs labelled data; ", data_.description,
               " has no labels");
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
  step_ = std::make_unique<GanStep>(*gan_, cfg_.optim);
  if (resume_) load_checkpoint();
  DUEL_CHECK(done_ <= target_, "train: the checkpoint is at step ", done_, ", beyond --steps ", target_);
  start_step_ = done_;
  fixed_z_ = fixed_latents(64, cfg_.model.nz, cfg_.seed).to(cfg_.device);
  fixed_labels_ = grid_labels(64, cfg_.model);
  if (fixed_labels_.defined()) fixed_labels_ = fixed_labels_.to(cfg_.device);
  const std::string metrics_path = cfg_.out + "/metrics.jsonl";
  if (resume_) truncate_metrics(metrics_path, done_);
  metrics_.open(metrics_path, std::ios::app);
  DUEL_CHECK(metrics_.good(), "train: cannot open ", metrics_path);
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
              "%d CPU thread(s) -> %s\n",
              describe_model(cfg_.model).c_str(), loss_name(cfg_.optim.loss).c_str(), data_.description.c_str(),
              (long long)cfg_.batch, (long long)cfg_.optim.n_critic, (long long)done_ + 1, (long long)target_,
              num_threads(), cfg_.out.c_str());
  if (!data_.class_names.empty()) {
    std::string classes;
    for (size_t k = 0; k < data_.class_names.size(); ++k)
      classes += str_cat(k ? ", " : "", k, " ", data_.class_names[k]);
    std::printf("classes (the labels of --label): %s\n", classes.c_str());
  }
  std::fflush(stdout);
  g_interrupted.store(false);
  auto previous = std::signal(SIGINT, on_sigint);
  auto previous_term = std::signal(SIGTERM, on_sigint);  // kill: also checkpoint, then stop
  t0_ = t_log_ = last_bar_ = std::chrono::steady_clock::now();

  const bool wgan_gp = cfg_.optim.loss == LossKind::wgan_gp;
  int code = 0;
  while (done_ < target_) {
    DStats d;
    Tensor fake, labels;
    for (int64_t c = 0; c < cfg_.optim.n_critic; ++c) {
      const Batch batch = loader_->next();
      labels = cfg_.model.conditional ? batch.labels.to(cfg_.device) : Tensor();
      // Philox draws are bitwise the same on the host and the device.
      const Tensor z = randn({cfg_.batch, cfg_.model.nz, 1, 1}, rng_, DType::f32, cfg_.device);
      const Tensor eps = wgan_gp ? rand({cfg_.batch, 1, 1, 1}, rng_, DType::f32, cfg_.device) : Tensor();
      if (c + 1 == cfg_.optim.n_critic) {
        fake = gan_->generate(z, labels);  // with G's graph: the G update follows
      } else {
        NoGradGuard no_grad;
        fake = gan_->generate(z, labels);
      }
      d = step_->d_update(batch.images.to(cfg_.device), labels, fake, eps);
      images_since_log_ += cfg_.batch;
    }
    const GStats g = step_->g_update(fake, labels);
    // The decay ramps up as tf.train.ExponentialMovingAverage's with num_updates, so the
    // average forgets the random initial weights within the first few hundred steps.
    if (ema_) ema_update(ema_->G(), gan_->G(), std::min(cfg_.ema, double(1 + done_) / double(10 + done_)));
    ++done_;
    const bool last = done_ == target_;
    const bool eval_now = cfg_.eval_every > 0 && (done_ % cfg_.eval_every == 0 || last);
    if (done_ % cfg_.log_every == 0 || last || eval_now) log(done_, d, g, eval_now);
    if ((cfg_.sample_every > 0 && done_ % cfg_.sample_every == 0) || last) {
      char name[64];
      std::snprintf(name, sizeof name, "/samples/step_%06lld.png", (long long)done_);
      write_sample_grid(shown(), cfg_.out + name, fixed_z_, fixed_labels_);
    }
    const bool interrupted = g_interrupted.load();
    if ((cfg_.checkpoint_every > 0 && done_ % cfg_.checkpoint_every == 0) || last || interrupted) save_checkpoint();
    progress(done_, last);
    if (interrupted && !last) {
      if (tty_) std::fputc('\n', stderr);
      std::printf("interrupted: checkpoint written at step %lld; continue with --resume\n", (long long)done_);
      code = 130;
      break;
    }
  }
  std::signal(SIGINT, previous);
  std::signal(SIGTERM, previous_term);
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
  if (config) *config = c;
  if (used_ema) *used_ema = ema;
  return gan;
}

int train(TrainConfig config, bool resume, const std::map<std::string, std::string>& overrides) {
  if (resume) {
    DUEL_CHECK(!config.out.empty(), "train: --resume needs --out DIR");
    DUEL_CHECK(config.init_from.empty(), "train: --init-from starts a new run from another's weights; --resume "
               "continues ", config.out, " from its own checkpoint (give one of them)");
    const std::string ckpt = config.out + "/checkpoint";
    recover_directory(ckpt);
    DUEL_CHECK(fs::exists(ckpt + "/config.json"), "train: --resume: no checkpoint in ", ckpt);
    TrainConfig saved = config_from_json(read_text(ckpt + "/config.json"), ckpt + "/config.json");
    const std::string current = config_to_json(config);
    const json given = json::parse(current), have = json::parse(config_to_json(saved));
    for (const auto& [flag, key] : overrides) {
      if (key == "steps" || key == "log_every" || key == "sample_every" || key == "checkpoint_every" ||
          key == "epochs" || key == "eval_every" || key == "eval_n" || key == "data_memory_mb")
        continue;
      DUEL_CHECK(!given.contains(key) || given.at(key) == have.at(key), "train: --resume: --", flag, " ",
                 given.contains(key) ? given.at(key).dump() : "?", " differs from the checkpoint's ",
                 have.contains(key) ? have.at(key).dump() : "?");
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
  Run run(std::move(config), resume);
  return run.go();
}

}  // namespace duel::gan
