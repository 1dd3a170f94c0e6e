// LoRALinear, path patterns, and adapter injection.
#include "models/nn/lora.h"

#include <cmath>

#include "core/error.h"
#include "models/nn/dropout.h"

namespace zoo::models::nn {

LoRALinearImpl::LoRALinearImpl(const torch::nn::LinearOptions& options) : options(options) {
  weight = register_parameter("weight", torch::empty({options.out_features(), options.in_features()}));
  if (options.bias()) bias = register_parameter("bias", torch::empty({options.out_features()}));
  // torch::nn::Linear's initialisation, so models keep their behaviour.
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(options.in_features()));
    bias.uniform_(-bound, bound);
  }
}

torch::Tensor LoRALinearImpl::forward(const torch::Tensor& x) {
  auto y = torch::linear(x, weight, bias);
  if (!has_adapter() || merged_) return y;
  auto h = nn::dropout(x, dropout_, is_training());
  return y + torch::linear(torch::linear(h, lora_A), lora_B) * scaling_;
}

void LoRALinearImpl::add_adapter(int64_t rank, double alpha, double dropout) {
  TORCH_CHECK(!has_adapter(), "the layer already has an adapter");
  const int64_t in = options.in_features(), out = options.out_features();
  auto make = [&](std::vector<int64_t> shape) { return torch::zeros(shape, weight.options()); };
  lora_A = register_parameter("lora_A", make({rank, in}));
  lora_B = register_parameter("lora_B", make({out, rank}));
  {
    torch::NoGradGuard no_grad;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));  // Kaiming-uniform, a = sqrt(5)
    lora_A.uniform_(-bound, bound);
  }
  scaling_ = alpha / static_cast<double>(rank);
  dropout_ = dropout;
  weight.set_requires_grad(false);
  if (bias.defined()) bias.set_requires_grad(false);
}

torch::Tensor LoRALinearImpl::delta_weight() const {
  return torch::matmul(lora_B, lora_A) * scaling_;
}

void LoRALinearImpl::merge() {
  if (!has_adapter() || merged_) return;
  torch::NoGradGuard no_grad;
  weight.add_(delta_weight());
  merged_ = true;
}

void LoRALinearImpl::unmerge() {
  if (!has_adapter() || !merged_) return;
  torch::NoGradGuard no_grad;
  weight.sub_(delta_weight());
  merged_ = false;
}

namespace {

// Whole-string match with '*' = any run of characters.
bool glob(const char* pattern, const char* text) {
  if (*pattern == '\0') return *text == '\0';
  if (*pattern == '*') return glob(pattern + 1, text) || (*text != '\0' && glob(pattern, text + 1));
  return *text == *pattern && glob(pattern + 1, text + 1);
}

std::string joined(const std::vector<std::string>& items, size_t at_most) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < at_most; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > at_most) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

}  // namespace

bool path_matches(const std::string& pattern, const std::string& path) {
  if (glob(pattern.c_str(), path.c_str())) return true;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1))
    if (glob(pattern.c_str(), path.c_str() + dot + 1)) return true;
  return false;
}

std::vector<std::string> inject_lora(torch::nn::Module& model, const LoRAOptions& options) {
  std::vector<std::string> adapted, linears;
  std::vector<bool> used(options.targets.size(), false);
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    auto* linear = dynamic_cast<LoRALinearImpl*>(item.value().get());
    if (!linear) continue;
    linears.push_back(item.key());
    bool wanted = false;
    for (size_t i = 0; i < options.targets.size(); ++i)
      if (path_matches(options.targets[i], item.key())) wanted = used[i] = true;
    if (!wanted) continue;
    linear->add_adapter(options.rank, options.alpha, options.dropout);
    adapted.push_back(item.key());
  }
  if (options.targets.empty())
    throw UserError("lora.targets: empty; name the linear layers to adapt, e.g. [attn.c_attn, attn.c_proj] (this "
                    "model's: " + joined(linears, 8) + ")");
  for (size_t i = 0; i < options.targets.size(); ++i)
    if (!used[i])
      throw UserError("lora.targets: '" + options.targets[i] + "' matches no linear layer; this model's are " +
                      joined(linears, 8) + " (a pattern matches a path's end; * is any characters)");

  std::vector<bool> trainable_used(options.trainable.size(), false);
  for (auto& item : model.named_parameters()) {
    const std::string& name = item.key();
    bool train = name.size() > 7 && (name.compare(name.size() - 7, 7, ".lora_A") == 0 ||
                                     name.compare(name.size() - 7, 7, ".lora_B") == 0);
    for (size_t i = 0; i < options.trainable.size(); ++i)
      if (path_matches(options.trainable[i], name)) train = trainable_used[i] = true;
    item.value().set_requires_grad(train);
  }
  for (size_t i = 0; i < options.trainable.size(); ++i)
    if (!trainable_used[i])
      throw UserError("lora.trainable: '" + options.trainable[i] + "' matches no parameter (patterns match a "
                      "parameter name's end, e.g. lm_head.weight or classifier.*)");
  return adapted;
}

void merge_lora(torch::nn::Module& model) {
  for (auto& module : model.modules(/*include_self=*/false))
    if (auto* linear = dynamic_cast<LoRALinearImpl*>(module.get())) linear->merge();
}

void unmerge_lora(torch::nn::Module& model) {
  for (auto& module : model.modules(/*include_self=*/false))
    if (auto* linear = dynamic_cast<LoRALinearImpl*>(module.get())) linear->unmerge();
}

}  // namespace zoo::models::nn
