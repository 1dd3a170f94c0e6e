// The tokenizer factory, and loading a saved tokenizer by the type recorded beside it.
#include "tokenizers/tokenizer.h"

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/char.h"
#include "tokenizers/utf8.h"

namespace zoo::tokenizers {

Factory<std::shared_ptr<Tokenizer>, const std::string&>& tokenizers() {
  static Factory<std::shared_ptr<Tokenizer>, const std::string&> factory("tokenizer");
  return factory;
}

std::shared_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  using Loader = std::shared_ptr<Tokenizer> (*)(const std::string&);
  static const std::map<std::string, Loader> loaders = {
      {"char", [](const std::string& d) -> std::shared_ptr<Tokenizer> { return CharTokenizer::load(d); }},
  };
  const std::string path = dir + "/" + kTokenizerFile;
  std::string type;
  try {
    type = nlohmann::json::parse(read_file(path)).value("type", "");
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": not a saved tokenizer (" + e.what() + ")");
  }
  auto it = loaders.find(type);
  if (it == loaders.end()) {
    std::string known;
    for (const auto& [name, loader] : loaders) known += (known.empty() ? "" : ", ") + name;
    throw UserError(path + ": unknown tokenizer type '" + type + "' (known: " + known + ")");
  }
  return it->second(dir);
}

}  // namespace zoo::tokenizers
