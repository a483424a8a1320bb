// duel train: trains a GAN (see gan/trainer.h). Its flags are the run's settings
// (gan/train_config.h), with the ranges a run's config.json is held to.
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/step_graph.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

Command make_train_command() {
  Command c;
  c.name = "train";
  c.summary =
      "Trains a GAN on Fashion-MNIST, MNIST/IDX files, a folder of pictures or synthetic noise, writing\n"
      "metrics, sample grids and crash-safe checkpoints to --out DIR.";
  for (const gan::Setting& s : gan::train_settings()) {
    if (s.flag.empty()) continue;
    Flag f;
    switch (s.kind) {
      case gan::Setting::Kind::integer: f = int_flag(s.flag, s.value_name, s.help, s.range); break;
      case gan::Setting::Kind::real: f = real_flag(s.flag, s.value_name, s.help, s.range); break;
      case gan::Setting::Kind::boolean: f = switch_flag(s.flag, s.help); break;
      case gan::Setting::Kind::text:
        f = s.choices.empty() ? text_flag(s.flag, s.value_name, s.help) : choice_flag(s.flag, s.choices, s.help);
        break;
    }
    static const std::map<std::string, std::string> defaults{
        {"model", "dcgan28, or dcgan when a size or width is given"}, {"loss", "ns"}, {"data", "fashion-mnist"}, {"batch", "64"}, {"seed", "0"},
        {"log-every", "10"}, {"sample-every", "0"}, {"checkpoint-every", "0"}, {"eval-every", "0"},
        {"eval-n", "2000"}, {"device", "cpu"}, {"critic-norm", "none for wgan-gp, else batchnorm"},
        {"channels", "1 for dcgan28 and gray data sets, else 3"}, {"image-size", "64 for dcgan"},
        {"ngf", "64"}, {"ndf", "64"}, {"nz", "100"}, {"upsample", "convT"}, {"background", "white"},
        {"data-memory", "a quarter of this machine's memory, or DUEL_DATA_MEMORY_MB"}, {"n-critic", "5 for wgan and wgan-gp, else 1"},
        {"lr-g", "2e-4; wgan-gp 1e-4; wgan 5e-5"}, {"lr-d", "2e-4; wgan-gp 1e-4; wgan 5e-5"},
        {"beta1", "0.5; wgan-gp 0"}, {"beta2", "0.999; wgan-gp 0.9"}, {"gp-lambda", "10"}, {"clip", "0.01"},
        {"math", "tf32 on cuda, fp32 on the cpu"}};
    if (auto it = defaults.find(s.flag); it != defaults.end()) f.default_text = it->second;
    c.flags.push_back(f);
    if (s.key == "steps")
      c.flags.push_back(int_flag("epochs", "E", "or: passes of the critic over the data", Range::ints(1, 1e6)));
  }
  c.flags.push_back(text_flag("out", "DIR", "the run's folder (required)"));
  c.flags.push_back(switch_flag("resume", "continue the run in --out from its checkpoint"));
  c.flags.push_back(int_flag("threads", "T", "CPU threads (0: one per core); results do not depend on it",
                             Range::ints(0, 1024), "0"));
  c.flags.push_back(switch_flag("anomaly", "on a NaN or infinity, name the op that made it (slower)"));
  c.flags.push_back(choice_flag("cuda-graph", {"on", "off"},
                                "on cuda, each step as one CUDA graph (captured once, then replayed)",
                                "on for cuda where the run allows it"));
  c.details =
      "--model dcgan: the DCGAN family at --image-size S (16, 32, 64, 128, 256, or 28) with widths\n"
      "--ngf/--ndf and latent size --nz, as the PyTorch DCGAN example's --imageSize/--ngf/--ndf/--nz;\n"
      "giving a size or width implies --model dcgan. dcgan28 (28x28) and dcgan64 (64x64) are its\n"
      "named configurations with ngf = ndf = 64. --upsample nearest: the generator doubles its\n"
      "resolution by nearest-neighbour upsampling and a 3x3 convolution instead of a transposed\n"
      "convolution (no checkerboard artefacts).\n"
      "--ema DECAY keeps an exponential moving average of G (decay min(DECAY, (1+t)/(10+t)) at step t),\n"
      "updated after every generator step, its batch-norm statistics recomputed for its own weights;\n"
      "saved as checkpoint/G_ema.safetensors and used by the sample grids, --eval-every, duel sample\n"
      "and duel eval (--no-ema there to compare). --init-from DIR starts G and D from another run's\n"
      "checkpoint (same architecture) with fresh optimisers.\n"
      "folder:DIR reads PNG and JPEG pictures in DIR and below, centre-cropped and resized to the\n"
      "model's size; transparent pixels are composited onto --background; pictures that cannot be\n"
      "used are skipped and counted. With --conditional the first-level sub-folders are the classes.\n"
      "Pictures are kept in memory as bytes up to --data-memory MB (0 streams them all) and streamed\n"
      "from disk beyond it, on a background thread, with the same batches. --flip mirrors each real\n"
      "picture left to right with probability 1/2. samples/real.png shows the first batch.\n"
      "--math is the arithmetic of the convolutions and matmuls: tf32 (tensor cores, as PyTorch's cuDNN\n"
      "default) on cuda, fp32 on the cpu; bf16 (BF16 operands, FP32 sums) on cuda or a cpu with AVX512_BF16.\n"
      "A step is one generator update after n-critic critic updates. Defaults per loss: Adam lr 2e-4,\n"
      "betas 0.5/0.999; wgan-gp: Adam 1e-4, betas 0/0.9, lambda 10, 5 critic updates, critic-norm none;\n"
      "wgan: RMSProp 5e-5, clip 0.01, 5 critic updates. Writes DIR/metrics.jsonl,\n"
      "DIR/samples/step_NNNNNN.png and DIR/checkpoint/. --resume continues DIR's run: settings that\n"
      "change the run must match the checkpoint's; --steps and the intervals may change.\n"
      "Ctrl-C stops after the current step and writes a checkpoint; a second Ctrl-C stops at once,\n"
      "keeping the last complete checkpoint. Training stops with an error when a loss or weight\n"
      "becomes NaN or infinite, without overwriting the last good checkpoint.\n"
      "--cuda-graph: on cuda, each step (the critic updates, the generator update, both optimisers)\n"
      "runs as one CUDA graph: the first step eagerly, then captured once and replayed, bit for bit\n"
      "the same as eager steps. Not for --conditional or --anomaly (without the flag those run\n"
      "eagerly and say so). The logged values come back from the device a step or two late.";
  return c;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  static const Command kTrain = make_train_command();
  const Args args(kTrain, argc, argv, 2);
  if (args.help()) return print_help(kTrain);

  gan::TrainConfig c;
  c.optim = gan::defaults_for(gan::parse_loss(args.get_or("loss", "ns")));
  apply_model_flags(args, c.model);
  c.model.critic_norm = gan::parse_critic_norm(
      args.get_or("critic-norm", c.optim.loss == gan::LossKind::wgan_gp ? "none" : "batchnorm"));
  c.model.conditional = args.has("conditional");
  apply_optim_flags(args, c.optim);
  c.data = args.get_or("data", "fashion-mnist");
  // Gray for the gray presets and data sets, colour otherwise.
  const bool gray_data = c.data == "fashion-mnist" || c.data == "mnist" || c.data.rfind("idx:", 0) == 0;
  c.model.channels = args.get_int("channels", c.model.kind == gan::ModelKind::dcgan28 ||
                                                      (c.model.kind == gan::ModelKind::dcgan && gray_data) ? 1 : 3);
  c.batch = args.get_int("batch", 64);
  c.seed = uint64_t(args.get_int("seed", 0));
  c.steps = args.get_int("steps", 0);
  c.epochs = args.get_int("epochs", 0);
  DUEL_CHECK(!(args.has("steps") && args.has("epochs")), "train: give --steps or --epochs, not both");
  c.log_every = args.get_int("log-every", 10);
  c.sample_every = args.get_int("sample-every", 0);
  c.checkpoint_every = args.get_int("checkpoint-every", 0);
  c.eval_every = args.get_int("eval-every", 0);
  c.eval_n = args.get_int("eval-n", 2000);
  c.out = args.get_or("out", "");
  c.ema = args.get_double("ema", 0.0);
  c.init_from = args.get_or("init-from", "");
  c.background = args.get_or("background", "white");
  c.flip = args.has("flip");
  c.data_memory_mb = args.get_int("data-memory", -1);
  DUEL_CHECK(!c.out.empty(), "train: --out DIR is required (the run's folder)");
  c.device = parse_device(args.get_or("device", "cpu"));
  c.math = args.has("math") ? parse_math_mode(*args.get("math"))
                            : (c.device.is_cpu() ? MathMode::fp32 : MathMode::tf32);
  const bool resume = args.has("resume");
  DUEL_CHECK(resume || args.has("steps") || args.has("epochs"), "train: give --steps N or --epochs E");
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));

  // The flags given explicitly, by their config.json key (a resumed run checks them).
  std::map<std::string, std::string> overrides;
  for (const gan::Setting& s : gan::train_settings())
    if (!s.flag.empty() && args.has(s.flag)) overrides[s.flag] = s.key;
  if (args.has("epochs")) overrides["epochs"] = "epochs";
  gan::TrainOptions options;
  options.anomaly = args.has("anomaly");
  options.cuda_graph = gan::parse_cuda_graph(args.get("cuda-graph"));
  return gan::train(c, resume, overrides, options);
}

}  // namespace duel::cli
