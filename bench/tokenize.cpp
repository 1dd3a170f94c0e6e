// Times SentencePiece encoding of a whole text, line by line as datasets tokenize it: the
// parallel encode_batch against a one-thread loop of encode() calls, in MB/s and tokens.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "core/runtime.h"
#include "tokenizers/sentencepiece.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// About `megabytes` of English-like text, the same on every run (so its tokenizer is cached):
// paragraphs of 40 to 160 words drawn with Zipf frequencies from 20,000 made-up words.
std::string generated_text(double megabytes) {
  std::mt19937 rng(2024);
  const char* const onsets[] = {"", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "w", "th", "st", "pr", "ch", "sh"};
  const char* const vowels[] = {"a", "e", "i", "o", "u", "ea", "ou", "ai"};
  const char* const codas[] = {"", "", "n", "r", "s", "t", "d", "ng", "ll", "st", "nd"};
  std::vector<std::string> words(20000);
  for (auto& word : words)
    for (int s = 0, syllables = 1 + static_cast<int>(rng() % 3); s < syllables; ++s)
      word += std::string(onsets[rng() % 20]) + vowels[rng() % 8] + codas[rng() % 11];
  std::vector<double> weights(words.size());
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / static_cast<double>(i + 1);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::string text;
  const auto target = static_cast<size_t>(megabytes * 1e6);
  while (text.size() < target) {
    const int length = 40 + static_cast<int>(rng() % 121);
    for (int w = 0; w < length; ++w) {
      std::string word = words[pick(rng)];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      text += word;
      text += w + 1 == length ? ".\n" : (rng() % 12 == 0 ? ", " : " ");
    }
  }
  return text;
}

// Lines with their "\n", as datasets hand them to encode_batch.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t begin = 0; begin < text.size();) {
    size_t end = text.find('\n', begin);
    end = end == std::string::npos ? text.size() : end + 1;
    lines.emplace_back(text, begin, end - begin);
    begin = end;
  }
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  zoo::prepare_process(argv);
  CLI::App app{"SentencePiece encoding benchmark: encode_batch (every core) against a one-thread encode() loop"};
  std::string input;
  double generated_mb = 6.0;
  zoo::tokenizers::SentencePieceOptions options;
  int repeat = 3;
  app.add_option("--input", input, "UTF-8 text to train on and encode; default: generated English-like text");
  app.add_option("--generated-mb", generated_mb, "size of the generated text in MB (without --input)")
      ->check(CLI::PositiveNumber);
  app.add_option("--vocab-size", options.vocab_size, "pieces in the vocabulary");
  app.add_option("--model-type", options.model_type, "bpe or unigram")->check(CLI::IsMember({"bpe", "unigram"}));
  app.add_option("--repeat", repeat, "timed runs of each (best reported)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    std::string text;
    const bool generated = input.empty();
    if (generated) {
      text = generated_text(generated_mb);
      input = (std::filesystem::temp_directory_path() / fmt::format("zoo-bench-tokenize-{}.txt", ::getpid())).string();
      std::ofstream(input, std::ios::binary) << text;
    } else {
      text = zoo::read_file(input);
    }
    const std::vector<std::string> lines = split_lines(text);
    const double megabytes = static_cast<double>(text.size()) / 1e6;
    fmt::print("input {}: {:.2f} MB, {} lines | {} hardware threads\n", input, megabytes, lines.size(),
               std::thread::hardware_concurrency());

    auto start = Clock::now();
    auto tokenizer = zoo::tokenizers::SentencePieceTokenizer::fit_file(options, input);
    fmt::print("tokenizer: {} {} pieces, ready in {:.2f} s (trained, or loaded from the cache)\n", options.model_type,
               tokenizer->vocab_size(), seconds_since(start));
    if (generated) std::filesystem::remove(input);

    double batch_best = 1e30;
    size_t tokens = 0;
    for (int r = 0; r < repeat; ++r) {
      start = Clock::now();
      const auto ids = tokenizer->encode_batch(lines);
      batch_best = std::min(batch_best, seconds_since(start));
      tokens = 0;
      for (const auto& line_ids : ids) tokens += line_ids.size();
    }
    double loop_best = 1e30;
    size_t loop_tokens = 0;
    for (int r = 0; r < repeat; ++r) {
      start = Clock::now();
      loop_tokens = 0;
      for (const auto& line : lines) loop_tokens += tokenizer->encode(line).size();
      loop_best = std::min(loop_best, seconds_since(start));
    }
    if (loop_tokens != tokens) {
      fmt::print(stderr, "encode_batch gave {} tokens, the encode() loop {}: they must agree\n", tokens, loop_tokens);
      return 1;
    }
    fmt::print("{:<32} {:>9} {:>9} {:>12} {:>12}\n", "best of " + std::to_string(repeat), "seconds", "MB/s", "tokens",
               "tokens/s");
    fmt::print("{:<32} {:>9.3f} {:>9.2f} {:>12} {:>12.0f}\n", "encode_batch (every core)", batch_best,
               megabytes / batch_best, tokens, static_cast<double>(tokens) / batch_best);
    fmt::print("{:<32} {:>9.3f} {:>9.2f} {:>12} {:>12.0f}\n", "encode() loop, one thread", loop_best,
               megabytes / loop_best, loop_tokens, static_cast<double>(loop_tokens) / loop_best);
    fmt::print("encode_batch is {:.1f}x the one-thread loop\n", loop_best / batch_best);
  } catch (const zoo::UserError& e) {
    fmt::print(stderr, "{}\n", e.what());
    return zoo::kExitUserError;
  }
  return 0;
}
