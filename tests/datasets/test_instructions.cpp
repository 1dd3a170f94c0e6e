// The instructions data type: templates, prompt tokens masked with -100, chat messages,
// </s>, truncation that keeps something to learn, epochs and resume, and the user errors.
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

constexpr int64_t X = kIgnoreIndex;

// Ids: 0 <unk>, 1 <pad>, 2 </s>, then ':'=3 '>'=4 'A'=5 'Q'=6 'S'=7 'U'=8 a=9 b=10 c=11 d=12
// e=13 '|'=14.
class InstructionsTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer(":>AQSUabcde|", {Special::pad, Special::eos});
  }

  // Small templates, so the ids can be written by hand.
  InstructionOptions options(const std::string& train, const std::string& valid = "") {
    InstructionOptions o;
    o.train = train;
    o.valid = valid.empty() ? train : valid;
    o.prompt_template = "Q{instruction}:{input}>";
    o.prompt_template_no_input = "Q{instruction}>";
    o.system_template = "S{content}|";
    o.user_template = "U{content}|";
    o.assistant_template = "A{content}|";
    return o;
  }
  std::shared_ptr<InstructionsDataset> make(const InstructionOptions& o, uint64_t seed = 1) {
    return std::make_shared<InstructionsDataset>(o, DataContext{tokenizer_, seed, 0});
  }
  // "Qab>" + "c" and "Qa:b>" + "de".
  std::string sample() {
    return write("sample.jsonl", R"({"instruction": "ab", "output": "c"}
{"instruction": "a", "input": "b", "output": "de"}
)");
  }
  std::string twelve() {
    std::string lines;
    const std::vector<std::string> texts = {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"};
    for (const auto& text : texts) lines += R"({"instruction": ")" + text + R"(", "output": "a"})" + "\n";
    return write("twelve.jsonl", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<InstructionsDataset> rows() {
  return [](const InstructionBatch& batch) {
    auto keys = zoo::testing::row_keys(batch.input.masked_fill(batch.attention_mask.logical_not(), -1));
    auto targets = zoo::testing::row_keys(batch.target);
    for (size_t b = 0; b < keys.size(); ++b) keys[b] += "| " + targets[b];
    return keys;
  };
}

}  // namespace

TEST_F(InstructionsTest, PromptTokensAreMaskedAndTheResponseEndsWithEos) {
  auto data = make(options(sample()));
  // ids [6 9 10 4 | 11 2] and [6 9 3 10 4 | 12 13 2]; input ids[:-1], target labels[1:].
  InstructionBatch batch = data->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(batch.input, matrix({{6, 9, 10, 4, 11, 1, 1}, {6, 9, 3, 10, 4, 12, 13}}));
  EXPECT_TENSOR_EQ(batch.target, matrix({{X, X, X, 11, 2, X, X}, {X, X, X, X, 12, 13, 2}}));
  EXPECT_TENSOR_EQ(batch.attention_mask, bools({{1, 1, 1, 1, 1, 0, 0}, {1, 1, 1, 1, 1, 1, 1}}));
  EXPECT_EQ(data->describe(), "train 2 examples (14 tokens), valid 2");
}

TEST_F(InstructionsTest, TrainOnPromptAndNoEos) {
  auto o = options(sample());
  o.train_on_prompt = true;
  EXPECT_TENSOR_EQ(make(o)->valid_batch(0, 1).target, matrix({{9, 10, 4, 11, 2}}));
  o.train_on_prompt = false;
  tokenizer_ = char_tokenizer(":>AQSUabcde|", {Special::pad});  // everything one lower, no </s>
  InstructionBatch batch = make(o)->valid_batch(0, 1);
  EXPECT_TENSOR_EQ(batch.input, matrix({{5, 8, 9, 3}}));
  EXPECT_TENSOR_EQ(batch.target, matrix({{X, X, X, 10}}));
}

TEST_F(InstructionsTest, DefaultTemplatesWithAndWithoutInput) {
  InstructionOptions o;
  const std::string file = sample();
  EXPECT_EQ(o.texts(file), (std::vector<std::string>{"### Instruction:\nab\n\n### Response:\n", "c",
                                                     "### Instruction:\na\n\n### Input:\nb\n\n### Response:\n", "de"}));
}

TEST_F(InstructionsTest, MessagesLearnOnlyAssistantTurnsEachEndedByEos) {
  auto data = make(options(write("chat.jsonl",
                                  R"({"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}, )"
                                  R"({"role": "assistant", "content": "c"}, {"role": "user", "content": "d"}, )"
                                  R"({"role": "assistant", "content": "e"}]})"
                                  "\n")));
  // "Sa|Ub|A" [7 9 14 8 10 14 5], "c|" </s> [11 14 2], "Ud|A" [8 12 14 5], "e|" </s> [13 14 2].
  InstructionBatch batch = data->valid_batch(0, 1);
  EXPECT_TENSOR_EQ(batch.input, matrix({{7, 9, 14, 8, 10, 14, 5, 11, 14, 2, 8, 12, 14, 5, 13, 14}}));
  EXPECT_TENSOR_EQ(batch.target, matrix({{X, X, X, X, X, X, 11, 14, 2, X, X, X, X, 13, 14, 2}}));
}

TEST_F(InstructionsTest, TruncationRightCutsTheResponseLeftThePrompt) {
  auto o = options(sample());
  o.max_length = 4;  // 4 input positions: 5 tokens
  auto right = make(o);
  // The second example's prompt alone fills the 5 tokens: nothing to learn, dropped.
  ASSERT_EQ(right->train_size(), 1);
  EXPECT_EQ(right->train_examples()[0].ids, (std::vector<int64_t>{6, 9, 10, 4, 11}));
  EXPECT_EQ(right->train_examples()[0].labels, (std::vector<int64_t>{X, X, X, X, 11}));
  EXPECT_EQ(take_log(), "data: 2 of 2 train examples longer than 4 tokens were cut (truncation: right); 1 of them had "
                        "nothing left to learn from and were dropped\n"
                        "data: 2 of 2 valid examples longer than 4 tokens were cut (truncation: right); 1 of them had "
                        "nothing left to learn from and were dropped\n");
  o.truncation = "left";
  InstructionBatch left = make(o)->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(left.input, matrix({{9, 10, 4, 11}, {10, 4, 12, 13}}));
  EXPECT_TENSOR_EQ(left.target, matrix({{X, X, 11, 2}, {X, 12, 13, 2}}));
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            o.train + ":1: the example's input (all its tokens but the last) is 5 tokens, more than the limit of 4 "
                      "(data.truncation: error); shorten it, raise data.max_length, or set data.truncation: right or "
                      "left");
}

TEST_F(InstructionsTest, EpochsVisitEveryExampleOnceInShuffledOrder) {
  const std::string train = twelve();
  const std::string valid = sample();
  zoo::testing::expect_shuffled_epochs<InstructionsDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
}

TEST_F(InstructionsTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  const std::string valid = sample();
  zoo::testing::expect_exact_resume<InstructionsDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
}

TEST_F(InstructionsTest, TemplatesMustShowWhereTheTextGoes) {
  auto o = options(sample());
  o.user_template = "<|user|>\n";
  EXPECT_EQ(user_error([&] { make(o); }),
            "data.user_template: '<|user|>\n' has no {content}; put {content} where the text goes");
  o = options(sample());
  o.prompt_template = "{input}";
  EXPECT_EQ(user_error([&] { make(o); }),
            "data.prompt_template: '{input}' has no {instruction}; put {instruction} where the text goes");
}

TEST_F(InstructionsTest, FileErrorsNameFileLineAndFix) {
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path)); }));
  };
  auto [bad, bad_error] = error("bad.jsonl", "{\"instruction\": \"a\xF0\", \"output\": \"b\"}\n");
  EXPECT_EQ(bad_error, bad + ":1: invalid UTF-8 byte 0xF0 (byte 19 of the line); re-encode the file as UTF-8 (e.g. "
                             "iconv -f latin1 -t utf-8)");
  auto o = options(bad);
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[0].ids, (std::vector<int64_t>{6, 9, 0, 4, 10, 2}));
  auto [empty, empty_error] = error("empty.jsonl", "\n");
  EXPECT_EQ(empty_error, empty + ": no examples; write one {\"instruction\": ..., \"input\": ..., \"output\": ...} or "
                                 "{\"messages\": [...]} object per line");
  auto [tsv, tsv_error] = error("a.tsv", "a\tb\n");
  EXPECT_EQ(tsv_error, tsv + ": the instructions data type reads .jsonl files, not '.tsv'; rename the file to the "
                             "extension of its format");
  auto [not_json, not_json_error] = error("n.jsonl", "instruction: a\n");
  EXPECT_NE(not_json_error.find(not_json + ":1: not JSON ("), std::string::npos) << not_json_error;
  auto [missing, missing_error] = error("m.jsonl", R"({"instruction": "a", "response": "b"})");
  EXPECT_EQ(missing_error, missing + ":1: no \"output\" field (keys: instruction, response); give each example "
                                     "\"instruction\" and \"output\" (and \"input\" when it has one), or \"messages\"");
  auto [role, role_error] = error("r.jsonl", R"({"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]})");
  EXPECT_EQ(role_error, role + ":1: message 2 has role 'bot'; the roles are system, user and assistant");
  auto [unanswered, unanswered_error] = error("u.jsonl", R"({"messages": [{"role": "user", "content": "a"}]})");
  EXPECT_EQ(unanswered_error, unanswered + ":1: no assistant message, so nothing to learn; add one or remove the line");
  auto [list, list_error] = error("l.jsonl", R"({"messages": "hi"})");
  EXPECT_EQ(list_error, list + ":1: \"messages\" must be a non-empty array of {\"role\", \"content\"} objects");
  tokenizer_ = char_tokenizer(":>AQSUabcde|", {Special::pad});
  auto [silent, silent_error] = error("s.jsonl", R"({"instruction": "a", "output": ""})");
  EXPECT_EQ(silent_error, silent + ":1: no response token to learn (an empty response, and the tokenizer has no "
                                   "</s>); fill in the response or remove the line");
}
