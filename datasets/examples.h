// What every example data type shares (classification, tagging, pairs, instructions,
// preferences, prompts): the options they all have, reading UTF-8 TSV/JSONL/CoNLL files with
// FILE:LINE errors, truncation with one log line per file, the shuffled epoch order and its
// state, and padding into (B, T) tensors.
//
// Training examples are visited in epochs: epoch e is a permutation of the train examples
// drawn from an mt19937_64 seeded by a hash of (seed, e) with a portable unbiased draw, so the
// data position is just (epoch, position) and a resumed run continues with the same batches.
// Validation and test batches are fixed slices in file order; the last one may be smaller.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json_fwd.hpp>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/dataset.h"

namespace zoo::datasets {

// The label of a position that must not count in the loss (torch's cross_entropy ignore_index).
inline constexpr int64_t kIgnoreIndex = -100;

// Options every example data type has, read by `visit_common` from the type's own `visit`.
class ExampleOptionsBase : public DataOptionsBase {
 public:
  std::string train;
  std::string valid;
  std::string test;
  double valid_fraction = 0.1;
  int64_t train_examples = 0;
  int64_t max_length = 0;
  std::string truncation = "right";
  std::string on_invalid_utf8 = "error";
  int64_t bucket_batches = 0;

  // `layout`: what one example looks like in each accepted file format, for the help text.
  template <class V>
  void visit_common(V& v, const char* layout) {
    v("train", train, layout, existing_file().required());
    v("valid", valid, "validation examples, same format; empty: the last valid_fraction of train",
      existing_file());
    v("test", test, "test examples, same format (optional)", existing_file());
    v("valid_fraction", valid_fraction, "share of the train examples held out when valid is empty",
      Check().above(0).at_most(0.5));
    v("train_examples", train_examples,
      "train on a random sample of this many train examples (drawn from the seed; for learning curves); 0 = all",
      non_negative());
    v("max_length", max_length, "most tokens the model sees of one example; 0 = the model's context",
      non_negative());
    v("truncation", truncation, "longer examples: cut the right end, the left end, or error",
      one_of({"right", "left", "error"}));
    v("on_invalid_utf8", on_invalid_utf8, "bytes that are not UTF-8: error, or replace them with U+FFFD",
      one_of({"error", "replace"}));
    v("bucket_batches", bucket_batches,
      "train batches of similar lengths: sort windows of this many batches of the shuffled order by length, then "
      "shuffle the batches (Marian's maxi-batch); less padding, the same examples each epoch; 0 = off",
      non_negative());
  }

  std::string split_file(const std::string& split) const override;
  // The length limit of one example: max_length, else the model's context (0: none).
  int64_t length_limit(const DataContext& context) const;
};

// ---- Reading ----

enum class FileFormat { tsv, jsonl, conll, text };

struct DataLine {
  int64_t number;         // 1-based
  std::string_view text;  // without its line break
};

// A data file read whole as UTF-8: invalid bytes are a UserError at their line, or replaced by
// U+FFFD (data.on_invalid_utf8: replace) and counted in one log line. Every error about its
// contents goes through fail(), so it reads "FILE:LINE: what is wrong; how to fix it".
class DataFile {
 public:
  DataFile(const std::string& path, const std::string& on_invalid_utf8);
  DataFile(const DataFile&) = delete;  // lines() views its text
  DataFile& operator=(const DataFile&) = delete;

  const std::string& path() const { return path_; }
  // Every line, blank ones included (CoNLL separates sentences by them).
  const std::vector<DataLine>& lines() const { return lines_; }
  // The format its extension names; `data_type` accepts only `accepted` (a UserError otherwise).
  FileFormat format(const std::vector<FileFormat>& accepted, const std::string& data_type) const;

  [[noreturn]] void fail(int64_t line, const std::string& what) const;
  // "FILE: no examples; <layout>": the error of a file with nothing in it.
  [[noreturn]] void fail_empty(const std::string& layout) const;

  // The `count` tab-separated fields of a TSV line; another count is an error showing `layout`.
  std::vector<std::string> tsv_fields(const DataLine& line, size_t count, const std::string& layout) const;
  // A JSONL line parsed; it must be a JSON object.
  nlohmann::json json_object(const DataLine& line) const;
  // object[key] as a list of strings, each named like `key` in errors.
  std::vector<std::string> string_list(const nlohmann::json& object, const std::string& key, const DataLine& line,
                                       const std::string& fix) const;
  // object[key] as a string; a missing key says the keys there are and `fix`; a number is
  // accepted only when `number_ok` (labels), written as JSON writes it.
  std::string string_field(const nlohmann::json& object, const std::string& key, const DataLine& line,
                           const std::string& fix, bool number_ok = false) const;

 private:
  [[noreturn]] void fail_missing(const nlohmann::json& object, const std::string& key, const DataLine& line,
                                 const std::string& fix) const;

  std::string path_;
  std::string text_;
  std::vector<DataLine> lines_;
};

bool is_blank(std::string_view line);
// 3400 -> "3,400".
std::string with_commas(int64_t n);

// Label names in the order their ids follow: numerically when all are integers, else by bytes.
std::vector<std::string> sorted_labels(std::vector<std::string> names);
// "a, b, c" (at most 20 names, then "... (N in all)"), for errors about a label.
std::string list_labels(const std::vector<std::string>& names);

// `pattern` with each {name} replaced by its value (other braces are left as they are).
std::string render(const std::string& pattern, const std::vector<std::pair<std::string, std::string>>& values);

// ---- Truncation ----

// Cuts examples of one file to their length limit per data.truncation, and says once how many
// were cut (and dropped) in a log line, or under `truncation: error` fails at the first one.
class Truncator {
 public:
  Truncator(const DataFile& file, std::string split, const std::string& truncation);

  bool cuts_left() const { return left_; }
  // Whether `length` tokens exceed `limit` (0: no limit). Under truncation: error a UserError
  // at `line`, naming `what` ("the text", "the target with <s>").
  bool too_long(int64_t length, int64_t limit, int64_t line, const std::string& what) const;
  // Keeps `keep` (>= 0) elements of `v`, cutting the side data.truncation names.
  template <class T>
  void cut(std::vector<T>& v, int64_t keep) const {
    if (static_cast<int64_t>(v.size()) <= keep) return;
    if (left_) v.erase(v.begin(), v.end() - keep);
    else v.resize(keep);
  }
  // Counts one example read (cut or not); `dropped`: cut so far that nothing is left to learn.
  void count(bool was_cut, bool dropped = false);
  // The warning, when any was cut: "data: 12 of 3400 train examples longer than 128 tokens
  // were cut (truncation: right)"; `limit` is "128 tokens" or however the type says it.
  void report(const std::string& limit) const;

 private:
  const DataFile& file_;
  std::string split_;
  bool left_ = false, error_ = false;
  int64_t examples_ = 0, cut_ = 0, dropped_ = 0;
};

// ---- Epoch order ----

// An unbiased draw from [0, bound): the same on every platform, unlike std::uniform_int_distribution.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);

// One seed from several numbers (splitmix64 over them one after the other): neighbouring
// values, such as consecutive epochs or batch indices, give unrelated streams.
uint64_t mix_seeds(std::initializer_list<uint64_t> values);

// The training order: epoch e is a permutation of 0..size-1 from an mt19937_64 seeded by a hash
// of (seed, e); the position in it is the whole state.
class EpochOrder {
 public:
  EpochOrder() = default;
  EpochOrder(int64_t size, uint64_t seed);

  // The next `count` example indices, continuing into the next epoch when this one ends.
  std::vector<int64_t> next(int64_t count);
  int64_t epoch() const { return epoch_; }
  int64_t position() const { return position_; }
  int64_t size() const { return size_; }
  uint64_t seed() const { return seed_; }  // the checkpoint's after load_state

  // {"type", "epoch", "position", "train_examples", "seed"}.
  std::string state(const std::string& type) const;
  // Restores state(); another type, another number of train examples or a damaged state is a
  // UserError.
  void load_state(const std::string& state, const std::string& type);

  static std::vector<int64_t> permutation(int64_t size, uint64_t seed, int64_t epoch);

  // From now on each epoch's order is cut into windows of `batches_per_window` batches of
  // `batch_size`, each window sorted by `lengths` (one per example) and its batches shuffled
  // (data.bucket_batches). Still a function of (seed, epoch), so the state stays (epoch, position).
  void bucket(std::vector<int64_t> lengths, int64_t batch_size, int64_t batches_per_window);
  bool bucketed() const { return window_ > 0; }

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  int64_t size_ = 0;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0, position_ = 0;
  std::vector<int64_t> order_;  // the order of epoch_
  std::vector<int64_t> lengths_;  // bucketing: tokens of each example
  int64_t batch_size_ = 0, window_ = 0;
};

// ---- Collation ----

enum class Padding { right, left };

// The id padding is filled with: the tokenizer's <pad>, else 0 (attention masks hide it).
int64_t pad_id(const tokenizers::Tokenizer& tokenizer);
// (B, T) int64, T the longest row: each row followed (right) or preceded (left) by `value`.
torch::Tensor pad(const std::vector<std::vector<int64_t>>& rows, int64_t value, Padding side = Padding::right);
// (B, T) bool, true on the real tokens of pad(rows, ., side).
torch::Tensor attention_mask(const std::vector<std::vector<int64_t>>& rows, Padding side = Padding::right);

// Token ids with one label each (kIgnoreIndex where the token must not count).
struct LabelledTokens {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
  int64_t tokens() const { return static_cast<int64_t>(ids.size()); }
};

// "train 3,400 examples (41.0k tokens), valid 380, test 200".
std::string describe_splits(int64_t train, int64_t train_tokens, int64_t valid, int64_t test);
// Validation batches of `batch_size` covering `examples` (the last may be smaller).
inline int64_t batch_count(int64_t examples, int64_t batch_size) {
  return (examples + batch_size - 1) / batch_size;
}
// [begin, end) of fixed batch `index` over `size` examples; std::out_of_range past the last.
std::pair<int64_t, int64_t> batch_range(int64_t size, int64_t index, int64_t batch_size);
// A UserError naming `file` when a split has no examples left to use.
void require_examples(size_t count, const std::string& file);
// How many of `count` train examples are held out for validation: fraction of them, at least
// one, leaving at least one (a UserError naming `file` otherwise).
int64_t hold_out_count(size_t count, double fraction, const std::string& file);

// ---- Data-parallel shards ----

// This process's share of the training batches when several data-parallel ranks train
// (core/distributed.h): every rank draws the same world_size * batch_size examples from the same
// seeded order and keeps rows [rank * batch_size, (rank + 1) * batch_size). So the shards are
// disjoint, reshuffled every epoch from the seed, the data position is the same on every rank
// (any rank's checkpoint resumes the run, at any world size), and the ranks' batches together are
// the batch one process would draw with world_size * batch_size.
struct Shard {
  int64_t rank = 0;
  int64_t count = 1;
};
Shard training_shard();  // from the process's world

// Rows [rank * batch_size, (rank + 1) * batch_size) of a global draw of count * batch_size.
template <class T>
std::vector<T> own_rows(const std::vector<T>& global, int64_t batch_size, const Shard& shard) {
  if (shard.count == 1) return global;
  return {global.begin() + shard.rank * batch_size, global.begin() + (shard.rank + 1) * batch_size};
}

// ---- The dataset ----

// A data type of examples: three splits of `Example`s (each with tokens()), the epoch order over
// train, and `collate` into its Batch. The format's constructor fills the splits with load().
template <class Example, class Batch>
class ExampleDataset : public Dataset {
 public:
  using example_type = Example;
  using batch_type = Batch;

  // The next `batch_size` train examples of the shuffled epoch order (this rank's shard of them).
  Batch next_train_batch(int64_t batch_size) {
    const Shard shard = training_shard();
    if (bucket_batches_ > 0 && !order_.bucketed()) {
      std::vector<int64_t> lengths;
      lengths.reserve(train_.size());
      for (const auto& example : train_) lengths.push_back(example.tokens());
      order_.bucket(std::move(lengths), batch_size * shard.count, bucket_batches_);
    }
    return collate(pick(train_, own_rows(order_.next(batch_size * shard.count), batch_size, shard)));
  }
  // Batch `index` of the validation (test) examples in file order: examples
  // [index * batch_size, (index + 1) * batch_size), fewer in the last; see batch_count().
  Batch valid_batch(int64_t index, int64_t batch_size) const { return collate(slice(valid_, index, batch_size)); }
  Batch test_batch(int64_t index, int64_t batch_size) const { return collate(slice(test_, index, batch_size)); }

  int64_t train_size() const { return static_cast<int64_t>(train_.size()); }
  int64_t valid_size() const { return static_cast<int64_t>(valid_.size()); }
  int64_t test_size() const { return static_cast<int64_t>(test_.size()); }
  int64_t epoch() const { return order_.epoch(); }
  const std::vector<Example>& train_examples() const { return train_; }
  const std::vector<Example>& valid_examples() const { return valid_; }
  const std::vector<Example>& test_examples() const { return test_; }

  std::string state() const override { return order_.state(type_); }
  void load_state(const std::string& state) override { order_.load_state(state, type_); }
  std::string describe() const override {
    int64_t tokens = 0;
    for (const auto& example : train_) tokens += example.tokens();
    return describe_splits(train_size(), tokens, valid_size(), test_size());
  }

 protected:
  ExampleDataset(std::string type, uint64_t seed) : type_(std::move(type)), seed_(seed) {}

  virtual Batch collate(const std::vector<const Example*>& examples) const = 0;

  // For a type that fills its splits without load() and draws its own batches (sentences, whose
  // batches carry a seed taken from the position): it sets the order once its train split is full.
  EpochOrder& order() { return order_; }
  const EpochOrder& order() const { return order_; }

  // Fills the splits with `read(file, split)`: train, then valid (or the last valid_fraction of
  // train), then test when named. A split left with no examples is a UserError naming its file.
  void load(const ExampleOptionsBase& options,
            const std::function<std::vector<Example>(const std::string& file, const std::string& split)>& read) {
    train_ = read(options.train, "train");
    require_examples(train_.size(), options.train);
    if (options.valid.empty()) {
      const int64_t held_out = hold_out_count(train_.size(), options.valid_fraction, options.train);
      valid_.assign(std::make_move_iterator(train_.end() - held_out), std::make_move_iterator(train_.end()));
      train_.resize(train_.size() - held_out);
    } else {
      valid_ = read(options.valid, "valid");
      require_examples(valid_.size(), options.valid);
    }
    if (!options.test.empty()) {
      test_ = read(options.test, "test");
      require_examples(test_.size(), options.test);
    }
    if (options.train_examples > 0 && options.train_examples < train_size()) {
      // The first N of a seeded permutation, kept in file order: a larger N holds a smaller one.
      auto order = EpochOrder::permutation(train_size(), seed_, /*epoch=*/-1);
      order.resize(static_cast<size_t>(options.train_examples));
      std::sort(order.begin(), order.end());
      std::vector<Example> sample;
      for (int64_t i : order) sample.push_back(std::move(train_[static_cast<size_t>(i)]));
      train_ = std::move(sample);
    }
    order_ = EpochOrder(train_size(), seed_);
    bucket_batches_ = options.bucket_batches;
  }

  std::vector<Example> train_, valid_, test_;

 private:
  static std::vector<const Example*> pick(const std::vector<Example>& split, const std::vector<int64_t>& indices) {
    std::vector<const Example*> picked;
    picked.reserve(indices.size());
    for (int64_t i : indices) picked.push_back(&split[i]);
    return picked;
  }
  static std::vector<const Example*> slice(const std::vector<Example>& split, int64_t index, int64_t batch_size) {
    const auto [begin, end] = batch_range(static_cast<int64_t>(split.size()), index, batch_size);
    std::vector<const Example*> picked;
    for (int64_t i = begin; i < end; ++i) picked.push_back(&split[i]);
    return picked;
  }

  std::string type_;
  uint64_t seed_;
  EpochOrder order_;
  int64_t bucket_batches_ = 0;
};

}  // namespace zoo::datasets
