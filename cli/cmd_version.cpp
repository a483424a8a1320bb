// duel version (also duel --version): the version and the backends this build has.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/device.h"

namespace duel::cli {

namespace {
const Command kVersion{"version", "Prints the version and the backends this build has (also `duel --version`).", "", 0, 0,
                       {}, ""};
}  // namespace

int cmd_version(int argc, char** argv) {
  const Args args(kVersion, argc, argv, 2);
  if (args.help()) return print_help(kVersion);
  std::printf("duel %s (CPU: reference + fast paths; CUDA: %s, %d GPU(s) visible)\n", DUEL_VERSION,
              cuda_built() ? "kernels compiled" : "not built", cuda_device_count());
  return 0;
}

}  // namespace duel::cli
