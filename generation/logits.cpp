#include "generation/logits.h"

#include <limits>

namespace zoo::generation {
namespace {

constexpr float kBanned = -std::numeric_limits<float>::infinity();

// Bans the tokens a filter drops: `drop_sorted` (B, V) is in the order `order` ranked them, and
// the first ranked token always stays so that no row is left empty.
torch::Tensor drop_ranked(const torch::Tensor& logits, torch::Tensor drop_sorted, const torch::Tensor& order) {
  drop_sorted.select(1, 0).fill_(false);
  return logits.masked_fill(torch::empty_like(drop_sorted).scatter_(1, order, drop_sorted), kBanned);
}

}  // namespace

torch::Tensor penalize_repetition(torch::Tensor logits, const std::vector<Tokens>& histories, double penalty) {
  if (penalty == 1.0) return logits;
  logits = logits.clone();
  for (size_t b = 0; b < histories.size(); ++b) {
    if (histories[b].empty()) continue;
    auto row = logits[static_cast<int64_t>(b)];
    auto seen = torch::tensor(histories[b], torch::kInt64);
    auto values = row.index_select(0, seen);
    row.index_copy_(0, seen, torch::where(values > 0, values / penalty, values * penalty));
  }
  return logits;
}

torch::Tensor ban_repeated_ngrams(torch::Tensor logits, const std::vector<Tokens>& histories, int64_t n) {
  if (n <= 0) return logits;
  logits = logits.clone();
  auto accessor = logits.accessor<float, 2>();
  for (size_t b = 0; b < histories.size(); ++b) {
    const Tokens& h = histories[b];
    const auto length = static_cast<int64_t>(h.size());
    if (length < n - 1) continue;
    // Every earlier n-gram whose first n-1 tokens equal the last n-1 tokens bans its last token.
    const int64_t prefix_start = length - (n - 1);
    for (int64_t start = 0; start + n - 1 < length; ++start) {
      if (std::equal(h.begin() + start, h.begin() + start + n - 1, h.begin() + prefix_start))
        accessor[static_cast<int64_t>(b)][h[static_cast<size_t>(start + n - 1)]] = kBanned;
    }
  }
  return logits;
}

bool uses_history(const GenerationOptions& options) {
  return options.repetition_penalty != 1.0 || options.no_repeat_ngram_size > 0;
}

torch::Tensor apply_penalties(torch::Tensor logits, const std::vector<Tokens>& histories,
                              const GenerationOptions& options) {
  logits = penalize_repetition(std::move(logits), histories, options.repetition_penalty);
  return ban_repeated_ngrams(std::move(logits), histories, options.no_repeat_ngram_size);
}

torch::Tensor keep_top_k(torch::Tensor logits, int64_t k) {
  if (k <= 0 || k >= logits.size(1)) return logits;
  auto kth = std::get<0>(logits.topk(k, 1)).narrow(1, k - 1, 1);  // (B, 1)
  return logits.masked_fill(logits < kth, kBanned);
}

torch::Tensor keep_top_p(torch::Tensor logits, double top_p) {
  if (top_p >= 1.0) return logits;
  auto [sorted, order] = logits.sort(1, /*descending=*/true);
  auto probs = sorted.softmax(1);  // (B, V), most likely first
  // A token stays if the tokens ranked above it hold less than top_p: the smallest set reaching top_p.
  auto mass_before = probs.cumsum(1) - probs;
  return drop_ranked(logits, mass_before >= top_p, order);
}

torch::Tensor keep_min_p(torch::Tensor logits, double min_p) {
  if (min_p <= 0.0) return logits;
  auto probs = logits.softmax(1);
  // The best token passes its own threshold, since min_p <= 1.
  auto threshold = std::get<0>(probs.max(1, /*keepdim=*/true)) * min_p;
  return logits.masked_fill(probs < threshold, kBanned);
}

torch::Tensor keep_typical(torch::Tensor logits, double typical_p) {
  if (typical_p >= 1.0) return logits;
  auto log_probs = logits.log_softmax(1);
  auto probs = log_probs.exp();
  auto entropy = -(probs * log_probs).nan_to_num().sum(1, /*keepdim=*/true);  // -inf * 0 = nan for banned tokens
  // Rank tokens by how far their information content is from the expected one; keep the
  // closest until they hold typical_p.
  auto surprise_gap = (-log_probs - entropy).abs();
  auto order = std::get<1>(surprise_gap.sort(1));
  auto sorted_probs = probs.gather(1, order);
  auto mass_before = sorted_probs.cumsum(1) - sorted_probs;
  return drop_ranked(logits, mass_before >= typical_p, order);
}

torch::Tensor shape_for_sampling(torch::Tensor logits, const GenerationOptions& options) {
  logits = logits / options.temperature;
  logits = keep_top_k(std::move(logits), options.top_k);
  logits = keep_top_p(std::move(logits), options.top_p);
  logits = keep_typical(std::move(logits), options.typical_p);
  return keep_min_p(std::move(logits), options.min_p);
}

torch::Tensor choose_tokens(const torch::Tensor& logits, const GenerationOptions& options, torch::Generator& generator) {
  if (options.strategy == "greedy" || options.temperature <= 0.0) return logits.argmax(1);
  auto probs = shape_for_sampling(logits, options).softmax(1);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator).squeeze(1);
}

}  // namespace zoo::generation
