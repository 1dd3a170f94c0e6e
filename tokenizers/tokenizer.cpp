// The tokenizer factory, special tokens, and loading a saved tokenizer by its recorded type.
#include "tokenizers/tokenizer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/char.h"
#include "tokenizers/saved.h"
#include "tokenizers/sentencepiece.h"
#include "tokenizers/utf8.h"
#include "tokenizers/word.h"

namespace zoo::tokenizers {

Factory<std::shared_ptr<Tokenizer>, const std::string&>& tokenizers() {
  static Factory<std::shared_ptr<Tokenizer>, const std::string&> factory("tokenizer");
  return factory;
}

std::vector<Special> parse_specials(const std::vector<std::string>& names, const std::string& where) {
  std::vector<Special> specials;
  const std::vector<std::string> known(kSpecialNames.begin(), kSpecialNames.end());
  for (const auto& name : names) {
    auto it = std::find(known.begin(), known.end(), name);
    if (it == known.end() || name == "unk")
      throw UserError(where + ": unknown special token '" + name + "'" + did_you_mean(name, known) +
                      "; choose from pad, bos, eos, mask, cls, sep (unk always exists)");
    const auto special = static_cast<Special>(it - known.begin());
    if (std::find(specials.begin(), specials.end(), special) != specials.end())
      throw UserError(where + ": special token '" + name + "' is listed twice");
    specials.push_back(special);
  }
  return specials;
}

UserError damaged_tokenizer(const std::string& file, const std::string& what) {
  return UserError(file + ": " + what + "; train the tokenizer again or restore the file");
}

SavedTokenizer read_saved_tokenizer(const std::string& dir, const std::string& type) {
  SavedTokenizer saved;
  saved.path = dir + "/" + kTokenizerFile;
  try {
    saved.doc = nlohmann::json::parse(read_file(saved.path));
  } catch (const nlohmann::json::exception& e) {
    throw damaged_tokenizer(saved.path, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!saved.doc.is_object() || saved.doc.value("type", "") != type)
    throw damaged_tokenizer(saved.path, "not a " + type + " tokenizer");
  try {
    saved.specials = parse_specials(saved.doc.value("special_tokens", std::vector<std::string>{}), saved.path);
  } catch (const nlohmann::json::exception&) {
    throw damaged_tokenizer(saved.path, "\"special_tokens\" is not a list of names");
  }
  return saved;
}

void write_saved_tokenizer(const std::string& dir, const std::string& type, const std::vector<Special>& specials,
                           nlohmann::json fields) {
  std::vector<std::string> names;
  for (Special s : specials) names.push_back(kSpecialNames[static_cast<int>(s)]);
  fields["type"] = type;
  fields["special_tokens"] = names;
  write_file_atomic(dir + "/" + kTokenizerFile, fields.dump(1) + "\n");
}

void Tokenizer::set_leading_specials(const std::vector<Special>& specials) {
  special_ids_[static_cast<int>(Special::unk)] = 0;
  for (size_t i = 0; i < specials.size(); ++i) special_ids_[static_cast<int>(specials[i])] = 1 + static_cast<int64_t>(i);
}

int64_t Tokenizer::require_special(Special which, const std::string& needed_by) const {
  const int64_t id = special_id(which);
  if (id < 0) {
    const std::string name = kSpecialNames[static_cast<int>(which)];
    throw UserError(needed_by + " needs a " + kSpecialPieces[static_cast<int>(which)] + " token, but the " + type() +
                    " tokenizer has none; add it with tokenizer.special_tokens=[" + name + ", ...]");
  }
  return id;
}

std::vector<std::vector<int64_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int64_t>> ids(texts.size());
  const size_t workers = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
  if (texts.size() < 64 || workers == 1) {
    for (size_t i = 0; i < texts.size(); ++i) ids[i] = encode(texts[i]);
    return ids;
  }
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      for (size_t i = w; i < texts.size(); i += workers) ids[i] = encode(texts[i]);
    });
  for (auto& t : threads) t.join();
  return ids;
}

std::string fingerprint(const Tokenizer& tokenizer) {
  namespace fs = std::filesystem;
  static std::atomic<int> counter{0};
  const fs::path dir = fs::temp_directory_path() /
                       ("zoo-fingerprint-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  std::string hashes;
  try {
    tokenizer.save(dir.string());
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& file : files) hashes += file.filename().string() + ":" + file_hash(file.string()) + "\n";
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  fs::remove_all(dir);
  return content_hash(hashes);
}

std::shared_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  using Loader = std::shared_ptr<Tokenizer> (*)(const std::string&);
  static const std::map<std::string, Loader> loaders = {
      {"char", [](const std::string& d) -> std::shared_ptr<Tokenizer> { return CharTokenizer::load(d); }},
      {"word", [](const std::string& d) -> std::shared_ptr<Tokenizer> { return WordTokenizer::load(d); }},
      {"sentencepiece", [](const std::string& d) -> std::shared_ptr<Tokenizer> { return SentencePieceTokenizer::load(d); }},
  };
  const std::string path = dir + "/" + kTokenizerFile;
  std::string type;
  try {
    type = nlohmann::json::parse(read_file(path)).value("type", "");
  } catch (const nlohmann::json::exception& e) {
    throw UserError(path + ": not a saved tokenizer (" + e.what() + "); train it again or restore the file");
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
