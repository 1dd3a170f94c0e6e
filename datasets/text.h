// Language-model windows over a tokenized text file: the `text` data type.
//
// The train (and valid) files are read from their token files (`zoo data tokenize`, memory-
// mapped) when one exists for this tokenizer and text, else tokenized into memory.
// Training batches are B windows of block_size+1 tokens at uniformly random starts drawn from
// the dataset's own mt19937_64 (seeded by DataContext::seed; its state is the data position).
// Validation batch k holds the non-overlapping windows k*B .. k*B+B-1 of the valid stream,
// wrapping around, so every call and every run sees the same windows.
#pragma once

#include <random>
#include <string>

#include "core/options.h"
#include "datasets/dataset.h"
#include "datasets/token_file.h"

namespace zoo::datasets {

struct TextOptions : Options<TextOptions>, DataOptionsBase {
  std::string train;
  std::string valid;
  double valid_fraction = 0.1;
  int64_t block_size = 256;
  std::string on_invalid_utf8 = "error";

  template <class V>
  void visit(V& v) {
    v("train", train, "UTF-8 text file to train on", existing_file().required());
    v("valid", valid, "UTF-8 validation text file; empty: the last valid_fraction of train",
      existing_file());
    v("valid_fraction", valid_fraction, "share of the train tokens held out when valid is empty",
      Check().above(0).at_most(0.5));
    v("block_size", block_size, "tokens per window (the context length)", positive());
    v("on_invalid_utf8", on_invalid_utf8, "bytes that are not UTF-8: error, or replace them with U+FFFD",
      one_of({"error", "replace"}));
  }

  std::string split_file(const std::string& split) const override {
    return split == "train" ? train : split == "valid" ? valid : "";
  }
};

class TextDataset : public LMDataset {
 public:
  TextDataset(const TextOptions& options, const DataContext& context);

  LMBatch next_train_batch(int64_t batch_size) override;
  LMBatch valid_batch(int64_t index, int64_t batch_size) override;
  int64_t block_size() const override { return block_size_; }
  int64_t train_tokens() const override { return train_.size(); }
  int64_t valid_tokens() const override { return valid_.size(); }
  const TokenStream& valid_stream() const override { return valid_; }
  std::string describe() const override;
  std::string state() const override;
  void load_state(const std::string& state) override;

 private:
  // Input/target pairs of the windows of `stream` starting at `starts` (B).
  LMBatch windows(const TokenStream& stream, const std::vector<int64_t>& starts) const;

  int64_t block_size_;
  TokenStream train_;
  TokenStream valid_;
  std::mt19937_64 rng_;
};

}  // namespace zoo::datasets
