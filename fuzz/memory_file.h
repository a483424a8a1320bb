// The fuzz input as a file, for readers that take a path (IDX through zlib, pictures): one
// anonymous in-memory file (memfd), rewritten per input and named /proc/self/fd/N.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace duel::fuzz {

inline const std::string& memory_file(const uint8_t* data, size_t size) {
  static const int fd = [] {
    const int f = ::memfd_create("duel-fuzz", MFD_CLOEXEC);
    if (f < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    return f;
  }();
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, data, size, 0) != ssize_t(size)) std::abort();
  return path;
}

}  // namespace duel::fuzz
