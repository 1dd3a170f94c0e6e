// Recurrent layers over right-padded batches without packed sequences: a backward RNN reads
// each row reversed within its own length, so padding never reaches a real position, with plain
// tensor ops whose shapes come from the tensors (an export traces with batch and length free).
#pragma once

#include <torch/torch.h>

namespace zoo::models::nn {

// For right-padded rows, mask (B, T) true on real tokens: the index (B, T) that reverses each
// row's real positions and leaves its padding in place. Reversing twice is the identity.
torch::Tensor reversal_index(const torch::Tensor& mask);

// x (B, T, C) reordered along time by index (B, T).
torch::Tensor gather_time(const torch::Tensor& x, const torch::Tensor& index);

// Zero initial states (layers, B, hidden) for an RNN over x (B, T, C), B read from x: a default
// state would bake the traced batch size into an export.
torch::Tensor zero_state(const torch::Tensor& x, int64_t layers, int64_t hidden);

}  // namespace zoo::models::nn
