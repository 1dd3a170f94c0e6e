#include "trainers/causal_lm.h"

#include <algorithm>

namespace zoo::trainers {

std::vector<exporting::TracedMethod> causal_lm_export_methods(const models::LanguageModel& model,
                                                              const torch::Device& device) {
  auto ids = torch::zeros({2, std::min<int64_t>(8, model->context_length())}, torch::kInt64).to(device);
  return {{"logits", {ids}, [model](const std::vector<torch::Tensor>& in) { return model->forward(in[0]); }},
          {"logits_masked", {ids, torch::ones_like(ids)},
           [model](const std::vector<torch::Tensor>& in) { return model->forward_masked(in[0], in[1]); }}};
}

const char* const kCausalLMForward = R"(
def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    if attention_mask is None:
        return self.logits(input_ids)
    return self.logits_masked(input_ids, attention_mask)
)";

}  // namespace zoo::trainers
