#include "gan/metrics_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <regex>
#include <system_error>
#include <thread>

#include "core/error.h"

namespace duel::gan {

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

bool parse_metrics_line(const std::string& line, nlohmann::json* out) {
  auto parse = [&](const std::string& text) {
    try {
      *out = nlohmann::json::parse(text);
      return out->is_object();
    } catch (const nlohmann::json::exception&) {
      return false;
    }
  };
  if (parse(line)) return true;
  // Older runs: a bare NaN or (-)Infinity as a value, after a colon.
  static const std::regex bare(R"((:\s*)(-?Infinity|NaN)(?=\s*[,}]))");
  const std::string fixed = std::regex_replace(line, bare, "$1null");
  return fixed != line && parse(fixed);
}

MetricsLog::~MetricsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void MetricsLog::open(const std::string& path) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd_ < 0) fail("cannot open ", path, " for appending: ", std::generic_category().message(errno));
}

void MetricsLog::append(const std::string& line) {
  const std::string text = line + "\n";
  constexpr int kTries = 5;  // over about 1.5 s: a moment for a full disk to be freed
  int error = 0;
  for (int attempt = 0; attempt < kTries; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      error = errno;
      continue;
    }
    const off_t start = st.st_size;
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n == ssize_t(text.size())) return;
    error = n < 0 ? errno : ENOSPC;  // a short write: the disk took only part of the line
    // Cut the part that did land, so the file never holds half a line to splice onto.
    if (n > 0 && ::ftruncate(fd_, start) != 0) error = errno;
  }
  fail("cannot write to ", path_, ": ", std::generic_category().message(error), " (after ", kTries,
       " tries); the log holds every line up to the previous one");
}

void MetricsLog::sync() {
  if (fd_ >= 0 && ::fsync(fd_) != 0 && errno != EINVAL)
    fail("cannot sync ", path_, ": ", std::generic_category().message(errno));
}

}  // namespace duel::gan
