// metrics.jsonl, one JSON object a line: the checked writer a run appends to, and the tolerant
// line parser every reader (resume, report, chart) uses.
//
// Numbers that are not finite are written as null, so every line is valid JSON. A line is written
// with one write(2); if the disk refuses part of it, the file is cut back to the line's start and
// the write is retried a few times (a full disk may be freed a moment later) before the run fails
// with one line naming the file: a log is never silently shortened or spliced.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace duel::gan {

// A JSON number, or null when `v` is NaN or infinite; 9 significant digits.
std::string json_number(double v);

// Parses one line of metrics.jsonl. Lines written before non-finite values became null hold bare
// NaN / Infinity / -Infinity tokens; those read as null. False for anything that is not a JSON
// object.
bool parse_metrics_line(const std::string& line, nlohmann::json* out);

class MetricsLog {
 public:
  MetricsLog() = default;
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // Opens `path` for appending (creating it); throws naming the path.
  void open(const std::string& path);
  // Appends `line` (a newline is added); throws naming the path when the disk keeps refusing.
  void append(const std::string& line);
  // fsync: the lines so far survive a crash of the machine.
  void sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace duel::gan
