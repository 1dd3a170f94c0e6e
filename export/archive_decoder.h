// Generation from an exported archive alone: its tokenizer, generation defaults and a Decoder
// over its forward(input_ids, attention_mask). The archive holds no KV cache, so each step runs
// the whole window; the run directory's cached decoder is the fast path, this the portable one.
#pragma once

#include <torch/script.h>

#include <memory>
#include <string>

#include "core/recipe.h"
#include "generation/decoder.h"
#include "tokenizers/tokenizer.h"

namespace zoo::exporting {

struct LoadedArchive {
  torch::jit::Module module;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  GenerationOptions generation;  // the recipe's
  int64_t seed = 0;              // the recipe's
  int64_t context_length = 0;
};

// Reads an archive written by `zoo export`; a UserError naming what is missing otherwise.
LoadedArchive load_exported(const std::string& path, const torch::Device& device = torch::kCPU);

std::unique_ptr<generation::Decoder> archive_decoder(torch::jit::Module& module, int64_t context_length,
                                                     const torch::Device& device = torch::kCPU);

}  // namespace zoo::exporting
