// Model FLOPs utilisation: what a training token costs, and what the machine can do.
#pragma once

#include <torch/torch.h>

namespace zoo::trainers {

// Training FLOPs of one token, counted as nanoGPT's estimate_mfu and PaLM (appendix B) count
// them: each weight a token meets costs 2 FLOPs forward and 4 backward (6N), plus the attention
// scores and their weighted sum, 12 * layers * d_model * T for a sequence of T tokens. Refined
// where a model says more: lookup tables (embeddings, positions) cost nothing unless tied to the
// output projection; a frozen weight costs 4, not 6 (no gradient of its own); a token meets
// top_k of an MoE layer's experts, so only that share of the expert weights counts.
struct TrainingFlops {
  double weights = 0;             // per token
  double attention_per_key = 0;   // per token and per key it attends to: 12 * layers * d_model

  double per_token(int64_t sequence_length) const {
    return weights + attention_per_key * static_cast<double>(sequence_length);
  }
};

TrainingFlops training_flops(const torch::nn::Module& model);

// The dense matrix-product throughput (FLOP/s) of `device` on its current threads: the best of a
// few 1024^3 fp32 products (on CUDA 4096^3), the ceiling model FLOPs utilisation is measured
// against. About 0.1 s.
double matmul_peak_flops(const torch::Device& device);

}  // namespace zoo::trainers
