// Position-wise feed-forward layers shared by the models: the GELU MLP (GPT-2, BERT) and SwiGLU
// (Llama), both behind FeedForwardImpl so a block can hold either one chosen by the recipe.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "models/nn/lora.h"

namespace zoo::models::nn {

struct FeedForwardOptions {
  FeedForwardOptions(int64_t d_model, int64_t hidden) : d_model_(d_model), hidden_(hidden) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, dropout) = 0.0;  // on the output, before the residual add
};

// (B, T, C) -> (B, T, C). Every variant names its output projection `c_proj`, so models can
// find the residual projections by name (GPT-2 scales their init).
struct FeedForwardImpl : torch::nn::Module {
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};
using FeedForward = std::shared_ptr<FeedForwardImpl>;

// c_proj(gelu(c_fc(x))), exact (erf) GELU.
struct GeluMLPImpl : FeedForwardImpl {
  explicit GeluMLPImpl(const FeedForwardOptions& options);
  torch::Tensor forward(const torch::Tensor& x) override;

  FeedForwardOptions options;
  LoRALinear c_fc{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(GeluMLP);

// c_proj(silu(c_gate(x)) * c_fc(x)).
struct SwiGLUImpl : FeedForwardImpl {
  explicit SwiGLUImpl(const FeedForwardOptions& options);
  torch::Tensor forward(const torch::Tensor& x) override;

  FeedForwardOptions options;
  LoRALinear c_fc{nullptr}, c_gate{nullptr}, c_proj{nullptr};
};
TORCH_MODULE(SwiGLU);

// SwiGLU's hidden width: 2/3 of 4*d_model (same parameters as a 4x GELU MLP), rounded up to a
// multiple of 64 for the matmul kernels.
int64_t swiglu_hidden(int64_t d_model);

// kind: "gelu" (hidden 4*d_model) | "swiglu" (hidden swiglu_hidden(d_model)); a hidden > 0
// replaces that width.
FeedForward make_feed_forward(const std::string& kind, int64_t d_model, bool bias, double dropout, int64_t hidden = 0);

}  // namespace zoo::models::nn
