// duel report DIR [--out FILE]
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gan/report.h"

namespace duel::cli {

namespace {
const Command kReport{"report",
                      "One self-contained HTML page for the training run in DIR: its settings, curves, sample\n"
                      "grids and evaluations.",
                      "DIR",
                      1,
                      1,
                      {text_flag("out", "FILE.html", "where to write the page", "DIR/report.html")},
                      ""};
}  // namespace

int cmd_report(int argc, char** argv) {
  const Args args(kReport, argc, argv, 2);
  if (args.help()) return print_help(kReport);
  if (auto out = args.get("out")) check_output_extension("report", *out, {".html", ".htm"}, "an HTML page");
  const std::string path = gan::write_report(args.positional()[0], args.get_or("out", ""));
  std::printf("wrote %s\n", path.c_str());
  return 0;
}

}  // namespace duel::cli
