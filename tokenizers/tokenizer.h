// The Tokenizer interface every tokenizer implements, its special tokens, and the factory.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"

namespace zoo::tokenizers {

// The special tokens a tokenizer may have. Every tokenizer has `unk`; the others exist only
// when the recipe lists them in `special_tokens` (sentencepiece also has bos/eos by default).
enum class Special { pad, unk, bos, eos, mask, cls, sep };
inline constexpr int kNumSpecials = 7;
// Recipe names (special_tokens: [pad, bos, eos]) and the pieces they decode to.
inline constexpr std::array<const char*, kNumSpecials> kSpecialNames = {"pad", "unk", "bos", "eos",
                                                                       "mask", "cls", "sep"};
inline constexpr std::array<const char*, kNumSpecials> kSpecialPieces = {"<pad>",  "<unk>", "<s>",  "</s>",
                                                                        "<mask>", "<cls>", "<sep>"};

// Parses recipe names ("pad", "eos", ...) into specials, in the order given; an unknown name
// or a repeat is a UserError naming `where`.
std::vector<Special> parse_specials(const std::vector<std::string>& names, const std::string& where);

// Options every tokenizer type has (read flat in the tokenizer section of a recipe).
class TokenizerOptionsBase {
 public:
  virtual ~TokenizerOptionsBase() = default;
  // Where a tokenizer that learns its vocabulary gets its text: a key path into the recipe
  // (data.train, data.valid) or a file.
  std::string train_on = "data.train";
  std::vector<std::string> special_tokens;

  template <class V>
  void visit_common(V& v) {
    v("train_on", train_on, "text the vocabulary is learnt from: data.train, data.valid or a file path");
    v("special_tokens", special_tokens, "special tokens to add: pad, bos, eos, mask, cls, sep (unk always exists)");
  }
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string type() const = 0;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  // Encodes many texts; tokenizers that can encode in parallel override it.
  virtual std::vector<std::vector<int64_t>> encode_batch(const std::vector<std::string>& texts) const;
  // The text of `ids`; special tokens other than unk decode to nothing.
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // The piece a single id stands for ("<pad>", "▁the", "e"), for inspection and tests.
  virtual std::string id_to_piece(int64_t id) const = 0;
  virtual int64_t vocab_size() const = 0;
  // Writes everything needed to rebuild it into `dir` (created by the caller).
  virtual void save(const std::string& dir) const = 0;

  // The id of a special token, or -1 when this tokenizer has none.
  int64_t special_id(Special which) const { return special_ids_[static_cast<int>(which)]; }
  bool has_special(Special which) const { return special_id(which) >= 0; }
  // The id of a special token that `needed_by` (e.g. "data pairs") cannot do without; a
  // UserError saying how to add it when the tokenizer lacks it.
  int64_t require_special(Special which, const std::string& needed_by) const;

 protected:
  // The layout of the char and word tokenizers: <unk> 0, then `specials` at 1, 2, ...
  void set_leading_specials(const std::vector<Special>& specials);

  std::array<int64_t, kNumSpecials> special_ids_{-1, -1, -1, -1, -1, -1, -1};
};

// Builds a tokenizer from recipe options; `training_text_file` is the UTF-8 text tokenizers
// that learn a vocabulary learn it from (resolved from the options' train_on by the caller).
Factory<std::shared_ptr<Tokenizer>, const std::string&>& tokenizers();

// Every saved tokenizer writes DIR/tokenizer.json, a JSON object with at least its "type".
inline constexpr const char* kTokenizerFile = "tokenizer.json";

// Loads a tokenizer saved with save(); the type is recorded in the directory. A missing or
// corrupt directory is a UserError naming the file.
std::shared_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// A content hash of what save() writes (16 hex digits): two tokenizers with the same
// fingerprint give the same ids. Token files record it to catch a tokenizer that changed.
std::string fingerprint(const Tokenizer& tokenizer);

void register_tokenizers();

}  // namespace zoo::tokenizers
