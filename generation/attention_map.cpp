#include "generation/attention_map.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace zoo::generation {

namespace fs = std::filesystem;

nlohmann::json to_json(const AttentionMap& map) {
  return {{"source", map.source}, {"output", map.output}, {"weights", map.weights}};
}

namespace {

// A piece as a gnuplot tic label: spaces made visible, quotes and backslashes escaped.
std::string tic_label(const std::string& piece) {
  if (piece == " ") return "\u2423";  // ␣
  std::string out;
  for (char c : piece) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string tics(const std::vector<std::string>& pieces) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i)
    out += fmt::format("{}\"{}\" {}", i ? ", " : "", tic_label(pieces[i]), i);
  return out;
}

}  // namespace

void write_attention_png(const AttentionMap& map, const std::string& title, const std::string& path) {
  if (map.weights.empty() || map.source.empty())
    throw UserError("--attention-map: nothing was generated, so there is no attention to draw");
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0)
    throw UserError("--attention-map: gnuplot is not installed; install it with bash scripts/setup.sh --no-build "
                    "(Debian package gnuplot-nox), or use --json for the matrix");
  const auto rows = static_cast<int64_t>(map.output.size()), columns = static_cast<int64_t>(map.source.size());
  // About 28 pixels a cell, within what a screen shows.
  const int64_t width = std::clamp<int64_t>(160 + 28 * columns, 360, 2400);
  const int64_t height = std::clamp<int64_t>(120 + 28 * rows, 300, 2400);
  const fs::path target = fs::absolute(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  const fs::path partial = target.string() + ".partial." + std::to_string(getpid());
  const fs::path script = fs::temp_directory_path() / ("zoo-attention-" + std::to_string(getpid()) + ".gp");
  {
    std::ofstream out(script);
    out << fmt::format("set terminal pngcairo size {},{} font \"DejaVu Sans,10\"\n", width, height);
    out << fmt::format("set output \"{}\"\n", tic_label(partial.string()));
    out << fmt::format("set title \"{}\"\n", tic_label(title));
    out << "set xlabel \"source\"\nset ylabel \"output\"\n";
    out << "set xtics (" << tics(map.source) << ")\n";
    out << "set ytics (" << tics(map.output) << ")\n";
    out << fmt::format("set xrange [-0.5:{}.5]\nset yrange [{}.5:-0.5]\n", columns - 1, rows - 1);
    out << "set palette grey negative\nset cbrange [0:1]\nset cblabel \"attention\"\n";
    out << "plot \"-\" matrix with image notitle\n";
    for (const auto& row : map.weights) {
      for (size_t j = 0; j < row.size(); ++j) out << (j ? " " : "") << fmt::format("{:.5f}", row[j]);
      out << "\n";
    }
    out << "e\n";
  }
  const std::string command = fmt::format("gnuplot '{}' 2>'{}.err'", script.string(), script.string());
  const int rc = std::system(command.c_str());
  std::error_code ignored;
  if (rc != 0 || !fs::exists(partial)) {
    std::ifstream err(script.string() + ".err");
    std::string first;
    std::getline(err, first);
    fs::remove(partial, ignored);
    fs::remove(script, ignored);
    fs::remove(script.string() + ".err", ignored);
    throw UserError("--attention-map " + path + ": gnuplot failed (" + first + ")");
  }
  fs::rename(partial, target);
  fs::remove(script, ignored);
  fs::remove(script.string() + ".err", ignored);
}

}  // namespace zoo::generation
