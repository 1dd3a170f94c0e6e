// libzoo_spm_shim.so: SentencePiece training, loading and parallel encoding behind the C API
// of spm_shim.h. Links Debian's SentencePiece and never torch (see spm_shim.h for why).
#include "tokenizers/spm_shim/spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

struct zoo_spm_model {
  sentencepiece::SentencePieceProcessor processor;
  std::string serialized;
  // Whether a text's ids are the concatenation of the ids of its space-separated words (see
  // words_encode_alone), so that a batch can encode each distinct word once.
  bool words_encode_alone = false;
};

namespace {

void set_error(char* error, size_t error_size, const std::string& message) {
  if (error == nullptr || error_size == 0) return;
  const size_t n = std::min(message.size(), error_size - 1);
  std::memcpy(error, message.data(), n);
  error[n] = '\0';
}

// Lines of a file, without their "\n" (or "\r\n"), for SentencePiece's trainer.
class FileLines : public sentencepiece::SentenceIterator {
 public:
  explicit FileLines(const char* path) : in_(path, std::ios::binary) {
    if (!in_)
      status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound,
                                            std::string("cannot open ") + path);
    Next();
  }
  bool done() const override { return done_; }
  void Next() override {
    if (!in_ || !std::getline(in_, line_)) {
      done_ = true;
      return;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
  }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return status_; }

 private:
  std::ifstream in_;
  std::string line_;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

// SentencePiece's trainer flags for `o`; training logs off, errors kept (minloglevel 2).
std::unordered_map<std::string, std::string> trainer_flags(const zoo_spm_train_options& o) {
  const unsigned threads = o.num_threads > 0 ? o.num_threads : std::max(1u, std::thread::hardware_concurrency());
  std::unordered_map<std::string, std::string> flags = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", std::to_string(o.character_coverage)},
      {"byte_fallback", o.byte_fallback ? "true" : "false"},
      {"unk_id", std::to_string(o.unk_id)},
      {"bos_id", std::to_string(o.bos_id)},
      {"eos_id", std::to_string(o.eos_id)},
      {"pad_id", std::to_string(o.pad_id)},
      {"unk_piece", o.unk_piece},
      {"bos_piece", o.bos_piece},
      {"eos_piece", o.eos_piece},
      {"pad_piece", o.pad_piece},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      {"input_sentence_size", std::to_string(o.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"num_threads", std::to_string(std::min(threads, 128u))},
      {"normalization_rule_name", o.normalization_rule_name},
      {"remove_extra_whitespaces", o.remove_extra_whitespaces ? "true" : "false"},
      {"split_digits", o.split_digits ? "true" : "false"},
      {"minloglevel", "2"},
  };
  std::string symbols;
  for (size_t i = 0; i < o.num_user_defined_symbols; ++i) symbols += (i ? "," : "") + std::string(o.user_defined_symbols[i]);
  if (!symbols.empty()) flags["user_defined_symbols"] = symbols;
  return flags;
}

constexpr std::string_view kSpaceSymbol = "\xe2\x96\x81";  // U+2581, SentencePiece's escaped space

// --- The few ModelProto fields the word cache depends on, read from the wire format ---------

// Protobuf wire format: a varint or a length-delimited field; false at malformed input.
struct WireField {
  uint32_t number = 0;
  uint32_t type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

bool read_varint(std::string_view& in, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

bool read_field(std::string_view& in, WireField& field) {
  uint64_t key;
  if (!read_varint(in, key)) return false;
  field.number = static_cast<uint32_t>(key >> 3);
  field.type = key & 7;
  switch (field.type) {
    case 0:
      return read_varint(in, field.varint);
    case 1:
    case 5: {
      const size_t n = field.type == 1 ? 8 : 4;
      if (in.size() < n) return false;
      in.remove_prefix(n);
      return true;
    }
    case 2: {
      uint64_t n;
      if (!read_varint(in, n) || n > in.size()) return false;
      field.bytes = in.substr(0, n);
      in.remove_prefix(n);
      return true;
    }
    default:
      return false;
  }
}

// The varint fields `numbers` of a message (defaults where absent) and its string field 1.
bool read_message(std::string_view in, std::unordered_map<uint32_t, uint64_t>& varints, std::string* name) {
  WireField field;
  while (!in.empty()) {
    if (!read_field(in, field)) return false;
    if (field.type == 0 && varints.count(field.number)) varints[field.number] = field.varint;
    if (field.type == 2 && field.number == 1 && name) *name = std::string(field.bytes);
  }
  return true;
}

// True when encoding a text gives the ids of its words (split at ASCII spaces) encoded one by
// one, in order. That holds for BPE under SentencePiece's default whitespace handling: the
// normalizer turns " word" in context and "word" alone both into "▁word" (extra spaces are
// removed, a dummy "▁" is prefixed); one of the built-in rule sets maps no sequence across a
// space; and no piece holds "▁" or " " after its start, so no merge crosses a word boundary,
// and BPE applies the merges inside one word in the same order with or without the others.
// Unigram is left out: Viterbi adds the score of the words before, and float rounding could
// break a tie differently than for the word alone.
bool words_encode_alone(const zoo_spm_model& model) {
  std::string_view in = model.serialized;
  std::unordered_map<uint32_t, uint64_t> trainer = {{3, 1}, {24, 0}};  // model_type, treat_whitespace_as_suffix
  std::unordered_map<uint32_t, uint64_t> normalizer = {{3, 1}, {4, 1}, {5, 1}};  // dummy prefix, extra spaces, escape
  std::string rule_name;
  WireField field;
  while (!in.empty()) {
    if (!read_field(in, field)) return false;
    if (field.type != 2) continue;
    if (field.number == 2 && !read_message(field.bytes, trainer, nullptr)) return false;
    if (field.number == 3 && !read_message(field.bytes, normalizer, &rule_name)) return false;
  }
  static const char* const kBuiltinRules[] = {"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"};
  const bool builtin = std::find(std::begin(kBuiltinRules), std::end(kBuiltinRules), rule_name) != std::end(kBuiltinRules);
  if (trainer[3] != 2 || trainer[24] != 0 || !normalizer[3] || !normalizer[4] || !normalizer[5] || !builtin) return false;
  const auto& processor = model.processor;
  if (processor.IsUnknown(processor.PieceToId(kSpaceSymbol))) return false;
  for (int id = 0; id < processor.GetPieceSize(); ++id) {
    const std::string_view piece = processor.IdToPiece(id);
    if (piece.find(' ') != std::string_view::npos || piece.find(kSpaceSymbol, 1) != std::string_view::npos) return false;
  }
  return true;
}

zoo_spm_model* load_serialized(std::string bytes, char* error, size_t error_size) {
  auto model = std::make_unique<zoo_spm_model>();
  const auto status = model->processor.LoadFromSerializedProto(bytes);
  if (!status.ok()) {
    set_error(error, error_size, status.ToString());
    return nullptr;
  }
  model->serialized = std::move(bytes);
  model->words_encode_alone = words_encode_alone(*model);
  return model.release();
}

// One thread's memory of the words it has encoded in this batch: ids[begin, begin + size) of
// `ids` per word. Keys are views into the batch's texts, which outlive the call.
class WordCache {
 public:
  static constexpr size_t kMaxWords = 1 << 20;

  sentencepiece::util::Status append(const sentencepiece::SentencePieceProcessor& processor, std::string_view word,
                                     std::vector<int>& out) {
    auto it = spans_.find(word);
    if (it == spans_.end()) {
      if (spans_.size() >= kMaxWords) {
        spans_.clear();
        ids_.clear();
      }
      scratch_.clear();
      auto status = processor.Encode(word, &scratch_);
      if (!status.ok()) return status;
      it = spans_.emplace(word, Span{ids_.size(), scratch_.size()}).first;
      ids_.insert(ids_.end(), scratch_.begin(), scratch_.end());
    }
    out.insert(out.end(), ids_.begin() + it->second.begin, ids_.begin() + it->second.begin + it->second.size);
    return {};
  }

 private:
  struct Span {
    size_t begin, size;
  };
  std::unordered_map<std::string_view, Span> spans_;
  std::vector<int> ids_;
  std::vector<int> scratch_;
};

sentencepiece::util::Status encode_text(const zoo_spm_model& model, std::string_view text, WordCache* cache,
                                        std::vector<int>& out) {
  // A literal "▁" is indistinguishable from an escaped space once normalized: alone at the
  // end of a word it would be stripped as trailing whitespace, in context it is not.
  if (!cache || text.find(kSpaceSymbol) != std::string_view::npos) return model.processor.Encode(text, &out);
  for (size_t pos = 0; pos < text.size();) {
    const size_t start = text.find_first_not_of(' ', pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(text.find(' ', start), text.size());
    auto status = cache->append(model.processor, text.substr(start, end - start), out);
    if (!status.ok()) return status;
    pos = end;
  }
  return {};
}

struct BatchStorage {
  std::vector<size_t> offsets;
  std::vector<int32_t> ids;
};

}  // namespace

extern "C" {

int zoo_spm_abi_version(void) { return ZOO_SPM_SHIM_ABI; }

zoo_spm_model* zoo_spm_train(const char* input_file, const zoo_spm_train_options* options, char* error,
                             size_t error_size) {
  try {
    FileLines lines(input_file);
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(trainer_flags(*options), &lines, &serialized);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return nullptr;
    }
    return load_serialized(std::move(serialized), error, error_size);
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return nullptr;
  }
}

zoo_spm_model* zoo_spm_load(const char* bytes, size_t size, char* error, size_t error_size) {
  try {
    return load_serialized(std::string(bytes, size), error, error_size);
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return nullptr;
  }
}

void zoo_spm_free(zoo_spm_model* model) { delete model; }

const char* zoo_spm_serialized(const zoo_spm_model* model, size_t* size) {
  *size = model->serialized.size();
  return model->serialized.data();
}

int32_t zoo_spm_vocab_size(const zoo_spm_model* model) { return model->processor.GetPieceSize(); }
int32_t zoo_spm_unk_id(const zoo_spm_model* model) { return model->processor.unk_id(); }
int32_t zoo_spm_bos_id(const zoo_spm_model* model) { return model->processor.bos_id(); }
int32_t zoo_spm_eos_id(const zoo_spm_model* model) { return model->processor.eos_id(); }
int32_t zoo_spm_pad_id(const zoo_spm_model* model) { return model->processor.pad_id(); }

const char* zoo_spm_id_to_piece(const zoo_spm_model* model, int32_t id, size_t* size) {
  if (id < 0 || id >= model->processor.GetPieceSize()) return nullptr;
  const std::string& piece = model->processor.IdToPiece(id);
  *size = piece.size();
  return piece.data();
}

int32_t zoo_spm_piece_to_id(const zoo_spm_model* model, const char* piece, size_t size) {
  return model->processor.PieceToId(std::string_view(piece, size));
}

int zoo_spm_encode_batch(const zoo_spm_model* model, const char* const* texts, const size_t* lengths,
                         size_t num_texts, int32_t num_threads, zoo_spm_batch* out, char* error,
                         size_t error_size) {
  *out = zoo_spm_batch{0, nullptr, nullptr, nullptr};
  try {
    // Texts go out in chunks from a shared counter (lines differ in length); a few texts are
    // encoded whole, as caching their words would not pay.
    constexpr size_t kChunk = 64;
    const bool use_cache = model->words_encode_alone && num_texts >= 16;
    std::vector<std::vector<int>> ids(num_texts);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::string failure;
    auto work = [&] {
      WordCache cache;
      for (size_t begin; !failed && (begin = next.fetch_add(kChunk)) < num_texts;) {
        for (size_t i = begin; i < std::min(num_texts, begin + kChunk); ++i) {
          const auto status = encode_text(*model, std::string_view(texts[i], lengths[i]), use_cache ? &cache : nullptr, ids[i]);
          if (!status.ok() && !failed.exchange(true)) failure = status.ToString();
        }
      }
    };
    size_t threads = num_threads > 0 ? num_threads : std::max(1u, std::thread::hardware_concurrency());
    threads = std::min(threads, (num_texts + kChunk - 1) / kChunk);
    if (threads <= 1) {
      work();
    } else {
      std::vector<std::thread> pool;
      for (size_t t = 0; t < threads; ++t) pool.emplace_back(work);
      for (auto& thread : pool) thread.join();
    }
    if (failed) {
      set_error(error, error_size, failure);
      return 0;
    }
    auto storage = std::make_unique<BatchStorage>();
    storage->offsets.resize(num_texts + 1);
    size_t total = 0;
    for (size_t i = 0; i < num_texts; ++i) {
      storage->offsets[i] = total;
      total += ids[i].size();
    }
    storage->offsets[num_texts] = total;
    storage->ids.resize(total);
    for (size_t i = 0; i < num_texts; ++i)
      std::copy(ids[i].begin(), ids[i].end(), storage->ids.begin() + storage->offsets[i]);
    out->num_texts = num_texts;
    out->offsets = storage->offsets.data();
    out->ids = storage->ids.data();
    out->internal = storage.release();
    return 1;
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return 0;
  }
}

void zoo_spm_batch_free(zoo_spm_batch* batch) {
  delete static_cast<BatchStorage*>(batch->internal);
  *batch = zoo_spm_batch{0, nullptr, nullptr, nullptr};
}

int64_t zoo_spm_decode(const zoo_spm_model* model, const int32_t* ids, size_t num_ids, char* out, size_t capacity,
                       char* error, size_t error_size) {
  try {
    const int32_t size = model->processor.GetPieceSize();
    for (size_t i = 0; i < num_ids; ++i)
      if (ids[i] < 0 || ids[i] >= size) {
        set_error(error, error_size,
                  "id " + std::to_string(ids[i]) + " is out of range (vocabulary size " + std::to_string(size) + ")");
        return -1;
      }
    std::string text;
    const auto status = model->processor.Decode(std::vector<int>(ids, ids + num_ids), &text);
    if (!status.ok()) {
      set_error(error, error_size, status.ToString());
      return -1;
    }
    if (capacity > 0) std::memcpy(out, text.data(), std::min(text.size(), capacity));
    return static_cast<int64_t>(text.size());
  } catch (const std::exception& e) {
    set_error(error, error_size, e.what());
    return -1;
  }
}

}  // extern "C"
