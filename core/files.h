// Whole-file reads and crash-safe writes, used wherever the project touches files.
#pragma once

#include <string>

namespace zoo {

// The file's bytes; a missing or unreadable file is a UserError naming it.
std::string read_file(const std::string& path);

// Writes `content` to `path` through `path.tmp` + fsync + rename: readers see the old file or
// the new one, never half of one.
void write_file_atomic(const std::string& path, const std::string& content);

// fsync a file or directory by path.
void fsync_path(const std::string& path);

}  // namespace zoo
