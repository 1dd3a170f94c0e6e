// `zoo data prepare NAME`: the raw files scripts/fetch_data.sh extracts into DATA_ROOT/NAME/raw
// become the plain-text, classification (TSV), tagging (CoNLL) and pairs (TSV) files the data
// types read. docs/data.md says, corpus by corpus, what is kept and how it is split.
#include "datasets/prepare.h"

#include <fmt/format.h>
#include <iconv.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string_view>
#include <utility>

#include "core/error.h"
#include "core/files.h"
#include "datasets/chatbot.h"
#include "datasets/instruction_tasks.h"

namespace zoo::datasets {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- strings

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

// Runs of ASCII whitespace (tabs and newlines included) become one space; ends trimmed.
std::string collapse_whitespace(std::string_view s) {
  std::string out;
  for (auto word : split_words(s)) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string_view::npos) end = s.size();
    lines.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t begin = 0, end = s.size();
  while (begin < end && is_space(s[begin])) ++begin;
  while (end > begin && is_space(s[end - 1])) --end;
  return std::string(s.substr(begin, end - begin));
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xe0 && byte(i + 1) < 0xa0) || (c == 0xed && byte(i + 1) >= 0xa0))) return 0;
  if (n == 4 && ((c == 0xf0 && byte(i + 1) < 0x90) || (c == 0xf4 && byte(i + 1) >= 0x90))) return 0;
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

// Windows-1252's characters for bytes 0x80-0x9f (0: undefined there). Text decoded as Latin-1
// when it was Windows-1252 (nlp-corpus has some; so do emails labelled iso-8859-1) carries
// them as the C1 control characters U+0080-U+009F.
constexpr uint16_t kWindows1252C1[32] = {0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
                                         0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017d, 0,
                                         0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
                                         0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

// One line of text from valid UTF-8: C1 controls become the Windows-1252 characters they stand
// for, other control characters and Unicode line/paragraph separators become spaces, and
// whitespace is collapsed.
std::string clean_text(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size(); ++i) {
    auto c = static_cast<unsigned char>(utf8[i]);
    auto next = i + 1 < utf8.size() ? static_cast<unsigned char>(utf8[i + 1]) : 0;
    if (c < 0x20 || c == 0x7f) {
      out += ' ';
    } else if (c == 0xc2 && next >= 0x80 && next < 0xa0) {
      uint16_t mapped = kWindows1252C1[next - 0x80];
      if (mapped) {
        append_utf8(out, mapped);
      } else {
        out += ' ';
      }
      ++i;
    } else if (c == 0xe2 && next == 0x80 && i + 2 < utf8.size() && (utf8[i + 2] == '\xa8' || utf8[i + 2] == '\xa9')) {
      out += ' ';  // U+2028, U+2029
      i += 2;
    } else {
      out += utf8[i];
    }
  }
  return collapse_whitespace(out);
}

// ---------------------------------------------------------------- output files and their sizes

enum class Format { kText, kClassification, kTagging, kPairs, kInstructions };

// "N lines, N tokens, N bytes" and the like, counted from the bytes written so the line
// describes the file exactly.
std::string sizes(Format format, const std::string& content) {
  int64_t items = 0, tokens = 0, target_tokens = 0;
  std::set<std::string_view> labels;
  bool in_sentence = false;
  for (auto line : split_lines(content)) {
    if (format == Format::kInstructions) {
      items += !line.empty();
    } else if (format == Format::kText) {
      auto words = split_words(line);
      items += !words.empty();
      tokens += static_cast<int64_t>(words.size());
    } else if (format == Format::kTagging) {
      if (line.empty()) {
        in_sentence = false;
        continue;
      }
      items += !in_sentence;
      in_sentence = true;
      tokens += 1;
      labels.insert(line.substr(line.rfind('\t') + 1));
    } else {
      size_t tab = line.find('\t');
      ++items;
      std::string_view first = line.substr(0, tab), rest = line.substr(tab + 1);
      if (format == Format::kClassification) {
        labels.insert(first);
        tokens += static_cast<int64_t>(split_words(rest).size());
      } else {
        tokens += static_cast<int64_t>(split_words(first).size());
        target_tokens += static_cast<int64_t>(split_words(rest).size());
      }
    }
  }
  std::string bytes = fmt::format("{} bytes", content.size());
  switch (format) {
    case Format::kText:
      return fmt::format("{} lines, {} tokens, {}", items, tokens, bytes);
    case Format::kClassification:
      return fmt::format("{} examples, {} tokens, {} labels, {}", items, tokens, labels.size(), bytes);
    case Format::kTagging:
      return fmt::format("{} sentences, {} tokens, {} tags, {}", items, tokens, labels.size(), bytes);
    case Format::kPairs:
      return fmt::format("{} pairs, {} source tokens, {} target tokens, {}", items, tokens, target_tokens, bytes);
    case Format::kInstructions:
      return fmt::format("{} instructions, {}", items, bytes);
  }
  return bytes;
}

// Writes DIR/RELATIVE atomically and prints its sizes.
void write_output(const fs::path& dir, const std::string& relative, Format format, const std::string& content) {
  fs::path path = dir / relative;
  fs::create_directories(path.parent_path());
  write_file_atomic(path.string(), content);
  fmt::print("{}: {}\n", path.string(), sizes(format, content));
}

// Appends one TSV line; fields never hold tabs or newlines (callers collapse whitespace).
void add_tsv(std::string& out, std::string_view first, std::string_view second) {
  out.append(first).append("\t").append(second).append("\n");
}

// The raw file PATH, or a UserError saying to fetch the corpus again.
std::string read_raw(const fs::path& path, const std::string& name) {
  if (!fs::is_regular_file(path)) {
    throw UserError(path.string() + ": missing; run scripts/fetch_data.sh " + name + " again");
  }
  return read_file(path.string());
}

nlohmann::json read_raw_json(const fs::path& path, const std::string& name) {
  try {
    return nlohmann::json::parse(read_raw(path, name));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path.string() + ": not valid JSON (" + e.what() + "); run scripts/fetch_data.sh " + name +
                    " again");
  }
}

// Regular files in DIR whose names match PATTERN, sorted by name.
std::vector<std::string> matching_files(const fs::path& dir, const std::regex& pattern) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, pattern)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// ---------------------------------------------------------------- brown

const std::map<char, std::string>& brown_genres() {
  static const std::map<char, std::string> genres = {
      {'a', "press-reportage"}, {'b', "press-editorial"}, {'c', "press-reviews"},  {'d', "religion"},
      {'e', "skills-hobbies"},  {'f', "popular-lore"},    {'g', "belles-lettres"}, {'h', "government"},
      {'j', "learned"},         {'k', "fiction"},         {'l', "mystery"},        {'m', "science-fiction"},
      {'n', "adventure"},       {'p', "romance"},         {'r', "humor"}};
  return genres;
}

struct TaggedWord {
  std::string word, tag;
};
using TaggedSentence = std::vector<TaggedWord>;
using Paragraph = std::vector<TaggedSentence>;  // a headline is a paragraph of its own

// A Brown file: sentences of `word/tag` tokens, one a line; a leading tab starts a paragraph;
// a sentence whose tags all end in -hl is a headline.
std::vector<Paragraph> brown_paragraphs(const fs::path& path, const std::string& text) {
  std::vector<Paragraph> paragraphs;
  Paragraph paragraph;
  auto lines = split_lines(text);
  for (size_t n = 0; n < lines.size(); ++n) {
    auto tokens = split_words(lines[n]);
    if (tokens.empty()) continue;
    TaggedSentence sentence;
    bool headline = true;
    for (auto token : tokens) {
      size_t slash = token.rfind('/');
      if (slash == std::string_view::npos) {
        throw UserError(fmt::format("{}:{}: token '{}' has no /tag; run scripts/fetch_data.sh brown again",
                                    path.string(), n + 1, token));
      }
      sentence.push_back({std::string(token.substr(0, slash)), std::string(token.substr(slash + 1))});
      headline = headline && ends_with(sentence.back().tag, "-hl");
    }
    if ((starts_with(lines[n], "\t") || headline) && !paragraph.empty()) {
      paragraphs.push_back(std::move(paragraph));
      paragraph.clear();
    }
    paragraph.push_back(std::move(sentence));
    if (headline) {
      paragraphs.push_back(std::move(paragraph));
      paragraph.clear();
    }
  }
  if (!paragraph.empty()) paragraphs.push_back(std::move(paragraph));
  return paragraphs;
}

// Readable text from the corpus's tokens: ``/'' become ", 'single quotes' alternate between
// opening and closing, punctuation attaches to the word before it (clitics such as 's and n't
// are already attached in this corpus). Repeated ",", ";", ":" and a "." after a word ending in
// "." are dropped (";/. ;/." and "Jr./np ./." occur in the files).
std::string detokenize(const TaggedSentence& sentence) {
  static const std::set<std::string> no_space_before = {".", ",", ";", ":", "!", "?", ")", "]"};
  static const std::set<std::string> no_space_after = {"(", "["};
  std::string text, last;
  bool glue = true;          // no space before the next word
  bool single_open = false;  // inside a 'single-quoted' span
  for (const auto& tagged : sentence) {
    std::string word = tagged.word;
    bool before, after;
    if (word == "``") {
      word = "\"", before = true, after = false;
    } else if (word == "''") {
      word = "\"", before = false, after = true;
    } else if (word == "'") {
      before = !single_open, after = single_open;
      single_open = !single_open;
    } else {
      before = !no_space_before.count(word);
      after = !no_space_after.count(word);
      bool repeated = (word == "," || word == ";" || word == ":") && last == word;
      if (!text.empty() && (repeated || (word == "." && ends_with(last, ".")))) continue;
    }
    if (!text.empty() && before && !glue) text += ' ';
    text += word;
    last = word;
    glue = !after;
  }
  return text;
}

std::string paragraph_text(const Paragraph& paragraph) {
  std::string line;
  for (const auto& sentence : paragraph) line += (line.empty() ? "" : " ") + detokenize(sentence);
  return line;
}

// Every 10th document (sorted by name) is valid, for all three tasks, so no document is in two
// splits: train.txt/valid.txt (one paragraph a line, a blank line between documents),
// pos/*.conll (the corpus's own tags) and genre/*.tsv (one paragraph an example).
void prepare_brown(const fs::path& raw, const fs::path& out) {
  auto names = matching_files(raw, std::regex("c[a-r][0-9][0-9]"));
  if (names.empty())
    throw UserError(raw.string() + ": no Brown documents (ca01...); run scripts/fetch_data.sh brown again");
  struct Split {
    std::string text, conll, tsv;
    int documents = 0;
  } splits[2];
  for (size_t i = 0; i < names.size(); ++i) {
    auto genre = brown_genres().find(names[i][1]);
    if (genre == brown_genres().end()) throw UserError((raw / names[i]).string() + ": not a Brown genre letter");
    Split& split = splits[i % 10 == 9 ? 1 : 0];
    if (split.documents++) split.text += "\n";
    fs::path path = raw / names[i];
    for (const auto& paragraph : brown_paragraphs(path, read_raw(path, "brown"))) {
      std::string line = paragraph_text(paragraph);
      split.text += line + "\n";
      add_tsv(split.tsv, genre->second, line);
      for (const auto& sentence : paragraph) {
        for (const auto& tagged : sentence) add_tsv(split.conll, tagged.word, tagged.tag);
        split.conll += "\n";
      }
    }
  }
  const std::string split_names[2] = {"train", "valid"};
  for (int s : {0, 1}) write_output(out, split_names[s] + ".txt", Format::kText, splits[s].text);
  for (int s : {0, 1}) write_output(out, "pos/" + split_names[s] + ".conll", Format::kTagging, splits[s].conll);
  for (int s : {0, 1}) write_output(out, "genre/" + split_names[s] + ".tsv", Format::kClassification, splits[s].tsv);
}

// ---------------------------------------------------------------- nlp-corpus

// doc-0.json ... doc-99.json, each a JSON array of sentences: one sentence a line (clean_text;
// empty ones dropped), documents in numeric order, every 10th sentence to valid.
void prepare_nlp_corpus(const fs::path& raw, const fs::path& out) {
  std::vector<std::pair<long, std::string>> docs;
  std::regex pattern("doc-([0-9]+)\\.json");
  for (const auto& name : matching_files(raw, pattern)) docs.emplace_back(std::stol(name.substr(4)), name);
  if (docs.empty()) throw UserError(raw.string() + ": no doc-N.json files; run scripts/fetch_data.sh nlp-corpus again");
  std::sort(docs.begin(), docs.end());
  std::string train, valid;
  int64_t kept = 0;
  for (const auto& doc : docs) {
    auto sentences = read_raw_json(raw / doc.second, "nlp-corpus");
    if (!sentences.is_array()) throw UserError((raw / doc.second).string() + ": expected a JSON array of sentences");
    for (const auto& sentence : sentences) {
      if (!sentence.is_string()) continue;
      std::string line = clean_text(sentence.get<std::string>());
      if (line.empty()) continue;
      (kept++ % 10 == 9 ? valid : train) += line + "\n";
    }
  }
  write_output(out, "train.txt", Format::kText, train);
  write_output(out, "valid.txt", Format::kText, valid);
}

// ---------------------------------------------------------------- spam-assassin

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  for (char c : bytes) append_utf8(out, static_cast<unsigned char>(c));
  return out;
}

// BYTES in CHARSET as UTF-8. Bytes that are valid UTF-8 under no charset, ASCII or UTF-8 stay as
// they are; other bytes with those labels, and the Latin-1 family, are read as Latin-1 (C1
// bytes are then Windows-1252's, see clean_text); other charsets go through iconv, which drops
// a byte it cannot convert. An unknown charset is read as Latin-1.
std::string to_utf8(std::string_view bytes, std::string charset) {
  static const std::set<std::string> utf8_labels = {"", "us-ascii", "ascii", "utf-8", "utf8"};
  static const std::set<std::string> latin1_labels = {"iso-8859-1", "iso8859-1",    "latin1",
                                                      "latin-1",    "windows-1252", "cp1252"};
  charset = lower(charset);
  if (utf8_labels.count(charset) && valid_utf8(bytes)) return std::string(bytes);
  if (utf8_labels.count(charset) || latin1_labels.count(charset)) return latin1_to_utf8(bytes);
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return latin1_to_utf8(bytes);
  std::string out;
  std::string input(bytes);
  char* in = input.data();
  size_t in_left = input.size();
  char buffer[4096];
  while (in_left > 0) {
    char* dst = buffer;
    size_t dst_left = sizeof(buffer);
    size_t rc = iconv(cd, &in, &in_left, &dst, &dst_left);
    out.append(buffer, static_cast<size_t>(dst - buffer));
    if (rc == static_cast<size_t>(-1) && errno != E2BIG) {
      ++in, --in_left;  // an invalid or truncated sequence: skip one byte and go on
      iconv(cd, nullptr, nullptr, nullptr, nullptr);
    }
  }
  iconv_close(cd);
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_quoted_printable(std::string_view s, bool underscore_is_space = false) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=') {
      size_t j = i + 1;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r')) ++j;
      if (j < s.size() && s[j] == '\n') {  // soft line break
        i = j;
        continue;
      }
      if (i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
        i += 2;
        continue;
      }
    }
    out += underscore_is_space && s[i] == '_' ? ' ' : s[i];
  }
  return out;
}

std::string decode_base64(std::string_view s) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (char c : s) {
    if (c == '=') break;
    size_t v = alphabet.find(c);
    if (v == std::string::npos) continue;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

// Header names lowercased; folded lines joined.
using Headers = std::map<std::string, std::string>;

// Splits a message or MIME part into headers and body (after the first empty line). The mbox
// "From " line that starts each message is not a header.
std::pair<Headers, std::string_view> split_entity(std::string_view entity) {
  Headers headers;
  std::string* last = nullptr;
  size_t pos = 0;
  if (starts_with(entity, "From ")) pos = std::min(entity.size(), entity.find('\n') + 1);
  while (pos < entity.size()) {
    size_t end = entity.find('\n', pos);
    if (end == std::string_view::npos) end = entity.size();
    std::string_view line = entity.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return {headers, entity.substr(std::min(pos, entity.size()))};
    if ((line[0] == ' ' || line[0] == '\t') && last) {
      *last += " " + trim(line);
    } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
      auto [it, inserted] = headers.emplace(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
      last = inserted ? &it->second : nullptr;  // the first of a repeated header wins
    }
  }
  return {headers, std::string_view()};
}

struct ContentType {
  std::string type = "text/plain";
  std::map<std::string, std::string> params;
};

ContentType parse_content_type(const Headers& headers) {
  ContentType ct;
  auto it = headers.find("content-type");
  if (it == headers.end()) return ct;
  std::vector<std::string> fields(1);  // split on ';' outside quotes
  bool quoted = false;
  for (char c : it->second) {
    if (c == '"') quoted = !quoted;
    if (c == ';' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (!trim(fields[0]).empty()) ct.type = lower(trim(fields[0]));
  for (size_t k = 1; k < fields.size(); ++k) {
    size_t eq = fields[k].find('=');
    if (eq == std::string::npos) continue;
    std::string value = trim(fields[k].substr(eq + 1));
    if (!value.empty() && value.front() == '"') value.erase(0, 1);
    if (!value.empty() && value.back() == '"') value.pop_back();
    ct.params[lower(trim(fields[k].substr(0, eq)))] = value;
  }
  return ct;
}

// Subject text with RFC 2047 encoded words (=?charset?Q|B?...?=) decoded; whitespace between two
// encoded words is dropped, as the RFC says.
std::string decode_header(const std::string& value) {
  static const std::regex encoded_word(R"(=\?([^?]+)\?([QqBb])\?([^?]*)\?=)");
  std::string out;
  const char* cursor = value.data();
  const char* value_end = value.data() + value.size();
  bool after_encoded = false;
  for (std::cregex_iterator it(value.data(), value_end, encoded_word), end; it != end; ++it) {
    std::string_view between(cursor, static_cast<size_t>(it->prefix().second - cursor));
    if (!(after_encoded && collapse_whitespace(between).empty())) out += to_utf8(between, "");
    std::string charset = (*it)[1].str(), text = (*it)[3].str();
    charset = charset.substr(0, charset.find('*'));  // RFC 2231 language suffix
    bool q = (*it)[2].str() == "Q" || (*it)[2].str() == "q";
    out += to_utf8(q ? decode_quoted_printable(text, true) : decode_base64(text), charset);
    cursor = it->suffix().first;
    after_encoded = true;
  }
  out += to_utf8(std::string_view(cursor, static_cast<size_t>(value_end - cursor)), "");
  return out;
}

// Text of an HTML part: comments, scripts and styles removed, tags replaced by spaces, common
// entities decoded.
std::string html_to_text(std::string_view html) {
  // Scanned by hand: std::regex recurses per character and overflows the stack on long pages.
  std::string folded = lower(html);  // for case-insensitive search; same byte offsets
  std::string text;
  size_t i = 0;
  while (i < html.size()) {
    char next = i + 1 < html.size() ? html[i + 1] : '\0';
    if (html[i] != '<' ||
        !(std::isalpha(static_cast<unsigned char>(next)) || next == '/' || next == '!' || next == '?')) {
      text += html[i++];
      continue;
    }
    size_t close;
    if (starts_with(html.substr(i), "<!--")) {
      close = html.find("-->", i + 4);
      close = close == std::string_view::npos ? html.size() : close + 2;
    } else {
      close = std::min(html.find('>', i), html.size());
      size_t name_end = i + 1;
      while (name_end < html.size() && std::isalnum(static_cast<unsigned char>(html[name_end]))) ++name_end;
      std::string name = folded.substr(i + 1, name_end - i - 1);
      if (name == "script" || name == "style") {
        size_t end_tag = folded.find("</" + name, close);
        close = end_tag == std::string::npos ? html.size() : std::min(html.find('>', end_tag), html.size());
      }
    }
    text += ' ';
    i = close + 1;
  }
  static const std::map<std::string, std::string> named = {
      {"nbsp", " "},      {"amp", "&"},        {"lt", "<"},         {"gt", ">"},         {"quot", "\""},
      {"apos", "'"},      {"copy", "\u00a9"},  {"reg", "\u00ae"},   {"trade", "\u2122"}, {"middot", "\u00b7"},
      {"bull", "\u2022"}, {"mdash", "\u2014"}, {"ndash", "\u2013"}, {"hellip", "\u2026"}};
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t semi = text[i] == '&' ? text.find(';', i) : std::string::npos;
    if (semi != std::string::npos && semi - i <= 10) {
      std::string entity = text.substr(i + 1, semi - i - 1);
      long code = -1;
      if (entity.size() > 1 && entity[0] == '#') {
        bool hex = entity[1] == 'x' || entity[1] == 'X';
        std::string digits = entity.substr(hex ? 2 : 1);
        if (!digits.empty() &&
            digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos) {
          code = std::stol(digits, nullptr, hex ? 16 : 10);
        }
      }
      if (code > 0 && code < 0x110000 && !(code >= 0xd800 && code < 0xe000)) {
        append_utf8(out, static_cast<uint32_t>(code));
        i = semi;
        continue;
      }
      if (auto it = named.find(lower(entity)); it != named.end()) {
        out += it->second;
        i = semi;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// Collects the decoded text/plain and text/html parts of a MIME entity, walking multiparts and
// attached messages; other parts (images, attachments) are skipped.
void collect_text(std::string_view entity, std::string& plain, std::string& html, int depth = 0) {
  auto [headers, body] = split_entity(entity);
  ContentType ct = parse_content_type(headers);
  const std::string& boundary = ct.params["boundary"];
  if (starts_with(ct.type, "multipart/") && !boundary.empty() && depth < 10) {
    std::string delimiter = "--" + boundary;
    size_t part_start = std::string_view::npos;
    size_t pos = 0;
    while (pos <= body.size()) {
      size_t end = std::min(body.find('\n', pos), body.size());
      std::string_view line = body.substr(pos, end - pos);
      if (starts_with(line, delimiter) &&
          trim(line.substr(delimiter.size())).find_first_not_of('-') == std::string::npos) {
        if (part_start != std::string_view::npos)
          collect_text(body.substr(part_start, pos - part_start), plain, html, depth + 1);
        if (starts_with(line.substr(delimiter.size()), "--")) return;
        part_start = end + 1;
      }
      pos = end + 1;
    }
    if (part_start != std::string_view::npos && part_start < body.size()) {
      collect_text(body.substr(part_start), plain, html, depth + 1);
    }
    return;
  }
  if (ct.type == "message/rfc822" && depth < 10) return collect_text(body, plain, html, depth + 1);
  if (ct.type != "text/plain" && ct.type != "text/html" && ct.type != "text") return;
  auto cte = headers.find("content-transfer-encoding");
  std::string encoding = cte == headers.end() ? "" : lower(cte->second);
  std::string bytes = encoding == "quoted-printable" ? decode_quoted_printable(body)
                      : encoding == "base64"         ? decode_base64(body)
                                                     : std::string(body);
  std::string text = to_utf8(bytes, ct.params["charset"]);
  if (ct.type == "text/html") {
    html += html_to_text(text) + "\n";
  } else {
    plain += text + "\n";
  }
}

// Subject + body text of one raw email: the plain-text parts, or the HTML parts as text when a
// message has no plain part; headers other than Subject are dropped.
std::string email_text(std::string_view message) {
  std::string normalized;
  normalized.reserve(message.size());
  for (size_t i = 0; i < message.size(); ++i) {
    if (message[i] == '\r' && i + 1 < message.size() && message[i + 1] == '\n') continue;
    normalized += message[i];
  }
  auto headers = split_entity(normalized).first;
  std::string plain, html;
  collect_text(normalized, plain, html);
  auto subject = headers.find("subject");
  std::string text = subject == headers.end() ? "" : decode_header(subject->second);
  return clean_text(text + " " + (plain.empty() ? html : plain));
}

// raw/<group>/<file>: groups named spam* are spam, *ham* ham. Split 80/10/10 by a hash of the
// message's bytes, so a message always lands in the same split.
void prepare_spam_assassin(const fs::path& raw, const fs::path& out) {
  std::vector<std::string> groups;
  for (const auto& entry : fs::directory_iterator(raw)) {
    if (entry.is_directory()) groups.push_back(entry.path().filename().string());
  }
  std::sort(groups.begin(), groups.end());
  std::string splits[3];
  int64_t messages = 0;
  for (const auto& group : groups) {
    std::string label = starts_with(group, "spam") ? "spam" : group.find("ham") != std::string::npos ? "ham" : "";
    if (label.empty()) continue;
    for (const auto& name : matching_files(raw / group, std::regex(".*\\.txt"))) {
      std::string message = read_raw(raw / group / name, "spam-assassin");
      std::string text = email_text(message);
      if (text.empty()) continue;
      ++messages;
      uint64_t bucket = std::stoull(content_hash(message), nullptr, 16) % 10;
      add_tsv(splits[bucket < 8 ? 0 : bucket == 8 ? 1 : 2], label, text);
    }
  }
  if (messages == 0)
    throw UserError(raw.string() + ": no spam*/ or *ham*/ messages; run scripts/fetch_data.sh spam-assassin again");
  write_output(out, "train.tsv", Format::kClassification, splits[0]);
  write_output(out, "valid.tsv", Format::kClassification, splits[1]);
  write_output(out, "test.tsv", Format::kClassification, splits[2]);
}

// ---------------------------------------------------------------- cmudict

// dict.txt lines `WORD(N)  PH0 PH1 ...`: `word<TAB>PH0 PH1 ...` with the word lowercased and
// the alternate-pronunciation mark (N) removed, each pronunciation its own line. Split by word
// (a word's pronunciations stay together): of the distinct words in file order, index mod 10 ==
// 8 is valid, 9 is test.
void prepare_cmudict(const fs::path& raw, const fs::path& out) {
  std::string dict = read_raw(raw / "dict.txt", "cmudict");
  std::string splits[3];
  std::map<std::string, int64_t> word_index;  // in order of first appearance
  for (auto line : split_lines(dict)) {
    if (starts_with(line, ";;;")) continue;
    auto fields = split_words(line);
    if (fields.size() < 2) continue;
    std::string_view spelling = fields[0];
    size_t open = spelling.rfind('(');
    if (open != std::string_view::npos && open > 0 && spelling.back() == ')' &&
        spelling.find_first_not_of("0123456789", open + 1) == spelling.size() - 1) {
      spelling = spelling.substr(0, open);  // WORD(1): an alternate pronunciation
    }
    std::string word = lower(spelling);
    // One entry's word is mojibake (U+FFFD) in the package: not a word anyone spells.
    if (!valid_utf8(word) || word.find("\xef\xbf\xbd") != std::string::npos) continue;
    std::string phonemes = collapse_whitespace(line.substr(fields[1].data() - line.data()));
    int64_t bucket = word_index.emplace(word, static_cast<int64_t>(word_index.size())).first->second % 10;
    add_tsv(splits[bucket < 8 ? 0 : bucket == 8 ? 1 : 2], word, phonemes);
  }
  if (word_index.empty())
    throw UserError((raw / "dict.txt").string() + ": no entries; run scripts/fetch_data.sh cmudict again");
  write_output(out, "train.tsv", Format::kPairs, splits[0]);
  write_output(out, "valid.tsv", Format::kPairs, splits[1]);
  write_output(out, "test.tsv", Format::kPairs, splits[2]);
}

// ---------------------------------------------------------------- misspellings

// dict-en.json: cspell's `misspelling->correction[, other...]` entries (suggestWords and
// flagWords), first suggestion kept; sorted by misspelling, one line each. all.tsv holds all of
// them; index mod 10 == 9 is valid.
void prepare_misspellings(const fs::path& raw, const fs::path& out) {
  auto json = read_raw_json(raw / "dict-en.json", "misspellings");
  std::map<std::string, std::string> pairs;
  for (const auto& definition : json.value("dictionaryDefinitions", nlohmann::json::array())) {
    for (const char* key : {"suggestWords", "flagWords"}) {
      for (const auto& entry : definition.value(key, nlohmann::json::array())) {
        if (!entry.is_string()) continue;
        std::string s = entry.get<std::string>();
        size_t arrow = s.find("->");
        if (arrow == std::string::npos) continue;
        std::string source = collapse_whitespace(s.substr(0, arrow));
        std::string target = collapse_whitespace(s.substr(arrow + 2, s.find(',', arrow) - arrow - 2));
        if (!source.empty() && !target.empty()) pairs.emplace(source, target);
      }
    }
  }
  if (pairs.empty())
    throw UserError((raw / "dict-en.json").string() +
                    ": no `a->b` entries; run scripts/fetch_data.sh misspellings again");
  std::string all, train, valid;
  int64_t index = 0;
  for (const auto& [source, target] : pairs) {
    add_tsv(all, source, target);
    add_tsv(index++ % 10 == 9 ? valid : train, source, target);
  }
  write_output(out, "train.tsv", Format::kPairs, train);
  write_output(out, "valid.tsv", Format::kPairs, valid);
  write_output(out, "all.tsv", Format::kPairs, all);
}

// ---------------------------------------------------------------- afinn

// index.js: a JavaScript object literal, one `word: valence,` a line (quoted when the word has
// a space or quote): `valence<TAB>word` in file order.
void prepare_afinn(const fs::path& raw, const fs::path& out) {
  std::string source = read_raw(raw / "index.js", "afinn");
  static const std::regex entry(R"re(^\s*(?:'([^']*)'|"([^"]*)"|([^\s'":]+))\s*:\s*(-?[0-9]+)\s*,?\s*$)re");
  std::string lexicon;
  for (auto line : split_lines(source)) {
    std::smatch m;
    std::string text(line);
    if (!std::regex_match(text, m, entry)) continue;
    int valence = std::stoi(m[4].str());
    if (valence < -5 || valence > 5) continue;
    std::string word = m[1].matched ? m[1].str() : m[2].matched ? m[2].str() : m[3].str();
    add_tsv(lexicon, std::to_string(valence), collapse_whitespace(word));
  }
  if (lexicon.empty())
    throw UserError((raw / "index.js").string() +
                    ": no `word: valence` entries; run scripts/fetch_data.sh afinn again");
  write_output(out, "afinn.tsv", Format::kClassification, lexicon);
}

// ---------------------------------------------------------------- words

// raw/words: a copy of Debian's /usr/share/dict/words (wamerican), written as is.
void prepare_words(const fs::path& raw, const fs::path& out) {
  write_output(out, "words.txt", Format::kText, read_raw(raw / "words", "words"));
}

// ---------------------------------------------------------------- chatbot

// Generated, not fetched: the template conversations of datasets/chatbot.h.
void prepare_chatbot(const fs::path&, const fs::path& out) {
  auto corpus = generate_chatbot_corpus();
  write_output(out, "train.tsv", Format::kPairs, corpus.train);
  write_output(out, "valid.tsv", Format::kPairs, corpus.valid);
  fs::create_directories(out);
  write_file_atomic((out / "conversations.txt").string(), corpus.conversations);
  fmt::print("{}: {} scripted conversations\n", (out / "conversations.txt").string(),
             read_conversations((out / "conversations.txt").string()).size());
}

// ---------------------------------------------------------------- sft-tasks

// Generated, not fetched: the week-10 instruction tasks of datasets/instruction_tasks.h.
void prepare_sft_tasks(const fs::path&, const fs::path& out) {
  const InstructionTaskSplits splits = generate_instruction_tasks();
  write_output(out, "train.jsonl", Format::kInstructions, to_jsonl(splits.train));
  write_output(out, "valid.jsonl", Format::kInstructions, to_jsonl(splits.valid));
  write_output(out, "test.jsonl", Format::kInstructions, to_jsonl(splits.test));
}

using Preparer = std::function<void(const fs::path& raw, const fs::path& out)>;

const std::vector<std::pair<std::string, Preparer>>& preparers() {
  static const std::vector<std::pair<std::string, Preparer>> all = {
      {"brown", prepare_brown},     {"nlp-corpus", prepare_nlp_corpus},     {"spam-assassin", prepare_spam_assassin},
      {"cmudict", prepare_cmudict}, {"misspellings", prepare_misspellings}, {"afinn", prepare_afinn},
      {"words", prepare_words}, {"chatbot", prepare_chatbot},
      {"sft-tasks", prepare_sft_tasks}};
  return all;
}

}  // namespace

std::vector<std::string> preparable_corpora() {
  std::vector<std::string> names;
  for (const auto& entry : preparers()) names.push_back(entry.first);
  return names;
}

void prepare_corpus(const std::string& name, const std::string& data_root) {
  auto names = preparable_corpora();
  auto found = std::find_if(preparers().begin(), preparers().end(), [&](const auto& p) { return p.first == name; });
  if (found == preparers().end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw UserError("unknown corpus '" + name + "'" + did_you_mean(name, names) + "; known: " + known);
  }
  fs::path out = fs::path(data_root) / name;
  fs::path raw = out / "raw";
  const bool generated = name == "chatbot" || name == "sft-tasks";
  if (!generated && !fs::is_directory(raw)) throw UserError(raw.string() + ": not fetched; run scripts/fetch_data.sh " + name);
  found->second(raw, out);
}

}  // namespace zoo::datasets
