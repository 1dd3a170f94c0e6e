// Normalisation layers shared by the models: LayerNorm (bias optional) and RMSNorm, both behind
// NormImpl so a block can hold either one chosen by the recipe.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

namespace zoo::models::nn {

// (..., C) -> (..., C), normalised over the last dimension.
struct NormImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};
using Norm = std::shared_ptr<NormImpl>;

// LayerNorm whose bias can be left out (torch::nn::LayerNorm has both or neither).
struct LayerNormImpl : NormImpl {
  explicit LayerNormImpl(int64_t dim, bool bias = true, double eps = 1e-5);
  torch::Tensor forward(const torch::Tensor& x) override;

  torch::Tensor weight;
  torch::Tensor bias;  // undefined without bias
  int64_t dim;
  double eps;
};
TORCH_MODULE(LayerNorm);

// x / rms(x) * weight: no centring and no bias (Llama).
struct RMSNormImpl : NormImpl {
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x) override;

  torch::Tensor weight;
  double eps;
};
TORCH_MODULE(RMSNorm);

// kind: "layernorm" | "rmsnorm" (RMSNorm has no bias whatever `bias` says).
Norm make_norm(const std::string& kind, int64_t dim, bool bias);

}  // namespace zoo::models::nn
