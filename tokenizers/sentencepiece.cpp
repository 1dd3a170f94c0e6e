// SentencePiece tokenizer: loading the shim, training with its errors translated for users,
// the content-keyed cache, encode/decode through the shim, save/load.
#include "tokenizers/sentencepiece.h"

#include <dlfcn.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "core/files.h"
#include "tokenizers/saved.h"
#include "tokenizers/spm_shim/spm_shim.h"
#include "tokenizers/utf8.h"

#ifndef ZOO_SPM_SHIM_PATH
#error "ZOO_SPM_SHIM_PATH (the built libzoo_spm_shim.so) must be defined by the build"
#endif

namespace fs = std::filesystem;

namespace zoo::tokenizers {
namespace {

// --- The shim, loaded once per process into a namespace of its own ------------------------

struct Shim {
  decltype(&zoo_spm_abi_version) abi_version;
  decltype(&zoo_spm_train) train;
  decltype(&zoo_spm_load) load;
  decltype(&zoo_spm_free) free;
  decltype(&zoo_spm_serialized) serialized;
  decltype(&zoo_spm_vocab_size) vocab_size;
  decltype(&zoo_spm_unk_id) unk_id;
  decltype(&zoo_spm_bos_id) bos_id;
  decltype(&zoo_spm_eos_id) eos_id;
  decltype(&zoo_spm_pad_id) pad_id;
  decltype(&zoo_spm_id_to_piece) id_to_piece;
  decltype(&zoo_spm_piece_to_id) piece_to_id;
  decltype(&zoo_spm_encode_batch) encode_batch;
  decltype(&zoo_spm_batch_free) batch_free;
  decltype(&zoo_spm_decode) decode;
};

const std::string kRebuildHint = "rebuild with scripts/setup.sh (it builds the zoo_spm_shim target), or set ZOO_SPM_SHIM "
                                 "to the path of libzoo_spm_shim.so";

// $ZOO_SPM_SHIM, else beside the running program (its folder or the one above: tests and
// benchmarks sit one level below the build folder), else where the build put it.
std::string find_shim() {
  if (const char* env = std::getenv("ZOO_SPM_SHIM"); env && *env) {
    if (!fs::is_regular_file(env))
      throw UserError(std::string("ZOO_SPM_SHIM=") + env + ": no such file; point it at libzoo_spm_shim.so or unset it");
    return env;
  }
  const fs::path built = ZOO_SPM_SHIM_PATH;
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  if (!error)
    for (const fs::path& dir : {exe.parent_path(), exe.parent_path().parent_path()})
      if (fs::is_regular_file(dir / built.filename())) return (dir / built.filename()).string();
  if (fs::is_regular_file(built)) return built.string();
  throw UserError(built.filename().string() + ": not found ($ZOO_SPM_SHIM unset; not beside " + exe.string() +
                  " nor at " + built.string() + "); the sentencepiece tokenizer needs it: " + kRebuildHint);
}

Shim load_shim() {
  const std::string path = find_shim();
  // A new link-map namespace: SentencePiece's protobuf never meets libtorch's.
  void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw UserError(path + ": cannot load (" + dlerror() + "); " + kRebuildHint);
  const auto symbol = [&](auto& pointer, const char* name) {
    pointer = reinterpret_cast<std::remove_reference_t<decltype(pointer)>>(dlsym(handle, name));
    if (!pointer) throw UserError(path + ": lacks " + name + " (an older build?); " + kRebuildHint);
  };
  Shim shim{};
  symbol(shim.abi_version, "zoo_spm_abi_version");
  if (shim.abi_version() != ZOO_SPM_SHIM_ABI)
    throw UserError(path + ": interface version " + std::to_string(shim.abi_version()) + ", this program needs " +
                    std::to_string(ZOO_SPM_SHIM_ABI) + "; " + kRebuildHint);
  symbol(shim.train, "zoo_spm_train");
  symbol(shim.load, "zoo_spm_load");
  symbol(shim.free, "zoo_spm_free");
  symbol(shim.serialized, "zoo_spm_serialized");
  symbol(shim.vocab_size, "zoo_spm_vocab_size");
  symbol(shim.unk_id, "zoo_spm_unk_id");
  symbol(shim.bos_id, "zoo_spm_bos_id");
  symbol(shim.eos_id, "zoo_spm_eos_id");
  symbol(shim.pad_id, "zoo_spm_pad_id");
  symbol(shim.id_to_piece, "zoo_spm_id_to_piece");
  symbol(shim.piece_to_id, "zoo_spm_piece_to_id");
  symbol(shim.encode_batch, "zoo_spm_encode_batch");
  symbol(shim.batch_free, "zoo_spm_batch_free");
  symbol(shim.decode, "zoo_spm_decode");
  return shim;  // the handle stays open for the life of the process
}

const Shim& shim() {
  static const Shim loaded = load_shim();  // a failed load throws and is tried again next call
  return loaded;
}

// A message buffer for the shim's errors.
struct ErrorBuffer {
  char text[2048] = "";
};

// --- Training ---------------------------------------------------------------------------

const char* piece_of(Special special) { return kSpecialPieces[static_cast<int>(special)]; }

// The user-defined pieces: <mask>, <cls>, <sep> for the specials that ask for them, then the
// recipe's own. A piece SentencePiece would reject or read differently is a UserError.
std::vector<std::string> user_defined_pieces(const std::vector<Special>& specials, const SentencePieceOptions& options) {
  std::vector<std::string> pieces;
  for (Special s : specials)
    if (s == Special::mask || s == Special::cls || s == Special::sep) pieces.emplace_back(piece_of(s));
  const std::string where = "tokenizer.user_defined_symbols";
  for (const auto& symbol : options.user_defined_symbols) {
    if (symbol.empty()) throw UserError(where + ": an empty symbol; remove it");
    if (symbol.find_first_of(" \t\r\n,") != std::string::npos || symbol.find("\xe2\x96\x81") != std::string::npos)
      throw UserError(where + ": '" + symbol + "' holds a space, comma or '\xe2\x96\x81', which SentencePiece cannot "
                      "keep in a piece; remove it or split it");
    for (Special s : {Special::unk, Special::bos, Special::eos, Special::pad, Special::mask, Special::cls, Special::sep})
      if (symbol == piece_of(s)) {
        const std::string name = kSpecialNames[static_cast<int>(s)];
        throw UserError(where + ": '" + symbol + "' is the " + name + " special piece; " +
                        (s == Special::unk || s == Special::bos || s == Special::eos
                             ? "the sentencepiece tokenizer always has it: remove it from the list"
                             : "ask for it with tokenizer.special_tokens: [" + name + "] instead"));
      }
    if (std::find(pieces.begin(), pieces.end(), symbol) != pieces.end())
      throw UserError(where + ": '" + symbol + "' is listed twice");
    pieces.push_back(symbol);
  }
  return pieces;
}

// SentencePiece's training error as a UserError about `file` or the option to change.
UserError training_error(const std::string& message, const std::string& file, const SentencePieceOptions& options) {
  std::smatch m;
  static const std::regex too_high(R"(Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+))");
  static const std::regex too_low(R"(Vocabulary size is smaller than required_chars\. (\d+) vs (\d+))");
  if (std::regex_search(message, m, too_high))
    return UserError(file + ": tokenizer.vocab_size: " + m[1].str() + " is more than this text supports (at most " +
                     m[2].str() + "); lower it");
  if (std::regex_search(message, m, too_low))
    return UserError(file + ": tokenizer.vocab_size: " + m[1].str() + " is less than this text needs (at least " +
                     m[2].str() + ": its characters and the special pieces); raise it or lower "
                     "tokenizer.character_coverage");
  if (message.find("!sentences_.empty()") != std::string::npos)
    return UserError(file + ": no line is " + std::to_string(options.max_sentence_length) +
                     " bytes or shorter (tokenizer.max_sentence_length); raise it or break the text into lines");
  return UserError(file + ": SentencePiece training failed: " + message);
}

// The key of a trained tokenizer in the cache: every option but where the text came from, and
// the text's bytes.
std::string cache_key(const SentencePieceOptions& options, const std::string& text_file) {
  YAML::Node node = to_yaml(options);
  node.remove("train_on");
  return content_hash("sentencepiece 0.1.97, zoo_spm_shim " + std::to_string(ZOO_SPM_SHIM_ABI) + "\n" +
                      YAML::Dump(node) + "\n" + file_hash(text_file));
}

}  // namespace

// --- The tokenizer ----------------------------------------------------------------------

SentencePieceTokenizer::SentencePieceTokenizer(zoo_spm_model* model, std::vector<Special> specials,
                                               const std::string& where)
    : model_(model), specials_(std::move(specials)), vocab_size_(shim().vocab_size(model)) {
  const Shim& api = shim();
  special_ids_[static_cast<int>(Special::unk)] = api.unk_id(model_);
  special_ids_[static_cast<int>(Special::bos)] = api.bos_id(model_);
  special_ids_[static_cast<int>(Special::eos)] = api.eos_id(model_);
  special_ids_[static_cast<int>(Special::pad)] = api.pad_id(model_);
  for (Special s : specials_) {
    if (s != Special::mask && s != Special::cls && s != Special::sep) continue;
    const int64_t id = piece_to_id(piece_of(s));
    if (id == special_id(Special::unk)) {
      api.free(model_);
      throw UserError(where + ": the model has no " + piece_of(s) + " piece, yet special_tokens lists " +
                      kSpecialNames[static_cast<int>(s)] + "; train the tokenizer again");
    }
    special_ids_[static_cast<int>(s)] = id;
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() { shim().free(model_); }

std::shared_ptr<SentencePieceTokenizer> SentencePieceTokenizer::train(const SentencePieceOptions& options,
                                                                      const std::string& text_file) {
  const std::string text = read_file(text_file);
  check_utf8(text, text_file);
  if (text.find_first_not_of(" \t\r\n\f\v") == std::string::npos)
    throw UserError(text_file + ": no text in the file; the sentencepiece tokenizer learns its vocabulary from it "
                    "(check tokenizer.train_on)");
  const std::vector<Special> specials = parse_specials(options.special_tokens, "tokenizer.special_tokens");
  const bool pad = std::find(specials.begin(), specials.end(), Special::pad) != specials.end();
  const std::vector<std::string> symbols = user_defined_pieces(specials, options);
  if (options.input_sentence_size > 0 && options.input_sentence_size <= 100)
    throw UserError("tokenizer.input_sentence_size: " + std::to_string(options.input_sentence_size) +
                    " lines are too few for SentencePiece to sample; use 0 (every line) or more than 100");
  std::vector<const char*> symbol_pointers;
  for (const auto& s : symbols) symbol_pointers.push_back(s.c_str());

  zoo_spm_train_options c{};
  c.model_type = options.model_type.c_str();
  c.vocab_size = static_cast<int32_t>(options.vocab_size);
  c.character_coverage = options.character_coverage;
  c.byte_fallback = options.byte_fallback;
  c.user_defined_symbols = symbol_pointers.data();
  c.num_user_defined_symbols = symbol_pointers.size();
  c.unk_id = 0;
  c.bos_id = 1;
  c.eos_id = 2;
  c.pad_id = pad ? 3 : -1;
  c.unk_piece = piece_of(Special::unk);
  c.bos_piece = piece_of(Special::bos);
  c.eos_piece = piece_of(Special::eos);
  c.pad_piece = piece_of(Special::pad);
  c.max_sentence_length = static_cast<int32_t>(options.max_sentence_length);
  c.input_sentence_size = options.input_sentence_size;
  c.num_threads = static_cast<int32_t>(options.num_threads);
  c.normalization_rule_name = options.normalization.c_str();
  c.remove_extra_whitespaces = options.remove_extra_whitespaces;
  c.split_digits = options.split_digits;

  ErrorBuffer error;
  zoo_spm_model* model = shim().train(text_file.c_str(), &c, error.text, sizeof error.text);
  if (!model) throw training_error(error.text, text_file, options);
  return std::shared_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(model, specials, text_file));
}

std::shared_ptr<SentencePieceTokenizer> SentencePieceTokenizer::fit_file(const SentencePieceOptions& options,
                                                                         const std::string& text_file) {
  const fs::path dir = fs::path(cache_dir()) / "tokenizers" / ("sentencepiece-" + cache_key(options, text_file));
  if (fs::exists(dir / kTokenizerFile)) {
    try {
      auto tokenizer = load(dir.string());
      spdlog::info("tokenizer: cached sentencepiece {} ({} pieces) for {} from {}", options.model_type,
                   tokenizer->vocab_size(), text_file, dir.string());
      return tokenizer;
    } catch (const UserError& e) {
      spdlog::warn("tokenizer: the cached {} cannot be read ({}); training again", dir.string(), e.what());
      fs::remove_all(dir);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  auto tokenizer = train(options, text_file);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Saved under a temporary name, then renamed: a crash never leaves half a tokenizer in the
  // cache. A process that trained the same one meanwhile wins the rename; both are equal.
  const fs::path temp = dir.parent_path() / (".tmp-" + dir.filename().string() + "-" + std::to_string(::getpid()));
  fs::remove_all(temp);
  fs::create_directories(temp);
  tokenizer->save(temp.string());
  fsync_path(temp.string());
  std::error_code error;
  fs::rename(temp, dir, error);
  if (error) fs::remove_all(temp);
  else fsync_path(dir.parent_path().string());
  spdlog::info("tokenizer: trained sentencepiece {} ({} pieces) on {} in {:.1f} s; cached in {}", options.model_type,
               tokenizer->vocab_size(), text_file, seconds, dir.string());
  return tokenizer;
}

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& text) const {
  const char* pointer = text.data();
  const size_t length = text.size();
  zoo_spm_batch batch;
  ErrorBuffer error;
  if (!shim().encode_batch(model_, &pointer, &length, 1, 1, &batch, error.text, sizeof error.text))
    throw std::runtime_error(std::string("sentencepiece encode: ") + error.text);
  std::vector<int64_t> ids(batch.ids, batch.ids + batch.offsets[1]);
  shim().batch_free(&batch);
  return ids;
}

std::vector<std::vector<int64_t>> SentencePieceTokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<const char*> pointers(texts.size());
  std::vector<size_t> lengths(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    pointers[i] = texts[i].data();
    lengths[i] = texts[i].size();
  }
  zoo_spm_batch batch;
  ErrorBuffer error;
  if (!shim().encode_batch(model_, pointers.data(), lengths.data(), texts.size(), 0, &batch, error.text,
                           sizeof error.text))
    throw std::runtime_error(std::string("sentencepiece encode: ") + error.text);
  std::vector<std::vector<int64_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ids[i].assign(batch.ids + batch.offsets[i], batch.ids + batch.offsets[i + 1]);
  shim().batch_free(&batch);
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  // SentencePiece drops <s>, </s>, <pad> itself; <mask>, <cls>, <sep> are user-defined pieces
  // it would print, but special tokens decode to nothing here. Ids out of range are <unk>.
  std::vector<int32_t> kept;
  kept.reserve(ids.size());
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size_) id = special_id(Special::unk);
    else if (id == special_id(Special::mask) || id == special_id(Special::cls) || id == special_id(Special::sep)) continue;
    kept.push_back(static_cast<int32_t>(id));
  }
  std::string text(kept.size() * 8 + 16, '\0');
  ErrorBuffer error;
  for (;;) {
    const int64_t size = shim().decode(model_, kept.data(), kept.size(), text.data(), text.size(), error.text,
                                       sizeof error.text);
    if (size < 0) throw std::runtime_error(std::string("sentencepiece decode: ") + error.text);
    const bool fits = static_cast<size_t>(size) <= text.size();
    text.resize(size);
    if (fits) return text;
  }
}

std::string SentencePieceTokenizer::id_to_piece(int64_t id) const {
  if (id < 0 || id >= vocab_size_) id = special_id(Special::unk);
  size_t size = 0;
  const char* piece = shim().id_to_piece(model_, static_cast<int32_t>(id), &size);
  return std::string(piece, size);
}

int64_t SentencePieceTokenizer::piece_to_id(const std::string& piece) const {
  return shim().piece_to_id(model_, piece.data(), piece.size());
}

// {"type": "sentencepiece", "model": "tokenizer.model", "special_tokens": ["pad", ...]}, and
// the model beside it.
void SentencePieceTokenizer::save(const std::string& dir) const {
  size_t size = 0;
  const char* bytes = shim().serialized(model_, &size);
  write_file_atomic(dir + "/" + kModelFile, std::string(bytes, size));
  write_saved_tokenizer(dir, type(), specials_, {{"model", kModelFile}, {"vocab_size", vocab_size_}});
}

std::shared_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& dir) {
  SavedTokenizer saved = read_saved_tokenizer(dir, "sentencepiece");
  const std::string& path = saved.path;
  const auto fail = damaged_tokenizer;
  std::vector<Special> specials = std::move(saved.specials);
  std::string model_name;
  try {
    model_name = saved.doc.value("model", std::string(kModelFile));
  } catch (const nlohmann::json::exception& e) {
    throw fail(path, std::string("malformed (") + e.what() + ")");
  }
  if (model_name.empty() || model_name.find('/') != std::string::npos)
    throw fail(path, "\"model\" must name a file in the same directory");
  const std::string model_path = dir + "/" + model_name;
  if (!fs::is_regular_file(model_path)) throw fail(model_path, "missing (the SentencePiece model of " + path + ")");
  const std::string bytes = read_file(model_path);
  ErrorBuffer error;
  zoo_spm_model* model = shim().load(bytes.data(), bytes.size(), error.text, sizeof error.text);
  if (!model) throw fail(model_path, std::string("not a SentencePiece model (") + error.text + ")");
  return std::shared_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(model, std::move(specials), model_path));
}

}  // namespace zoo::tokenizers
