#include "models/nn/rnn.h"

namespace zoo::models::nn {

torch::Tensor reversal_index(const torch::Tensor& mask) {
  auto positions = torch::ones_like(mask, torch::kLong).cumsum(1) - 1;  // (B, T)
  auto lengths = mask.to(torch::kLong).sum(1, /*keepdim=*/true);        // (B, 1)
  return torch::where(positions < lengths, lengths - 1 - positions, positions);
}

torch::Tensor gather_time(const torch::Tensor& x, const torch::Tensor& index) {
  return x.gather(1, index.unsqueeze(-1).expand_as(x));
}

torch::Tensor zero_state(const torch::Tensor& x, int64_t layers, int64_t hidden) {
  return torch::zeros_like(x.select(1, 0).narrow(-1, 0, 1)).unsqueeze(0).expand({layers, -1, hidden}).contiguous();
}

}  // namespace zoo::models::nn
