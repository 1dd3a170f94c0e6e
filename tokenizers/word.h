// Word-level tokenizer: words and punctuation marks split off whitespace-separated text.
//
// Pre-tokenization: whitespace separates; a run of letters, digits and inner apostrophes
// ("don't", "1960s", "naïve") is one word; every other character (punctuation, symbols) is a
// word of its own. The vocabulary: id 0 is `<unk>`, then the recipe's special tokens in the
// order listed, then the training text's words that occur at least min_count times, most
// frequent first (ties in byte order), at most max_vocab of them. Decoding joins words with
// single spaces, none before closing or after opening punctuation: whitespace is not kept.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/options.h"
#include "tokenizers/tokenizer.h"

namespace zoo::tokenizers {

struct WordOptions : Options<WordOptions>, TokenizerOptionsBase {
  int64_t min_count = 1;
  int64_t max_vocab = 0;
  bool lowercase = false;

  template <class V>
  void visit(V& v) {
    visit_common(v);
    v("min_count", min_count, "words seen fewer times than this become <unk>", positive());
    v("max_vocab", max_vocab, "keep at most this many of the most frequent words; 0 = all", non_negative());
    v("lowercase", lowercase, "lowercase ASCII letters before splitting");
  }
};

// The words of `text` in order (see the file comment for the rule).
std::vector<std::string_view> split_words(std::string_view text);

class WordTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kUnknown = 0;

  WordTokenizer(std::vector<std::string> words, std::vector<Special> specials, bool lowercase);

  // Counts the words of `file` (a UTF-8 text; invalid bytes are a UserError naming the line).
  static std::shared_ptr<WordTokenizer> fit_file(const std::string& file, const WordOptions& options);
  static std::shared_ptr<WordTokenizer> load(const std::string& dir);

  std::string type() const override { return "word"; }
  std::vector<int64_t> encode(const std::string& text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string id_to_piece(int64_t id) const override;
  int64_t vocab_size() const override { return first_word_id_ + static_cast<int64_t>(words_.size()); }
  void save(const std::string& dir) const override;

  // The id of one word as split_words gives it (after lowercasing), or kUnknown.
  int64_t id_of(std::string_view word) const;

 private:
  std::vector<std::string> words_;
  std::vector<Special> specials_;
  bool lowercase_;
  int64_t first_word_id_;  // 1 + number of specials
  std::unordered_map<std::string_view, int64_t> ids_;  // views into words_
};

}  // namespace zoo::tokenizers
