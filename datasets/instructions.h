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
};

// ---- instructions ----

struct InstructionOptions : Options<InstructionOptions>, ExampleOptionsBase {
  std::string prompt_template = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
  std::string prompt_template_no_input = "### Instruction:\n{instruction}\n\n### Response:\n";
  std::string system_template = "<|system|>\n{content}\n";
  std::string user_template = "<|user|>\n{content}\n";
  std::string assistant_template = "<|assistant|>\n{content}\n";
  bool train_on_prompt = false;

  template <class V>
  void visit(V& v) {
    visit_common(v,
                 "examples to train on (.jsonl): {\"instruction\", \"input\" (optional), \"output\"} or "
                 "{\"messages\": [{\"role\", \"content\"}, ...]} objects");
    v("prompt_template", prompt_template, "the prompt of an example with an input: {instruction}, {input}");
    v("prompt_template_no_input", prompt_template_no_input, "the prompt of an example without input: {instruction}");
    v("system_template", system_template, "a system message: {content}");
    v("user_template", user_template, "a user message: {content}");
    v("assistant_template", assistant_template, "an assistant message: {content}, learnt from the {content} on");
    v("train_on_prompt", train_on_prompt, "learn the prompt tokens too, not only the responses");
  }

  std::vector<std::string> texts(const std::string& file) const override;
};

class InstructionsDataset : public ExampleDataset<LabelledTokens, InstructionBatch> {
 public:
  InstructionsDataset(const InstructionOptions& options, const DataContext& context);

 protected:
  InstructionBatch collate(const std::vector<const LabelledTokens*>& examples) const override;

 private:
  int64_t pad_id_;
};

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
