// `duel report DIR`: one self-contained HTML page for a training run (no network, no files
// beside it): the configuration, curves of the losses, critic outputs, gradient norms, speed and
// (when evaluated) the distances, and the sample grids embedded as data URIs.
#pragma once

#include <map>
#include <string>

#include "gan/svg.h"

namespace duel::gan {

// Every numeric key of a metrics.jsonl (duel train or duel lab) as a series against `x_key`
// (usually "step"); lines without x_key are skipped. Errors name the file and the line.
std::map<std::string, Series> read_metrics(const std::string& path, const std::string& x_key = "step");

// Writes DIR/report.html (or `out` when given) and returns its path.
std::string write_report(const std::string& dir, const std::string& out = "");

}  // namespace duel::gan
