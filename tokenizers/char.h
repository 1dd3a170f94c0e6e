// Character-level tokenizer: one token per Unicode code point of UTF-8 text.
//
// The vocabulary: id 0 is `<unk>`, then the recipe's special tokens in the order listed, then
// the sorted set of code points in the training text. Encoding maps characters outside the
// vocabulary (and bytes that are not valid UTF-8) to 0; decoding 0 gives U+FFFD, the Unicode
// replacement character, and other special tokens decode to nothing.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/options.h"
#include "tokenizers/tokenizer.h"

namespace zoo::tokenizers {

struct CharOptions : Options<CharOptions>, TokenizerOptionsBase {
  template <class V>
  void visit(V& v) {
    visit_common(v);
  }
};

class CharTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kUnknown = 0;
  static constexpr char32_t kReplacement = 0xFFFD;

  // `chars`: strictly increasing code points (id 1+specials.size()+i is chars[i]).
  explicit CharTokenizer(std::vector<char32_t> chars, std::vector<Special> specials = {});

  // Learns the characters of `text`, the contents of `file`; invalid UTF-8 is a UserError
  // naming file and line.
  static std::shared_ptr<CharTokenizer> fit(std::string_view text, const std::string& file,
                                            std::vector<Special> specials = {});
  static std::shared_ptr<CharTokenizer> fit_file(const std::string& file, std::vector<Special> specials = {});
  static std::shared_ptr<CharTokenizer> load(const std::string& dir);

  std::string type() const override { return "char"; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string id_to_piece(int64_t id) const override;
  int64_t vocab_size() const override { return first_char_id_ + static_cast<int64_t>(chars_.size()); }
  void save(const std::string& dir) const override;

  const std::vector<char32_t>& chars() const { return chars_; }

 private:
  int64_t id_of(char32_t code_point) const;

  std::vector<char32_t> chars_;
  std::vector<Special> specials_;
  int64_t first_char_id_;  // 1 + number of specials
  std::array<int64_t, 128> ascii_ids_;  // the common case without hashing
  std::unordered_map<char32_t, int64_t> ids_;
};

}  // namespace zoo::tokenizers
