#include "generation/text.h"

namespace zoo::generation {

std::vector<std::vector<Sequence>> generate_text(Decoder& decoder, const tokenizers::Tokenizer& tokenizer,
                                                 const std::vector<std::string>& prompts,
                                                 const GenerationOptions& options, uint64_t seed,
                                                 const std::function<void(size_t, size_t, int64_t)>& on_token) {
  Request request;
  request.prompts = tokenizer.encode_batch(prompts);
  request.options = options;
  request.seed = seed;
  if (options.stop_at_eos && tokenizer.has_special(tokenizers::Special::eos))
    request.stop_tokens.push_back(tokenizer.special_id(tokenizers::Special::eos));
  request.decode = [&tokenizer](const Tokens& ids) { return tokenizer.decode(ids); };
  request.on_token = on_token;
  return generate(decoder, request);
}

}  // namespace zoo::generation
