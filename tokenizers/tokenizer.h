// The Tokenizer interface every tokenizer implements, and their factory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"

namespace zoo::tokenizers {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string type() const = 0;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  // Writes everything needed to rebuild it into `dir` (created by the caller).
  virtual void save(const std::string& dir) const = 0;
};

// Builds a tokenizer from recipe options; `training_text_file` is the corpus for tokenizers
// that learn a vocabulary (char: the set of characters seen).
Factory<std::shared_ptr<Tokenizer>, const std::string&>& tokenizers();

// Every saved tokenizer writes DIR/tokenizer.json, a JSON object with at least its "type".
inline constexpr const char* kTokenizerFile = "tokenizer.json";

// Loads a tokenizer saved with save(); the type is recorded in the directory.
std::shared_ptr<Tokenizer> load_tokenizer(const std::string& dir);

void register_tokenizers();

}  // namespace zoo::tokenizers
