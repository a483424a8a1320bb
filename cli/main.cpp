// duel: command-line entry point. Parses the subcommand and hands over; every failure ends
// with one line on stderr and a non-zero exit code.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli/commands.h"
#include "core/config.h"
#include "core/device.h"
#include "core/error.h"

namespace {

constexpr const char* kUsage =
    "duel: a tensor engine with its own autograd, CPU and CUDA kernels, for training GANs\n"
    "\n"
    "usage: duel <command> [flags]\n"
    "\n"
    "commands:\n"
    "  train       train a GAN (dcgan28 / dcgan64; ns, minimax, wgan, wgan-gp, hinge, lsgan)\n"
    "  sample      a grid of samples from a checkpoint\n"
    "  step        one training iteration on given weights and inputs, dumped for cross-checks\n"
    "  bench step  time whole training steps\n"
    "  classifier  train or evaluate the Fashion-MNIST feature network (train | eval)\n"
    "  eval        judge a generator: Frechet distance, KID, precision/recall, class coverage\n"
    "  lab         a 2D GAN experiment with frames and curves (ring8, grid25, spiral)\n"
    "  studio      the 2D GAN lab live in the browser, with the autograd graph of each step\n"
    "  chart       one metric of several runs on one SVG chart\n"
    "  graph       the autograd graph of one training iteration (Graphviz DOT)\n"
    "  report DIR  one self-contained HTML page for a training run\n"
    "  detect      catching fakes: train a real-vs-generated detector, the Fourier spectrum,\n"
    "              the generator fine-tuned against the detector (train | spectrum | attack)\n"
    "  demo        a tour: ops, the WGAN-GP penalty's double backward, gradient checks\n"
    "  ops         list the op table: inputs, attributes, devices, derivatives [--json]\n"
    "  gradcheck   float64 gradcheck and gradgradcheck of ops on their sample inputs\n"
    "              [--op NAME | --all] [--json] [--cpu-path fast|reference]\n"
    "  op NAME     run one op on tensors from a safetensors file\n"
    "              --in IN.safetensors --out OUT.safetensors [--attr key=value]...\n"
    "              [--backward] [--device cpu|cuda] [--cpu-path fast|reference]\n"
    "  version     print the version and the backends this build has\n"
    "\n"
    "Run `duel <command> --help` for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    if (command == "ops") return duel::cli::cmd_ops(argc, argv);
    if (command == "gradcheck") return duel::cli::cmd_gradcheck(argc, argv);
    if (command == "op") return duel::cli::cmd_op(argc, argv);
    if (command == "demo") return duel::cli::cmd_demo(argc, argv);
    if (command == "train") return duel::cli::cmd_train(argc, argv);
    if (command == "sample") return duel::cli::cmd_sample(argc, argv);
    if (command == "step") return duel::cli::cmd_step(argc, argv);
    if (command == "bench") return duel::cli::cmd_bench(argc, argv);
    if (command == "classifier") return duel::cli::cmd_classifier(argc, argv);
    if (command == "eval") return duel::cli::cmd_eval(argc, argv);
    if (command == "lab") return duel::cli::cmd_lab(argc, argv);
    if (command == "chart") return duel::cli::cmd_chart(argc, argv);
    if (command == "graph") return duel::cli::cmd_graph(argc, argv);
    if (command == "report") return duel::cli::cmd_report(argc, argv);
    if (command == "studio") return duel::cli::cmd_studio(argc, argv);
    if (command == "detect") return duel::cli::cmd_detect(argc, argv);
    if (command == "version" || command == "--version") {
      std::printf("duel %s (CPU: reference + fast paths; CUDA: %s, %d GPU(s) visible)\n", duel::version(),
                  duel::cuda_built() ? "kernels compiled" : "not built", duel::cuda_device_count());
      return 0;
    }
    std::fprintf(stderr, "duel: unknown command '%s' (run `duel help`)\n", command.c_str());
    return 2;
  } catch (const duel::Error& e) {
    std::fprintf(stderr, "duel: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duel: internal error: %s\n", e.what());
    return 1;
  }
}
