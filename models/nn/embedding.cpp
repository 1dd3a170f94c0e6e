// Sinusoidal and rotary position encodings.
#include "models/nn/embedding.h"

#include <cmath>

namespace zoo::models::nn {

SinusoidalEmbeddingImpl::SinusoidalEmbeddingImpl(int64_t max_len, int64_t dim) {
  TORCH_CHECK(dim % 2 == 0, "sinusoidal embedding needs an even dimension, got ", dim);
  auto position = torch::arange(max_len, torch::kFloat).unsqueeze(1);                       // (L, 1)
  auto div = torch::exp(torch::arange(0, dim, 2, torch::kFloat) * (-std::log(10000.0) / dim));  // (dim/2)
  auto angles = position * div;                                                            // (L, dim/2)
  // Interleave: column 2i is sin, 2i+1 is cos.
  auto t = torch::stack({angles.sin(), angles.cos()}, /*dim=*/2).flatten(1);               // (L, dim)
  table = register_buffer("table", t);
}

torch::Tensor SinusoidalEmbeddingImpl::forward(const torch::Tensor& positions) {
  return table.index({positions});
}

torch::Tensor Rotation::apply(const torch::Tensor& x) const {
  auto halves = x.chunk(2, /*dim=*/-1);
  auto rotated = torch::cat({-halves[1], halves[0]}, -1);  // (B, H, T, hd)
  return x * cos + rotated * sin;
}

RotaryEmbeddingImpl::RotaryEmbeddingImpl(int64_t head_dim, int64_t max_len, double base) {
  TORCH_CHECK(head_dim % 2 == 0, "rotary embedding needs an even head dimension, got ", head_dim);
  auto inv_freq = 1.0 / torch::pow(base, torch::arange(0, head_dim, 2, torch::kFloat) / head_dim);  // (hd/2)
  auto freqs = torch::outer(torch::arange(max_len, torch::kFloat), inv_freq);                  // (L, hd/2)
  auto angles = torch::cat({freqs, freqs}, -1);                                                // (L, hd)
  cos = register_buffer("cos", angles.cos());
  sin = register_buffer("sin", angles.sin());
}

Rotation RotaryEmbeddingImpl::forward(const torch::Tensor& positions) {
  auto c = cos.index({positions});  // (T, hd) or (B, T, hd)
  auto s = sin.index({positions});
  if (positions.dim() == 2) {
    c = c.unsqueeze(1);  // (B, 1, T, hd): one table per sequence, shared by heads
    s = s.unsqueeze(1);
  }
  return {c, s};
}

}  // namespace zoo::models::nn
