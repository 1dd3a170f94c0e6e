// Registers every tokenizer type with the factory (called from register_all()).
#include <functional>

#include "core/error.h"
#include "tokenizers/char.h"
#include "tokenizers/tokenizer.h"

namespace zoo::tokenizers {

void register_tokenizers() {
  tokenizers().add<CharOptions>(
      "char", "one token per Unicode character of the training text (id 0: unknown)",
      std::function<std::shared_ptr<Tokenizer>(const CharOptions&, const std::string&)>(
          [](const CharOptions&, const std::string& training_text_file) -> std::shared_ptr<Tokenizer> {
            if (training_text_file.empty())
              throw UserError("tokenizer char: learns its characters from the training text, but the data "
                              "section names no training text file");
            return CharTokenizer::fit_file(training_text_file);
          }));
}

}  // namespace zoo::tokenizers
