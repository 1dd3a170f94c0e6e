// GELU MLP and SwiGLU feed-forward layers.
#include "models/nn/feed_forward.h"

#include <stdexcept>

#include "models/nn/dropout.h"

namespace zoo::models::nn {

namespace {
LoRALinear linear(int64_t in, int64_t out, bool bias) {
  return LoRALinear(torch::nn::LinearOptions(in, out).bias(bias));
}
}  // namespace

GeluMLPImpl::GeluMLPImpl(const FeedForwardOptions& options) : options(options) {
  c_fc = register_module("c_fc", linear(options.d_model(), options.hidden(), options.bias()));
  c_proj = register_module("c_proj", linear(options.hidden(), options.d_model(), options.bias()));
}

torch::Tensor GeluMLPImpl::forward(const torch::Tensor& x) {
  auto h = torch::gelu(c_fc(x));  // (B, T, hidden)
  return nn::dropout(c_proj(h), options.dropout(), is_training());
}

SwiGLUImpl::SwiGLUImpl(const FeedForwardOptions& options) : options(options) {
  c_fc = register_module("c_fc", linear(options.d_model(), options.hidden(), options.bias()));
  c_gate = register_module("c_gate", linear(options.d_model(), options.hidden(), options.bias()));
  c_proj = register_module("c_proj", linear(options.hidden(), options.d_model(), options.bias()));
}

torch::Tensor SwiGLUImpl::forward(const torch::Tensor& x) {
  auto h = torch::silu(c_gate(x)) * c_fc(x);  // (B, T, hidden)
  return nn::dropout(c_proj(h), options.dropout(), is_training());
}

int64_t swiglu_hidden(int64_t d_model) {
  int64_t hidden = 8 * d_model / 3;
  return (hidden + 63) / 64 * 64;
}

FeedForward make_feed_forward(const std::string& kind, int64_t d_model, bool bias, double dropout, int64_t hidden) {
  if (kind == "gelu")
    return std::make_shared<GeluMLPImpl>(
        FeedForwardOptions(d_model, hidden > 0 ? hidden : 4 * d_model).bias(bias).dropout(dropout));
  if (kind == "swiglu")
    return std::make_shared<SwiGLUImpl>(
        FeedForwardOptions(d_model, hidden > 0 ? hidden : swiglu_hidden(d_model)).bias(bias).dropout(dropout));
  throw std::invalid_argument("unknown feed-forward '" + kind + "' (gelu | swiglu)");
}

}  // namespace zoo::models::nn
