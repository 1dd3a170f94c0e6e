// Optimizers and learning-rate schedules, registered as recipe components.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

#include "core/registry.h"

namespace zoo::trainers {

// Parameters split for weight decay: matrices decay; biases, norms and embeddings do not.
struct ParameterGroups {
  std::vector<torch::Tensor> decay;
  std::vector<torch::Tensor> no_decay;
};

struct BuiltOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  double base_lr = 0;
};

Factory<BuiltOptimizer, const ParameterGroups&>& optimizers();

// lr at `step` (0-based) of `total_steps`, for a base lr.
using Schedule = std::function<double(int64_t step, int64_t total_steps, double base_lr)>;
Factory<Schedule>& schedules();

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before
// clipping as a tensor, so the step never waits on the device (libtorch's clip_grad_norm_
// returns a double, a host sync every step).
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

void register_optimizers();

}  // namespace zoo::trainers
