// The classification and tagging data types: reading, label ids, encoding, collation.
#include "datasets/labelled.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace zoo::datasets {
namespace {

using tokenizers::Special;

// Label names to ids in sorted_labels order.
std::map<std::string, int64_t> label_ids(const std::vector<std::string>& names) {
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < names.size(); ++i) ids[names[i]] = static_cast<int64_t>(i);
  return ids;
}

void report_skipped(int64_t skipped, int64_t examples, const std::string& split, const std::string& what) {
  if (skipped > 0)
    spdlog::warn("data: {} of {} {} {}", with_commas(skipped), with_commas(examples), split, what);
}

// ---- classification ----

const char* const kClassificationLayout =
    "write one label<TAB>text line (.tsv) or one {\"text\": ..., \"label\": ...} object (.jsonl) per example";

struct LabelledText {
  int64_t line;
  std::string text;
  std::string label;
};

std::vector<LabelledText> read_labelled_texts(const DataFile& file, const ClassificationOptions& options) {
  const FileFormat format = file.format({FileFormat::tsv, FileFormat::jsonl}, "classification");
  std::vector<LabelledText> examples;
  for (const DataLine& line : file.lines()) {
    if (is_blank(line.text)) continue;
    if (format == FileFormat::tsv) {
      std::vector<std::string> fields = file.tsv_fields(line, 2, "label<TAB>text");
      examples.push_back({line.number, std::move(fields[1]), std::move(fields[0])});
    } else {
      const nlohmann::json object = file.json_object(line);
      examples.push_back(
          {line.number, file.string_field(object, options.text_field, line, "set data.text_field to the key of the text"),
           file.string_field(object, options.label_field, line, "set data.label_field to the key of the label", true)});
    }
    if (examples.back().label.empty()) file.fail(line.number, "the label is empty; fill it in or remove the line");
  }
  if (examples.empty()) file.fail_empty(kClassificationLayout);
  return examples;
}

// ---- tagging ----

const char* const kTaggingLayout =
    "write one word<TAB>tag line per word with a blank line after each sentence (.conll, .txt, .tsv), or one "
    "{\"tokens\": [...], \"tags\": [...]} object per sentence (.jsonl)";

struct TaggedSentence {
  std::vector<std::string> words;
  std::vector<std::string> tags;
  std::vector<int64_t> lines;  // of each word
};

std::vector<std::string> split_whitespace(std::string_view text) {
  std::vector<std::string> fields;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t begin = text.find_first_not_of(" \t", pos);
    if (begin == std::string_view::npos) break;
    const size_t end = std::min(text.find_first_of(" \t", begin), text.size());
    fields.emplace_back(text.substr(begin, end - begin));
    pos = end;
  }
  return fields;
}

std::vector<TaggedSentence> read_sentences(const DataFile& file, const TaggingOptions& options) {
  const FileFormat format =
      file.format({FileFormat::conll, FileFormat::text, FileFormat::tsv, FileFormat::jsonl}, "tagging");
  std::vector<TaggedSentence> sentences;
  if (format == FileFormat::jsonl) {
    for (const DataLine& line : file.lines()) {
      if (is_blank(line.text)) continue;
      const nlohmann::json object = file.json_object(line);
      TaggedSentence sentence;
      sentence.words = file.string_list(object, options.tokens_field, line, "set data.tokens_field to the key of the words");
      sentence.tags = file.string_list(object, options.tags_field, line, "set data.tags_field to the key of the tags");
      if (sentence.words.size() != sentence.tags.size())
        file.fail(line.number, std::to_string(sentence.words.size()) + " words but " +
                                   std::to_string(sentence.tags.size()) + " tags; give one tag per word");
      if (sentence.words.empty()) file.fail(line.number, "a sentence with no words; remove the line");
      sentence.lines.assign(sentence.words.size(), line.number);
      sentences.push_back(std::move(sentence));
    }
  } else {
    TaggedSentence sentence;
    for (const DataLine& line : file.lines()) {
      if (is_blank(line.text)) {
        if (!sentence.words.empty()) sentences.push_back(std::move(sentence));
        sentence = {};
        continue;
      }
      if (line.text.rfind("-DOCSTART-", 0) == 0) continue;  // CoNLL-2003 document marks
      const std::vector<std::string> fields = split_whitespace(line.text);
      if (fields.size() < 2)
        file.fail(line.number, "a word without a tag; write word<TAB>tag (the tag is the last field), a blank line "
                               "between sentences");
      sentence.words.push_back(fields.front());
      sentence.tags.push_back(fields.back());
      sentence.lines.push_back(line.number);
    }
    if (!sentence.words.empty()) sentences.push_back(std::move(sentence));
  }
  if (sentences.empty()) file.fail_empty(kTaggingLayout);
  return sentences;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

}  // namespace

// ---- classification ----

std::vector<std::string> ClassificationOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (auto& example : read_labelled_texts(DataFile(file, on_invalid_utf8), *this))
    texts.push_back(std::move(example.text));
  return texts;
}

ClassificationDataset::ClassificationDataset(const ClassificationOptions& options, const DataContext& context)
    : ExampleDataset("classification", context.seed), pad_id_(pad_id(*context.tokenizer)) {
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t cls = options.add_cls ? tokenizer.require_special(Special::cls, "data.add_cls") : -1;
  const int64_t extra = options.add_cls ? 1 : 0;
  const int64_t limit = options.length_limit(context);
  std::map<std::string, int64_t> ids_of_labels;
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<LabelledText> read = read_labelled_texts(file, options);
    std::vector<std::string> texts;
    for (const auto& example : read) texts.push_back(example.text);
    if (split == "train") {
      std::vector<std::string> names;
      for (const auto& example : read) names.push_back(example.label);
      labels_ = sorted_labels(std::move(names));
      ids_of_labels = label_ids(labels_);
    }
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    Truncator truncator(file, split, options.truncation);
    std::vector<ClassificationExample> examples;
    int64_t skipped = 0;
    for (size_t i = 0; i < read.size(); ++i) {
      const int64_t line = read[i].line;
      const auto label = ids_of_labels.find(read[i].label);
      if (label == ids_of_labels.end()) {
        if (options.unknown_label == "skip") {
          ++skipped;
          continue;
        }
        file.fail(line, "label '" + read[i].label + "' not in the training labels (" + list_labels(labels_) +
                            "); fix the label, or set data.unknown_label: skip to leave such examples out");
      }
      std::vector<int64_t> ids = encoded[i];
      if (ids.empty() && !options.add_cls) file.fail(line, "the text is empty; fill it in or remove the line");
      const auto length = static_cast<int64_t>(ids.size()) + extra;
      const bool cut = truncator.too_long(length, limit, line, options.add_cls ? "the text with <cls>" : "the text");
      if (cut) truncator.cut(ids, limit - extra);
      truncator.count(cut);
      if (options.add_cls) ids.insert(ids.begin(), cls);
      examples.push_back({std::move(ids), label->second});
    }
    truncator.report(std::to_string(limit) + " tokens");
    report_skipped(skipped, static_cast<int64_t>(read.size()), split,
                   "examples with a label not in the training labels were skipped (unknown_label: skip)");
    return examples;
  });
}

std::string ClassificationDataset::describe() const {
  return ExampleDataset::describe() + ", " + std::to_string(labels_.size()) + " labels";
}

ClassificationBatch ClassificationDataset::collate(const std::vector<const ClassificationExample*>& examples) const {
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> labels;
  for (const auto* example : examples) {
    rows.push_back(example->ids);
    labels.push_back(example->label);
  }
  return {pad(rows, pad_id_), attention_mask(rows), torch::tensor(labels, torch::kInt64)};
}

// ---- tagging ----

std::vector<std::string> TaggingOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (const auto& sentence : read_sentences(DataFile(file, on_invalid_utf8), *this))
    texts.push_back(join_words(sentence.words));
  return texts;
}

TaggingDataset::TaggingDataset(const TaggingOptions& options, const DataContext& context)
    : ExampleDataset("tagging", context.seed), pad_id_(pad_id(*context.tokenizer)) {
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t unk = tokenizer.special_id(Special::unk);
  const int64_t limit = options.length_limit(context);
  std::map<std::string, int64_t> ids_of_tags;
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<TaggedSentence> read = read_sentences(file, options);
    std::vector<std::string> words;
    for (const auto& sentence : read) words.insert(words.end(), sentence.words.begin(), sentence.words.end());
    if (split == "train") {
      std::vector<std::string> names;
      for (const auto& sentence : read) names.insert(names.end(), sentence.tags.begin(), sentence.tags.end());
      tags_ = sorted_labels(std::move(names));
      ids_of_tags = label_ids(tags_);
    }
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(words);
    Truncator truncator(file, split, options.truncation);
    std::vector<LabelledTokens> examples;
    int64_t skipped = 0;
    size_t next_word = 0;  // into encoded
    for (const TaggedSentence& sentence : read) {
      LabelledTokens example;
      bool unknown = false;
      for (size_t j = 0; j < sentence.words.size(); ++j) {
        const std::vector<int64_t>& ids = encoded[next_word++];
        const auto tag = ids_of_tags.find(sentence.tags[j]);
        if (tag == ids_of_tags.end()) {
          if (options.unknown_tag == "skip") {
            unknown = true;
            continue;
          }
          file.fail(sentence.lines[j], "tag '" + sentence.tags[j] + "' not in the training tags (" +
                                           list_labels(tags_) +
                                           "); fix the tag, or set data.unknown_tag: skip to leave such sentences out");
        }
        if (ids.empty()) {
          example.ids.push_back(unk);
        } else {
          example.ids.insert(example.ids.end(), ids.begin(), ids.end());
        }
        example.labels.push_back(tag->second);
        example.labels.resize(example.ids.size(), kIgnoreIndex);
      }
      if (unknown) {
        ++skipped;
        continue;
      }
      const bool cut = truncator.too_long(example.tokens(), limit, sentence.lines.front(), "the sentence");
      if (cut) {
        truncator.cut(example.ids, limit);
        truncator.cut(example.labels, limit);
      }
      const bool dropped =
          std::all_of(example.labels.begin(), example.labels.end(), [](int64_t l) { return l == kIgnoreIndex; });
      truncator.count(cut, dropped);
      if (!dropped) examples.push_back(std::move(example));
    }
    truncator.report(std::to_string(limit) + " tokens");
    report_skipped(skipped, static_cast<int64_t>(read.size()), split,
                   "sentences with a tag not in the training tags were skipped (unknown_tag: skip)");
    return examples;
  });
}

std::string TaggingDataset::describe() const {
  return ExampleDataset::describe() + ", " + std::to_string(tags_.size()) + " tags";
}

TaggingBatch TaggingDataset::collate(const std::vector<const LabelledTokens*>& examples) const {
  std::vector<std::vector<int64_t>> rows, labels;
  for (const auto* example : examples) {
    rows.push_back(example->ids);
    labels.push_back(example->labels);
  }
  return {pad(rows, pad_id_), attention_mask(rows), pad(labels, kIgnoreIndex)};
}

}  // namespace zoo::datasets
