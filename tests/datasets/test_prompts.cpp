// The prompts data type: JSONL, text and TSV prompts, left padding for generation, truncation,
// epochs and resume, and the user errors.
#include <gtest/gtest.h>

#include "datasets/instructions.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using Special = zoo::tokenizers::Special;

namespace {

// Ids: 0 <unk>, 1 <pad>, then '>'=2 'Q'=3 a=4 b=5 c=6 d=7 e=8.
class PromptsTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer(">Qabcde", {Special::pad});
  }

  PromptOptions options(const std::string& train, const std::string& valid = "") {
    PromptOptions o;
    o.train = train;
    o.valid = valid.empty() ? train : valid;
    o.prompt_template = "Q{prompt}>";
    return o;
  }
  std::shared_ptr<PromptsDataset> make(const PromptOptions& o, uint64_t seed = 1) {
    return std::make_shared<PromptsDataset>(o, DataContext{tokenizer_, seed, 0});
  }
  std::string twelve() {
    std::string lines;
    for (const char* text : {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"})
      lines += std::string(text) + "\n";
    return write("twelve.txt", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<PromptsDataset> rows() {
  return [](const PromptBatch& batch) {
    return zoo::testing::row_keys(batch.input.masked_fill(batch.attention_mask.logical_not(), -1));
  };
}

}  // namespace

TEST_F(PromptsTest, PromptsAreLeftPaddedFromJsonlTextOrTsv) {
  const std::vector<std::string> files = {write("p.jsonl", "{\"prompt\": \"ab\"}\n\n{\"prompt\": \"cde\", \"id\": 7}\n"),
                                          write("p.txt", "ab\ncde\n"), write("p.tsv", "ab\tfirst\ncde\n")};
  for (const auto& file : files) {
    auto data = make(options(file));
    PromptBatch batch = data->valid_batch(0, 2);
    EXPECT_TENSOR_EQ(batch.input, matrix({{1, 3, 4, 5, 2}, {3, 6, 7, 8, 2}}));
    EXPECT_TENSOR_EQ(batch.attention_mask, bools({{0, 1, 1, 1, 1}, {1, 1, 1, 1, 1}}));
    EXPECT_EQ(data->describe(), "train 2 examples (9 tokens), valid 2");
  }
  EXPECT_EQ(options(files[0]).texts(files[0]), (std::vector<std::string>{"Qab>", "Qcde>"}));
}

TEST_F(PromptsTest, TruncationRightLeftOrError) {
  auto o = options(write("p.txt", "ab\ncde\n"));
  o.max_length = 3;
  EXPECT_TENSOR_EQ(make(o)->valid_batch(0, 2).input, matrix({{3, 4, 5}, {3, 6, 7}}));
  EXPECT_EQ(take_log(), "data: 2 of 2 train examples longer than 3 tokens were cut (truncation: right)\n"
                        "data: 2 of 2 valid examples longer than 3 tokens were cut (truncation: right)\n");
  o.truncation = "left";
  EXPECT_TENSOR_EQ(make(o)->valid_batch(0, 2).input, matrix({{4, 5, 2}, {7, 8, 2}}));
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            o.train + ":1: the prompt is 4 tokens, more than the limit of 3 (data.truncation: error); shorten it, "
                      "raise data.max_length, or set data.truncation: right or left");
}

TEST_F(PromptsTest, EpochsVisitEveryPromptOnceInShuffledOrder) {
  const std::string train = twelve();
  zoo::testing::expect_shuffled_epochs<PromptsDataset>([&](uint64_t seed) { return make(options(train, train), seed); },
                                                       rows());
}

TEST_F(PromptsTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  zoo::testing::expect_exact_resume<PromptsDataset>([&](uint64_t seed) { return make(options(train, train), seed); },
                                                    rows());
}

TEST_F(PromptsTest, FileErrorsNameFileLineAndFix) {
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path)); }));
  };
  auto [bad, bad_error] = error("bad.txt", "ab\n\xC0\xAF\n");  // an overlong '/'
  EXPECT_EQ(bad_error, bad + ":2: invalid UTF-8 byte 0xC0 (byte 1 of the line); re-encode the file as UTF-8 (e.g. "
                             "iconv -f latin1 -t utf-8)");
  auto o = options(bad);
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[1].ids, (std::vector<int64_t>{3, 0, 0, 2}));
  auto [empty, empty_error] = error("empty.txt", "\n\n");
  EXPECT_EQ(empty_error,
            empty + ": no examples; write one prompt a line (.txt, .tsv) or one {\"prompt\": ...} object per line "
                    "(.jsonl)");
  auto [missing, missing_error] = error("m.jsonl", R"({"text": "a"})");
  EXPECT_EQ(missing_error, missing + ":1: no \"prompt\" field (keys: text); give each line a \"prompt\"");
  auto [not_json, not_json_error] = error("n.jsonl", "\"just a string\"\n");
  EXPECT_EQ(not_json_error,
            not_json + ":1: a string, not a JSON object; each line of a .jsonl file is one JSON object");
  o = options(write("e.jsonl", R"({"prompt": "a"})"));
  o.prompt_template = "{prompt}";
  o.train = write("blank.jsonl", R"({"prompt": ""})");
  EXPECT_EQ(user_error([&] { make(o); }), o.train + ":1: the prompt is empty; fill it in or remove the line");
}
