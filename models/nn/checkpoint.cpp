#include "models/nn/checkpoint.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace zoo::models::nn {
namespace {

struct RecomputeLayer : torch::autograd::Node {
  std::function<torch::Tensor(const torch::Tensor&)> layer;
  torch::Tensor input;      // detached
  torch::Tensor rng_state;  // the CPU generator's state when the layer first ran

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    auto generator = at::detail::getDefaultCPUGenerator();
    const auto resume = generator.get_state();
    generator.set_state(rng_state);
    auto x = input.detach().requires_grad_(true);
    torch::Tensor y;
    {
      torch::AutoGradMode enable_grad(true);
      y = layer(x);
    }
    generator.set_state(resume);
    torch::autograd::backward({y}, {grads[0]});  // into the layer's weights, and x
    return {x.grad()};
  }

  void release_variables() override {
    input.reset();
    rng_state.reset();
    layer = nullptr;
  }
};

}  // namespace

torch::Tensor checkpoint(const std::function<torch::Tensor(const torch::Tensor&)>& layer, const torch::Tensor& x) {
  if (!torch::GradMode::is_enabled()) return layer(x);
  auto node = std::shared_ptr<RecomputeLayer>(new RecomputeLayer(), torch::autograd::deleteNode);
  node->rng_state = at::detail::getDefaultCPUGenerator().get_state();
  torch::Tensor y;
  {
    torch::NoGradGuard no_grad;
    y = layer(x);
  }
  node->layer = layer;
  node->input = x.detach();
  node->set_next_edges(torch::autograd::collect_next_edges(x));
  torch::autograd::set_history(y, node);
  return y;
}

}  // namespace zoo::models::nn
