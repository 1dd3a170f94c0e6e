// The instructions, preferences and prompts data types: templates, prompt/response encoding,
// truncation that keeps something to learn, and language-model batches.
#include "datasets/instructions.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/metrics.h"

namespace zoo::datasets {
namespace {

// A piece of an example's text: a prompt part (not learnt unless train_on_prompt) or a response,
// which </s> follows when the tokenizer has one.
struct Segment {
  std::string text;
  bool response;
};

struct RenderedExample {
  int64_t line;
  std::vector<Segment> segments;
  std::string task;  // the instruction, or the first user message
};

void require_placeholder(const std::string& pattern, const std::string& name, const std::string& option) {
  if (pattern.find("{" + name + "}") == std::string::npos)
    throw UserError("data." + option + ": '" + pattern + "' has no {" + name + "}; put {" + name +
                    "} where the text goes");
}

// Adds `segment`, joining it to the previous prompt part so a prompt is tokenized as one text.
void add_segment(std::vector<Segment>& segments, Segment segment) {
  if (!segment.response && !segments.empty() && !segments.back().response)
    segments.back().text += segment.text;
  else
    segments.push_back(std::move(segment));
}

// ---- instructions ----

const char* const kInstructionFix =
    "give each example \"instruction\" and \"output\" (and \"input\" when it has one), or \"messages\"";

std::vector<RenderedExample> read_instructions(const DataFile& file, const InstructionOptions& options) {
  file.format({FileFormat::jsonl}, "instructions");
  // The assistant template around its content: the part before is prompt, the rest response.
  const size_t content = options.assistant_template.find("{content}");
  const std::string before_answer = options.assistant_template.substr(0, content);
  const std::string after_answer = options.assistant_template.substr(content + std::string("{content}").size());
  std::vector<RenderedExample> examples;
  for (const DataLine& line : file.lines()) {
    if (is_blank(line.text)) continue;
    const nlohmann::json object = file.json_object(line);
    RenderedExample example{line.number, {}, ""};
    if (object.contains("messages")) {
      const nlohmann::json& messages = object["messages"];
      if (!messages.is_array() || messages.empty())
        file.fail(line.number, "\"messages\" must be a non-empty array of {\"role\", \"content\"} objects");
      bool answered = false;
      for (size_t k = 0; k < messages.size(); ++k) {
        const std::string which = "message " + std::to_string(k + 1);
        if (!messages[k].is_object())
          file.fail(line.number, which + " is not a {\"role\", \"content\"} object");
        const std::string fix = "give every message a \"role\" (system, user or assistant) and a \"content\"";
        const std::string role = file.string_field(messages[k], "role", line, fix);
        const std::string text = file.string_field(messages[k], "content", line, fix);
        if (role == "system") {
          add_segment(example.segments, {render(options.system_template, {{"content", text}}), false});
        } else if (role == "user") {
          if (example.task.empty()) example.task = text;
          add_segment(example.segments, {render(options.user_template, {{"content", text}}), false});
        } else if (role == "assistant") {
          add_segment(example.segments, {before_answer, false});
          add_segment(example.segments, {text + after_answer, true});
          answered = true;
        } else {
          file.fail(line.number, which + " has role '" + role + "'; the roles are system, user and assistant");
        }
      }
      if (!answered && !options.train_on_prompt)
        file.fail(line.number, "no assistant message, so nothing to learn; add one or remove the line");
    } else {
      const std::string instruction = file.string_field(object, "instruction", line, kInstructionFix);
      const std::string input = object.contains("input") && !object["input"].is_null()
                                    ? file.string_field(object, "input", line, kInstructionFix)
                                    : "";
      const std::string output = file.string_field(object, "output", line, kInstructionFix);
      const std::string& pattern = input.empty() ? options.prompt_template_no_input : options.prompt_template;
      add_segment(example.segments, {render(pattern, {{"instruction", instruction}, {"input", input}}), false});
      example.task = instruction;
      add_segment(example.segments, {output, true});
    }
    examples.push_back(std::move(example));
  }
  if (examples.empty())
    file.fail_empty("write one {\"instruction\": ..., \"input\": ..., \"output\": ...} or {\"messages\": [...]} "
                    "object per line");
  return examples;
}

// Whether a sequence has a token to learn at position >= 1 (position 0 is never a target).
bool has_target(const LabelledTokens& sequence) {
  return std::any_of(sequence.labels.begin() + std::min<size_t>(1, sequence.labels.size()), sequence.labels.end(),
                     [](int64_t label) { return label != kIgnoreIndex; });
}

// ---- preferences and prompts ----

struct PreferenceTexts {
  int64_t line;
  std::string prompt;  // rendered
  std::string chosen;
  std::string rejected;
};

std::vector<PreferenceTexts> read_preferences(const DataFile& file, const PreferenceOptions& options) {
  file.format({FileFormat::jsonl}, "preferences");
  const std::string fix = "give each line \"prompt\", \"chosen\" and \"rejected\"";
  std::vector<PreferenceTexts> examples;
  for (const DataLine& line : file.lines()) {
    if (is_blank(line.text)) continue;
    const nlohmann::json object = file.json_object(line);
    const std::string prompt = file.string_field(object, "prompt", line, fix);
    examples.push_back({line.number, render(options.prompt_template, {{"prompt", prompt}}),
                        file.string_field(object, "chosen", line, fix),
                        file.string_field(object, "rejected", line, fix)});
  }
  if (examples.empty())
    file.fail_empty("write one {\"prompt\": ..., \"chosen\": ..., \"rejected\": ...} object per line");
  return examples;
}

struct PromptText {
  int64_t line;
  std::string prompt;  // rendered
};

std::vector<PromptText> read_prompts(const DataFile& file, const PromptOptions& options) {
  const FileFormat format = file.format({FileFormat::jsonl, FileFormat::text, FileFormat::tsv}, "prompts");
  std::vector<PromptText> prompts;
  for (const DataLine& line : file.lines()) {
    if (is_blank(line.text)) continue;
    std::string prompt;
    if (format == FileFormat::jsonl)
      prompt = file.string_field(file.json_object(line), "prompt", line, "give each line a \"prompt\"");
    else
      prompt = std::string(line.text.substr(0, line.text.find('\t')));
    prompts.push_back({line.number, render(options.prompt_template, {{"prompt", prompt}})});
  }
  if (prompts.empty())
    file.fail_empty("write one prompt a line (.txt, .tsv) or one {\"prompt\": ...} object per line (.jsonl)");
  return prompts;
}

}  // namespace

std::vector<InstructionExample> pack_examples(const std::vector<InstructionExample>& examples, int64_t capacity) {
  std::vector<InstructionExample> rows;
  for (const InstructionExample& example : examples) {
    if (rows.empty() || rows.back().tokens() + example.tokens() > capacity) rows.emplace_back();
    InstructionExample& row = rows.back();
    const bool first = row.ids.empty();
    row.ids.insert(row.ids.end(), example.ids.begin(), example.ids.end());
    row.labels.insert(row.labels.end(), example.labels.begin(), example.labels.end());
    if (!first) row.labels[row.labels.size() - example.labels.size()] = kIgnoreIndex;
    row.segment_lengths.push_back(example.tokens());
  }
  return rows;
}

InstructionBatch collate_sequences(const std::vector<const LabelledTokens*>& sequences, int64_t pad_id) {
  std::vector<std::vector<int64_t>> inputs, targets;
  for (const auto* sequence : sequences) {
    inputs.emplace_back(sequence->ids.begin(), sequence->ids.end() - 1);
    targets.emplace_back(sequence->labels.begin() + 1, sequence->labels.end());
  }
  return {pad(inputs, pad_id), pad(targets, kIgnoreIndex), attention_mask(inputs), {}};
}

// ---- instructions ----

std::vector<std::string> InstructionOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (auto& example : read_instructions(DataFile(file, on_invalid_utf8), *this))
    for (auto& segment : example.segments) texts.push_back(std::move(segment.text));
  return texts;
}

InstructionsDataset::InstructionsDataset(const InstructionOptions& options, const DataContext& context)
    : ExampleDataset("instructions", context.seed), pad_id_(pad_id(*context.tokenizer)) {
  require_placeholder(options.prompt_template, "instruction", "prompt_template");
  require_placeholder(options.prompt_template_no_input, "instruction", "prompt_template_no_input");
  require_placeholder(options.system_template, "content", "system_template");
  require_placeholder(options.user_template, "content", "user_template");
  require_placeholder(options.assistant_template, "content", "assistant_template");
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t eos = tokenizer.special_id(tokenizers::Special::eos);
  const int64_t limit = options.length_limit(context);
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<RenderedExample> read = read_instructions(file, options);
    std::vector<std::string> texts;
    for (const auto& example : read)
      for (const auto& segment : example.segments) texts.push_back(segment.text);
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    Truncator truncator(file, split, options.truncation);
    std::vector<InstructionExample> examples;
    size_t next = 0;  // into encoded
    for (const RenderedExample& rendered : read) {
      InstructionExample example;
      example.task = rendered.task;
      for (const Segment& segment : rendered.segments) {
        std::vector<int64_t> ids = encoded[next++];
        if (segment.response) example.prompt_length = example.tokens();
        if (segment.response && eos >= 0) ids.push_back(eos);
        const bool learnt = segment.response || options.train_on_prompt;
        example.ids.insert(example.ids.end(), ids.begin(), ids.end());
        for (int64_t id : ids) example.labels.push_back(learnt ? id : kIgnoreIndex);
      }
      const bool cut = truncator.too_long(example.tokens() - 1, limit, rendered.line,
                                          "the example's input (all its tokens but the last)");
      if (cut) {
        const int64_t before = example.tokens();
        truncator.cut(example.ids, limit + 1);
        truncator.cut(example.labels, limit + 1);
        if (truncator.cuts_left()) example.prompt_length -= before - example.tokens();
        example.prompt_length = std::clamp<int64_t>(example.prompt_length, 0, example.tokens());
      }
      const bool learnable = has_target(example);
      if (!cut && !learnable)
        file.fail(rendered.line, "no response token to learn (an empty response, and the tokenizer has no </s>); "
                                 "fill in the response or remove the line");
      truncator.count(cut, !learnable);
      if (learnable) examples.push_back(std::move(example));
    }
    truncator.report(std::to_string(limit) + " tokens");
    return examples;
  });
  if (options.packing) {
    if (limit <= 0)
      throw UserError("data.packing: rows need a length; set data.max_length (or use a model with a context length)");
    // Packed in a seeded order, so neighbouring lines of the file do not always share a row.
    unpacked_train_ = train_;
    std::vector<InstructionExample> shuffled;
    for (int64_t i : EpochOrder::permutation(train_size(), context.seed, /*epoch=*/-2))
      shuffled.push_back(unpacked_train_[static_cast<size_t>(i)]);
    pack_capacity_ = limit + 1;
    train_ = pack_examples(shuffled, pack_capacity_);
    order() = EpochOrder(train_size(), context.seed);
  }
}

std::string InstructionsDataset::describe() const {
  if (unpacked_train_.empty()) return ExampleDataset::describe();
  int64_t tokens = 0;
  for (const auto& row : train_) tokens += row.tokens();
  const double filled = static_cast<double>(tokens) / static_cast<double>(train_size() * pack_capacity_);
  return fmt::format("train {} examples packed into {} rows of {} tokens ({} tokens, {:.0f}% filled), valid {}{}",
                     with_commas(static_cast<int64_t>(unpacked_train_.size())), with_commas(train_size()),
                     pack_capacity_, format_count(static_cast<double>(tokens)), 100.0 * filled,
                     with_commas(valid_size()), test_size() > 0 ? ", test " + with_commas(test_size()) : "");
}

InstructionBatch InstructionsDataset::collate(const std::vector<const InstructionExample*>& examples) const {
  InstructionBatch batch = collate_sequences({examples.begin(), examples.end()}, pad_id_);
  if (examples.empty() || examples.front()->segment_lengths.empty()) return batch;
  // Segment ids of the input tokens (ids[:-1]) of each row; padding stays 0.
  auto segments = torch::zeros_like(batch.input);
  auto accessor = segments.accessor<int64_t, 2>();
  for (size_t b = 0; b < examples.size(); ++b) {
    int64_t t = 0;
    for (size_t k = 0; k < examples[b]->segment_lengths.size(); ++k)
      for (int64_t i = 0; i < examples[b]->segment_lengths[k] && t < examples[b]->tokens() - 1; ++i)
        accessor[static_cast<int64_t>(b)][t++] = static_cast<int64_t>(k + 1);
  }
  batch.segment_ids = segments;
  return batch;
}

// ---- preferences ----

std::vector<std::string> PreferenceOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (auto& example : read_preferences(DataFile(file, on_invalid_utf8), *this)) {
    texts.push_back(std::move(example.prompt));
    texts.push_back(std::move(example.chosen));
    texts.push_back(std::move(example.rejected));
  }
  return texts;
}

PreferencesDataset::PreferencesDataset(const PreferenceOptions& options, const DataContext& context)
    : ExampleDataset("preferences", context.seed), pad_id_(pad_id(*context.tokenizer)) {
  require_placeholder(options.prompt_template, "prompt", "prompt_template");
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t eos = tokenizer.special_id(tokenizers::Special::eos);
  const int64_t limit = options.length_limit(context);
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<PreferenceTexts> read = read_preferences(file, options);
    std::vector<std::string> texts;
    for (const auto& example : read) texts.insert(texts.end(), {example.prompt, example.chosen, example.rejected});
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    Truncator truncator(file, split, options.truncation);
    std::vector<PreferenceExample> examples;
    for (size_t i = 0; i < read.size(); ++i) {
      std::vector<int64_t> prompt = encoded[3 * i], chosen = encoded[3 * i + 1], rejected = encoded[3 * i + 2];
      if (eos >= 0) {
        chosen.push_back(eos);
        rejected.push_back(eos);
      }
      const auto longest = static_cast<int64_t>(prompt.size() + std::max(chosen.size(), rejected.size()));
      const bool cut = truncator.too_long(longest - 1, limit, read[i].line,
                                          "the input of the prompt with the longer response (all but its last token)");
      if (cut) {
        const int64_t room = limit + 1;
        if (truncator.cuts_left()) {
          const int64_t start = std::min<int64_t>(static_cast<int64_t>(prompt.size()), longest - room);
          prompt.erase(prompt.begin(), prompt.begin() + start);
        }
        const auto keep = static_cast<size_t>(std::max<int64_t>(0, room - static_cast<int64_t>(prompt.size())));
        chosen.resize(std::min(chosen.size(), keep));
        rejected.resize(std::min(rejected.size(), keep));
      }
      const auto sequence = [&](const std::vector<int64_t>& response) {
        LabelledTokens out{prompt, std::vector<int64_t>(prompt.size(), kIgnoreIndex)};
        out.ids.insert(out.ids.end(), response.begin(), response.end());
        out.labels.insert(out.labels.end(), response.begin(), response.end());
        return out;
      };
      PreferenceExample example{sequence(chosen), sequence(rejected), static_cast<int64_t>(prompt.size())};
      const bool learnable = has_target(example.chosen) && has_target(example.rejected);
      if (!cut && !learnable)
        file.fail(read[i].line, "an empty response and no </s> in the tokenizer leave nothing to compare; fill in "
                                "both responses or remove the line");
      truncator.count(cut, !learnable);
      if (learnable) examples.push_back(std::move(example));
    }
    truncator.report(std::to_string(limit) + " tokens");
    return examples;
  });
}

PreferenceBatch PreferencesDataset::collate(const std::vector<const PreferenceExample*>& examples) const {
  std::vector<const LabelledTokens*> chosen, rejected;
  std::vector<int64_t> prompt_lengths;
  for (const auto* example : examples) {
    chosen.push_back(&example->chosen);
    rejected.push_back(&example->rejected);
    prompt_lengths.push_back(example->prompt_length);
  }
  return {collate_sequences(chosen, pad_id_), collate_sequences(rejected, pad_id_),
          torch::tensor(prompt_lengths, torch::kInt64)};
}

// ---- prompts ----

std::vector<std::string> PromptOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (auto& prompt : read_prompts(DataFile(file, on_invalid_utf8), *this)) texts.push_back(std::move(prompt.prompt));
  return texts;
}

PromptsDataset::PromptsDataset(const PromptOptions& options, const DataContext& context)
    : ExampleDataset("prompts", context.seed), pad_id_(pad_id(*context.tokenizer)) {
  require_placeholder(options.prompt_template, "prompt", "prompt_template");
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t limit = options.length_limit(context);
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<PromptText> read = read_prompts(file, options);
    std::vector<std::string> texts;
    for (const auto& prompt : read) texts.push_back(prompt.prompt);
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    Truncator truncator(file, split, options.truncation);
    std::vector<PromptExample> examples;
    for (size_t i = 0; i < read.size(); ++i) {
      PromptExample example{encoded[i]};
      if (example.ids.empty()) file.fail(read[i].line, "the prompt is empty; fill it in or remove the line");
      const bool cut = truncator.too_long(example.tokens(), limit, read[i].line, "the prompt");
      if (cut) truncator.cut(example.ids, limit);
      truncator.count(cut);
      examples.push_back(std::move(example));
    }
    truncator.report(std::to_string(limit) + " tokens");
    return examples;
  });
}

PromptBatch PromptsDataset::collate(const std::vector<const PromptExample*>& examples) const {
  std::vector<std::vector<int64_t>> rows;
  for (const auto* example : examples) rows.push_back(example->ids);
  return {pad(rows, pad_id_, Padding::left), attention_mask(rows, Padding::left)};
}

}  // namespace zoo::datasets
