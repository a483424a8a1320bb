// Crash-safe file and directory updates for run outputs.
#pragma once

#include <string>

namespace duel::gan {

// write_file_atomic (nn/atomic_file.h) for text.
void write_text_atomic(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);  // throws naming the path

// Replaces directory `target` by the complete directory `staged` so that at every instant
// `target` is either the old directory or the new one: an atomic exchange (renameat2
// RENAME_EXCHANGE) where the file system supports it, otherwise rename to `target`.old, rename
// the staged one in, remove the old one (recover_directory finishes an interrupted sequence).
void replace_directory(const std::string& staged, const std::string& target);
// After a crash during replace_directory: if `target` is missing but `target`.old exists, put it
// back. Call before reading `target`.
void recover_directory(const std::string& target);

void fsync_directory(const std::string& dir);

}  // namespace duel::gan
