// Position encodings shared by the models. Learned positions are a plain torch::nn::Embedding;
// here are the fixed sinusoidal table (Transformer) and rotary embedding (RoPE, GPT-NeoX/Llama
// "rotate half" layout). Both look positions up by a tensor, so callers can offset them for a
// KV cache or shift them for left padding, and traced code keeps lengths dynamic.
#pragma once

#include <torch/torch.h>

namespace zoo::models::nn {

// positions (T) or (B, T) int64 -> (T, dim) or (B, T, dim); no parameters.
struct SinusoidalEmbeddingImpl : torch::nn::Module {
  SinusoidalEmbeddingImpl(int64_t max_len, int64_t dim);
  torch::Tensor forward(const torch::Tensor& positions);

  torch::Tensor table;  // (max_len, dim): sin in even columns, cos in odd
};
TORCH_MODULE(SinusoidalEmbedding);

// Rotary tables for one set of positions, shaped to broadcast against (B, H, T, head_dim).
struct Rotation {
  torch::Tensor cos, sin;
  bool defined() const { return cos.defined(); }
  // x (B, H, T, head_dim) -> x rotated by its position.
  torch::Tensor apply(const torch::Tensor& x) const;
};

struct RotaryEmbeddingImpl : torch::nn::Module {
  RotaryEmbeddingImpl(int64_t head_dim, int64_t max_len, double base = 10000.0);
  // positions (T) or (B, T) -> tables of shape (T, hd) or (B, 1, T, hd).
  Rotation forward(const torch::Tensor& positions);

  torch::Tensor cos, sin;  // (max_len, head_dim), each frequency repeated for both halves
};
TORCH_MODULE(RotaryEmbedding);

}  // namespace zoo::models::nn
