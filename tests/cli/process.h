// Runs the `zoo` binary from tests and captures its exit code, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace zoo::testing {

struct ProcessResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs `command` (a shell line) in `cwd`.
inline ProcessResult run_shell(const std::string& command, const std::filesystem::path& cwd) {
  auto out = cwd / ".stdout", err = cwd / ".stderr";
  std::string line = "cd '" + cwd.string() + "' && " + command + " >'" + out.string() + "' 2>'" + err.string() + "'";
  int status = std::system(line.c_str());
  ProcessResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = slurp(out);
  result.err = slurp(err);
  return result;
}

// The events of one kind ("train", "eval", "eval_metrics", ...) of a run's metrics.jsonl, in order.
inline std::vector<nlohmann::json> events(const std::filesystem::path& metrics, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto event = nlohmann::json::parse(line);
    if (event.value("event", "") == kind) out.push_back(event);
  }
  return out;
}

// A fresh temporary directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "zoo-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A small English-like corpus, enough for char-level training and validation windows.
inline void write_tiny_corpus(const std::filesystem::path& path, int lines = 400) {
  std::ofstream out(path);
  const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "in", "rain"};
  unsigned state = 7;
  for (int i = 0; i < lines; ++i) {
    for (int w = 0; w < 8; ++w) {
      state = state * 1103515245u + 12345u;
      out << words[(state >> 16) % 13] << (w == 7 ? ".\n" : " ");
    }
  }
}

// One training run a test suite shares: a temporary directory holding the tiny corpus as
// tiny.txt and `recipe` as `recipe_file`, trained once with `zoo train recipe_file`.
struct SharedRun {
  SharedRun(const std::string& recipe_file, const std::string& recipe, int corpus_lines) {
    write_tiny_corpus(dir.path() / "tiny.txt", corpus_lines);
    std::ofstream(dir.path() / recipe_file) << recipe;
    result = zoo("train " + recipe_file);
  }
  // `zoo ARGS` in the directory.
  ProcessResult zoo(const std::string& args) const { return run_shell(std::string(ZOO_BINARY) + " " + args, dir.path()); }

  TempDir dir;
  ProcessResult result;
};

}  // namespace zoo::testing
