// Turning next-token logits into a choice: penalties that look at what a sequence already
// holds, the filters that shape a sampling distribution, and the draw itself. Each works on
// float logits (B, V), one row per sequence, and returns new logits; banned tokens get -inf.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "core/recipe.h"

namespace zoo::generation {

using Tokens = std::vector<int64_t>;

// CTRL's penalty (Keskar et al. 2019): a token already in row b's history has its logit divided
// by `penalty` when positive and multiplied when negative, so it always becomes less likely.
torch::Tensor penalize_repetition(torch::Tensor logits, const std::vector<Tokens>& histories, double penalty);

// Bans, in row b, every token that would complete an n-gram already present in history b.
torch::Tensor ban_repeated_ngrams(torch::Tensor logits, const std::vector<Tokens>& histories, int64_t n);

// Whether the options penalise anything, i.e. whether apply_penalties reads the histories.
bool uses_history(const GenerationOptions& options);

// Both of the above as the options ask; the logits that greedy, sampling and beam search rank.
torch::Tensor apply_penalties(torch::Tensor logits, const std::vector<Tokens>& histories,
                              const GenerationOptions& options);

// Sampling filters: keep the k largest; the smallest set holding probability top_p (nucleus,
// Holtzman et al. 2020); tokens at least min_p times as likely as the best; the locally typical
// set of mass typical_p (Meister et al. 2023). Each keeps at least one token per row.
torch::Tensor keep_top_k(torch::Tensor logits, int64_t k);
torch::Tensor keep_top_p(torch::Tensor logits, double top_p);
torch::Tensor keep_min_p(torch::Tensor logits, double min_p);
torch::Tensor keep_typical(torch::Tensor logits, double typical_p);

// Temperature, then every filter the options switch on.
torch::Tensor shape_for_sampling(torch::Tensor logits, const GenerationOptions& options);

// One token per row (B): argmax when greedy (temperature 0 or strategy greedy), else a draw
// from the shaped distribution with `generator`.
torch::Tensor choose_tokens(const torch::Tensor& logits, const GenerationOptions& options, torch::Generator& generator);

}  // namespace zoo::generation
