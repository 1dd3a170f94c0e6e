// Run logging: one JSON object per event in metrics.jsonl, and a console progress line.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

namespace zoo {

// Appends events to metrics.jsonl, flushed per event so a crash loses at most the last line.
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path);
  void write(const std::string& event, nlohmann::json fields);

 private:
  std::ofstream out_;
};

// "step 120/2000 | loss 2.1345 | lr 9.6e-04 | 45.2k tok/s | ETA 3m12s": rewritten in place on a
// terminal, printed as plain lines otherwise (logs, CI).
class ProgressLine {
 public:
  explicit ProgressLine(FILE* stream = stderr);
  void update(const std::string& text);
  // Ends the in-place line so other messages start on a fresh one.
  void break_line();

 private:
  FILE* stream_;
  bool interactive_;
  size_t last_width_ = 0;
};

std::string format_duration(double seconds);
std::string format_count(double value);  // 45200 -> "45.2k"

}  // namespace zoo
