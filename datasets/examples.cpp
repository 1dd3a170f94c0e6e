// Reading data files, truncation, the epoch order and padding for the example data types.
#include "datasets/examples.h"

#include <algorithm>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "core/distributed.h"
#include "core/error.h"
#include "core/files.h"
#include "core/metrics.h"
#include "tokenizers/utf8.h"

namespace zoo::datasets {
namespace {

const char* format_name(FileFormat format) {
  switch (format) {
    case FileFormat::tsv: return ".tsv";
    case FileFormat::jsonl: return ".jsonl";
    case FileFormat::conll: return ".conll";
    case FileFormat::text: return ".txt";
  }
  return "";
}

std::string json_type(const nlohmann::json& value) {
  const std::string name = value.type_name();
  return (name == "array" || name == "object" ? "an " : "a ") + name;
}

bool is_integer(const std::string& s) {
  size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (s.size() == start || s.size() - start > 18) return false;
  return std::all_of(s.begin() + start, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

// ---- Options ----

std::string ExampleOptionsBase::split_file(const std::string& split) const {
  return split == "train" ? train : split == "valid" ? valid : split == "test" ? test : "";
}

int64_t ExampleOptionsBase::length_limit(const DataContext& context) const {
  return max_length > 0 ? max_length : context.context_length;
}

// ---- Reading ----

std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && digits[i - 1] != '-' && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
}

DataFile::DataFile(const std::string& path, const std::string& on_invalid_utf8) : path_(path) {
  text_ = read_file(path);
  if (on_invalid_utf8 == "replace") {
    size_t replaced = 0;
    text_ = tokenizers::replace_invalid_utf8(text_, &replaced);
    if (replaced > 0)
      spdlog::warn("data: {}: {} invalid UTF-8 sequences replaced with U+FFFD (on_invalid_utf8: replace)", path,
                   replaced);
  } else {
    tokenizers::check_utf8(text_, path);
  }
  std::string_view text = text_;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a byte-order mark
  int64_t number = 1;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines_.push_back({number++, line});
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

FileFormat DataFile::format(const std::vector<FileFormat>& accepted, const std::string& data_type) const {
  const std::string extension = std::filesystem::path(path_).extension().string();
  for (FileFormat format : accepted)
    if (extension == format_name(format)) return format;
  std::string names;
  for (FileFormat format : accepted) names += (names.empty() ? "" : ", ") + std::string(format_name(format));
  throw UserError(path_ + ": the " + data_type + " data type reads " + names + " files, not '" + extension +
                  "'; rename the file to the extension of its format");
}

void DataFile::fail(int64_t line, const std::string& what) const {
  throw UserError(path_ + ":" + std::to_string(line) + ": " + what);
}

void DataFile::fail_empty(const std::string& layout) const {
  throw UserError(path_ + ": no examples; " + layout);
}

std::vector<std::string> DataFile::tsv_fields(const DataLine& line, size_t count, const std::string& layout) const {
  std::vector<std::string> fields;
  size_t begin = 0;
  while (true) {
    const size_t tab = line.text.find('\t', begin);
    fields.emplace_back(line.text.substr(begin, tab - begin));
    if (tab == std::string_view::npos) break;
    begin = tab + 1;
  }
  if (fields.size() != count)
    fail(line.number, std::to_string(fields.size()) + " tab-separated field" + (fields.size() == 1 ? "" : "s") +
                          ", expected " + std::to_string(count) + " (" + layout + ")");
  return fields;
}

nlohmann::json DataFile::json_object(const DataLine& line) const {
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line.text);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ...": keep from "column".
    std::string why = e.what();
    const size_t column = why.find("column");
    if (column != std::string::npos) why = why.substr(column);
    fail(line.number, "not JSON (" + why + "); each line of a .jsonl file is one JSON object");
  } catch (const nlohmann::json::exception& e) {
    // out_of_range.406: a number too large for a double ("1e400"); found by fuzz/jsonl_fuzzer.
    std::string why = e.what();
    why = why.substr(why.find(']') + 2);
    fail(line.number, "not JSON we can read (" + why + "); write the number as a string or within a double's range");
  }
  if (!value.is_object())
    fail(line.number, json_type(value) + ", not a JSON object; each line of a .jsonl file is one JSON object");
  return value;
}

void DataFile::fail_missing(const nlohmann::json& object, const std::string& key, const DataLine& line,
                            const std::string& fix) const {
  std::string keys;
  for (const auto& item : object.items()) keys += (keys.empty() ? "" : ", ") + item.key();
  fail(line.number, "no \"" + key + "\" field (keys: " + (keys.empty() ? "none" : keys) + "); " + fix);
}

std::vector<std::string> DataFile::string_list(const nlohmann::json& object, const std::string& key,
                                               const DataLine& line, const std::string& fix) const {
  const auto it = object.find(key);
  if (it == object.end()) fail_missing(object, key, line, fix);
  if (!it->is_array()) fail(line.number, "\"" + key + "\" is " + json_type(*it) + ", expected an array of strings");
  std::vector<std::string> list;
  for (const auto& item : *it) {
    if (!item.is_string())
      fail(line.number, "\"" + key + "\" holds " + json_type(item) + ", expected an array of strings");
    list.push_back(item.get<std::string>());
  }
  return list;
}

std::string DataFile::string_field(const nlohmann::json& object, const std::string& key, const DataLine& line,
                                   const std::string& fix, bool number_ok) const {
  const auto it = object.find(key);
  if (it == object.end()) fail_missing(object, key, line, fix);
  if (it->is_string()) return it->get<std::string>();
  if (number_ok && it->is_number()) return it->dump();
  fail(line.number, "\"" + key + "\" is " + json_type(*it) + ", expected a string" +
                        (number_ok ? " or a number" : ""));
}

std::vector<std::string> sorted_labels(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  if (std::all_of(names.begin(), names.end(), is_integer))
    std::stable_sort(names.begin(), names.end(),
                     [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return names;
}

std::string list_labels(const std::vector<std::string>& names) {
  constexpr size_t kShown = 20;
  std::string list;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) list += (i ? ", " : "") + names[i];
  if (names.size() > kShown) list += ", ... (" + std::to_string(names.size()) + " in all)";
  return list;
}

std::string render(const std::string& pattern, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  for (size_t pos = 0; pos < pattern.size();) {
    bool replaced = false;
    if (pattern[pos] == '{') {
      for (const auto& [name, value] : values) {
        if (pattern.compare(pos + 1, name.size(), name) == 0 && pattern.size() > pos + 1 + name.size() &&
            pattern[pos + 1 + name.size()] == '}') {
          out += value;
          pos += name.size() + 2;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += pattern[pos++];
  }
  return out;
}

// ---- Truncation ----

Truncator::Truncator(const DataFile& file, std::string split, const std::string& truncation)
    : file_(file), split_(std::move(split)), left_(truncation == "left"), error_(truncation == "error") {}

bool Truncator::too_long(int64_t length, int64_t limit, int64_t line, const std::string& what) const {
  if (limit <= 0 || length <= limit) return false;
  if (error_)
    file_.fail(line, what + " is " + std::to_string(length) + " tokens, more than the limit of " +
                         std::to_string(limit) +
                         " (data.truncation: error); shorten it, raise data.max_length, or set data.truncation: "
                         "right or left");
  return true;
}

void Truncator::count(bool was_cut, bool dropped) {
  ++examples_;
  cut_ += was_cut;
  dropped_ += dropped;
}

void Truncator::report(const std::string& limit) const {
  if (cut_ == 0) return;
  std::string dropped;
  if (dropped_ > 0)
    dropped = "; " + with_commas(dropped_) + " of them had nothing left to learn from and were dropped";
  spdlog::warn("data: {} of {} {} examples longer than {} were cut (truncation: {}){}", with_commas(cut_),
               with_commas(examples_), split_, limit, left_ ? "left" : "right", dropped);
}

// ---- Epoch order ----

uint64_t mix_seeds(std::initializer_list<uint64_t> values) {
  uint64_t x = 0;
  for (uint64_t value : values) {
    x ^= value;
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
  }
  return x;
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
  uint64_t x;
  do x = rng();
  while (x >= limit);
  return x % bound;
}

EpochOrder::EpochOrder(int64_t size, uint64_t seed)
    : size_(size), seed_(seed), order_(permutation(size, seed, 0)) {}

std::vector<int64_t> EpochOrder::permutation(int64_t size, uint64_t seed, int64_t epoch) {
  std::mt19937_64 rng(mix_seeds({seed ^ mix_seeds({static_cast<uint64_t>(epoch)})}));
  std::vector<int64_t> order(size);
  for (int64_t i = 0; i < size; ++i) order[i] = i;
  for (int64_t i = size - 1; i > 0; --i)  // Fisher-Yates
    std::swap(order[i], order[uniform_below(rng, static_cast<uint64_t>(i) + 1)]);
  return order;
}

Shard training_shard() {
  const auto& world = distributed::world();
  return {world.rank, world.world_size};
}

std::vector<int64_t> EpochOrder::next(int64_t count) {
  if (count <= 0) throw std::invalid_argument("next_train_batch: batch_size must be positive");
  if (size_ == 0) throw std::logic_error("EpochOrder: no examples");
  std::vector<int64_t> indices;
  indices.reserve(count);
  while (static_cast<int64_t>(indices.size()) < count) {
    if (position_ == size_) {
      ++epoch_;
      position_ = 0;
      order_ = epoch_order(epoch_);
    }
    indices.push_back(order_[position_++]);
  }
  return indices;
}

std::string EpochOrder::state(const std::string& type) const {
  return nlohmann::json{{"type", type},
                        {"epoch", epoch_},
                        {"position", position_},
                        {"train_examples", size_},
                        {"seed", seed_}}
      .dump();
}

void EpochOrder::load_state(const std::string& state, const std::string& type) {
  const auto fail = [](const std::string& what) { return UserError("data position in the checkpoint: " + what); };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(state);
  } catch (const nlohmann::json::exception&) {
    throw fail("not valid JSON; the checkpoint is damaged");
  }
  if (!doc.is_object() || !doc.contains("type") || doc["type"] != type)
    throw fail("not the state of a " + type + " dataset; resume with the recipe's original data section");
  for (const char* key : {"epoch", "position", "train_examples"})
    if (!doc.contains(key) || !doc[key].is_number_integer())
      throw fail(std::string("no integer \"") + key + "\"; the checkpoint is damaged");
  if (!doc.contains("seed") || !doc["seed"].is_number_unsigned())
    throw fail("no seed; the checkpoint is damaged");
  const auto examples = doc["train_examples"].get<int64_t>();
  if (examples != size_)
    throw fail("saved with " + std::to_string(examples) + " training examples, the data now has " +
               std::to_string(size_) + "; resume with the original data and tokenizer");
  const auto epoch = doc["epoch"].get<int64_t>(), position = doc["position"].get<int64_t>();
  if (epoch < 0 || position < 0 || position > size_)
    throw fail("epoch " + std::to_string(epoch) + " position " + std::to_string(position) +
               " is outside the data; the checkpoint is damaged");
  seed_ = doc["seed"].get<uint64_t>();
  epoch_ = epoch;
  position_ = position;
  order_ = epoch_order(epoch_);
}

void EpochOrder::bucket(std::vector<int64_t> lengths, int64_t batch_size, int64_t batches_per_window) {
  if (static_cast<int64_t>(lengths.size()) != size_) throw std::logic_error("EpochOrder::bucket: one length per example");
  lengths_ = std::move(lengths);
  batch_size_ = batch_size;
  window_ = batch_size * batches_per_window;
  order_ = epoch_order(epoch_);
}

// Each window of the shuffled order sorted by length and cut into batches, the batches of the
// window shuffled again: neighbours in a batch have similar lengths, while which batch comes
// when stays random. The last window of an epoch may be shorter.
std::vector<int64_t> EpochOrder::epoch_order(int64_t epoch) const {
  auto order = permutation(size_, seed_, epoch);
  if (window_ <= 0) return order;
  for (int64_t start = 0, w = 0; start < size_; start += window_, ++w) {
    const auto begin = order.begin() + start, end = order.begin() + std::min(size_, start + window_);
    std::stable_sort(begin, end, [&](int64_t a, int64_t b) { return lengths_[a] < lengths_[b]; });
    std::vector<std::vector<int64_t>> batches;
    for (auto it = begin; it < end; it += std::min<int64_t>(batch_size_, end - it)) {
      batches.emplace_back(it, it + std::min<int64_t>(batch_size_, end - it));
    }
    std::mt19937_64 rng(mix_seeds({seed_, static_cast<uint64_t>(epoch), static_cast<uint64_t>(w)}));
    for (size_t i = batches.size() - 1; i > 0; --i)  // Fisher-Yates over whole batches
      std::swap(batches[i], batches[uniform_below(rng, i + 1)]);
    auto out = begin;
    for (const auto& batch : batches) out = std::copy(batch.begin(), batch.end(), out);
  }
  return order;
}

// ---- Collation ----

int64_t pad_id(const tokenizers::Tokenizer& tokenizer) {
  const int64_t pad = tokenizer.special_id(tokenizers::Special::pad);
  return pad >= 0 ? pad : 0;
}

torch::Tensor pad(const std::vector<std::vector<int64_t>>& rows, int64_t value, Padding side) {
  size_t T = 0;
  for (const auto& row : rows) T = std::max(T, row.size());
  const auto B = static_cast<int64_t>(rows.size());
  torch::Tensor out = torch::full({B, static_cast<int64_t>(T)}, value, torch::kInt64);  // (B, T)
  int64_t* data = out.data_ptr<int64_t>();
  for (size_t b = 0; b < rows.size(); ++b) {
    const size_t offset = side == Padding::left ? T - rows[b].size() : 0;
    std::copy(rows[b].begin(), rows[b].end(), data + b * T + offset);
  }
  return out;
}

torch::Tensor attention_mask(const std::vector<std::vector<int64_t>>& rows, Padding side) {
  size_t T = 0;
  for (const auto& row : rows) T = std::max(T, row.size());
  torch::Tensor mask = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(T)}, torch::kBool);
  bool* data = mask.data_ptr<bool>();
  for (size_t b = 0; b < rows.size(); ++b) {
    bool* row = data + b * T + (side == Padding::left ? T - rows[b].size() : 0);
    std::fill(row, row + rows[b].size(), true);
  }
  return mask;  // (B, T)
}

std::string describe_splits(int64_t train, int64_t train_tokens, int64_t valid, int64_t test) {
  std::string out = "train " + with_commas(train) + " examples (" + format_count(static_cast<double>(train_tokens)) +
                    " tokens), valid " + with_commas(valid);
  if (test > 0) out += ", test " + with_commas(test);
  return out;
}

std::pair<int64_t, int64_t> batch_range(int64_t size, int64_t index, int64_t batch_size) {
  if (batch_size <= 0 || index < 0 || index * batch_size >= size)
    throw std::out_of_range("batch " + std::to_string(index) + " of size " + std::to_string(batch_size) +
                            " is past the " + std::to_string(size) + " examples");
  return {index * batch_size, std::min(size, (index + 1) * batch_size)};
}

void require_examples(size_t count, const std::string& file) {
  if (count == 0)
    throw UserError(file + ": no examples left to use (the warnings above say which were skipped or dropped); "
                           "fix them or add examples");
}

int64_t hold_out_count(size_t count, double fraction, const std::string& file) {
  const auto n = static_cast<int64_t>(count);
  const int64_t held_out = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n) * fraction));
  if (n - held_out < 1)
    throw UserError(file + ": " + std::to_string(n) +
                    " example is too few to hold out data.valid_fraction for validation; add examples or give "
                    "data.valid");
  return held_out;
}

}  // namespace zoo::datasets
