// `duel report DIR`: one self-contained HTML page for a training run (no network, no files
// beside it): the configuration, curves of the losses, critic outputs, gradient norms, speed and
// (when evaluated) the distances, and the sample grids embedded as data URIs.
#pragma once

#include <string>

namespace duel::gan {

// Writes DIR/report.html (or `out` when given) and returns its path.
std::string write_report(const std::string& dir, const std::string& out = "");

}  // namespace duel::gan
