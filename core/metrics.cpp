#include "core/metrics.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>

#include "core/error.h"

namespace zoo {

MetricsLog::MetricsLog(const std::string& path) : out_(path, std::ios::app) {
  if (!out_) throw UserError(path + ": cannot open for writing");
}

void MetricsLog::write(const std::string& event, nlohmann::json fields) {
  if (!out_.is_open()) return;
  fields["event"] = event;
  fields["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  out_ << fields.dump() << '\n';
  out_.flush();
}

ProgressLine::ProgressLine(FILE* stream) : stream_(stream), interactive_(isatty(fileno(stream))) {}

void ProgressLine::update(const std::string& text) {
  if (interactive_) {
    std::string padded = text;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    fmt::print(stream_, "\r{}", padded);
    last_width_ = text.size();
  } else {
    fmt::print(stream_, "{}\n", text);
  }
  std::fflush(stream_);
}

void ProgressLine::break_line() {
  if (interactive_ && last_width_ > 0) {
    fmt::print(stream_, "\n");
    last_width_ = 0;
  }
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

std::string format_count(double value) {
  if (value >= 1e6) return fmt::format("{:.2f}M", value / 1e6);
  if (value >= 1e3) return fmt::format("{:.1f}k", value / 1e3);
  return fmt::format("{:.0f}", value);
}

}  // namespace zoo
