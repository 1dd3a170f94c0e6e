// Defaults of the LanguageModel interface: masked and packed forward, weight-decay groups, parameter count.
#include "models/model.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace zoo::models {

torch::Tensor LanguageModelImpl::forward_masked(const torch::Tensor&, const torch::Tensor&) {
  throw std::logic_error(name() + " does not take an attention mask");
}

torch::Tensor LanguageModelImpl::forward_packed(const torch::Tensor&, const torch::Tensor&) {
  throw std::logic_error(name() + " does not take packed sequences");
}

namespace {

bool decays(const std::string& name, const torch::Tensor& p) {
  const bool embedding = name.find("emb") != std::string::npos || name.find("wte") != std::string::npos ||
                         name.find("wpe") != std::string::npos;
  return p.dim() >= 2 && !embedding;
}

}  // namespace

// A tensor registered under several names (tied weights) decays only if every name says so.
std::vector<torch::Tensor> select_parameters(const torch::nn::Module& module, bool decay,
                                             const std::function<bool(const std::string&)>& include) {
  std::vector<torch::Tensor> order;
  std::unordered_map<const void*, bool> decays_by_tensor;
  for (const auto& item : module.named_parameters()) {
    const auto& p = item.value();
    if (!p.requires_grad() || (include && !include(item.key()))) continue;
    auto [it, first] = decays_by_tensor.emplace(p.unsafeGetTensorImpl(), true);
    if (first) order.push_back(p);
    it->second = it->second && decays(item.key(), p);
  }
  std::vector<torch::Tensor> out;
  for (const auto& p : order)
    if (decays_by_tensor.at(p.unsafeGetTensorImpl()) == decay) out.push_back(p);
  return out;
}

std::vector<torch::Tensor> LanguageModelImpl::decay_parameters() const { return select_parameters(*this, true); }

std::vector<torch::Tensor> LanguageModelImpl::no_decay_parameters() const { return select_parameters(*this, false); }

int64_t LanguageModelImpl::num_parameters() const {
  std::unordered_set<const void*> seen;
  int64_t total = 0;
  for (const auto& p : parameters())
    if (seen.insert(p.unsafeGetTensorImpl()).second) total += p.numel();
  return total;
}

Factory<Classifier, const ClassifierContext&>& classifier_models() {
  static Factory<Classifier, const ClassifierContext&> factory("model");
  return factory;
}

bool is_classifier_model(const std::string& type) { return classifier_models().has(type); }

}  // namespace zoo::models
