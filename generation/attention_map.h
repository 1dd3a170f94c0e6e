// Attention heat maps: the weights a seq2seq decoder gave each source token while writing each
// output token, drawn as a PNG with gnuplot (Debian's gnuplot-nox) or returned as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace zoo::generation {

struct AttentionMap {
  std::vector<std::string> source;             // the source pieces, one per column
  std::vector<std::string> output;             // the generated pieces, one per row
  std::vector<std::vector<double>> weights;    // [output][source], each row summing to 1
};

// {"source": [...], "output": [...], "weights": [[...], ...]}.
nlohmann::json to_json(const AttentionMap& map);

// Writes `map` as a PNG heat map at `path` (titled `title`): source pieces along the bottom,
// output pieces down the side, darker is more attention. A missing gnuplot is a UserError
// saying how to install it; nothing is left at `path` if drawing fails.
void write_attention_png(const AttentionMap& map, const std::string& title, const std::string& path);

}  // namespace zoo::generation
