// Autoregressive sampling on a model's KV cache: temperature, top-k, greedy at temperature 0.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "models/model.h"

namespace zoo::generation {

struct SamplingOptions {
  int64_t max_new_tokens = 100;
  double temperature = 1.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = no restriction
  uint64_t seed = 0;
};

// Continues `prompt` (non-empty) by up to max_new_tokens ids; calls on_token for each as it
// is produced. When the context fills, the cache is rebuilt from the last half-context.
std::vector<int64_t> sample(models::LanguageModelImpl& model, const std::vector<int64_t>& prompt,
                            const SamplingOptions& options,
                            const std::function<void(int64_t)>& on_token = {});

}  // namespace zoo::generation
