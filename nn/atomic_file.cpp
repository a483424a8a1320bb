#include "nn/atomic_file.h"

#include <cstdint>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace duel {

namespace {

std::string errno_text(int error) { return std::generic_category().message(error); }

// The temporary file: closed and removed on every path that does not reach the rename.
struct TemporaryFile {
  std::string path;
  int fd = -1;
  bool renamed = false;
  ~TemporaryFile() {
    if (fd >= 0) ::close(fd);
    if (!renamed) ::unlink(path.c_str());
  }
};

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  // Same directory as the target, so the rename cannot cross filesystems. O_EXCL with a name
  // unique to this process and call; the loop only matters if a crashed run left one behind.
  static std::atomic<uint64_t> calls{0};
  TemporaryFile temp;
  for (int attempt = 0; temp.fd < 0; ++attempt) {
    temp.path = str_cat(path, ".tmp.", ::getpid(), ".", calls++);
    temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (temp.fd < 0 && (errno != EEXIST || attempt == 100)) {
      const int error = errno;
      temp.renamed = true;  // nothing of ours to remove
      fail(path, ": cannot create temporary file \"", temp.path, "\": ", errno_text(error));
    }
  }
  // write(2) may write less than asked or be interrupted; loop until all bytes are out.
  while (!bytes.empty()) {
    const ssize_t written = ::write(temp.fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      fail(path, ": cannot write \"", temp.path, "\": ", errno_text(errno));
    }
    bytes = bytes.subspan(static_cast<size_t>(written));
  }
  // fsync before the rename so a crash can never publish an empty file under the real name.
  if (::fsync(temp.fd) != 0) fail(path, ": fsync of \"", temp.path, "\" failed: ", errno_text(errno));
  const int fd = temp.fd;
  temp.fd = -1;
  if (::close(fd) != 0) fail(path, ": close of \"", temp.path, "\" failed: ", errno_text(errno));
  if (::rename(temp.path.c_str(), path.c_str()) != 0)
    fail(path, ": cannot rename \"", temp.path, "\" over it: ", errno_text(errno));
  temp.renamed = true;

  // The rename lives in the directory; until the directory is synced a crash may undo it.
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  // (Built in one expression: assigning "." to a string GCC 12 had just proven empty made it warn
  // -Wrestrict about an overlap that cannot happen.)
  const std::string directory = parent.empty() ? std::string(".") : parent.string();
  const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) fail(path, ": cannot open directory to fsync it: ", errno_text(errno));
  // EINVAL: the filesystem cannot sync directories (some network ones); nothing more to do.
  if (::fsync(dir_fd) != 0 && errno != EINVAL) {
    const int error = errno;
    ::close(dir_fd);
    fail(path, ": fsync of directory \"", directory, "\" failed: ", errno_text(error));
  }
  ::close(dir_fd);
}

}  // namespace duel
