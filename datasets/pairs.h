// Parallel text for encoder-decoder models: the `pairs` data type (source<TAB>target).
//
// The decoder is trained by teacher forcing: target_input is <s> + target, target_output is
// target + </s> (both from the tokenizer, which must have them). source_max_length and
// target_max_length (0: max_length) bound the source and target_input lengths.
#pragma once

#include <string>
#include <vector>

#include "core/options.h"
#include "datasets/examples.h"

namespace zoo::datasets {

struct PairsOptions : Options<PairsOptions>, ExampleOptionsBase {
  std::string source_field = "source";
  std::string target_field = "target";
  int64_t source_max_length = 0;
  int64_t target_max_length = 0;

  template <class V>
  void visit(V& v) {
    visit_common(v, "pairs to train on: source<TAB>target lines (.tsv) or {\"source\", \"target\"} objects (.jsonl)");
    v("source_field", source_field, "JSONL key of the source text");
    v("target_field", target_field, "JSONL key of the target text");
    v("source_max_length", source_max_length, "most source tokens; 0 = max_length", non_negative());
    v("target_max_length", target_max_length, "most target tokens with <s>; 0 = max_length", non_negative());
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

struct PairExample {
  std::vector<int64_t> source;
  std::vector<int64_t> target;  // without <s> and </s>
  int64_t tokens() const { return static_cast<int64_t>(source.size() + target.size()); }
};

struct PairBatch {
  torch::Tensor source;         // (B, S) int64, right-padded
  torch::Tensor source_mask;    // (B, S) bool, true on real tokens
  torch::Tensor target_input;   // (B, T) int64: <s> + target, right-padded
  torch::Tensor target_output;  // (B, T) int64: target + </s>, kIgnoreIndex on padding
};

class PairsDataset : public ExampleDataset<PairExample, PairBatch> {
 public:
  PairsDataset(const PairsOptions& options, const DataContext& context);

 protected:
  PairBatch collate(const std::vector<const PairExample*>& examples) const override;

 private:
  int64_t pad_id_, bos_id_, eos_id_;
};

}  // namespace zoo::datasets
