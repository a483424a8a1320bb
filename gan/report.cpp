#include "gan/report.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "gan/files.h"
#include "gan/metrics_log.h"
#include "gan/svg.h"
#include "gan/train_config.h"

namespace duel::gan {

namespace fs = std::filesystem;

namespace {

std::string base64(const std::string& bytes) {
  static const char* kTable = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = uint8_t(bytes[i]), b1 = i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) : 0,
                   b2 = i + 2 < bytes.size() ? uint8_t(bytes[i + 2]) : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kTable[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kTable[v & 63] : '=';
  }
  return out;
}

// Whether a setting of the run's config.json changes anything in this run: the penalty weight
// only with wgan-gp, clipping only with wgan, Adam's beta1 not with wgan (RMSProp), classes only
// for a conditional model, the evaluation size only when it evaluates.
bool applies(const std::string& key, const nlohmann::json& c) {
  const std::string loss = c.value("loss", "");
  if (key == "gp_lambda") return loss == "wgan-gp";
  if (key == "clip") return loss == "wgan";
  if (key == "beta1") return loss != "wgan";
  if (key == "num_classes") return c.value("conditional", false);
  if (key == "eval_n") return c.value("eval_every", 0) > 0;
  return true;
}

// The run's settings as a table: the flag that sets each, its value, what it means.
std::string settings_table(const std::string& config_path) {
  nlohmann::json c;
  try {
    (void)config_from_json(read_text(config_path), config_path);  // the same checks as --resume
    c = nlohmann::json::parse(read_text(config_path));
  } catch (const Error& e) {
    return "<p>" + html_escape(e.what()) + "</p>";
  }
  std::ostringstream t;
  t << "<table class=\"settings\">";
  for (const Setting& s : train_settings()) {
    if (!c.contains(s.key) || !applies(s.key, c)) continue;
    std::string value = c[s.key].is_string() ? c[s.key].get<std::string>() : c[s.key].dump();
    if (s.key == "beta2" && c.value("loss", "") == "wgan") value += " (RMSProp's decay)";
    t << "<tr><td><code>" << html_escape(s.flag.empty() ? s.key : "--" + s.flag) << "</code></td><td>"
      << html_escape(value) << "</td><td>" << html_escape(s.help) << "</td></tr>";
  }
  t << "</table>";
  return t.str();
}

}  // namespace

std::map<std::string, Series> read_metrics(const std::string& path, const std::string& x_key) {
  std::ifstream in(path);
  DUEL_CHECK(in.good(), "cannot read ", path);
  std::map<std::string, Series> series;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  int line_no = 0;
  for (const std::string& line : lines) {
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j;
    if (!parse_metrics_line(line, &j)) {
      // A last line cut by a crash is what a crash leaves; anything else is damage to report.
      if (size_t(line_no) == lines.size()) break;
      fail(path, " line ", line_no, " is not a JSON object");
    }
    if (!j.contains(x_key) || !j[x_key].is_number()) continue;
    const double x = j[x_key].get<double>();
    for (auto& [key, value] : j.items()) {
      if (key == x_key || !value.is_number()) continue;
      Series& s = series[key];
      s.name = key;
      s.x.push_back(x);
      s.y.push_back(value.get<double>());
    }
  }
  return series;
}

std::string write_report(const std::string& dir, const std::string& out) {
  const std::string metrics_path = dir + "/metrics.jsonl";
  DUEL_CHECK(fs::exists(metrics_path), "report: ", dir, " has no metrics.jsonl (is it a duel train output directory?)");
  std::map<std::string, Series> series = read_metrics(metrics_path);
  DUEL_CHECK(!series.empty(), "report: ", metrics_path, " holds no metrics yet");
  // Noisy curves (GAN losses are) are drawn smoothed, with the logged values faint behind them.
  auto chart = [&](const std::string& title, const std::vector<std::string>& keys, bool log_y = false) {
    std::vector<Series> chosen;
    int window = 1;
    for (const std::string& k : keys)
      if (series.count(k)) window = std::max(window, int(series[k].x.size() / 25) | 1);
    size_t colour = 0;
    for (const std::string& k : keys) {
      if (!series.count(k)) continue;
      Series s = series[k];
      s.colour = series_colour(colour++);
      if (window > 1) {
        Series raw = s;
        raw.opacity = 0.25;
        raw.stroke_width = 1;
        raw.in_legend = false;
        chosen.push_back(raw);
        s = moving_average(s, window);
        s.stroke_width = 2;
      }
      chosen.push_back(s);
    }
    const std::string full_title = window > 1 ? title + " (mean of " + std::to_string(window) + " logged steps; faint: as logged)" : title;
    return chosen.empty() ? std::string() : "<div class=\"chart\">" + svg_line_chart(full_title, chosen, "step", 620, 280, log_y) + "</div>";
  };

  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset=\"utf-8\"><title>duel report: " << html_escape(dir)
       << "</title><style>body{font-family:sans-serif;margin:24px;max-width:1300px}.chart{display:inline-block;"
       << "margin:4px}pre{background:#f4f4f4;padding:8px;overflow:auto}.grid{display:inline-block;margin:6px;"
       << "text-align:center;font-size:12px}.grid img{border:1px solid #ccc;image-rendering:pixelated;width:256px}"
       << ".settings td{padding:2px 10px;vertical-align:top}.settings td:last-child{color:#666}"
       << "</style></head><body><h1>duel training run: " << html_escape(dir) << "</h1>";
  const std::string config_path = fs::exists(dir + "/checkpoint/config.json") ? dir + "/checkpoint/config.json" : dir + "/config.json";
  if (fs::exists(config_path)) html << "<h2>settings</h2>" << settings_table(config_path);
  const Series& steps = series.begin()->second;
  html << "<p>" << steps.x.size() << " logged steps, up to step " << steps.x.back() << ".</p><h2>training</h2>"
       << chart("losses", {"loss_D", "loss_G", "gp"}) << chart("critic outputs", {"D_x", "D_G_z", "D_G_z_after"})
       << chart("gradient norms (log scale)", {"grad_norm_G", "grad_norm_D"}, true) << chart("speed (images/s)", {"images_per_s"});
  if (series.count("fid")) {
    html << "<h2>judging the generator (Fashion-MNIST classifier features)</h2>" << chart("Frechet distance", {"fid"})
         << chart("KID", {"kid"}) << chart("precision and recall", {"precision", "recall"})
         << chart("classifier score", {"classifier_score"}) << chart("classes covered (of 10)", {"classes_covered"});
  }
  if (series.count("swd"))
    html << "<h2>judging the generator (sliced Wasserstein distance, x 1e3)</h2>" << chart("SWD", {"swd"});
  std::vector<fs::path> grids;
  if (fs::exists(dir + "/samples"))
    for (const auto& e : fs::directory_iterator(dir + "/samples"))
      if (e.path().extension() == ".png" && e.path().filename() != "real.png") grids.push_back(e.path());
  if (fs::exists(dir + "/samples/real.png"))
    html << "<h2>the first real batch, as the networks see it</h2><div class=\"grid\"><img alt=\"real.png\" "
         << "src=\"data:image/png;base64," << base64(read_text(dir + "/samples/real.png")) << "\"></div>";
  std::sort(grids.begin(), grids.end());
  if (!grids.empty()) {
    // At most 12 grids, evenly spaced, always including the last.
    std::vector<fs::path> shown;
    const size_t n = std::min<size_t>(12, grids.size());
    for (size_t i = 0; i < n; ++i) shown.push_back(grids[(grids.size() - 1) * i / std::max<size_t>(1, n - 1)]);
    shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
    html << "<h2>samples (fixed latent vectors)</h2>";
    for (const fs::path& p : shown)
      html << "<div class=\"grid\"><img alt=\"" << html_escape(p.filename().string()) << "\" src=\"data:image/png;base64,"
           << base64(read_text(p.string())) << "\"><br>" << html_escape(p.stem().string()) << "</div>";
  }
  html << "<p><small>written by duel report</small></p></body></html>\n";
  const std::string path = out.empty() ? dir + "/report.html" : out;
  write_text_atomic(path, html.str());
  return path;
}

}  // namespace duel::gan
