// The `text` data type: random training windows and fixed validation windows of a token stream.
#include "datasets/text.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "core/files.h"
#include "core/metrics.h"
#include "datasets/examples.h"
#include "tokenizers/utf8.h"

namespace zoo::datasets {
namespace {

// The tokens of a text file: its token file when one is current, else tokenized now.
TokenStream load_tokens(const std::string& file, const tokenizers::Tokenizer& tokenizer,
                        const std::string& print, bool replace_invalid) {
  TokenStream stream;
  if (open_token_file(file, print, stream)) {
    spdlog::info("data: {}: {} tokens memory-mapped from {}", file, format_count(static_cast<double>(stream.size())),
                 token_file_path(file, print));
    return stream;
  }
  const std::string text = read_file(file);
  if (text.empty()) throw UserError(file + ": empty file; the text data type needs text to read");
  return TokenStream::from_ids(tokenize_text(text, file, tokenizer, replace_invalid), tokenizer.vocab_size());
}

// A window needs block_size+1 tokens, and at least two starts so training is not one window.
void require_tokens(int64_t tokens, int64_t block_size, const std::string& what) {
  if (tokens < block_size + 2)
    throw UserError(what + " has " + std::to_string(tokens) + " tokens, fewer than data.block_size + 2 = " +
                    std::to_string(block_size + 2) + "; use more text or lower data.block_size");
}

}  // namespace

TextDataset::TextDataset(const TextOptions& options, const DataContext& context)
    : block_size_(options.block_size),
      rng_(context.seed) {
  if (!context.tokenizer) throw std::invalid_argument("TextDataset: DataContext has no tokenizer");
  const std::string print = fingerprint(*context.tokenizer);
  const bool replace_invalid = options.on_invalid_utf8 == "replace";
  TokenStream train = load_tokens(options.train, *context.tokenizer, print, replace_invalid);
  if (!options.valid.empty()) {
    train_ = train;
    valid_ = load_tokens(options.valid, *context.tokenizer, print, replace_invalid);
    require_tokens(train_.size(), block_size_, options.train);
    require_tokens(valid_.size(), block_size_, options.valid);
    return;
  }
  const int64_t n = train.size();
  const auto n_valid = static_cast<int64_t>(static_cast<double>(n) * options.valid_fraction);
  train_ = train.slice(0, n - n_valid);
  valid_ = train.slice(n - n_valid, n);
  require_tokens(train_.size(), block_size_, options.train + " (less its last data.valid_fraction)");
  if (valid_.size() < block_size_ + 2)
    throw UserError(options.train + ": its last data.valid_fraction = " + std::to_string(options.valid_fraction) +
                    " is " + std::to_string(valid_.size()) + " tokens, fewer than data.block_size + 2 = " +
                    std::to_string(block_size_ + 2) +
                    "; raise data.valid_fraction, lower data.block_size or give data.valid");
}

LMBatch TextDataset::windows(const TokenStream& stream, const std::vector<int64_t>& starts) const {
  const int64_t T = block_size_;
  const auto B = static_cast<int64_t>(starts.size());
  torch::Tensor tokens = torch::empty({B, T + 1}, torch::kInt64);  // (B, T+1)
  stream.gather(starts.data(), B, T + 1, tokens.data_ptr<int64_t>());
  return {tokens.slice(1, 0, T).contiguous(), tokens.slice(1, 1, T + 1).contiguous()};
}

LMBatch TextDataset::next_train_batch(int64_t batch_size) {
  if (batch_size <= 0) throw std::invalid_argument("next_train_batch: batch_size must be positive");
  const auto starts_bound = static_cast<uint64_t>(train_.size() - block_size_);  // starts in [0, n-T-1]
  const Shard shard = training_shard();
  std::vector<int64_t> starts(batch_size * shard.count);
  for (int64_t& start : starts) start = static_cast<int64_t>(uniform_below(rng_, starts_bound));
  return windows(train_, own_rows(starts, batch_size, shard));
}

LMBatch TextDataset::valid_batch(int64_t index, int64_t batch_size) {
  if (index < 0 || batch_size <= 0)
    throw std::invalid_argument("valid_batch: index must be >= 0 and batch_size positive");
  const int64_t n_windows = (valid_.size() - 1) / block_size_;  // non-overlapping, >= 1
  std::vector<int64_t> starts(batch_size);
  for (int64_t b = 0; b < batch_size; ++b) starts[b] = ((index * batch_size + b) % n_windows) * block_size_;
  return windows(valid_, starts);
}

std::string TextDataset::describe() const {
  return "train " + format_count(static_cast<double>(train_tokens())) + " tokens, valid " +
         format_count(static_cast<double>(valid_tokens())) + " tokens";
}

std::string TextDataset::state() const {
  std::ostringstream rng;
  rng << rng_;
  return nlohmann::json{{"type", "text"}, {"train_tokens", train_tokens()}, {"rng", rng.str()}}.dump();
}

void TextDataset::load_state(const std::string& state) {
  const auto fail = [](const std::string& what) {
    return UserError("data position in the checkpoint: " + what);
  };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(state);
  } catch (const nlohmann::json::exception&) {
    throw fail("not valid JSON; the checkpoint is damaged");
  }
  if (!doc.is_object() || doc.value("type", "") != "text" || !doc.contains("rng") || !doc["rng"].is_string())
    throw fail("not the state of a text dataset; resume with the recipe's original data section");
  if (doc.value("train_tokens", int64_t{-1}) != train_tokens())
    throw fail("saved with " + doc["train_tokens"].dump() + " training tokens, the data now has " +
               std::to_string(train_tokens()) + "; resume with the original data and tokenizer");
  std::istringstream in(doc["rng"].get<std::string>());
  std::mt19937_64 rng;
  in >> rng;
  if (in.fail()) throw fail("unreadable generator state; the checkpoint is damaged");
  rng_ = rng;
}

}  // namespace zoo::datasets
