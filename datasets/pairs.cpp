// The pairs data type: reading source/target pairs, encoding, teacher-forcing batches.
#include "datasets/pairs.h"

#include <nlohmann/json.hpp>

namespace zoo::datasets {
namespace {

const char* const kPairsLayout =
    "write one source<TAB>target line (.tsv) or one {\"source\": ..., \"target\": ...} object (.jsonl) per pair";

struct TextPair {
  int64_t line;
  std::string source;
  std::string target;
};

std::vector<TextPair> read_pairs(const DataFile& file, const PairsOptions& options) {
  const FileFormat format = file.format({FileFormat::tsv, FileFormat::jsonl}, "pairs");
  std::vector<TextPair> pairs;
  for (const DataLine& line : file.lines()) {
    if (is_blank(line.text)) continue;
    if (format == FileFormat::tsv) {
      std::vector<std::string> fields = file.tsv_fields(line, 2, "source<TAB>target");
      pairs.push_back({line.number, std::move(fields[0]), std::move(fields[1])});
    } else {
      const nlohmann::json object = file.json_object(line);
      pairs.push_back(
          {line.number,
           file.string_field(object, options.source_field, line, "set data.source_field to the key of the source"),
           file.string_field(object, options.target_field, line, "set data.target_field to the key of the target")});
    }
  }
  if (pairs.empty()) file.fail_empty(kPairsLayout);
  return pairs;
}

}  // namespace

std::vector<std::string> PairsOptions::texts(const std::string& file) const {
  std::vector<std::string> texts;
  for (auto& pair : read_pairs(DataFile(file, on_invalid_utf8), *this)) {
    texts.push_back(std::move(pair.source));
    texts.push_back(std::move(pair.target));
  }
  return texts;
}

PairsDataset::PairsDataset(const PairsOptions& options, const DataContext& context)
    : ExampleDataset("pairs", context.seed),
      pad_id_(pad_id(*context.tokenizer)),
      bos_id_(context.tokenizer->require_special(tokenizers::Special::bos, "data type pairs")),
      eos_id_(context.tokenizer->require_special(tokenizers::Special::eos, "data type pairs")) {
  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  const int64_t limit = options.length_limit(context);
  const int64_t source_limit = options.source_max_length > 0 ? options.source_max_length : limit;
  const int64_t target_limit = options.target_max_length > 0 ? options.target_max_length : limit;
  load(options, [&](const std::string& path, const std::string& split) {
    const DataFile file(path, options.on_invalid_utf8);
    const std::vector<TextPair> read = read_pairs(file, options);
    std::vector<std::string> texts;
    for (const auto& pair : read) {
      texts.push_back(pair.source);
      texts.push_back(pair.target);
    }
    const std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    Truncator truncator(file, split, options.truncation);
    std::vector<PairExample> examples;
    for (size_t i = 0; i < read.size(); ++i) {
      PairExample example{encoded[2 * i], encoded[2 * i + 1]};
      if (example.source.empty()) file.fail(read[i].line, "the source is empty; fill it in or remove the line");
      const bool cut_source =
          truncator.too_long(static_cast<int64_t>(example.source.size()), source_limit, read[i].line, "the source");
      const bool cut_target = truncator.too_long(static_cast<int64_t>(example.target.size()) + 1, target_limit,
                                                 read[i].line, "the target with <s>");
      if (cut_source) truncator.cut(example.source, source_limit);
      if (cut_target) truncator.cut(example.target, target_limit - 1);
      truncator.count(cut_source || cut_target);
      examples.push_back(std::move(example));
    }
    truncator.report(source_limit == target_limit ? std::to_string(source_limit) + " tokens"
                                                  : std::to_string(source_limit) + " source or " +
                                                        std::to_string(target_limit) + " target tokens");
    return examples;
  });
}

PairBatch PairsDataset::collate(const std::vector<const PairExample*>& examples) const {
  std::vector<std::vector<int64_t>> sources, inputs, outputs;
  for (const auto* example : examples) {
    sources.push_back(example->source);
    std::vector<int64_t> input{bos_id_};
    input.insert(input.end(), example->target.begin(), example->target.end());
    inputs.push_back(std::move(input));
    std::vector<int64_t> output = example->target;
    output.push_back(eos_id_);
    outputs.push_back(std::move(output));
  }
  return {pad(sources, pad_id_), attention_mask(sources), pad(inputs, pad_id_), pad(outputs, kIgnoreIndex)};
}

}  // namespace zoo::datasets
