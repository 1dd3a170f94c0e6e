// Character-level tokenizer over UTF-8 code points; saved as DIR/tokenizer.json.
#include "tokenizers/char.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/saved.h"
#include "tokenizers/utf8.h"

namespace zoo::tokenizers {

CharTokenizer::CharTokenizer(std::vector<char32_t> chars, std::vector<Special> specials)
    : chars_(std::move(chars)), specials_(std::move(specials)), first_char_id_(1 + static_cast<int64_t>(specials_.size())) {
  if (!std::is_sorted(chars_.begin(), chars_.end()) ||
      std::adjacent_find(chars_.begin(), chars_.end()) != chars_.end())
    throw std::invalid_argument("CharTokenizer: characters must be strictly increasing");
  set_leading_specials(specials_);
  ascii_ids_.fill(kUnknown);
  for (size_t i = 0; i < chars_.size(); ++i) {
    const int64_t id = first_char_id_ + static_cast<int64_t>(i);
    if (chars_[i] < ascii_ids_.size()) ascii_ids_[chars_[i]] = id;
    else ids_.emplace(chars_[i], id);
  }
}

std::shared_ptr<CharTokenizer> CharTokenizer::fit(std::string_view text, const std::string& file,
                                                  std::vector<Special> specials) {
  check_utf8(text, file);
  if (text.empty())
    throw UserError(file + ": empty file; the char tokenizer learns its characters from the training text");
  std::vector<bool> seen_ascii(128, false);
  std::vector<char32_t> chars;
  size_t pos = 0;
  char32_t cp;
  while (pos < text.size()) {
    decode_utf8(text, pos, cp);
    if (cp < 128) {
      if (seen_ascii[cp]) continue;
      seen_ascii[cp] = true;
    }
    chars.push_back(cp);
  }
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  return std::make_shared<CharTokenizer>(std::move(chars), std::move(specials));
}

std::shared_ptr<CharTokenizer> CharTokenizer::fit_file(const std::string& file, std::vector<Special> specials) {
  return fit(read_file(file), file, std::move(specials));
}

int64_t CharTokenizer::id_of(char32_t cp) const {
  if (cp < ascii_ids_.size()) return ascii_ids_[cp];
  auto it = ids_.find(cp);
  return it == ids_.end() ? kUnknown : it->second;
}

std::vector<int64_t> CharTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size());
  size_t pos = 0;
  char32_t cp;
  while (pos < text.size()) ids.push_back(decode_utf8(text, pos, cp) ? id_of(cp) : kUnknown);
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string text;
  text.reserve(ids.size());
  for (int64_t id : ids) {
    if (id == kUnknown || id >= vocab_size() || id < 0) append_utf8(text, kReplacement);
    else if (id >= first_char_id_) append_utf8(text, chars_[id - first_char_id_]);
  }
  return text;
}

std::string CharTokenizer::id_to_piece(int64_t id) const {
  if (id <= kUnknown || id >= vocab_size()) return kSpecialPieces[static_cast<int>(Special::unk)];
  if (id < first_char_id_) return kSpecialPieces[static_cast<int>(specials_[id - 1])];
  std::string piece;
  append_utf8(piece, chars_[id - first_char_id_]);
  return piece;
}

// {"type": "char", "special_tokens": ["pad", ...], "chars": ["\n", " ", "!", ...]}: chars[i]
// is the character of id 1 + len(special_tokens) + i.
void CharTokenizer::save(const std::string& dir) const {
  nlohmann::json chars = nlohmann::json::array();
  for (char32_t cp : chars_) {
    std::string s;
    append_utf8(s, cp);
    chars.push_back(s);
  }
  write_saved_tokenizer(dir, type(), specials_, {{"unknown_id", kUnknown}, {"chars", chars}});
}

std::shared_ptr<CharTokenizer> CharTokenizer::load(const std::string& dir) {
  SavedTokenizer saved = read_saved_tokenizer(dir, "char");
  const nlohmann::json& doc = saved.doc;
  const auto fail = [&](const std::string& what) { return damaged_tokenizer(saved.path, what); };
  if (!doc.contains("chars") || !doc["chars"].is_array()) throw fail("no \"chars\" list");
  std::vector<char32_t> chars;
  for (const auto& entry : doc["chars"]) {
    size_t pos = 0;
    char32_t cp;
    if (!entry.is_string()) throw fail("\"chars\" holds a non-string");
    const std::string s = entry.get<std::string>();
    if (s.empty() || !decode_utf8(s, pos, cp) || pos != s.size())
      throw fail("\"chars\" entry \"" + s + "\" is not one character");
    if (!chars.empty() && cp <= chars.back()) throw fail("\"chars\" is not in increasing code point order");
    chars.push_back(cp);
  }
  return std::make_shared<CharTokenizer>(std::move(chars), std::move(saved.specials));
}

}  // namespace zoo::tokenizers
