// The machinery every example data type shares: UTF-8 reading and replacement, JSONL/TSV
// errors, label order, templates, truncation counts, the epoch order and its state, padding.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "datasets/examples.h"
#include "tests/datasets/example_fixture.h"
#include "tokenizers/utf8.h"

using namespace zoo::datasets;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;

namespace {

class ExamplesTest : public zoo::testing::ExampleDataTest {};

std::vector<std::string> lines_of(const DataFile& file) {
  std::vector<std::string> lines;
  for (const auto& line : file.lines()) lines.push_back(std::to_string(line.number) + ":" + std::string(line.text));
  return lines;
}

}  // namespace

TEST(ReplaceInvalidUtf8, ReplacesEachRejectedByteAndCountsThem) {
  size_t replaced = 99;
  EXPECT_EQ(zoo::tokenizers::replace_invalid_utf8("ok é 日", &replaced), "ok é 日");
  EXPECT_EQ(replaced, 0u);
  // A lead byte without its continuation, a stray continuation byte, and 0xFF.
  EXPECT_EQ(zoo::tokenizers::replace_invalid_utf8("a\xC3(b\x80\xFF", &replaced), "a\xEF\xBF\xBD(b\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(replaced, 3u);
  EXPECT_EQ(zoo::tokenizers::replace_invalid_utf8("\xE6\x97", nullptr), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(ExamplesTest, DataFileSplitsLinesAndDropsCarriageReturnsAndTheByteOrderMark) {
  const DataFile file(write("a.tsv", "\xEF\xBB\xBFone\r\ntwo\n\n  \nthree"), "error");
  EXPECT_EQ(lines_of(file), (std::vector<std::string>{"1:one", "2:two", "3:", "4:  ", "5:three"}));
  EXPECT_TRUE(is_blank(file.lines()[3].text));
  EXPECT_FALSE(is_blank(file.lines()[4].text));
}

TEST_F(ExamplesTest, InvalidUtf8IsAnErrorAtItsLineOrReplacedWithOneLogLine) {
  const std::string path = write("bad.tsv", "fine\nbad \xFF here\xC3\n");
  EXPECT_EQ(user_error([&] { DataFile(path, "error"); }),
            path + ":2: invalid UTF-8 byte 0xFF (byte 5 of the line); re-encode the file as UTF-8 (e.g. iconv -f "
                   "latin1 -t utf-8)");
  const DataFile file(path, "replace");
  EXPECT_EQ(lines_of(file), (std::vector<std::string>{"1:fine", "2:bad \xEF\xBF\xBD here\xEF\xBF\xBD"}));
  EXPECT_EQ(take_log(), "data: " + path + ": 2 invalid UTF-8 sequences replaced with U+FFFD (on_invalid_utf8: replace)\n");
}

TEST_F(ExamplesTest, FormatByExtension) {
  const std::vector<FileFormat> accepted = {FileFormat::tsv, FileFormat::jsonl};
  EXPECT_EQ(DataFile(write("a.tsv", "x"), "error").format(accepted, "pairs"), FileFormat::tsv);
  EXPECT_EQ(DataFile(write("a.jsonl", "x"), "error").format(accepted, "pairs"), FileFormat::jsonl);
  const std::string csv = write("a.csv", "x");
  EXPECT_EQ(user_error([&] { DataFile(csv, "error").format(accepted, "pairs"); }),
            csv + ": the pairs data type reads .tsv, .jsonl files, not '.csv'; rename the file to the extension of "
                  "its format");
}

TEST_F(ExamplesTest, JsonAndTsvErrorsNameFileLineAndFix) {
  const std::string path = write("a.jsonl", "{\"text\": \"x\", \"n\": 3, \"l\": [1]}\n{\"text\": oops}\n[1, 2]\n");
  const DataFile file(path, "error");
  const auto& lines = file.lines();
  const nlohmann::json object = file.json_object(lines[0]);
  EXPECT_EQ(file.string_field(object, "text", lines[0], "fix"), "x");
  EXPECT_EQ(file.string_field(object, "n", lines[0], "fix", true), "3");
  EXPECT_EQ(user_error([&] { file.string_field(object, "label", lines[0], "set data.label_field"); }),
            path + ":1: no \"label\" field (keys: l, n, text); set data.label_field");
  EXPECT_EQ(user_error([&] { file.string_field(object, "n", lines[0], "fix"); }),
            path + ":1: \"n\" is a number, expected a string");
  EXPECT_EQ(user_error([&] { file.string_list(object, "l", lines[0], "fix"); }),
            path + ":1: \"l\" holds a number, expected an array of strings");
  EXPECT_EQ(user_error([&] { file.json_object(lines[1]); }),
            path + ":2: not JSON (column 10: syntax error while parsing value - invalid literal; last read: '\"text\": "
                   "o'); each line of a .jsonl file is one JSON object");
  EXPECT_EQ(user_error([&] { file.json_object(lines[2]); }),
            path + ":3: an array, not a JSON object; each line of a .jsonl file is one JSON object");
  EXPECT_EQ(user_error([&] { file.tsv_fields(lines[0], 2, "label<TAB>text"); }),
            path + ":1: 1 tab-separated field, expected 2 (label<TAB>text)");
}

TEST(Labels, SortNumericallyWhenAllAreIntegersElseByBytes) {
  EXPECT_EQ(sorted_labels({"10", "2", "1", "2", "-3"}), (std::vector<std::string>{"-3", "1", "2", "10"}));
  EXPECT_EQ(sorted_labels({"b", "10", "a", "2", "B"}), (std::vector<std::string>{"10", "2", "B", "a", "b"}));
  std::vector<std::string> many;
  for (int i = 0; i < 25; ++i) many.push_back(std::to_string(i));
  EXPECT_EQ(list_labels({"a", "b"}), "a, b");
  EXPECT_EQ(list_labels(many), "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, ... (25 in all)");
}

TEST(Render, ReplacesKnownPlaceholdersOnly) {
  EXPECT_EQ(render("Q: {q}\n{a}{a} {other} {q", {{"q", "why?"}, {"a", "x"}}), "Q: why?\nxx {other} {q");
  EXPECT_EQ(render("{q}", {{"q", "{a}"}, {"a", "no"}}), "{a}");  // values are not rendered again
}

TEST(Numbers, WithCommasAndDescribe) {
  EXPECT_EQ(with_commas(0), "0");
  EXPECT_EQ(with_commas(999), "999");
  EXPECT_EQ(with_commas(3400), "3,400");
  EXPECT_EQ(with_commas(1234567), "1,234,567");
  EXPECT_EQ(describe_splits(3400, 41000, 380, 0), "train 3,400 examples (41.0k tokens), valid 380");
  EXPECT_EQ(describe_splits(3, 12, 1, 2), "train 3 examples (12 tokens), valid 1, test 2");
}

TEST_F(ExamplesTest, TruncatorCutsTheNamedSideCountsAndReportsOnce) {
  const std::string path = write("a.tsv", "x\n");
  const DataFile file(path, "error");
  Truncator right(file, "train", "right"), left(file, "valid", "left"), error(file, "test", "error");
  std::vector<int64_t> a = {1, 2, 3, 4, 5}, b = a;
  EXPECT_TRUE(right.too_long(5, 3, 1, "the text"));
  EXPECT_FALSE(right.too_long(3, 3, 1, "the text"));
  EXPECT_FALSE(right.too_long(500, 0, 1, "the text"));  // no limit
  right.cut(a, 3);
  left.cut(b, 3);
  EXPECT_EQ(a, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(b, (std::vector<int64_t>{3, 4, 5}));
  right.count(true);
  right.count(false);
  right.count(true, true);
  right.report("3 tokens");
  left.count(false);
  left.report("3 tokens");  // nothing cut: nothing said
  EXPECT_EQ(take_log(), "data: 2 of 3 train examples longer than 3 tokens were cut (truncation: right); 1 of them had "
                        "nothing left to learn from and were dropped\n");
  EXPECT_EQ(user_error([&] { error.too_long(5, 3, 1, "the text"); }),
            path + ":1: the text is 5 tokens, more than the limit of 3 (data.truncation: error); shorten it, raise "
                   "data.max_length, or set data.truncation: right or left");
}

TEST(EpochOrderTest, EachEpochIsAPermutationFixedBySeedAndEpoch) {
  const auto p0 = EpochOrder::permutation(50, 7, 0), p1 = EpochOrder::permutation(50, 7, 1);
  std::vector<int64_t> sorted0 = p0, sorted1 = p1, identity(50);
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  for (int64_t i = 0; i < 50; ++i) identity[i] = i;
  EXPECT_EQ(sorted0, identity);
  EXPECT_EQ(sorted1, identity);
  EXPECT_NE(p0, p1);
  EXPECT_NE(p0, identity);
  EXPECT_NE(EpochOrder::permutation(50, 8, 0), p0);
  EXPECT_EQ(EpochOrder::permutation(50, 7, 0), p0);
  // mt19937_64, splitmix64 and the draw are fully specified, so this holds on every platform
  // and standard library; the numbers come from an independent Python implementation of all three.
  EXPECT_EQ(EpochOrder::permutation(10, 42, 0), (std::vector<int64_t>{9, 6, 2, 0, 1, 4, 3, 8, 5, 7}));
}

TEST(EpochOrderTest, NextCrossesEpochsAndStateRestoresThePosition) {
  EpochOrder order(5, 3);
  const auto first = order.next(3);
  const auto second = order.next(4);  // 2 of epoch 0, then 2 of epoch 1
  const auto p0 = EpochOrder::permutation(5, 3, 0), p1 = EpochOrder::permutation(5, 3, 1);
  EXPECT_EQ(first, (std::vector<int64_t>{p0[0], p0[1], p0[2]}));
  EXPECT_EQ(second, (std::vector<int64_t>{p0[3], p0[4], p1[0], p1[1]}));
  EXPECT_EQ(order.epoch(), 1);
  EXPECT_EQ(order.position(), 2);
  const nlohmann::json state = nlohmann::json::parse(order.state("pairs"));
  EXPECT_EQ(state, (nlohmann::json{{"type", "pairs"}, {"epoch", 1}, {"position", 2}, {"train_examples", 5}, {"seed", 3}}));
  EpochOrder resumed(5, 100);
  resumed.load_state(order.state("pairs"), "pairs");
  EXPECT_EQ(resumed.next(6), order.next(6));
}

TEST(EpochOrderTest, ForeignOrDamagedStatesAreUserErrors) {
  EpochOrder order(5, 3);
  const auto error = [&](const std::string& state) { return user_error([&] { order.load_state(state, "pairs"); }); };
  EXPECT_EQ(error("{oops"), "data position in the checkpoint: not valid JSON; the checkpoint is damaged");
  EXPECT_EQ(error(R"({"type": "text", "rng": "1"})"),
            "data position in the checkpoint: not the state of a pairs dataset; resume with the recipe's original "
            "data section");
  EXPECT_EQ(error(R"({"type": "pairs", "epoch": 0, "position": 1, "train_examples": 6, "seed": 3})"),
            "data position in the checkpoint: saved with 6 training examples, the data now has 5; resume with the "
            "original data and tokenizer");
  EXPECT_EQ(error(R"({"type": "pairs", "epoch": 0, "position": 6, "train_examples": 5, "seed": 3})"),
            "data position in the checkpoint: epoch 0 position 6 is outside the data; the checkpoint is damaged");
  EXPECT_EQ(error(R"({"type": "pairs", "epoch": "0", "position": 1, "train_examples": 5, "seed": 3})"),
            "data position in the checkpoint: no integer \"epoch\"; the checkpoint is damaged");
  EXPECT_EQ(order.position(), 0);  // untouched by the failed loads
}

TEST(Collation, PadsRightOrLeftWithMasks) {
  const std::vector<std::vector<int64_t>> rows = {{5, 6, 7}, {8}, {9, 10}};
  EXPECT_TENSOR_EQ(pad(rows, 0), matrix({{5, 6, 7}, {8, 0, 0}, {9, 10, 0}}));
  EXPECT_TENSOR_EQ(pad(rows, kIgnoreIndex, Padding::left), matrix({{5, 6, 7}, {-100, -100, 8}, {-100, 9, 10}}));
  EXPECT_TENSOR_EQ(attention_mask(rows), zoo::testing::bools({{1, 1, 1}, {1, 0, 0}, {1, 1, 0}}));
  EXPECT_TENSOR_EQ(attention_mask(rows, Padding::left), zoo::testing::bools({{1, 1, 1}, {0, 0, 1}, {0, 1, 1}}));
  auto with_pad = char_tokenizer("ab", {zoo::tokenizers::Special::bos, zoo::tokenizers::Special::pad});
  EXPECT_EQ(pad_id(*with_pad), 2);
  EXPECT_EQ(pad_id(*char_tokenizer("ab", {})), 0);
}

TEST(Splits, HoldOutAndFixedBatchRanges) {
  EXPECT_EQ(hold_out_count(100, 0.1, "f"), 10);
  EXPECT_EQ(hold_out_count(5, 0.1, "f"), 1);  // at least one
  EXPECT_EQ(hold_out_count(2, 0.5, "f"), 1);
  EXPECT_EQ(user_error([] { hold_out_count(1, 0.1, "f.tsv"); }),
            "f.tsv: 1 example is too few to hold out data.valid_fraction for validation; add examples or give "
            "data.valid");
  EXPECT_EQ(batch_range(10, 0, 4), (std::pair<int64_t, int64_t>{0, 4}));
  EXPECT_EQ(batch_range(10, 2, 4), (std::pair<int64_t, int64_t>{8, 10}));
  EXPECT_EQ(batch_count(10, 4), 3);
  EXPECT_THROW(batch_range(10, 3, 4), std::out_of_range);
}

// Bucketing: every epoch still visits each example once, batches hold similar lengths (far less
// padding than the plain order), the order is fixed by (seed, epoch), and a restored state
// continues with the same batches.
TEST(EpochOrderTest, BucketedBatchesPadLessAndStillResumeExactly) {
  constexpr int64_t kExamples = 1000, kBatch = 16;
  std::vector<int64_t> lengths;
  std::mt19937_64 rng(3);
  for (int64_t i = 0; i < kExamples; ++i) lengths.push_back(1 + static_cast<int64_t>(rng() % 60));
  // Padding of one epoch's batches: the sum over batches of (batch size x longest - tokens).
  auto padding = [&](EpochOrder& order) {
    int64_t padded = 0;
    std::vector<int64_t> seen;
    for (int64_t b = 0; b < kExamples / kBatch; ++b) {
      auto batch = order.next(kBatch);
      int64_t longest = 0, tokens = 0;
      for (int64_t i : batch) longest = std::max(longest, lengths[i]), tokens += lengths[i];
      padded += kBatch * longest - tokens;
      seen.insert(seen.end(), batch.begin(), batch.end());
    }
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::unique(seen.begin(), seen.end()) - seen.begin(), kExamples / kBatch * kBatch);
    return padded;
  };
  EpochOrder plain(kExamples, 5), bucketed(kExamples, 5);
  bucketed.bucket(lengths, kBatch, 20);
  const int64_t plain_padding = padding(plain), bucketed_padding = padding(bucketed);
  EXPECT_LT(bucketed_padding * 5, plain_padding) << plain_padding << " vs " << bucketed_padding;

  // Batches of one window are shuffled: consecutive ones do not always grow longer.
  EpochOrder again(kExamples, 5);
  again.bucket(lengths, kBatch, 20);
  int64_t decreases = 0, previous = 0;
  for (int b = 0; b < 20; ++b) {
    auto batch = again.next(kBatch);
    const int64_t shortest = lengths[*std::min_element(batch.begin(), batch.end(), [&](int64_t x, int64_t y) {
      return lengths[x] < lengths[y];
    })];
    decreases += shortest < previous;
    previous = shortest;
  }
  EXPECT_GT(decreases, 3);

  // Across the end of an epoch, from a saved state.
  EpochOrder a(kExamples, 5);
  a.bucket(lengths, kBatch, 20);
  for (int i = 0; i < 60; ++i) a.next(kBatch);
  const std::string state = a.state("tagging");
  EpochOrder b(kExamples, 0);
  b.load_state(state, "tagging");
  b.bucket(lengths, kBatch, 20);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(kBatch), b.next(kBatch)) << "batch " << i;
  EXPECT_EQ(a.epoch(), 1);
}
