// duel: command-line entry point. Finds the command in the table below and hands over; every
// failure ends with one line on stderr and a non-zero exit code.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/device.h"
#include "core/error.h"
#include "core/runtime.h"

namespace {

struct Entry {
  const char* name;     // as typed after `duel`
  const char* summary;  // one line for `duel help`
  int (*run)(int argc, char** argv);
};

// Every command. A new one: a cmd_*.cpp declaring its duel::cli::Command (cli/args.h), a line
// in cli/commands.h and a line here.
const std::vector<Entry>& commands() {
  using namespace duel::cli;
  static const std::vector<Entry> table{
      {"train", "train a GAN (dcgan28 / dcgan64; ns, minimax, wgan, wgan-gp, hinge, lsgan)", cmd_train},
      {"sample", "a grid of samples from a checkpoint (PNG or JPEG)", cmd_sample},
      {"eval", "judge a generator: Frechet distance, KID, precision/recall, class coverage", cmd_eval},
      {"report", "one self-contained HTML page for a training run", cmd_report},
      {"chart", "one metric of several runs on one SVG chart", cmd_chart},
      {"lab", "a 2D GAN experiment with frames and curves (ring8, grid25, spiral; lab dirac)", cmd_lab},
      {"studio", "the 2D GAN lab live in the browser, with the autograd graph of each step", cmd_studio},
      {"graph", "the autograd graph of one training iteration (SVG or Graphviz DOT)", cmd_graph},
      {"step", "one training iteration on given weights and inputs, dumped for cross-checks", cmd_step},
      {"bench", "time whole training steps (bench step)", cmd_bench},
      {"detect", "catching fakes: a detector, the spectrum, the attack (detect train | spectrum | attack)", cmd_detect},
      {"classifier", "train or evaluate the Fashion-MNIST feature network (classifier train | eval)", cmd_classifier},
      {"demo", "a tour: ops, the WGAN-GP penalty's double backward, gradient checks", cmd_demo},
      {"ops", "list the op table: inputs, attributes, devices, derivatives", cmd_ops},
      {"gradcheck", "float64 gradcheck and gradgradcheck of ops on their sample inputs", cmd_gradcheck},
      {"op", "run one op on tensors from a safetensors file", cmd_op},
      {"version", "the version and the backends this build has", cmd_version},
  };
  return table;
}

void print_usage(std::FILE* to) {
  std::fputs("duel: a tensor engine with its own autograd, CPU and CUDA kernels, for training GANs\n\n"
             "usage: duel <command> [flags]\n\ncommands:\n", to);
  for (const Entry& e : commands()) std::fprintf(to, "  %-11s %s\n", e.name, e.summary);
  std::fputs("\n`duel help <command>` or `duel <command> --help` shows a command's flags;\n"
             "`duel --version` prints the version.\n", to);
}

const Entry* find(const std::string& name) {
  for (const Entry& e : commands())
    if (name == e.name) return &e;
  return nullptr;
}

int unknown_command(const std::string& name) {
  std::vector<std::string> names;
  for (const Entry& e : commands()) names.push_back(e.name);
  const std::string guess = duel::cli::closest(name, names);
  std::string shown;
  for (char c : name.substr(0, 40)) shown += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  std::fprintf(stderr, "duel: unknown command '%s'%s\n", shown.c_str(),
               guess.empty() ? " (run `duel help` for the list)" : (" (did you mean " + guess + "?)").c_str());
  return 2;
}

int dispatch(int argc, char** argv) {
  const std::string command = argv[1];
  if (command == "--version" || command == "-V") return duel::cli::cmd_version(argc, argv);
  if (command == "help" || command == "--help" || command == "-h") {
    if (argc == 2 || command != "help") {
      print_usage(stdout);
      return 0;
    }
    // duel help CMD [SUB]: the same as duel CMD [SUB] --help
    const Entry* e = find(argv[2]);
    if (!e) return unknown_command(argv[2]);
    std::vector<char*> args{argv[0], argv[2]};
    if (argc > 3) args.push_back(argv[3]);
    static char help_flag[] = "--help";
    args.push_back(help_flag);
    args.push_back(nullptr);
    return e->run(int(args.size()) - 1, args.data());
  }
  const Entry* e = find(command);
  if (!e) return unknown_command(command);
  return e->run(argc, argv);
}

}  // namespace

int main(int argc, char** argv) {
  duel::prefer_short_openmp_wait(argv);  // may re-execute this program (core/runtime.h)
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  try {
    return dispatch(argc, argv);
  } catch (const duel::Error& e) {
    std::fprintf(stderr, "duel: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "duel: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duel: internal error: %s\n", e.what());
    return 1;
  }
}
