// The pairs data type: TSV and JSONL, teacher-forcing batches with <s> and </s>, per-side
// truncation, epochs and resume, and the user errors.
#include <gtest/gtest.h>

#include "datasets/pairs.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using Special = zoo::tokenizers::Special;

namespace {

constexpr int64_t X = kIgnoreIndex;

// Ids: 0 <unk>, 1 <pad>, 2 <s>, 3 </s>, then a=4 b=5 c=6 d=7 e=8.
class PairsTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer("abcde", {Special::pad, Special::bos, Special::eos});
  }

  PairsOptions options(const std::string& train, const std::string& valid = "") {
    PairsOptions o;
    o.train = train;
    o.valid = valid.empty() ? train : valid;
    return o;
  }
  std::shared_ptr<PairsDataset> make(const PairsOptions& o, uint64_t seed = 1) {
    return std::make_shared<PairsDataset>(o, DataContext{tokenizer_, seed, 0});
  }
  std::string twelve() {
    std::string lines;
    const std::vector<std::string> texts = {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"};
    for (size_t i = 0; i < texts.size(); ++i) lines += texts[i] + "\t" + texts[(i + 5) % texts.size()] + "\n";
    return write("twelve.tsv", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<PairsDataset> rows() {
  return [](const PairBatch& batch) {
    auto keys = zoo::testing::row_keys(batch.source.masked_fill(batch.source_mask.logical_not(), -1));
    auto inputs = zoo::testing::row_keys(batch.target_input), outputs = zoo::testing::row_keys(batch.target_output);
    for (size_t b = 0; b < keys.size(); ++b) keys[b] += "| " + inputs[b] + "| " + outputs[b];
    return keys;
  };
}

void expect_sample_batch(const PairBatch& batch) {
  EXPECT_TENSOR_EQ(batch.source, matrix({{4, 5, 1}, {4, 5, 6}}));
  EXPECT_TENSOR_EQ(batch.source_mask, bools({{1, 1, 0}, {1, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.target_input, matrix({{2, 6, 7, 8}, {2, 7, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.target_output, matrix({{6, 7, 8, 3}, {7, 3, X, X}}));
}

}  // namespace

TEST_F(PairsTest, TargetInputStartsWithBosAndTargetOutputEndsWithEos) {
  auto data = make(options(write("sample.tsv", "ab\tcde\nabc\td\n")));
  expect_sample_batch(data->valid_batch(0, 2));
  EXPECT_EQ(data->describe(), "train 2 examples (9 tokens), valid 2");
}

TEST_F(PairsTest, JsonlWithConfigurableFields) {
  const std::string jsonl = write("sample.jsonl", R"({"en": "ab", "fr": "cde"}
{"fr": "d", "en": "abc"}
)");
  auto o = options(jsonl);
  o.source_field = "en";
  o.target_field = "fr";
  expect_sample_batch(make(o)->valid_batch(0, 2));
  EXPECT_EQ(o.texts(jsonl), (std::vector<std::string>{"ab", "cde", "abc", "d"}));
  o.target_field = "de";
  EXPECT_EQ(user_error([&] { make(o); }),
            jsonl + ":1: no \"de\" field (keys: en, fr); set data.target_field to the key of the target");
}

TEST_F(PairsTest, TruncationAppliesToEachSide) {
  const std::string train = write("train.tsv", "abc\tcde\na\tb\n");
  auto o = options(train);
  o.max_length = 2;  // source 2 tokens, target 1 token + <s>
  PairBatch right = make(o)->valid_batch(0, 1);
  EXPECT_TENSOR_EQ(right.source, matrix({{4, 5}}));
  EXPECT_TENSOR_EQ(right.target_input, matrix({{2, 6}}));
  EXPECT_TENSOR_EQ(right.target_output, matrix({{6, 3}}));
  EXPECT_EQ(take_log(), "data: 1 of 2 train examples longer than 2 tokens were cut (truncation: right)\n"
                        "data: 1 of 2 valid examples longer than 2 tokens were cut (truncation: right)\n");
  o.truncation = "left";
  PairBatch left = make(o)->valid_batch(0, 1);
  EXPECT_TENSOR_EQ(left.source, matrix({{5, 6}}));
  EXPECT_TENSOR_EQ(left.target_output, matrix({{8, 3}}));
  take_log();
  o.truncation = "right";
  o.source_max_length = 3;  // the source fits, the target keeps 2 tokens
  o.target_max_length = 3;
  o.max_length = 1;
  PairBatch sides = make(o)->valid_batch(0, 1);
  EXPECT_TENSOR_EQ(sides.source, matrix({{4, 5, 6}}));
  EXPECT_TENSOR_EQ(sides.target_output, matrix({{6, 7, 3}}));
  take_log();
  o.target_max_length = 2;
  o.valid = write("valid.tsv", "a\tb\n");
  make(o);
  EXPECT_EQ(take_log(), "data: 1 of 2 train examples longer than 3 source or 2 target tokens were cut (truncation: "
                        "right)\n");
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            train + ":1: the target with <s> is 4 tokens, more than the limit of 2 (data.truncation: error); shorten "
                    "it, raise data.max_length, or set data.truncation: right or left");
}

TEST_F(PairsTest, NeedsBosAndEos) {
  const auto o = options(write("sample.tsv", "ab\tcde\n"));
  tokenizer_ = char_tokenizer("abcde", {Special::pad, Special::eos});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data type pairs needs a <s> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[bos, ...]");
  tokenizer_ = char_tokenizer("abcde", {Special::bos});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data type pairs needs a </s> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[eos, ...]");
}

TEST_F(PairsTest, EpochsVisitEveryPairOnceInShuffledOrder) {
  const std::string train = twelve();
  const std::string valid = write("valid.tsv", "a\tb\n");
  zoo::testing::expect_shuffled_epochs<PairsDataset>([&](uint64_t seed) { return make(options(train, valid), seed); },
                                                     rows());
}

TEST_F(PairsTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  const std::string valid = write("valid.tsv", "a\tb\n");
  zoo::testing::expect_exact_resume<PairsDataset>([&](uint64_t seed) { return make(options(train, valid), seed); },
                                                  rows());
}

TEST_F(PairsTest, FileErrorsNameFileLineAndFix) {
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path)); }));
  };
  auto [bad, bad_error] = error("bad.tsv", "a\tb\xE0\x80\n");
  EXPECT_EQ(bad_error, bad + ":1: invalid UTF-8 byte 0xE0 (byte 4 of the line); re-encode the file as UTF-8 (e.g. "
                             "iconv -f latin1 -t utf-8)");
  auto o = options(bad, write("valid.tsv", "a\tb\n"));
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[0].target, (std::vector<int64_t>{5, 0, 0}));
  EXPECT_EQ(take_log(), "data: " + bad + ": 2 invalid UTF-8 sequences replaced with U+FFFD (on_invalid_utf8: replace)\n");
  auto [empty, empty_error] = error("empty.tsv", "");
  EXPECT_EQ(empty_error, empty + ": no examples; write one source<TAB>target line (.tsv) or one {\"source\": ..., "
                                 "\"target\": ...} object (.jsonl) per pair");
  auto [one, one_error] = error("one.tsv", "a\tb\nab\n");
  EXPECT_EQ(one_error, one + ":2: 1 tab-separated field, expected 2 (source<TAB>target)");
  auto [no_source, no_source_error] = error("no_source.tsv", "\tb\n");
  EXPECT_EQ(no_source_error, no_source + ":1: the source is empty; fill it in or remove the line");
  auto [not_json, not_json_error] = error("x.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\",\n");
  EXPECT_NE(not_json_error.find(not_json + ":2: not JSON ("), std::string::npos) << not_json_error;
  auto [number, number_error] = error("y.jsonl", "{\"source\": \"a\", \"target\": 7}\n");
  EXPECT_EQ(number_error, number + ":1: \"target\" is a number, expected a string");
}
