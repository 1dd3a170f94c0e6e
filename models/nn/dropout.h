// Dropout with a mask drawn in parallel, for the CPU.
#pragma once

#include <torch/torch.h>

namespace zoo::models::nn {

// Like torch::dropout(x, p, train): zeroes each element with probability p and scales the rest
// by 1 / (1 - p). On the CPU, for float tensors, libtorch 1.13 draws the mask one element at a
// time on one thread (bernoulli_: 0.83 s for a 25M-element attention map on two cores; 1.8 s of
// a 12.9 s GPT step in a profile, bench/NOTES.md); here each element's keep bit is a hash of its
// index and one 64-bit seed drawn from the default CPU generator, computed in parallel. The run
// stays seeded and resumable: the generator advances by one draw per call. The mask is kept as
// one byte per element, as native_dropout keeps it. Elsewhere (CUDA, other types) it is
// torch::dropout.
torch::Tensor dropout(const torch::Tensor& x, double p, bool train);

}  // namespace zoo::models::nn
