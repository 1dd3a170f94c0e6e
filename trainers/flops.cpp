#include "trainers/flops.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>
#include <vector>

#include "models/gpt.h"
#include "models/nn/attention.h"
#include "models/nn/moe.h"

namespace zoo::trainers {

TrainingFlops training_flops(const torch::nn::Module& model) {
  std::set<const void*> lookup_tables;  // weights an embedding module only indexes
  std::set<const void*> output_tables;  // embeddings reused as the output projection
  std::map<std::string, double> expert_share;  // MoE module name -> top_k / num_experts
  TrainingFlops flops;
  // The model itself, then its submodules (named_modules() with the root needs a shared_ptr).
  std::vector<std::pair<std::string, const torch::nn::Module*>> modules{{"", &model}};
  for (const auto& item : model.named_modules("", /*include_self=*/false)) modules.emplace_back(item.key(), item.value().get());
  for (const auto& [name, module] : modules) {
    if (const auto* embedding = dynamic_cast<const torch::nn::EmbeddingImpl*>(module))
      lookup_tables.insert(embedding->weight.data_ptr());
    if (const auto* gpt = dynamic_cast<const models::GPTImpl*>(module); gpt && gpt->options().tie_weights)
      if (const auto* wte = gpt->named_parameters().find("wte.weight")) output_tables.insert(wte->data_ptr());
    if (const auto* moe = dynamic_cast<const models::nn::MoEImpl*>(module))
      expert_share[name.empty() ? "experts." : name + ".experts."] =
          static_cast<double>(moe->options().top_k) / static_cast<double>(moe->options().num_experts);
    if (const auto* attention = dynamic_cast<const models::nn::SelfAttentionImpl*>(module))
      flops.attention_per_key += 12.0 * static_cast<double>(attention->options.d_model());
  }
  std::set<const void*> seen;  // a shared tensor counts once
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const auto& p = item.value();
    if (!seen.insert(p.data_ptr()).second) continue;
    if (lookup_tables.count(p.data_ptr()) && !output_tables.count(p.data_ptr())) continue;
    double share = 1.0;
    for (const auto& [prefix, top_k_share] : expert_share)
      if (item.key().rfind(prefix, 0) == 0) share = top_k_share;
    flops.weights += (p.requires_grad() ? 6.0 : 4.0) * share * static_cast<double>(p.numel());
  }
  return flops;
}

double matmul_peak_flops(const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const int64_t n = device.is_cuda() ? 4096 : 1024;
  auto options = torch::TensorOptions().device(device);
  // Constant operands: drawing random ones would move the default generator, which a resumed run
  // has just restored (and the products take as long either way).
  auto a = torch::full({n, n}, 0.5, options), b = torch::full({n, n}, 0.25, options), c = torch::empty({n, n}, options);
  auto sync = [&] { if (device.is_cuda()) c.sum().item<float>(); };
  torch::mm_out(c, a, b);  // warm up: threads, BLAS buffers, CUDA handles
  sync();
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    sync();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / seconds);
  }
  return best;
}

}  // namespace zoo::trainers
