// Labelled text: the `classification` data type (one label per text) and the `tagging` data
// type (one tag per word of a sentence).
//
// Label (tag) names get ids in sorted order over the whole train file (validation held out
// from it included): numerically when every name is an integer, else by bytes. A label in the
// valid or test file that train lacks is a UserError at its line, or with unknown_label
// (unknown_tag): skip, the example is left out and counted in one log line.
//
// Tagging encodes each word on its own: its tag goes on its first token, kIgnoreIndex on the
// others; a word that encodes to nothing becomes <unk>.
#pragma once

#include <string>
#include <vector>

#include "core/options.h"
#include "datasets/examples.h"

namespace zoo::datasets {

// ---- classification ----

struct ClassificationOptions : Options<ClassificationOptions>, ExampleOptionsBase {
  std::string text_field = "text";
  std::string label_field = "label";
  std::string unknown_label = "error";
  bool add_cls = false;

  template <class V>
  void visit(V& v) {
    visit_common(v, "examples to train on: label<TAB>text lines (.tsv) or {\"text\", \"label\"} objects (.jsonl)");
    v("text_field", text_field, "JSONL key of the text");
    v("label_field", label_field, "JSONL key of the label (a string or a number)");
    v("unknown_label", unknown_label, "a valid/test label not in train: error, or skip the example",
      one_of({"error", "skip"}));
    v("add_cls", add_cls, "start every input with the tokenizer's <cls> (BERT-style models)");
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

struct ClassificationExample {
  std::vector<int64_t> ids;
  int64_t label;
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
};

struct ClassificationBatch {
  torch::Tensor input;           // (B, T) int64, right-padded
  torch::Tensor attention_mask;  // (B, T) bool, true on real tokens
  torch::Tensor labels;          // (B) int64, ids into labels()
};

class ClassificationDataset : public ExampleDataset<ClassificationExample, ClassificationBatch> {
 public:
  ClassificationDataset(const ClassificationOptions& options, const DataContext& context);

  // Label names by id (trainers save them beside the checkpoint).
  const std::vector<std::string>& labels() const { return labels_; }
  std::string describe() const override;

 protected:
  ClassificationBatch collate(const std::vector<const ClassificationExample*>& examples) const override;

 private:
  std::vector<std::string> labels_;
  int64_t pad_id_;
};

// ---- tagging ----

struct TaggingOptions : Options<TaggingOptions>, ExampleOptionsBase {
  std::string tokens_field = "tokens";
  std::string tags_field = "tags";
  std::string unknown_tag = "error";

  template <class V>
  void visit(V& v) {
    visit_common(v,
                 "sentences to train on: a word<TAB>tag line per word, a blank line between sentences (.conll, "
                 ".txt, .tsv), or {\"tokens\": [...], \"tags\": [...]} objects (.jsonl)");
    v("tokens_field", tokens_field, "JSONL key of the words (an array of strings)");
    v("tags_field", tags_field, "JSONL key of the tags (an array of strings, one per word)");
    v("unknown_tag", unknown_tag, "a valid/test tag not in train: error, or skip the sentence",
      one_of({"error", "skip"}));
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

struct TaggingBatch {
  torch::Tensor input;           // (B, T) int64, right-padded
  torch::Tensor attention_mask;  // (B, T) bool
  torch::Tensor labels;          // (B, T) int64: tag ids on each word's first token, else kIgnoreIndex
};

class TaggingDataset : public ExampleDataset<LabelledTokens, TaggingBatch> {
 public:
  TaggingDataset(const TaggingOptions& options, const DataContext& context);

  // Tag names by id.
  const std::vector<std::string>& tags() const { return tags_; }
  std::string describe() const override;

 protected:
  TaggingBatch collate(const std::vector<const LabelledTokens*>& examples) const override;

 private:
  std::vector<std::string> tags_;
  int64_t pad_id_;
};

}  // namespace zoo::datasets
