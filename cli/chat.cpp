#include "cli/chat.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "core/error.h"
#include "core/runtime.h"
#include "datasets/chatbot.h"
#include "generation/text.h"
#include "trainers/loop.h"

namespace zoo::cli {

CLI::App* ChatCommand::add_to(CLI::App& app) {
  auto* command = app.add_subcommand(
      "chat", "talk to a trained chatbot (a line a turn, /reset starts over), or run --script conversations");
  command->add_option("run_dir", run_dir, "run directory (runs/NAME) of a seq2seq chatbot")->required();
  command->add_option("--checkpoint", checkpoint, "best, latest or step_N")->capture_default_str();
  command->add_option("--script", script, "conversations file ('> turn' lines, '= expected' closing each)");
  command->add_option("--beam", beams, "beam width (default: the recipe's generation)")->check(CLI::PositiveNumber);
  command->add_option("--device", device, "auto, cpu, cuda or cuda:N (default: the recipe's)");
  command->add_flag("--json", json, "with --script: the transcripts and the count as one JSON document");
  return command;
}

void ChatCommand::run() const {
  if (json && !script) throw UserError("zoo chat: --json reports scripted conversations; give --script FILE");
  if (json) log_to_stderr();
  configure_threads(0);
  auto loaded = trainers::load_run(run_dir, checkpoint, device);
  auto decoder = loaded.objective->decoder();
  if (!decoder || loaded.recipe.trainer.type != "seq2seq")
    throw UserError(fmt::format("zoo chat: {} trains a '{}' model; a chatbot is a seq2seq run (recipes/lstm_chatbot.yaml)",
                                run_dir, loaded.recipe.trainer.type));
  GenerationOptions options = loaded.recipe.generation;
  if (beams) {
    options.strategy = "beam";
    options.num_beams = *beams;
    options.num_return_sequences = 1;
  }
  const auto seed = static_cast<uint64_t>(loaded.recipe.seed);
  // The reply to the user's turns so far: the model reads them as datasets::chat_context joins them.
  auto reply = [&](const std::vector<std::string>& turns) {
    return generation::generate_text(*decoder, *loaded.tokenizer, {datasets::chat_context(turns)}, options, seed)[0][0].text;
  };

  if (!script) {
    std::vector<std::string> turns;
    for (std::string line; fmt::print("you: "), std::fflush(stdout), std::getline(std::cin, line);) {
      if (line == "/reset") {
        turns.clear();
        fmt::print("(a new conversation)\n");
        continue;
      }
      if (line.empty()) continue;
      turns.push_back(line);
      fmt::print("bot: {}\n", reply(turns));
    }
    fmt::print("\n");
    return;
  }

  auto conversations = datasets::read_conversations(*script);
  nlohmann::json transcripts = nlohmann::json::array();
  int64_t passed = 0, checked = 0;
  for (size_t c = 0; c < conversations.size(); ++c) {
    const auto& conversation = conversations[c];
    std::vector<std::string> turns;
    nlohmann::json transcript = nlohmann::json::array();
    std::string last;
    if (!json) fmt::print("--- conversation {}\n", c + 1);
    for (const auto& turn : conversation.turns) {
      turns.push_back(turn);
      last = reply(turns);
      transcript.push_back({{"user", turn}, {"bot", last}});
      if (!json) fmt::print("you: {}\nbot: {}\n", turn, last);
    }
    const bool has_check = !conversation.expected.empty();
    const bool ok = has_check && last.find(conversation.expected) != std::string::npos;
    checked += has_check;
    passed += ok;
    if (has_check && !json) fmt::print("{} the last reply {} '{}'\n", ok ? "ok:" : "FAIL:", ok ? "contains" : "lacks",
                                       conversation.expected);
    transcripts.push_back({{"turns", transcript}, {"expected", conversation.expected}, {"passed", ok}});
  }
  if (json) {
    fmt::print("{}\n", nlohmann::json{{"conversations", transcripts}, {"passed", passed}, {"checked", checked}}.dump());
  } else {
    fmt::print("{} of {} conversations: the last reply contains the expected text\n", passed, checked);
  }
}

}  // namespace zoo::cli
