// Generation from text: encodes the prompts, stops at the tokenizer's end of sequence when the
// options ask, and decodes what comes back. What `zoo generate` and the sample after training use.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "generation/generate.h"
#include "tokenizers/tokenizer.h"

namespace zoo::generation {

std::vector<std::vector<Sequence>> generate_text(
    Decoder& decoder, const tokenizers::Tokenizer& tokenizer, const std::vector<std::string>& prompts,
    const GenerationOptions& options, uint64_t seed,
    const std::function<void(size_t prompt, size_t draw, int64_t token)>& on_token = {});

}  // namespace zoo::generation
