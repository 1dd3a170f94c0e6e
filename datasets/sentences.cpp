// The sentences data type: reading documents into chunks, sentence pairs, seeded batches.
#include "datasets/sentences.h"

#include <spdlog/spdlog.h>

#include <numeric>
#include <stdexcept>

#include "core/error.h"
#include "core/metrics.h"

namespace zoo::datasets {
namespace {

using tokenizers::Special;

const char* const kSentencesLayout = "write one sentence (or paragraph) a line, a blank line between documents";

// The shortest example: [CLS] A [SEP] B [SEP] with a few tokens on each side.
constexpr int64_t kMinLength = 8;

// Valid batches are seeded as if from this epoch, which training never reaches.
constexpr uint64_t kValidEpoch = ~0ull;

std::string joined(const std::vector<std::string>& files) {
  std::string list;
  for (const auto& file : files) list += (list.empty() ? "" : ", ") + file;
  return list;
}

// The chunks of the files of one split, in file order. Lines longer than `budget` are cut to
// it and counted in one log line.
std::vector<SentenceChunk> read_chunks(const std::vector<std::string>& files, const std::string& split,
                                       const SentencesOptions& options, const tokenizers::Tokenizer& tokenizer,
                                       int64_t budget) {
  std::vector<SentenceChunk> chunks;
  int64_t lines = 0, cut = 0;
  for (const std::string& path : files) {
    const DataFile file(path, options.on_invalid_utf8);
    std::vector<std::string> texts;  // the non-blank lines
    std::vector<bool> starts_document;
    bool after_blank = true;
    for (const DataLine& line : file.lines()) {
      if (is_blank(line.text)) {
        after_blank = true;
        continue;
      }
      texts.emplace_back(line.text);
      starts_document.push_back(after_blank);
      after_blank = false;
    }
    std::vector<std::vector<int64_t>> encoded = tokenizer.encode_batch(texts);
    const size_t first = chunks.size();
    SentenceChunk chunk;
    const auto flush = [&] {
      if (!chunk.ids.empty()) chunks.push_back(std::move(chunk));
      chunk = {};
    };
    for (size_t i = 0; i < encoded.size(); ++i) {
      if (starts_document[i]) flush();  // even when the line itself encodes to nothing
      std::vector<int64_t>& ids = encoded[i];
      if (ids.empty()) continue;
      ++lines;
      if (static_cast<int64_t>(ids.size()) > budget) {
        ids.resize(static_cast<size_t>(budget));
        ++cut;
      }
      if (chunk.tokens() + static_cast<int64_t>(ids.size()) > budget) flush();
      chunk.line_starts.push_back(chunk.tokens());
      chunk.ids.insert(chunk.ids.end(), ids.begin(), ids.end());
    }
    flush();
    if (chunks.size() == first) file.fail_empty(kSentencesLayout);
  }
  if (cut > 0)
    spdlog::warn("data: {} of {} {} lines longer than {} tokens were cut", with_commas(cut), with_commas(lines),
                 split, budget);
  return chunks;
}

struct SentencePair {
  std::vector<int64_t> a, b;
  int64_t label = 0;  // 0: b continues a; 1: b comes from another chunk
};

// The pair of chunk `self` of `split` (see the file comment of sentences.h). A chunk of one
// token cannot be split: it is all A, and its B random.
SentencePair draw_pair(const std::vector<SentenceChunk>& split, size_t self, int64_t budget, std::mt19937_64& rng) {
  const SentenceChunk& chunk = split[self];
  const int64_t n = chunk.tokens();
  int64_t boundary = n;
  if (chunk.lines() > 1)
    boundary = chunk.line_starts[1 + uniform_below(rng, static_cast<uint64_t>(chunk.lines() - 1))];
  else if (n > 1)
    boundary = 1 + static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(n - 1)));
  SentencePair pair;
  pair.a.assign(chunk.ids.begin(), chunk.ids.begin() + boundary);
  if (boundary < n && uniform_below(rng, 2) == 0) {
    pair.b.assign(chunk.ids.begin() + boundary, chunk.ids.end());
    pair.label = 0;
  } else {
    size_t other = uniform_below(rng, split.size() - 1);
    if (other >= self) ++other;
    const SentenceChunk& random = split[other];
    const int64_t start = random.line_starts[uniform_below(rng, static_cast<uint64_t>(random.lines()))];
    pair.b.assign(random.ids.begin() + start, random.ids.end());
    pair.label = 1;
  }
  // BERT's truncate_seq_pair: a token off the end of the longer side until the pair fits.
  while (static_cast<int64_t>(pair.a.size() + pair.b.size()) > budget)
    (pair.a.size() > pair.b.size() ? pair.a : pair.b).pop_back();
  return pair;
}

}  // namespace

std::string SentencesOptions::split_file(const std::string& split) const {
  const std::vector<std::string> files = split_files(split);
  return files.empty() ? "" : files.front();
}

std::vector<std::string> SentencesOptions::split_files(const std::string& split) const {
  return split == "train" ? train : split == "valid" ? valid : std::vector<std::string>{};
}

std::vector<std::string> SentencesOptions::texts(const std::string& file) const {
  const DataFile data(file, on_invalid_utf8);
  std::vector<std::string> lines;
  for (const DataLine& line : data.lines())
    if (!is_blank(line.text)) lines.emplace_back(line.text);
  return lines;
}

SentencesDataset::SentencesDataset(const SentencesOptions& options, const DataContext& context)
    : ExampleDataset("sentences", context.seed),
      next_sentence_(options.next_sentence),
      pad_id_(context.tokenizer->require_special(Special::pad, "data type sentences")),
      cls_id_(context.tokenizer->require_special(Special::cls, "data type sentences")),
      sep_id_(context.tokenizer->require_special(Special::sep, "data type sentences")) {
  const int64_t limit = options.max_length > 0 ? options.max_length : context.context_length;
  if (limit == 0)
    throw UserError("data.max_length: the model gives no context length to default to; set data.max_length (" +
                    std::to_string(kMinLength) + " or more)");
  if (limit < kMinLength)
    throw UserError("data.max_length: examples of " + std::to_string(limit) + " tokens" +
                    (options.max_length > 0 ? "" : " (the model's context)") +
                    " leave too little room beside [CLS] and [SEP]; set data.max_length to " +
                    std::to_string(kMinLength) + " or more");
  budget_ = limit - (next_sentence_ ? 3 : 2);

  const tokenizers::Tokenizer& tokenizer = *context.tokenizer;
  train_ = read_chunks(options.train, "train", options, tokenizer, budget_);
  if (options.valid.empty()) {
    const int64_t held_out = hold_out_count(train_.size(), options.valid_fraction, joined(options.train));
    valid_.assign(std::make_move_iterator(train_.end() - held_out), std::make_move_iterator(train_.end()));
    train_.resize(train_.size() - held_out);
  } else {
    valid_ = read_chunks(options.valid, "valid", options, tokenizer, budget_);
  }
  // A random B comes from another chunk of the same split.
  const auto require_pairs = [&](const std::vector<SentenceChunk>& chunks, const std::string& split,
                                 const std::vector<std::string>& files) {
    if (next_sentence_ && chunks.size() < 2)
      throw UserError(joined(files) + ": data.next_sentence takes a random B from another chunk of the " + split +
                      " split, which has " + std::to_string(chunks.size()) + "; add text" +
                      (options.valid.empty() ? " or raise data.valid_fraction" : ""));
  };
  require_pairs(train_, "train", options.train);
  require_pairs(valid_, "valid", options.valid.empty() ? options.train : options.valid);
  order() = EpochOrder(train_size(), context.seed);
}

SentenceBatch SentencesDataset::next_train_batch(int64_t batch_size) {
  // The seed of the position before the draw: the same after a resume, another every epoch.
  const uint64_t seed = mix_seeds({order().seed(), static_cast<uint64_t>(order().epoch()),
                             static_cast<uint64_t>(order().position())});
  const Shard shard = training_shard();
  return assemble(train_, own_rows(order().next(batch_size * shard.count), batch_size, shard), seed);
}

SentenceBatch SentencesDataset::valid_batch(int64_t index, int64_t batch_size) const {
  const auto [begin, end] = batch_range(valid_size(), index, batch_size);
  std::vector<int64_t> picked(static_cast<size_t>(end - begin));
  std::iota(picked.begin(), picked.end(), begin);
  return assemble(valid_, picked, mix_seeds({order().seed(), kValidEpoch, static_cast<uint64_t>(index)}));
}

SentenceBatch SentencesDataset::collate(const std::vector<const SentenceChunk*>&) const {
  throw std::logic_error("SentencesDataset: batches are built with their seed by next_train_batch and valid_batch");
}

SentenceBatch SentencesDataset::assemble(const std::vector<SentenceChunk>& split, const std::vector<int64_t>& picked,
                                         uint64_t seed) const {
  std::vector<std::vector<int64_t>> rows, segments, specials;
  std::vector<int64_t> labels;
  for (size_t i = 0; i < picked.size(); ++i) {
    const SentenceChunk& chunk = split[static_cast<size_t>(picked[i])];
    SentencePair pair;
    if (next_sentence_) {
      std::mt19937_64 rng(mix_seeds({seed, i}));
      pair = draw_pair(split, static_cast<size_t>(picked[i]), budget_, rng);
      labels.push_back(pair.label);
    } else {
      pair.a = chunk.ids;
    }
    const auto a = static_cast<int64_t>(pair.a.size()), b = static_cast<int64_t>(pair.b.size());
    std::vector<int64_t> row{cls_id_};
    row.insert(row.end(), pair.a.begin(), pair.a.end());
    row.push_back(sep_id_);
    std::vector<int64_t> segment(static_cast<size_t>(a + 2), 0), special(static_cast<size_t>(a + 2), 0);
    special.front() = special.back() = 1;
    if (next_sentence_) {
      row.insert(row.end(), pair.b.begin(), pair.b.end());
      row.push_back(sep_id_);
      segment.resize(static_cast<size_t>(a + b + 3), 1);
      special.resize(static_cast<size_t>(a + b + 3), 0);
      special.back() = 1;
    }
    rows.push_back(std::move(row));
    segments.push_back(std::move(segment));
    specials.push_back(std::move(special));
  }
  SentenceBatch batch;
  batch.input = pad(rows, pad_id_);                            // (B, T)
  batch.segment_ids = pad(segments, 0);                        // (B, T)
  batch.attention_mask = attention_mask(rows);                 // (B, T)
  batch.special_mask = pad(specials, 1).to(torch::kBool);      // (B, T): padding is special too
  if (next_sentence_) batch.next_sentence = torch::tensor(labels, torch::kInt64);  // (B)
  batch.seed = seed;
  return batch;
}

std::string SentencesDataset::describe() const {
  int64_t tokens = 0;
  for (const auto& chunk : train_) tokens += chunk.tokens();
  return "train " + with_commas(train_size()) + " chunks (" + format_count(static_cast<double>(tokens)) +
         " tokens), valid " + with_commas(valid_size());
}

}  // namespace zoo::datasets
