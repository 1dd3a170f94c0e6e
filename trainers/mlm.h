// BERT's token masking, exposed for tests: which tokens the mlm trainer asks the model to restore.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace zoo::trainers {

struct MaskingOptions {
  double mask_prob = 0.15;          // of the non-special tokens, chosen for prediction
  double mask_token_prob = 0.8;     // of the chosen, replaced by [MASK]
  double random_token_prob = 0.1;   // of the chosen, replaced by a random token; the rest stay
};

struct MaskedTokens {
  torch::Tensor input;   // (B, T) with the chosen tokens masked, randomised or kept
  torch::Tensor labels;  // (B, T) the original id at chosen positions, kIgnoreIndex elsewhere
};

// input, special_mask (B, T) on the CPU (special_mask true where a token is never chosen:
// [CLS], [SEP], padding); draws from `generator` (the same seed gives the same masks).
MaskedTokens mask_tokens(const torch::Tensor& input, const torch::Tensor& special_mask, const MaskingOptions& options,
                         int64_t mask_id, int64_t vocab_size, at::Generator generator);

}  // namespace zoo::trainers
