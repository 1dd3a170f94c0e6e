#include "core/files.h"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace zoo
