// duel chart --metric KEY --run NAME=DIR [--run NAME=DIR]... --out FILE.svg [--log-y] [--title T]
// One metric of several runs (their metrics.jsonl, from duel train or duel lab) on one chart.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "gan/files.h"
#include "gan/report.h"
#include "gan/svg.h"

namespace duel::cli {

namespace {
const Command kChart{"chart",
                     "Plots one metric of each run's metrics.jsonl (from duel train or duel lab) against step (or\n"
                     "--x KEY) as an SVG line chart.",
                     "",
                     0,
                     0,
                     {text_flag("metric", "KEY", "the metrics.jsonl field to plot (required)"),
                      repeatable(text_flag("run", "NAME=DIR", "a run to plot, with its legend name")),
                      text_flag("out", "FILE.svg", "the chart (required; SVG)"),
                      switch_flag("log-y", "logarithmic y axis"), text_flag("title", "T", "the chart's title", "KEY"),
                      text_flag("x", "KEY", "the field on the x axis", "step")},
                     ""};
}  // namespace

int cmd_chart(int argc, char** argv) {
  const Args args(kChart, argc, argv, 2);
  if (args.help()) return print_help(kChart);
  const std::string metric = args.required("metric"), out = args.required("out"), xkey = args.get_or("x", "step");
  check_output_extension("chart", out, {".svg"}, "an SVG chart");
  const std::vector<std::string> runs = args.all("run");
  DUEL_CHECK(!runs.empty(), "chart: give at least one --run NAME=DIR");
  std::vector<gan::Series> series;
  for (const std::string& r : runs) {
    const size_t eq = r.find('=');
    DUEL_CHECK(eq != std::string::npos && eq > 0, "chart: --run expects NAME=DIR, got '", r, "'");
    const std::string path = r.substr(eq + 1) + "/metrics.jsonl";
    auto all = gan::read_metrics(path, xkey);
    DUEL_CHECK(all.count(metric), "chart: ", path, " has no '", metric, "' values");
    gan::Series s = all.at(metric);
    s.name = r.substr(0, eq);
    s.colour = gan::series_colour(series.size());
    DUEL_CHECK(!s.x.empty(), "chart: ", path, " has no '", metric, "' values");
    series.push_back(std::move(s));
  }
  gan::write_text_atomic(out, gan::svg_line_chart(args.get_or("title", metric), series, xkey, 640, 300,
                                                  args.has("log-y")) + "\n");
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace duel::cli
