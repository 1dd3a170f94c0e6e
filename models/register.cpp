// The model registries: recipe `model: {type: NAME}` -> a language model, an encoder or a classifier.
#include <functional>

#include "models/bert.h"
#include "models/bilstm.h"
#include "models/gpt.h"
#include "models/model.h"
#include "models/seq2seq.h"

namespace zoo::models {

Factory<LanguageModel, const ModelContext&>& language_models() {
  static Factory<LanguageModel, const ModelContext&> factory("model");
  return factory;
}

void register_models() {
  register_encoder_models();
  register_seq2seq_models();
  register_bilstm_models();
  language_models().add<GPTOptions>(
      "gpt", "decoder-only transformer language model (GPT-2; Llama-style options)",
      std::function<LanguageModel(const GPTOptions&, const ModelContext&)>(
          [](const GPTOptions& options, const ModelContext& context) -> LanguageModel {
            return std::make_shared<GPTImpl>(options, context.vocab_size);
          }));
}

}  // namespace zoo::models
