#include "gan/files.h"

#include <fcntl.h>
#include <span>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "nn/atomic_file.h"

namespace duel::gan {

namespace fs = std::filesystem;

namespace {
std::string parent_of(const std::string& path) {
  const fs::path p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}
}  // namespace

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // best effort: the data itself was fsynced
  ::fsync(fd);
  ::close(fd);
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, std::as_bytes(std::span<const char>(text)));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  DUEL_CHECK(in.good(), "cannot read ", path, ": ", std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void replace_directory(const std::string& staged, const std::string& target) {
  fsync_directory(staged);
  if (!fs::exists(target)) {
    DUEL_CHECK(std::rename(staged.c_str(), target.c_str()) == 0, "cannot move ", staged, " to ", target,
               ": ", std::strerror(errno));
    fsync_directory(parent_of(target));
    return;
  }
  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fsync_directory(parent_of(target));
    fs::remove_all(staged);  // now the old directory
    return;
  }
  // No atomic exchange on this file system: a three-step swap that recover_directory can finish.
  const std::string old = target + ".old";
  fs::remove_all(old);
  DUEL_CHECK(std::rename(target.c_str(), old.c_str()) == 0, "cannot move ", target, " aside: ", std::strerror(errno));
  DUEL_CHECK(std::rename(staged.c_str(), target.c_str()) == 0, "cannot move ", staged, " to ", target, ": ",
             std::strerror(errno));
  fsync_directory(parent_of(target));
  fs::remove_all(old);
}

void recover_directory(const std::string& target) {
  const std::string old = target + ".old";
  if (!fs::exists(target) && fs::exists(old)) {
    DUEL_CHECK(std::rename(old.c_str(), target.c_str()) == 0, "cannot restore ", target, " from ", old, ": ",
               std::strerror(errno));
  } else if (fs::exists(target) && fs::exists(old)) {
    fs::remove_all(old);
  }
}

}  // namespace duel::gan
