#include "generation/sampling.h"

namespace zoo::generation {
namespace {

int64_t choose(torch::Tensor logits, const SamplingOptions& options, torch::Generator& generator) {
  logits = logits.to(torch::kFloat32).cpu();  // (V)
  if (options.temperature <= 0) return logits.argmax().item<int64_t>();
  logits = logits / options.temperature;
  if (options.top_k > 0 && options.top_k < logits.size(0)) {
    auto kth = std::get<0>(logits.topk(options.top_k)).min();
    logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(logits, -1);
  return torch::multinomial(probs, 1, /*replacement=*/false, generator).item<int64_t>();
}

}  // namespace

std::vector<int64_t> sample(models::LanguageModelImpl& model, const std::vector<int64_t>& prompt,
                            const SamplingOptions& options, const std::function<void(int64_t)>& on_token) {
  TORCH_CHECK(!prompt.empty(), "sample: the prompt must have at least one token");
  c10::InferenceMode inference;
  bool was_training = model.is_training();
  model.eval();
  auto device = model.parameters().front().device();
  auto generator = at::detail::createCPUGenerator(options.seed);
  const int64_t context = model.context_length();

  std::vector<int64_t> tokens = prompt;
  auto cache = model.make_cache(1);
  auto prefill = [&](size_t from) {
    cache = model.make_cache(1);
    std::vector<int64_t> window(tokens.begin() + static_cast<std::ptrdiff_t>(from), tokens.end());
    auto ids = torch::tensor(window, torch::kInt64).view({1, -1}).to(device);
    return model.forward_cached(ids, cache).index({0, -1});  // (V)
  };
  auto last_logits = prefill(tokens.size() > static_cast<size_t>(context) ? tokens.size() - context : 0);

  for (int64_t i = 0; i < options.max_new_tokens; ++i) {
    int64_t next = choose(last_logits, options, generator);
    tokens.push_back(next);
    if (on_token) on_token(next);
    if (i + 1 == options.max_new_tokens) break;
    if (cache.length() >= context) {
      last_logits = prefill(tokens.size() - static_cast<size_t>(context / 2));
    } else {
      auto ids = torch::full({1, 1}, next, torch::TensorOptions().dtype(torch::kInt64).device(device));
      last_logits = model.forward_cached(ids, cache).index({0, -1});
    }
  }
  if (was_training) model.train();
  return std::vector<int64_t>(tokens.begin() + static_cast<std::ptrdiff_t>(prompt.size()), tokens.end());
}

}  // namespace zoo::generation
