#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/error.h"

namespace zoo {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open file (check the path)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw UserError(path + ": read error");
  return bytes.str();
}

void fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot open " + path + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error("fsync failed on " + path);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + temp);
    out << content;
    out.flush();
    if (!out) throw std::runtime_error("write failed for " + temp + " (disk full?)");
  }
  fsync_path(temp);
  std::filesystem::rename(temp, path);
  auto parent = std::filesystem::path(path).parent_path();
  fsync_path(parent.empty() ? "." : parent.string());
}

namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t fnv1a(std::string_view bytes, uint64_t hash) {
  for (unsigned char c : bytes) hash = (hash ^ c) * kFnvPrime;
  return hash;
}

std::string hex16(uint64_t value) {
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[i] = digits[value & 15];
  return out;
}

}  // namespace

std::string content_hash(std::string_view bytes) { return hex16(fnv1a(bytes, kFnvOffset)); }

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open file (check the path)");
  uint64_t hash = kFnvOffset;
  std::string block(1 << 20, '\0');
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    hash = fnv1a(std::string_view(block.data(), static_cast<size_t>(in.gcount())), hash);
  }
  if (in.bad()) throw UserError(path + ": read error");
  return hex16(hash);
}

std::string cache_dir() {
  namespace fs = std::filesystem;
  fs::path dir;
  if (const char* zoo = std::getenv("ZOO_CACHE_DIR"); zoo && *zoo) dir = zoo;
  else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) dir = fs::path(xdg) / "torchzoo";
  else if (const char* home = std::getenv("HOME"); home && *home) dir = fs::path(home) / ".cache" / "torchzoo";
  else dir = fs::temp_directory_path() / "torchzoo-cache";
  std::error_code error;
  fs::create_directories(dir, error);
  if (error)
    throw UserError(dir.string() + ": cannot create the cache directory (" + error.message() +
                    "); set ZOO_CACHE_DIR to a writable directory");
  return dir.string();
}

}  // namespace zoo
