// `zoo generate`: decoding flags over the recipe's generation section, text, stream or JSON out.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace zoo::cli {

struct GenerateCommand {
  std::string run_dir, checkpoint = "latest", device, base;
  std::optional<std::string> prompt, prompt_file, preset, strategy, torchscript, attention_map;
  std::optional<int64_t> max_new_tokens, top_k, beams, num_return, no_repeat_ngram, seed;
  std::optional<double> temperature, top_p, min_p, typical_p, repetition_penalty, length_penalty;
  std::vector<std::string> stop;
  bool stream = false, json = false;

  CLI::App* add_to(CLI::App& app);
  void run() const;
};

}  // namespace zoo::cli
