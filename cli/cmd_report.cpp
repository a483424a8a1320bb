// duel report DIR [--out FILE]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gan/report.h"

namespace duel::cli {

int cmd_report(int argc, char** argv) {
  const Args args("report", argc, argv, 2, {"out"}, {"help"});
  if (args.has("help") || args.positional().size() != 1) {
    std::puts("usage: duel report DIR [--out FILE]\n  One self-contained HTML page for the training run in DIR "
              "(DIR/report.html by default).");
    return args.has("help") ? 0 : 2;
  }
  const std::string path = gan::write_report(args.positional()[0], args.get_or("out", ""));
  std::printf("wrote %s\n", path.c_str());
  return 0;
}

}  // namespace duel::cli
