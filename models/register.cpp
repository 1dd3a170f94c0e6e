// The model registry: recipe `model: {type: NAME}` -> LanguageModel.
#include <functional>

#include "models/bert.h"
#include "models/gpt.h"
#include "models/model.h"

namespace zoo::models {

Factory<LanguageModel, const ModelContext&>& language_models() {
  static Factory<LanguageModel, const ModelContext&> factory("model");
  return factory;
}

void register_models() {
  register_encoder_models();
  language_models().add<GPTOptions>(
      "gpt", "decoder-only transformer language model (GPT-2; Llama-style options)",
      std::function<LanguageModel(const GPTOptions&, const ModelContext&)>(
          [](const GPTOptions& options, const ModelContext& context) -> LanguageModel {
            return std::make_shared<GPTImpl>(options, context.vocab_size);
          }));
}

}  // namespace zoo::models
