// Binary token files: a tokenized text written once by `zoo data tokenize` and memory-mapped
// by the `text` data type, so a large corpus costs no RAM copy and no tokenizing per run.
//
// Layout (little-endian): a 64-byte header — magic "ZOOTOKS1", uint32 bytes per token (2 when
// the vocabulary fits in uint16, else 4), uint32 0, uint64 token count, uint64 vocab size,
// 16 hex digits of the tokenizer's fingerprint, 16 hex digits of the source text's
// content_hash — then the tokens. The file sits beside its text as TEXT.<fingerprint>.tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizers/tokenizer.h"

namespace zoo::datasets {

// A read-only run of token ids: a memory-mapped token file, or ids held in memory.
class TokenStream {
 public:
  TokenStream() = default;
  // Ids held in memory, stored in 2 or 4 bytes a token like a token file.
  static TokenStream from_ids(const std::vector<int64_t>& ids, int64_t vocab_size);
  // Maps the tokens of a token file; a short or malformed file is a UserError naming it.
  static TokenStream map_file(const std::string& path);

  int64_t size() const { return size_; }
  int64_t vocab_size() const { return vocab_size_; }
  const std::string& tokenizer_fingerprint() const { return tokenizer_fingerprint_; }
  const std::string& source_hash() const { return source_hash_; }
  // The tokens [begin, end) as a stream sharing this one's storage.
  TokenStream slice(int64_t begin, int64_t end) const;
  // out[b, j] = token starts[b] + j for j < length: windows of a (B, length) int64 batch.
  void gather(const int64_t* starts, int64_t count, int64_t length, int64_t* out) const;
  int64_t at(int64_t index) const;

 private:
  std::shared_ptr<const void> storage_;  // the mapping or the in-memory buffer
  const unsigned char* base_ = nullptr;  // first token of this stream
  int width_ = 4;                        // bytes per token
  int64_t size_ = 0;
  int64_t vocab_size_ = 0;
  std::string tokenizer_fingerprint_, source_hash_;
};

// Tokenizes a UTF-8 text line by line (in parallel where the tokenizer can) and concatenates
// the ids; invalid UTF-8 is a UserError naming the line unless `replace_invalid` is set.
std::vector<int64_t> tokenize_text(const std::string& text, const std::string& file,
                                   const tokenizers::Tokenizer& tokenizer, bool replace_invalid);

// Where the token file of `text_file` under a tokenizer with this fingerprint lives.
std::string token_file_path(const std::string& text_file, const std::string& tokenizer_fingerprint);

// Tokenizes `text_file` and writes its token file (atomically). Returns its path.
std::string write_token_file(const std::string& text_file, const tokenizers::Tokenizer& tokenizer,
                             bool replace_invalid = false);

// The token file of `text_file` for this tokenizer when one exists and was made from the
// text's current contents, mapped; otherwise an empty optional-like stream (size 0, no storage).
bool open_token_file(const std::string& text_file, const std::string& tokenizer_fingerprint, TokenStream& stream);

}  // namespace zoo::datasets
