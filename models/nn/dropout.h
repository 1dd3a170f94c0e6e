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

// The passes behind it, for fused code that keeps its own autograd (float32 CPU tensors,
// 0 < p < 1) and drops one tensor a slice at a time: the seed one dropout call draws; the mask
// pass over a slice whose first element is element first_index of the whole (contiguous x, out
// and keep of x's size; slices of one seed drop exactly as one call over the whole); and
// x * keep / (1 - p) for a mask drawn so, which is also the backward pass.
uint64_t draw_dropout_seed();
void dropout_into(const torch::Tensor& x, double p, uint64_t seed, int64_t first_index, torch::Tensor& out,
                  torch::Tensor& keep);
torch::Tensor apply_dropout_mask(const torch::Tensor& x, const torch::Tensor& keep, double p);

}  // namespace zoo::models::nn
