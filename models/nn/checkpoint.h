// Gradient (activation) checkpointing: keep a layer's input, not its activations, and recompute
// them in the backward pass.
#pragma once

#include <torch/torch.h>

#include <functional>

namespace zoo::models::nn {

// y = layer(x), keeping for the backward pass only x (and the CPU generator's state, so the
// layer's dropout draws the same masks when it runs again); the backward pass runs `layer` once
// more with gradients on and backpropagates through that, as torch.utils.checkpoint does. Costs
// one more forward of the layer per step. Without grad mode it is layer(x). `layer` must not
// stash tensors for later (an MoE layer's router losses), as the recomputation would replace them.
torch::Tensor checkpoint(const std::function<torch::Tensor(const torch::Tensor&)>& layer, const torch::Tensor& x);

}  // namespace zoo::models::nn
