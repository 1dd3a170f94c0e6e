// LayerNorm (bias optional) and RMSNorm.
#include "models/nn/norm.h"

#include <stdexcept>

namespace zoo::models::nn {

LayerNormImpl::LayerNormImpl(int64_t dim, bool bias, double eps) : dim(dim), eps(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
  if (bias) this->bias = register_parameter("bias", torch::zeros({dim}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  return torch::layer_norm(x, {dim}, weight, bias, eps);
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // The mean of squares is taken in fp32: in fp16 it overflows for activations above ~256.
  auto x32 = x.to(torch::kFloat);
  auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return normed.to(x.scalar_type()) * weight;
}

Norm make_norm(const std::string& kind, int64_t dim, bool bias) {
  if (kind == "layernorm") return std::make_shared<LayerNormImpl>(dim, bias);
  if (kind == "rmsnorm") return std::make_shared<RMSNormImpl>(dim);
  throw std::invalid_argument("unknown norm '" + kind + "' (layernorm | rmsnorm)");
}

}  // namespace zoo::models::nn
