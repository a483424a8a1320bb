// duel train: trains a GAN (see gan/trainer.h).
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/config.h"
#include "gan/folder.h"
#include "gan/trainer.h"

namespace duel::cli {

namespace {

constexpr const char* kHelp =
    "usage: duel train --model dcgan28|dcgan64|dcgan --loss minimax|ns|wgan|wgan-gp|hinge|lsgan\n"
    "                  --data fashion-mnist|mnist|idx:DIR|folder:DIR (--steps N | --epochs E)\n"
    "                  --batch B --seed S --device cpu|cuda --out DIR [--resume]\n"
    "                  [--checkpoint-every K] [--sample-every K] [--log-every K (10)]\n"
    "                  [--critic-norm batchnorm|none|layernorm] [--conditional] [--channels C]\n"
    "                  [--lr-g LR] [--lr-d LR] [--beta1 B] [--beta2 B] [--n-critic N]\n"
    "                  [--gp-lambda L] [--clip C] [--threads T] [--eval-every K] [--eval-n N (2000)]\n"
    "                  [--math fp32|tf32|bf16] [--image-size S] [--ngf N] [--ndf N] [--nz N]\n"
    "                  [--upsample convT|nearest] [--ema DECAY] [--init-from DIR]\n"
    "                  [--flip] [--background white|black] [--data-memory MB]\n"
    "  --model dcgan: the DCGAN family at --image-size S (16, 32, 64, 128, 256, or 28; default 64)\n"
    "  with widths --ngf/--ndf (64) and latent size --nz (100), as the PyTorch DCGAN example's\n"
    "  --imageSize/--ngf/--ndf/--nz; giving one of these implies --model dcgan. dcgan28 (28x28)\n"
    "  and dcgan64 (64x64) are its named configurations with ngf = ndf = 64. --channels defaults to\n"
    "  1 for dcgan28 and MNIST-style data, else 3. --upsample nearest: the generator doubles its\n"
    "  resolution by nearest-neighbour upsampling and a 3x3 convolution instead of a transposed\n"
    "  convolution (no checkerboard artefacts).\n"
    "  --ema DECAY keeps an exponential moving average of G (e.g. 0.999; min(DECAY, (1+t)/(10+t))\n"
    "  at step t), updated after every generator step, saved as checkpoint/G_ema.safetensors and\n"
    "  used by the sample grids,\n"
    "  --eval-every, duel sample and duel eval (--no-ema there to compare); its batch-norm\n"
    "  statistics are recomputed for its own weights. --init-from DIR starts G and D from another\n"
    "  run's checkpoint (same architecture) with fresh optimisers.\n"
    "  folder:DIR reads PNG/JPEG/BMP pictures in DIR and below, centre-cropped and resized to the\n"
    "  model's size; transparent pixels are composited onto --background (white); pictures that\n"
    "  cannot be decoded are skipped and counted. With --conditional the first-level sub-folders are\n"
    "  the classes. Pictures are kept in memory as bytes up to --data-memory MB (default a quarter of\n"
    "  this machine's memory; 0 streams them all) and streamed from disk beyond it, on a background\n"
    "  thread, with the same batches. --flip mirrors\n"
    "  each real image left to right with probability 1/2. samples/real.png shows the first batch.\n"
    "  --math: the arithmetic of the convolutions and matmuls; tf32 (tensor cores, as PyTorch's\n"
    "  cuDNN default) on cuda, fp32 on the cpu, which has no other mode yet.\n"
    "  A step is one generator update after n-critic critic updates (5 for wgan and wgan-gp,\n"
    "  else 1). Defaults: Adam lr 2e-4, betas 0.5/0.999; wgan-gp: Adam 1e-4, betas 0/0.9,\n"
    "  lambda 10, critic-norm none; wgan: RMSProp 5e-5, clip 0.01. Writes DIR/metrics.jsonl,\n"
    "  DIR/samples/step_NNNNNN.png and DIR/checkpoint/. --resume continues DIR's run.\n"
    "  --eval-every K adds to metrics.jsonl the sliced Wasserstein distance (swd, x 1e3) of N\n"
    "  generated images against N training images, for any data; and for 28x28 gray images the\n"
    "  Frechet distance, KID, precision/recall, classifier score and class coverage in the features\n"
    "  of the Fashion-MNIST classifier against its test set.";

}  // namespace

int cmd_train(int argc, char** argv) {
  const Args args("train", argc, argv, 2,
                  {"model", "loss", "data", "steps", "epochs", "batch", "seed", "device", "out", "checkpoint-every",
                   "sample-every", "log-every", "critic-norm", "channels", "lr-g", "lr-d", "beta1", "beta2",
                   "n-critic", "gp-lambda", "clip", "threads", "eval-every", "eval-n", "math", "image-size",
                   "ngf", "ndf", "nz", "upsample", "ema", "init-from", "background", "data-memory"},
                  {"resume", "conditional", "help", "flip"});
  if (args.has("help")) {
    std::puts(kHelp);
    return 0;
  }
  DUEL_CHECK(args.positional().empty(), "train: unexpected argument '", args.positional().empty() ? "" : args.positional()[0], "'");
  if (args.has("threads")) set_num_threads(int(args.get_int("threads", 0)));

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
  const int64_t seed = args.get_int("seed", 0);
  DUEL_CHECK(seed >= 0, "train: --seed must be >= 0, got ", seed);
  c.seed = uint64_t(seed);
  c.steps = args.get_int("steps", 0);
  c.epochs = args.get_int("epochs", 0);
  DUEL_CHECK(!(args.has("steps") && args.has("epochs")), "train: give --steps or --epochs, not both");
  DUEL_CHECK(c.steps >= 0 && c.epochs >= 0, "train: --steps and --epochs must be positive");
  c.log_every = args.get_int("log-every", 10);
  c.sample_every = args.get_int("sample-every", 0);
  c.checkpoint_every = args.get_int("checkpoint-every", 0);
  c.eval_every = args.get_int("eval-every", 0);
  c.eval_n = args.get_int("eval-n", 2000);
  DUEL_CHECK(c.eval_every >= 0 && c.eval_n >= 10, "train: --eval-every must be >= 0 and --eval-n >= 10");
  c.out = args.get_or("out", "");
  c.ema = args.get_double("ema", 0.0);
  DUEL_CHECK(!args.has("ema") || (c.ema > 0 && c.ema < 1), "train: --ema must be a decay in (0, 1), e.g. 0.999; got ",
             c.ema);
  c.init_from = args.get_or("init-from", "");
  c.background = gan::background_name(gan::parse_background(args.get_or("background", "white")));
  c.flip = args.has("flip");
  c.data_memory_mb = args.get_int("data-memory", -1);
  DUEL_CHECK(!args.has("data-memory") || c.data_memory_mb >= 0, "train: --data-memory must be >= 0 MB (0 streams "
             "every picture from disk), got ", c.data_memory_mb);
  c.device = parse_device(args.get_or("device", "cpu"));
  c.math = args.has("math") ? parse_math_mode(*args.get("math"))
                            : (c.device.is_cpu() ? MathMode::fp32 : MathMode::tf32);
  const bool resume = args.has("resume");
  DUEL_CHECK(resume || args.has("steps") || args.has("epochs"), "train: give --steps N or --epochs E");

  // The flags given explicitly, by their config.json key (a resumed run checks them).
  static const std::map<std::string, std::string> keys{
      {"model", "model"}, {"loss", "loss"}, {"data", "data"}, {"batch", "batch"}, {"seed", "seed"},
      {"device", "device"}, {"critic-norm", "critic_norm"}, {"conditional", "conditional"},
      {"channels", "channels"}, {"lr-g", "lr_g"}, {"lr-d", "lr_d"}, {"beta1", "beta1"}, {"beta2", "beta2"},
      {"n-critic", "n_critic"}, {"gp-lambda", "gp_lambda"}, {"clip", "clip"}, {"steps", "steps"},
      {"epochs", "epochs"}, {"log-every", "log_every"}, {"sample-every", "sample_every"},
      {"checkpoint-every", "checkpoint_every"}, {"eval-every", "eval_every"}, {"eval-n", "eval_n"},
      {"math", "math"}, {"image-size", "image_size"}, {"ngf", "ngf"}, {"ndf", "ndf"}, {"nz", "nz"},
      {"upsample", "upsample"}, {"ema", "ema"}, {"background", "background"}, {"flip", "flip"},
      {"data-memory", "data_memory_mb"}};
  std::map<std::string, std::string> overrides;
  for (const auto& [flag, key] : keys)
    if (args.has(flag)) overrides[flag] = key;
  return gan::train(c, resume, overrides);
}

}  // namespace duel::cli
