// The `text` data type: random training windows and fixed validation windows of a token stream.
#include "datasets/text.h"

#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/utf8.h"

namespace zoo::datasets {
namespace {

torch::Tensor tokenize_file(const std::string& file, const tokenizers::Tokenizer& tokenizer) {
  const std::string text = read_file(file);
  tokenizers::check_utf8(text, file);
  if (text.empty()) throw UserError(file + ": empty file; the text data type needs text to read");
  std::vector<int64_t> ids = tokenizer.encode(text);
  TORCH_CHECK(tokenizer.vocab_size() <= std::numeric_limits<int32_t>::max(), "vocabulary too large for int32");
  return torch::from_blob(ids.data(), {static_cast<int64_t>(ids.size())}, torch::kInt64).to(torch::kInt32);
}

// A window needs block_size+1 tokens, and at least two starts so training is not one window.
void require_tokens(int64_t tokens, int64_t block_size, const std::string& what) {
  if (tokens < block_size + 2)
    throw UserError(what + " has " + std::to_string(tokens) + " tokens, fewer than data.block_size + 2 = " +
                    std::to_string(block_size + 2) + "; use more text or lower data.block_size");
}

// An unbiased draw from [0, bound): the same on every platform, unlike std::uniform_int_distribution.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % bound;
}

}  // namespace

TextDataset::TextDataset(const TextOptions& options, const DataContext& context)
    : block_size_(options.block_size),
      window_offsets_(torch::arange(options.block_size + 1, torch::kInt64)),
      rng_(context.seed) {
  if (!context.tokenizer) throw std::invalid_argument("TextDataset: DataContext has no tokenizer");
  torch::Tensor train = tokenize_file(options.train, *context.tokenizer);
  if (!options.valid.empty()) {
    train_ = train;
    valid_ = tokenize_file(options.valid, *context.tokenizer);
    require_tokens(train_.numel(), block_size_, options.train);
    require_tokens(valid_.numel(), block_size_, options.valid);
    return;
  }
  const int64_t n = train.numel();
  const auto n_valid = static_cast<int64_t>(static_cast<double>(n) * options.valid_fraction);
  train_ = train.slice(0, 0, n - n_valid).clone();
  valid_ = train.slice(0, n - n_valid).clone();
  require_tokens(train_.numel(), block_size_, options.train + " (less its last data.valid_fraction)");
  if (valid_.numel() < block_size_ + 2)
    throw UserError(options.train + ": its last data.valid_fraction = " + std::to_string(options.valid_fraction) +
                    " is " + std::to_string(valid_.numel()) + " tokens, fewer than data.block_size + 2 = " +
                    std::to_string(block_size_ + 2) +
                    "; raise data.valid_fraction, lower data.block_size or give data.valid");
}

LMBatch TextDataset::windows(const torch::Tensor& stream, const torch::Tensor& starts) const {
  const int64_t T = block_size_;
  torch::Tensor index = starts.unsqueeze(1) + window_offsets_;  // (B, T+1)
  torch::Tensor tokens = stream.index({index}).to(torch::kInt64);                  // (B, T+1)
  return {tokens.slice(1, 0, T).contiguous(), tokens.slice(1, 1, T + 1).contiguous()};
}

LMBatch TextDataset::next_train_batch(int64_t batch_size) {
  if (batch_size <= 0) throw std::invalid_argument("next_train_batch: batch_size must be positive");
  const auto starts_bound = static_cast<uint64_t>(train_.numel() - block_size_);  // starts in [0, n-T-1]
  torch::Tensor starts = torch::empty({batch_size}, torch::kInt64);
  auto s = starts.accessor<int64_t, 1>();
  for (int64_t b = 0; b < batch_size; ++b) s[b] = static_cast<int64_t>(uniform_below(rng_, starts_bound));
  return windows(train_, starts);
}

LMBatch TextDataset::valid_batch(int64_t index, int64_t batch_size) {
  if (index < 0 || batch_size <= 0)
    throw std::invalid_argument("valid_batch: index must be >= 0 and batch_size positive");
  const int64_t n_windows = (valid_.numel() - 1) / block_size_;  // non-overlapping, >= 1
  torch::Tensor numbers = (torch::arange(batch_size, torch::kInt64) + index * batch_size) % n_windows;
  return windows(valid_, numbers * block_size_);
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
