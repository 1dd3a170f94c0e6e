// LoRA (Hu et al. 2021): a frozen linear layer plus a trainable low-rank update,
// y = x W^T + b + (alpha / r) * dropout(x) A^T B^T, with A (r, in) small and random and B (out, r)
// zero, so a fresh adapter changes nothing. Every linear layer of the models is a LoRALinear;
// without an adapter it is torch::nn::Linear (same parameters, names, initialisation and
// result), so checkpoints of a base model load into an adapted one unchanged.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/recipe.h"

namespace zoo::models::nn {

class LoRALinearImpl : public torch::nn::Module {
 public:
  explicit LoRALinearImpl(const torch::nn::LinearOptions& options);
  LoRALinearImpl(int64_t in, int64_t out) : LoRALinearImpl(torch::nn::LinearOptions(in, out)) {}

  torch::Tensor forward(const torch::Tensor& x);

  // Adds lora_A and lora_B of `rank` (A uniform in +-1/sqrt(in), as Kaiming-uniform with a = sqrt(5)
  // gives; B zero) and freezes weight and bias. Called once, at build time.
  void add_adapter(int64_t rank, double alpha, double dropout);
  bool has_adapter() const { return lora_A.defined(); }
  // Folds (alpha / r) B A into weight, so forward skips the adapter; unmerge takes it out again.
  void merge();
  void unmerge();
  bool merged() const { return merged_; }
  // (alpha / r) B A: the adapter's change to weight.
  torch::Tensor delta_weight() const;

  torch::nn::LinearOptions options;
  torch::Tensor weight, bias;   // bias undefined without one
  torch::Tensor lora_A, lora_B; // undefined without an adapter

 private:
  double scaling_ = 0, dropout_ = 0;
  bool merged_ = false;
};
TORCH_MODULE(LoRALinear);

// Whether `pattern` (`*` = any run of characters) matches the whole of `path` or its end after
// a '.': "attn.c_attn" matches "h.0.attn.c_attn", "mlp.*" matches "h.1.mlp.c_fc".
bool path_matches(const std::string& pattern, const std::string& path);

// Adds adapters to every LoRALinear of `model` whose path matches a target, freezes every other
// parameter except those `trainable` names, and returns the adapted paths in order. A pattern
// that matches nothing is a zoo::UserError naming the layers there are.
std::vector<std::string> inject_lora(torch::nn::Module& model, const LoRAOptions& options);

// Merges (or unmerges) every adapter of `model`.
void merge_lora(torch::nn::Module& model);
void unmerge_lora(torch::nn::Module& model);

}  // namespace zoo::models::nn
