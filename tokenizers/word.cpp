// Word-level tokenizer: counting, the vocabulary, encode/decode; saved as DIR/tokenizer.json.
#include "tokenizers/word.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/saved.h"
#include "tokenizers/utf8.h"

namespace zoo::tokenizers {
namespace {

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == 0xA0 ||
         c == 0x2028 || c == 0x2029 || (c >= 0x2000 && c <= 0x200A) || c == 0x3000;
}

// Letters and digits: ASCII alphanumerics and every non-ASCII code point that is not space or
// general punctuation (U+2010..U+205F: dashes, quotes, ellipsis).
bool is_word_char(char32_t c) {
  if (c < 128) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return !is_space(c) && !(c >= 0x2010 && c <= 0x205F);
}

bool is_apostrophe(char32_t c) { return c == '\'' || c == 0x2019; }

// Punctuation written against the word before it ("word," "word)") or after it ("(word").
bool closes(std::string_view w) {
  static const std::string_view marks[] = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "n't"};
  return std::find(std::begin(marks), std::end(marks), w) != std::end(marks);
}
bool opens(std::string_view w) { return w == "(" || w == "[" || w == "{" || w == "$"; }

std::string lower_ascii(std::string_view word) {
  std::string out(word);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    char32_t c;
    if (!decode_utf8(text, pos, c)) {  // an invalid byte is a word of its own (<unk>)
      words.push_back(text.substr(start, pos - start));
      continue;
    }
    if (is_space(c)) continue;
    if (!is_word_char(c)) {
      words.push_back(text.substr(start, pos - start));
      continue;
    }
    // A run of word characters, with apostrophes allowed between two of them.
    size_t end = pos;
    while (end < text.size()) {
      size_t next = end;
      char32_t d;
      if (!decode_utf8(text, next, d)) break;
      if (is_word_char(d)) {
        end = next;
        continue;
      }
      size_t after = next;
      char32_t e;
      if (is_apostrophe(d) && after < text.size() && decode_utf8(text, after, e) && is_word_char(e)) {
        end = after;
        continue;
      }
      break;
    }
    words.push_back(text.substr(start, end - start));
    pos = end;
  }
  return words;
}

WordTokenizer::WordTokenizer(std::vector<std::string> words, std::vector<Special> specials, bool lowercase)
    : words_(std::move(words)),
      specials_(std::move(specials)),
      lowercase_(lowercase),
      first_word_id_(1 + static_cast<int64_t>(specials_.size())) {
  set_leading_specials(specials_);
  ids_.reserve(words_.size());
  for (size_t i = 0; i < words_.size(); ++i)
    if (!ids_.emplace(words_[i], first_word_id_ + static_cast<int64_t>(i)).second)
      throw std::invalid_argument("WordTokenizer: word '" + words_[i] + "' is in the vocabulary twice");
}

std::shared_ptr<WordTokenizer> WordTokenizer::fit_file(const std::string& file, const WordOptions& options) {
  const std::string raw = read_file(file);
  check_utf8(raw, file);
  const std::string text = options.lowercase ? lower_ascii(raw) : raw;
  std::unordered_map<std::string_view, int64_t> counts;
  for (std::string_view word : split_words(text)) ++counts[word];
  if (counts.empty())
    throw UserError(file + ": no words in the file; the word tokenizer learns its vocabulary from the training text");
  std::vector<std::pair<std::string_view, int64_t>> ranked;
  for (const auto& [word, count] : counts)
    if (count >= options.min_count) ranked.emplace_back(word, count);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_vocab > 0 && static_cast<int64_t>(ranked.size()) > options.max_vocab) ranked.resize(options.max_vocab);
  std::vector<std::string> words;
  words.reserve(ranked.size());
  for (const auto& [word, count] : ranked) words.emplace_back(word);
  return std::make_shared<WordTokenizer>(std::move(words),
                                         parse_specials(options.special_tokens, "tokenizer.special_tokens"),
                                         options.lowercase);
}

int64_t WordTokenizer::id_of(std::string_view word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? kUnknown : it->second;
}

std::vector<int64_t> WordTokenizer::encode(const std::string& text) const {
  const std::string lowered = lowercase_ ? lower_ascii(text) : std::string();
  const std::vector<std::string_view> words = split_words(lowercase_ ? std::string_view(lowered) : std::string_view(text));
  std::vector<int64_t> ids;
  ids.reserve(words.size());
  for (std::string_view word : words) ids.push_back(id_of(word));
  return ids;
}

std::string WordTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  bool glue = true;  // no space before the next word
  for (int64_t id : ids) {
    if (id > kUnknown && id < first_word_id_) continue;  // pad, bos, eos, ... are not text
    const std::string piece = id_to_piece(id);
    if (!glue && !closes(piece)) text += ' ';
    text += piece;
    glue = opens(piece);
  }
  return text;
}

std::string WordTokenizer::id_to_piece(int64_t id) const {
  if (id <= kUnknown || id >= vocab_size()) return kSpecialPieces[static_cast<int>(Special::unk)];
  if (id < first_word_id_) return kSpecialPieces[static_cast<int>(specials_[id - 1])];
  return words_[id - first_word_id_];
}

// {"type": "word", "lowercase": false, "special_tokens": ["pad", ...], "words": ["the", ...]}:
// words[i] is the word of id 1 + len(special_tokens) + i.
void WordTokenizer::save(const std::string& dir) const {
  write_saved_tokenizer(dir, type(), specials_, {{"unknown_id", kUnknown}, {"lowercase", lowercase_}, {"words", words_}});
}

std::shared_ptr<WordTokenizer> WordTokenizer::load(const std::string& dir) {
  SavedTokenizer saved = read_saved_tokenizer(dir, "word");
  try {
    auto words = saved.doc.at("words").get<std::vector<std::string>>();
    std::vector<std::string> sorted = words;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw damaged_tokenizer(saved.path, "\"words\" holds a word twice");
    return std::make_shared<WordTokenizer>(std::move(words), std::move(saved.specials),
                                           saved.doc.value("lowercase", false));
  } catch (const nlohmann::json::exception& e) {
    throw damaged_tokenizer(saved.path, std::string("malformed (") + e.what() + ")");
  }
}

}  // namespace zoo::tokenizers
