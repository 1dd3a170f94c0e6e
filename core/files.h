// Whole-file reads and crash-safe writes, used wherever the project touches files.
#pragma once

#include <string>
#include <string_view>

namespace zoo {

// The file's bytes; a missing or unreadable file is a UserError naming it.
std::string read_file(const std::string& path);

// Writes `content` to `path` through `path.tmp` + fsync + rename: readers see the old file or
// the new one, never half of one.
void write_file_atomic(const std::string& path, const std::string& content);

// fsync a file or directory by path.
void fsync_path(const std::string& path);

// FNV-1a 64 of the bytes as 16 hex digits: a cache key that stays the same across runs and
// machines, not a security hash.
std::string content_hash(std::string_view bytes);
// content_hash of a file's bytes, read in blocks.
std::string file_hash(const std::string& path);

// Where derived files (trained tokenizers, extracted texts) are cached, created on first use:
// $ZOO_CACHE_DIR, else $XDG_CACHE_HOME/torchzoo, else $HOME/.cache/torchzoo.
std::string cache_dir();

}  // namespace zoo
