// Prompted text for language models: the `instructions` data type (supervised fine-tuning),
// `preferences` (chosen/rejected responses for reward models and DPO) and `prompts` (prompts
// alone, for generation-driven training such as PPO).
//
// A prompt is rendered with a template from the options, then the prompt and the response are
// tokenized separately and concatenated, with </s> after each response when the tokenizer has
// one. Batches follow the language-model convention: input = ids[:-1], target = ids[1:], the
// target kIgnoreIndex on prompt tokens (unless train_on_prompt) and on padding.
//
// max_length bounds the input positions, so a sequence keeps at most max_length + 1 tokens.
// truncation: right cuts the end (the response's tail and </s>), left cuts the start (the
// prompt's head); an example left with no response token to learn is dropped and counted.
// Preferences cut the prompt the same for chosen and rejected: left removes the start of the
// prompt until the longer sequence fits (a response longer than the limit on its own is then
// cut at its end), right cuts each response's end.
#pragma once

#include <string>
#include <vector>

#include "core/options.h"
#include "datasets/examples.h"

namespace zoo::datasets {

// Input/target pairs of prompted sequences, padded on the right.
struct InstructionBatch {
  torch::Tensor input;           // (B, T) int64: ids[:-1]
  torch::Tensor target;          // (B, T) int64: ids[1:], kIgnoreIndex on prompt tokens and padding
  torch::Tensor attention_mask;  // (B, T) bool, true on real input tokens
  // (B, T) int64 for packed rows (data.packing): 1, 2, ... for each input token's example in
  // its row, 0 on padding; undefined otherwise.
  torch::Tensor segment_ids;
};

// One example of instruction data, or (data.packing, train split) one row of several.
struct InstructionExample : LabelledTokens {
  int64_t prompt_length = 0;  // tokens before the last response: what generation is prompted with
  std::string task;           // the instruction (or first user message): few-shot demonstrations share it
  std::vector<int64_t> segment_lengths;  // a packed row: the tokens of each example in it; empty = one example
};

// ---- instructions ----

struct InstructionOptions : Options<InstructionOptions>, ExampleOptionsBase {
  std::string prompt_template = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
  std::string prompt_template_no_input = "### Instruction:\n{instruction}\n\n### Response:\n";
  std::string system_template = "<|system|>\n{content}\n";
  std::string user_template = "<|user|>\n{content}\n";
  std::string assistant_template = "<|assistant|>\n{content}\n";
  bool train_on_prompt = false;
  bool packing = false;

  template <class V>
  void visit(V& v) {
    visit_common(v,
                 "examples to train on (.jsonl): {\"instruction\", \"input\" (optional), \"output\"} or "
                 "{\"messages\": [{\"role\", \"content\"}, ...]} objects");
    v("packing", packing,
      "train rows hold several whole examples, up to max_length (or the model's context) tokens; attention and "
      "positions stay within each example, so each learns exactly as alone, with less padding");
    v("prompt_template", prompt_template, "the prompt of an example with an input: {instruction}, {input}");
    v("prompt_template_no_input", prompt_template_no_input, "the prompt of an example without input: {instruction}");
    v("system_template", system_template, "a system message: {content}");
    v("user_template", user_template, "a user message: {content}");
    v("assistant_template", assistant_template, "an assistant message: {content}, learnt from the {content} on");
    v("train_on_prompt", train_on_prompt, "learn the prompt tokens too, not only the responses");
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

class InstructionsDataset : public ExampleDataset<InstructionExample, InstructionBatch> {
 public:
  InstructionsDataset(const InstructionOptions& options, const DataContext& context);

  // "train 2,000 examples packed into 310 rows (61.2k tokens), valid 200".
  std::string describe() const override;
  // The train examples as read, before packing (the same as train_examples() without it).
  const std::vector<InstructionExample>& unpacked_train_examples() const {
    return unpacked_train_.empty() ? train_ : unpacked_train_;
  }

 protected:
  InstructionBatch collate(const std::vector<const InstructionExample*>& examples) const override;

 private:
  int64_t pad_id_;
  std::vector<InstructionExample> unpacked_train_;  // kept only with packing
  int64_t pack_capacity_ = 0;                       // tokens a packed row holds
};

// Packs `examples` in order into rows of at most `capacity` tokens, each example whole (a row
// is closed when the next example does not fit). In a row, each example's first label after the
// first example is kIgnoreIndex: it would be the target of the previous example's last token.
std::vector<InstructionExample> pack_examples(const std::vector<InstructionExample>& examples, int64_t capacity);

// ---- preferences ----

struct PreferenceOptions : Options<PreferenceOptions>, ExampleOptionsBase {
  std::string prompt_template = "{prompt}";

  template <class V>
  void visit(V& v) {
    visit_common(v, "pairs of responses to train on (.jsonl): {\"prompt\", \"chosen\", \"rejected\"} objects");
    v("prompt_template", prompt_template, "how the prompt is shown to the model: {prompt}");
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

struct PreferenceExample {
  LabelledTokens chosen;    // prompt + chosen response (+ </s>); labels kIgnoreIndex on the prompt
  LabelledTokens rejected;  // prompt + rejected response (+ </s>)
  int64_t prompt_length;    // tokens of the prompt both begin with
  int64_t tokens() const { return chosen.tokens() + rejected.tokens(); }
};

struct PreferenceBatch {
  InstructionBatch chosen;
  InstructionBatch rejected;
  torch::Tensor prompt_lengths;  // (B) int64: ids[:prompt_length] are the prompt on both sides
};

class PreferencesDataset : public ExampleDataset<PreferenceExample, PreferenceBatch> {
 public:
  PreferencesDataset(const PreferenceOptions& options, const DataContext& context);

 protected:
  PreferenceBatch collate(const std::vector<const PreferenceExample*>& examples) const override;

 private:
  int64_t pad_id_;
};

// ---- prompts ----

struct PromptOptions : Options<PromptOptions>, ExampleOptionsBase {
  std::string prompt_template = "{prompt}";

  template <class V>
  void visit(V& v) {
    visit_common(v, "prompts: {\"prompt\"} objects (.jsonl), or one prompt a line (.txt; .tsv: its first field)");
    v("prompt_template", prompt_template, "how the prompt is shown to the model: {prompt}");
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

struct PromptExample {
  std::vector<int64_t> ids;
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
};

struct PromptBatch {
  torch::Tensor input;           // (B, T) int64, LEFT-padded so generation continues every row at T
  torch::Tensor attention_mask;  // (B, T) bool, true on real tokens
};

class PromptsDataset : public ExampleDataset<PromptExample, PromptBatch> {
 public:
  PromptsDataset(const PromptOptions& options, const DataContext& context);

 protected:
  PromptBatch collate(const std::vector<const PromptExample*>& examples) const override;

 private:
  int64_t pad_id_;
};

// The language-model batch of prompted sequences: input ids[:-1], target labels[1:].
InstructionBatch collate_sequences(const std::vector<const LabelledTokens*>& sequences, int64_t pad_id);

}  // namespace zoo::datasets
