// Reading and writing a saved tokenizer's tokenizer.json, shared by every tokenizer type.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "tokenizers/tokenizer.h"

namespace zoo::tokenizers {

// The UserError for a damaged or missing file of a saved tokenizer.
UserError damaged_tokenizer(const std::string& file, const std::string& what);

// DIR/tokenizer.json of a tokenizer of `type`, parsed, and the special tokens it lists.
// Unreadable JSON, another type or a bad special-token list is a damaged_tokenizer error.
struct SavedTokenizer {
  std::string path;
  nlohmann::json doc;
  std::vector<Special> specials;
};
SavedTokenizer read_saved_tokenizer(const std::string& dir, const std::string& type);

// Writes DIR/tokenizer.json: {"type": type, "special_tokens": [...names], ...fields} atomically.
void write_saved_tokenizer(const std::string& dir, const std::string& type, const std::vector<Special>& specials,
                           nlohmann::json fields);

}  // namespace zoo::tokenizers
