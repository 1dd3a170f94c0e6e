// Optimizers and learning-rate schedules, registered as recipe components.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

#include "core/registry.h"

namespace zoo::trainers {

// Parameters split for weight decay: matrices decay; biases, norms and embeddings do not. A
// second set, `scaled_*`, trains at lr * lr_scale throughout the schedule (a new classifier
// head above a pretrained encoder); most objectives leave it empty.
struct ParameterGroups {
  std::vector<torch::Tensor> decay;
  std::vector<torch::Tensor> no_decay;
  std::vector<torch::Tensor> scaled_decay{};
  std::vector<torch::Tensor> scaled_no_decay{};
  double lr_scale = 1.0;
};

struct BuiltOptimizer {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  double base_lr = 0;
  std::vector<double> lr_scales;  // one per optimizer parameter group, for set_learning_rate
};

Factory<BuiltOptimizer, const ParameterGroups&>& optimizers();

// lr at `step` (0-based) of `total_steps`, for a base lr.
using Schedule = std::function<double(int64_t step, int64_t total_steps, double base_lr)>;
Factory<Schedule>& schedules();

// Sets every group's lr to `lr` times its scale in `lr_scales` (none given: 1).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr, const std::vector<double>& lr_scales = {});

// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before
// clipping as a tensor, so the step never waits on the device (libtorch's clip_grad_norm_
// returns a double, a host sync every step).
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

// The global L2 norm of the gradients, as a tensor (0 when none has a gradient).
torch::Tensor gradient_norm(const std::vector<torch::Tensor>& parameters);

void register_optimizers();

}  // namespace zoo::trainers
