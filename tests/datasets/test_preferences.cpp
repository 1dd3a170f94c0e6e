// The preferences data type: chosen and rejected sequences over one prompt, prompt lengths,
// truncation that cuts both sides alike, epochs and resume, and the user errors.
#include <gtest/gtest.h>

#include "datasets/instructions.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using zoo::testing::vector;
using Special = zoo::tokenizers::Special;

namespace {

constexpr int64_t X = kIgnoreIndex;

// Ids: 0 <unk>, 1 <pad>, 2 </s>, then ':'=3 '>'=4 'Q'=5 a=6 b=7 c=8 d=9 e=10.
class PreferencesTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer(":>Qabcde", {Special::pad, Special::eos});
  }

  PreferenceOptions options(const std::string& train, const std::string& valid = "") {
    PreferenceOptions o;
    o.train = train;
    o.valid = valid.empty() ? train : valid;
    o.prompt_template = "Q{prompt}>";
    return o;
  }
  std::shared_ptr<PreferencesDataset> make(const PreferenceOptions& o, uint64_t seed = 1) {
    return std::make_shared<PreferencesDataset>(o, DataContext{tokenizer_, seed, 0});
  }
  // Prompts "Qab>" [5 6 7 4] and "Qa>" [5 6 4].
  std::string sample() {
    return write("sample.jsonl", R"({"prompt": "ab", "chosen": "c", "rejected": "de"}
{"prompt": "a", "chosen": "bcd", "rejected": "e"}
)");
  }
  std::string twelve() {
    std::string lines;
    const std::vector<std::string> texts = {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"};
    for (const auto& text : texts) lines += R"({"prompt": ")" + text + R"(", "chosen": "a", "rejected": "b"})" "\n";
    return write("twelve.jsonl", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<PreferencesDataset> rows() {
  return [](const PreferenceBatch& batch) {
    auto keys = zoo::testing::row_keys(batch.chosen.input.masked_fill(batch.chosen.attention_mask.logical_not(), -1));
    auto chosen = zoo::testing::row_keys(batch.chosen.target), rejected = zoo::testing::row_keys(batch.rejected.target);
    for (size_t b = 0; b < keys.size(); ++b)
      keys[b] += "| " + chosen[b] + "| " + rejected[b] + "| " + std::to_string(batch.prompt_lengths[b].item<int64_t>());
    return keys;
  };
}

}  // namespace

TEST_F(PreferencesTest, ChosenAndRejectedShareThePromptWhichIsMasked) {
  auto data = make(options(sample()));
  PreferenceBatch batch = data->valid_batch(0, 2);
  // chosen ids [5 6 7 4 | 8 2] and [5 6 4 | 7 8 9 2]
  EXPECT_TENSOR_EQ(batch.chosen.input, matrix({{5, 6, 7, 4, 8, 1}, {5, 6, 4, 7, 8, 9}}));
  EXPECT_TENSOR_EQ(batch.chosen.target, matrix({{X, X, X, 8, 2, X}, {X, X, 7, 8, 9, 2}}));
  EXPECT_TENSOR_EQ(batch.chosen.attention_mask, bools({{1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 1}}));
  // rejected ids [5 6 7 4 | 9 10 2] and [5 6 4 | 10 2]
  EXPECT_TENSOR_EQ(batch.rejected.input, matrix({{5, 6, 7, 4, 9, 10}, {5, 6, 4, 10, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.rejected.target, matrix({{X, X, X, 9, 10, 2}, {X, X, 10, 2, X, X}}));
  EXPECT_TENSOR_EQ(batch.rejected.attention_mask, bools({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0}}));
  EXPECT_TENSOR_EQ(batch.prompt_lengths, vector({4, 3}));
  EXPECT_EQ(data->describe(), "train 2 examples (25 tokens), valid 2");
  EXPECT_EQ(options(sample()).texts(sample()), (std::vector<std::string>{"Qab>", "c", "de", "Qa>", "bcd", "e"}));
}

TEST_F(PreferencesTest, TruncationCutsResponsesRightOrThePromptLeft) {
  auto o = options(sample());
  o.max_length = 4;  // 5 tokens a sequence
  auto right = make(o);
  const auto& first = right->train_examples()[0];
  EXPECT_EQ(first.chosen.ids, (std::vector<int64_t>{5, 6, 7, 4, 8}));
  EXPECT_EQ(first.rejected.ids, (std::vector<int64_t>{5, 6, 7, 4, 9}));
  EXPECT_EQ(first.rejected.labels, (std::vector<int64_t>{X, X, X, X, 9}));
  EXPECT_EQ(right->train_examples()[1].chosen.ids, (std::vector<int64_t>{5, 6, 4, 7, 8}));
  EXPECT_EQ(right->train_examples()[1].rejected.ids, (std::vector<int64_t>{5, 6, 4, 10, 2}));
  EXPECT_EQ(take_log(), "data: 2 of 2 train examples longer than 4 tokens were cut (truncation: right)\n"
                        "data: 2 of 2 valid examples longer than 4 tokens were cut (truncation: right)\n");

  o.truncation = "left";  // the prompt loses its start, the same tokens on both sides
  PreferenceBatch left = make(o)->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(left.prompt_lengths, vector({2, 1}));
  EXPECT_TENSOR_EQ(left.chosen.input, matrix({{7, 4, 8, 1}, {4, 7, 8, 9}}));
  EXPECT_TENSOR_EQ(left.chosen.target, matrix({{X, 8, 2, X}, {7, 8, 9, 2}}));
  EXPECT_TENSOR_EQ(left.rejected.input, matrix({{7, 4, 9, 10}, {4, 10, 1, 1}}));
  EXPECT_TENSOR_EQ(left.rejected.target, matrix({{X, 9, 10, 2}, {10, 2, X, X}}));
  take_log();

  o.truncation = "right";  // a prompt that fills the limit leaves nothing to compare
  o.train = write("long.jsonl", R"({"prompt": "abcde", "chosen": "a", "rejected": "b"}
{"prompt": "a", "chosen": "b", "rejected": "c"}
)");
  o.valid = sample();
  EXPECT_EQ(make(o)->train_size(), 1);
  EXPECT_EQ(take_log(), "data: 1 of 2 train examples longer than 4 tokens were cut (truncation: right); 1 of them had "
                        "nothing left to learn from and were dropped\n"
                        "data: 2 of 2 valid examples longer than 4 tokens were cut (truncation: right)\n");
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            o.train + ":1: the input of the prompt with the longer response (all but its last token) is 8 tokens, "
                      "more than the limit of 4 (data.truncation: error); shorten it, raise data.max_length, or set "
                      "data.truncation: right or left");
}

TEST_F(PreferencesTest, EpochsVisitEveryPairOnceInShuffledOrder) {
  const std::string train = twelve();
  const std::string valid = sample();
  zoo::testing::expect_shuffled_epochs<PreferencesDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
}

TEST_F(PreferencesTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  const std::string valid = sample();
  zoo::testing::expect_exact_resume<PreferencesDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
}

TEST_F(PreferencesTest, FileErrorsNameFileLineAndFix) {
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path)); }));
  };
  auto [bad, bad_error] = error("bad.jsonl", "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"\xFF\"}\n");
  EXPECT_EQ(bad_error.rfind(bad + ":1: invalid UTF-8 byte 0xFF (byte 45 of the line)", 0), 0u) << bad_error;
  auto o = options(bad);
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[0].rejected.ids, (std::vector<int64_t>{5, 6, 4, 0, 2}));
  auto [empty, empty_error] = error("empty.jsonl", "");
  EXPECT_EQ(empty_error,
            empty + ": no examples; write one {\"prompt\": ..., \"chosen\": ..., \"rejected\": ...} object per line");
  auto [missing, missing_error] = error("m.jsonl", R"({"prompt": "a", "chosen": "b"})");
  EXPECT_EQ(missing_error,
            missing + ":1: no \"rejected\" field (keys: chosen, prompt); give each line \"prompt\", \"chosen\" and "
                      "\"rejected\"");
  auto [not_json, not_json_error] = error("n.jsonl", "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\n");
  EXPECT_NE(not_json_error.find(not_json + ":2: not JSON ("), std::string::npos) << not_json_error;
  o = options(sample());
  o.prompt_template = "Q:";
  EXPECT_EQ(user_error([&] { make(o); }), "data.prompt_template: 'Q:' has no {prompt}; put {prompt} where the text goes");
}
