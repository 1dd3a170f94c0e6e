// `zoo chat`: talk to a trained seq2seq chatbot, turn by turn, or run scripted conversations
// (datasets/chatbot.h) and count the ones whose last reply says what it should.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace zoo::cli {

struct ChatCommand {
  std::string run_dir, checkpoint = "best", device;
  std::optional<std::string> script;
  std::optional<int64_t> beams;
  bool json = false;

  CLI::App* add_to(CLI::App& app);
  void run() const;
};

}  // namespace zoo::cli
