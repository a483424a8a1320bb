// Crash-safe file writes: the bytes go to a temporary file in the target's directory, which is
// fsynced, renamed over the target and the directory fsynced, so a crash leaves the old file or
// the new one, never a part of either. Every writer of run outputs (safetensors, JSON, PNG) uses
// this one function.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace duel {

// Errors start with `path` and name the failing step (create, write, fsync, rename).
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

}  // namespace duel
