// Plain text for BERT's masked-language-model pretraining: the `sentences` data type, with
// sentence pairs for next-sentence prediction when asked.
//
// Each file holds one sentence (or paragraph) a line and a blank line between documents. The
// lines of a document are packed greedily into chunks of at most the token budget (limit − 2
// for [CLS] A [SEP], limit − 3 for [CLS] A [SEP] B [SEP]); a longer line is cut on the right.
// Chunks never cross a document (nor a file).
//
// Every batch carries a seed for the objective's masking: train batches take it from (seed,
// epoch, position), so each epoch masks anew and a resumed run masks as the one it continues;
// valid batch k always has the same one. With next_sentence each example is split at a random
// line boundary of its chunk into A and B; half of them keep the true B (label 0), the others
// get a run of lines of another chunk of the split (label 1), the pair then trimmed to the
// budget from the end of its longer side (BERT's truncate_seq_pair). These draws come from the
// batch's seed too.
#pragma once

#include <string>
#include <vector>

#include "core/options.h"
#include "datasets/examples.h"

namespace zoo::datasets {

struct SentencesOptions : Options<SentencesOptions>, DataOptionsBase {
  std::vector<std::string> train;
  std::vector<std::string> valid;
  double valid_fraction = 0.05;
  int64_t max_length = 0;
  bool next_sentence = false;
  std::string on_invalid_utf8 = "error";

  template <class V>
  void visit(V& v) {
    v("train", train,
      "UTF-8 text files to train on: one sentence (or paragraph) a line, a blank line between documents",
      existing_file().required());
    v("valid", valid, "validation text files, same format; empty: the last valid_fraction of the train chunks",
      existing_file());
    v("valid_fraction", valid_fraction, "share of the train chunks held out when valid is empty",
      Check().above(0).at_most(0.5));
    v("max_length", max_length, "most tokens of one example, [CLS] and [SEP] included; 0 = the model's context",
      non_negative());
    v("next_sentence", next_sentence,
      "build sentence pairs for next-sentence prediction: half with the true next segment, half with a random one");
    v("on_invalid_utf8", on_invalid_utf8, "bytes that are not UTF-8: error, or replace them with U+FFFD",
      one_of({"error", "replace"}));
  }

  // The first file of the split (train, valid), or "".
  std::string split_file(const std::string& split) const override;
  std::vector<std::string> split_files(const std::string& split) const override;
  // The non-blank lines of `file`.
  std::vector<std::string> texts(const std::string& file) const override;
};

// Consecutive lines of one document, at most the token budget in all.
struct SentenceChunk {
  std::vector<int64_t> ids;
  std::vector<int64_t> line_starts;  // the offset in ids where each line starts; the first is 0
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
  int64_t lines() const { return static_cast<int64_t>(line_starts.size()); }
};

struct SentenceBatch {
  torch::Tensor input;           // (B, T) int64 right-padded with <pad>: [CLS] A [SEP] (B [SEP])
  torch::Tensor segment_ids;     // (B, T) int64: 0 on [CLS] A [SEP], 1 on B [SEP], 0 on padding
  torch::Tensor attention_mask;  // (B, T) bool, true on real tokens
  torch::Tensor special_mask;    // (B, T) bool, true where a token must never be masked: CLS, SEP, pad
  torch::Tensor next_sentence;   // (B) int64: 0 = B is the true continuation, 1 = B is random; undefined
                                 // without next_sentence
  uint64_t seed = 0;             // for the objective's masking
};

class SentencesDataset : public ExampleDataset<SentenceChunk, SentenceBatch> {
 public:
  SentencesDataset(const SentencesOptions& options, const DataContext& context);

  // The next `batch_size` chunks of the shuffled epoch order, seeded by the position before
  // them. (They hide ExampleDataset's, whose batches would have no seed.)
  SentenceBatch next_train_batch(int64_t batch_size);
  // Batch `index` of the validation chunks in file order (see batch_count()), with its fixed seed.
  SentenceBatch valid_batch(int64_t index, int64_t batch_size) const;

  bool next_sentence() const { return next_sentence_; }
  // Most tokens of A and B together (or of the one segment) in an example.
  int64_t budget() const { return budget_; }
  // "train 1,200 chunks (150k tokens), valid 60".
  std::string describe() const override;

 protected:
  // Not used: every batch is built with its seed by next_train_batch and valid_batch.
  SentenceBatch collate(const std::vector<const SentenceChunk*>& chunks) const override;

 private:
  // The examples of `picked` (indices into `split`) as one batch.
  SentenceBatch assemble(const std::vector<SentenceChunk>& split, const std::vector<int64_t>& picked,
                         uint64_t seed) const;

  bool next_sentence_;
  int64_t budget_;
  int64_t pad_id_, cls_id_, sep_id_;
};

}  // namespace zoo::datasets
