// SentencePiece tokenizer (BPE or unigram), trained on the recipe's text and cached by content.
//
// SentencePiece itself runs in libzoo_spm_shim.so, loaded once per process into a link-map
// namespace of its own (DESIGN.md: it cannot share one with libtorch); see spm_shim/spm_shim.h.
// Ids: <unk> 0, <s> (bos) 1, </s> (eos) 2 always, as in SentencePiece's defaults, so Python's
// sentencepiece gives the same ids; <pad> 3 when special_tokens lists pad; mask, cls and sep
// become the user-defined pieces <mask>, <cls>, <sep> (ids from the model, after the control
// pieces), followed by the recipe's user_defined_symbols. Encoding adds no bos/eos. Decoding
// drops every special piece but <unk> (which SentencePiece decodes to " ⁇ ").
// Saved as DIR/tokenizer.json plus DIR/tokenizer.model, the serialized SentencePiece model that
// Python's sentencepiece.SentencePieceProcessor(model_file=...) loads as is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "tokenizers/tokenizer.h"

struct zoo_spm_model;

namespace zoo::tokenizers {

struct SentencePieceOptions : Options<SentencePieceOptions>, TokenizerOptionsBase {
  std::string model_type = "bpe";
  int64_t vocab_size = 8000;
  double character_coverage = 1.0;
  bool byte_fallback = false;
  std::vector<std::string> user_defined_symbols;
  std::string normalization = "nmt_nfkc";
  bool remove_extra_whitespaces = true;
  bool split_digits = false;
  int64_t max_sentence_length = 4192;
  int64_t input_sentence_size = 0;
  int64_t num_threads = 0;

  template <class V>
  void visit(V& v) {
    visit_common(v);
    v("model_type", model_type, "bpe (merges frequent pairs) or unigram (prunes a unigram language model)",
      one_of({"bpe", "unigram"}));
    v("vocab_size", vocab_size, "pieces in the vocabulary, special pieces included", Check().at_least(4).at_most(1 << 30));
    v("character_coverage", character_coverage,
      "share of the text's characters kept as pieces; the rarest others become <unk> (or bytes)", between(0.98, 1.0));
    v("byte_fallback", byte_fallback, "encode characters outside the vocabulary as UTF-8 byte pieces instead of <unk>");
    v("user_defined_symbols", user_defined_symbols, "pieces always kept whole wherever they occur in the text");
    v("normalization", normalization, "Unicode normalization before splitting (SentencePiece's rule names)",
      one_of({"nmt_nfkc", "nfkc", "nmt_nfkc_cf", "nfkc_cf", "identity"}));
    v("remove_extra_whitespaces", remove_extra_whitespaces, "drop leading and trailing spaces, collapse runs of spaces");
    v("split_digits", split_digits, "every digit a piece of its own");
    v("max_sentence_length", max_sentence_length, "longest training line in bytes; longer lines are left out",
      between(10, 1 << 30));
    v("input_sentence_size", input_sentence_size, "train on this many lines sampled from the text; 0 = all",
      non_negative());
    v("num_threads", num_threads, "training threads; 0 = every core", between(0, 128));
  }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  static constexpr const char* kModelFile = "tokenizer.model";

  // Trains on `text_file` (UTF-8, one sentence or paragraph a line). Text errors (invalid
  // UTF-8, no text, a vocab_size the text cannot support) are UserErrors naming the file.
  static std::shared_ptr<SentencePieceTokenizer> train(const SentencePieceOptions& options, const std::string& text_file);
  // train(), or the tokenizer trained before with the same options on the same text, kept in
  // cache_dir()/tokenizers/sentencepiece-<key>/ (key: a hash of the options and the text).
  static std::shared_ptr<SentencePieceTokenizer> fit_file(const SentencePieceOptions& options,
                                                          const std::string& text_file);
  static std::shared_ptr<SentencePieceTokenizer> load(const std::string& dir);

  ~SentencePieceTokenizer() override;

  std::string type() const override { return "sentencepiece"; }
  std::vector<int64_t> encode(const std::string& text) const override;
  // Encodes in SentencePiece's threads, across every core.
  std::vector<std::vector<int64_t>> encode_batch(const std::vector<std::string>& texts) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  std::string id_to_piece(int64_t id) const override;
  int64_t vocab_size() const override { return vocab_size_; }
  void save(const std::string& dir) const override;

  // The id of `piece`, or the unk id when the vocabulary lacks it.
  int64_t piece_to_id(const std::string& piece) const;

 private:
  // Takes ownership of `model`; `where` names the model in errors (a file or "training").
  SentencePieceTokenizer(zoo_spm_model* model, std::vector<Special> specials, const std::string& where);

  zoo_spm_model* model_;
  std::vector<Special> specials_;  // as the recipe listed them
  int64_t vocab_size_;
};

}  // namespace zoo::tokenizers
