// What every objective over a causal language model (lm, sft) exports: the traced logits,
// plain and masked, and a `forward` over them.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "export/torchscript.h"
#include "models/model.h"

namespace zoo::trainers {

// `logits(input_ids)` and `logits_masked(input_ids, attention_mask)`, traced at (2, 8); the
// model takes every size from its inputs, so the graph runs at any batch and length up to the
// context.
std::vector<exporting::TracedMethod> causal_lm_export_methods(const models::LanguageModel& model,
                                                              const torch::Device& device);

// forward(input_ids, attention_mask=None) over the two methods.
extern const char* const kCausalLMForward;

}  // namespace zoo::trainers
