// The classification data type: TSV and JSONL, label ids, exact batches, <cls>, truncation,
// epochs and resume, and the user errors.
#include <gtest/gtest.h>

#include "datasets/labelled.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using zoo::testing::vector;
using Special = zoo::tokenizers::Special;

namespace {

// Ids: 0 <unk>, 1 <pad>, 2 <cls>, then a=3 b=4 c=5 d=6 e=7.
class ClassificationTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer("abcde", {Special::pad, Special::cls});
  }

  ClassificationOptions options(const std::string& train, const std::string& valid = "") {
    ClassificationOptions o;
    o.train = train;
    o.valid = valid;
    return o;
  }
  std::shared_ptr<ClassificationDataset> make(const ClassificationOptions& o, uint64_t seed = 1,
                                              int64_t context_length = 0) {
    return std::make_shared<ClassificationDataset>(o, DataContext{tokenizer_, seed, context_length});
  }
  // Twelve distinct training examples and two for validation.
  std::string twelve() {
    std::string lines;
    const std::vector<std::string> texts = {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"};
    for (size_t i = 0; i < texts.size(); ++i) lines += std::string(i % 3 ? "x" : "y") + "\t" + texts[i] + "\n";
    return write("twelve.tsv", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<ClassificationDataset> rows() {
  return [](const ClassificationBatch& batch) {
    auto keys = zoo::testing::row_keys(batch.input.masked_fill(batch.attention_mask.logical_not(), -1));
    for (size_t b = 0; b < keys.size(); ++b) keys[b] += "| " + std::to_string(batch.labels[b].item<int64_t>());
    return keys;
  };
}

}  // namespace

TEST_F(ClassificationTest, TsvAndJsonlGiveTheSameExamples) {
  const std::string valid = write("valid.tsv", "pos\tab\n");
  auto tsv = make(options(write("train.tsv", "pos\tabc\n\nneg\tde\r\npos\ta\n"), valid));
  auto jsonl = make(options(write("train.jsonl", R"({"text": "abc", "label": "pos"}
{"label": "neg", "text": "de", "other": 1}

{"text": "a", "label": "pos"}
)"),
                            valid));
  for (const auto& data : {tsv, jsonl}) {
    EXPECT_EQ(data->labels(), (std::vector<std::string>{"neg", "pos"}));
    ASSERT_EQ(data->train_size(), 3);
    const auto& train = data->train_examples();
    EXPECT_EQ(train[0].ids, (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(train[0].label, 1);
    EXPECT_EQ(train[1].ids, (std::vector<int64_t>{6, 7}));
    EXPECT_EQ(train[1].label, 0);
    EXPECT_EQ(train[2].ids, (std::vector<int64_t>{3}));
    EXPECT_EQ(data->valid_size(), 1);
    EXPECT_EQ(data->describe(), "train 3 examples (6 tokens), valid 1, 2 labels");
  }
}

TEST_F(ClassificationTest, ValidBatchesAreExactRightPaddedFileOrderSlices) {
  auto data = make(options(write("train.tsv", "pos\tab\nneg\tc\n"),
                           write("valid.tsv", "pos\tab\nneg\tcde\npos\ta\nneg\te\n")));
  ClassificationBatch batch = data->valid_batch(0, 3);
  EXPECT_TENSOR_EQ(batch.input, matrix({{3, 4, 1}, {5, 6, 7}, {3, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.attention_mask, bools({{1, 1, 0}, {1, 1, 1}, {1, 0, 0}}));
  EXPECT_TENSOR_EQ(batch.labels, vector({1, 0, 1}));
  ClassificationBatch last = data->valid_batch(1, 3);  // the one example left
  EXPECT_TENSOR_EQ(last.input, matrix({{7}}));
  EXPECT_TENSOR_EQ(last.labels, vector({0}));
  EXPECT_THROW(data->valid_batch(2, 3), std::out_of_range);
}

TEST_F(ClassificationTest, PadsWithZeroWithoutAPadToken) {
  tokenizer_ = char_tokenizer("abcde", {});  // a=1 ... e=5
  auto data = make(options(write("train.tsv", "x\tab\n"), write("valid.tsv", "x\tabc\nx\td\n")));
  EXPECT_TENSOR_EQ(data->valid_batch(0, 2).input, matrix({{1, 2, 3}, {4, 0, 0}}));
}

TEST_F(ClassificationTest, AddClsPrependsItAndNeedsTheToken) {
  auto o = options(write("train.tsv", "pos\tab\nneg\tc\n"), write("valid.tsv", "pos\tab\nneg\tcde\n"));
  o.add_cls = true;
  ClassificationBatch batch = make(o)->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(batch.input, matrix({{2, 3, 4, 1}, {2, 5, 6, 7}}));
  EXPECT_TENSOR_EQ(batch.attention_mask, bools({{1, 1, 1, 0}, {1, 1, 1, 1}}));
  tokenizer_ = char_tokenizer("abcde", {Special::pad});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data.add_cls needs a <cls> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[cls, ...]");
}

TEST_F(ClassificationTest, LabelsMayBeNumbersAndFieldNamesAreOptions) {
  auto o = options(write("train.jsonl", R"({"body": "a", "y": 10}
{"body": "b", "y": 2}
{"body": "c", "y": "1"}
)"),
                   write("valid.jsonl", R"({"body": "ab", "y": 2})"));
  o.text_field = "body";
  o.label_field = "y";
  auto data = make(o);
  EXPECT_EQ(data->labels(), (std::vector<std::string>{"1", "2", "10"}));  // numeric order
  EXPECT_EQ(data->train_examples()[0].label, 2);
  EXPECT_TENSOR_EQ(data->valid_batch(0, 1).labels, vector({1}));
  EXPECT_EQ(o.texts(o.train), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(ClassificationTest, TruncationRightLeftOrError) {
  const std::string train = write("train.tsv", "x\tabcde\ny\tab\nx\tabcd\n");
  const std::string valid = write("valid.tsv", "x\ta\n");
  auto o = options(train, valid);
  o.max_length = 3;
  auto right = make(o);
  EXPECT_EQ(right->train_examples()[0].ids, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(right->train_examples()[1].ids, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(right->train_examples()[2].ids, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(take_log(), "data: 2 of 3 train examples longer than 3 tokens were cut (truncation: right)\n");

  o.truncation = "left";
  auto left = make(o);
  EXPECT_EQ(left->train_examples()[0].ids, (std::vector<int64_t>{5, 6, 7}));
  EXPECT_EQ(left->train_examples()[2].ids, (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(take_log(), "data: 2 of 3 train examples longer than 3 tokens were cut (truncation: left)\n");

  o.add_cls = true;  // <cls> stays first, the text keeps its last 2 tokens
  EXPECT_EQ(make(o)->train_examples()[0].ids, (std::vector<int64_t>{2, 6, 7}));
  take_log();

  o.add_cls = false;
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            train + ":1: the text is 5 tokens, more than the limit of 3 (data.truncation: error); shorten it, raise "
                    "data.max_length, or set data.truncation: right or left");

  o.truncation = "right";  // max_length 0: the model's context
  o.max_length = 0;
  EXPECT_EQ(make(o, 1, 4)->train_examples()[0].ids, (std::vector<int64_t>{3, 4, 5, 6}));
  EXPECT_EQ(take_log(), "data: 1 of 3 train examples longer than 4 tokens were cut (truncation: right)\n");
}

TEST_F(ClassificationTest, HoldsOutTheLastTenthWhenNoValidFile) {
  auto data = make(options(twelve()));
  EXPECT_EQ(data->train_size(), 11);
  EXPECT_EQ(data->valid_size(), 1);
  EXPECT_TENSOR_EQ(data->valid_batch(0, 1).input, matrix({{5, 6, 7}}));  // the last line, cde
  auto o = options(twelve());
  o.valid_fraction = 0.25;
  EXPECT_EQ(make(o)->valid_size(), 3);
}

TEST_F(ClassificationTest, EpochsVisitEveryExampleOnceInShuffledOrder) {
  const std::string train = twelve();
  const std::string valid = write("valid.tsv", "x\ta\n");
  zoo::testing::expect_shuffled_epochs<ClassificationDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
}

TEST_F(ClassificationTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  const std::string valid = write("valid.tsv", "x\ta\n");
  zoo::testing::expect_exact_resume<ClassificationDataset>(
      [&](uint64_t seed) { return make(options(train, valid), seed); }, rows());
  auto data = make(options(train, valid));
  EXPECT_NE(user_error([&] { data->load_state(R"({"type": "pairs", "epoch": 0, "position": 0})"); })
                .find("not the state of a classification dataset"),
            std::string::npos);
}

TEST_F(ClassificationTest, BuiltByTheFactory) {
  register_datasets();
  auto o = std::make_shared<ClassificationOptions>(options(write("train.tsv", "x\ta\ny\tb\n"), write("v.tsv", "x\tc\n")));
  auto data = datasets().build(zoo::Component{"classification", o}, DataContext{tokenizer_, 1, 0});
  auto classification = data_as<ClassificationDataset>(data, "classification", "classify", "classification");
  EXPECT_EQ(classification->labels(), (std::vector<std::string>{"x", "y"}));
}

TEST_F(ClassificationTest, UnseenLabelsAreAnErrorOrSkipped) {
  const std::string valid = write("valid.jsonl", R"({"text": "a", "label": "neg"}
{"text": "b", "label": "maybe"}
{"text": "c", "label": "pos"}
{"text": "d", "label": "later"}
)");
  auto o = options(write("train.tsv", "pos\tab\nneg\tc\n"), valid);
  EXPECT_EQ(user_error([&] { make(o); }),
            valid + ":2: label 'maybe' not in the training labels (neg, pos); fix the label, or set "
                    "data.unknown_label: skip to leave such examples out");
  o.unknown_label = "skip";
  auto data = make(o);
  EXPECT_EQ(data->valid_size(), 2);
  EXPECT_TENSOR_EQ(data->valid_batch(0, 2).labels, vector({0, 1}));
  EXPECT_EQ(take_log(),
            "data: 2 of 4 valid examples with a label not in the training labels were skipped (unknown_label: skip)\n");
  const std::string none_left = write("none.tsv", "maybe\ta\n");
  o.valid = none_left;
  EXPECT_EQ(user_error([&] { make(o); }),
            none_left + ": no examples left to use (the warnings above say which were skipped or dropped); fix them or "
                        "add examples");
}

TEST_F(ClassificationTest, FileErrorsNameFileLineAndFix) {
  const std::string valid = write("valid.tsv", "x\ta\n");
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path, valid)); }));
  };
  auto [bad, bad_error] = error("bad.tsv", "x\ta\ny\tb\xFF\n");
  EXPECT_EQ(bad_error, bad + ":2: invalid UTF-8 byte 0xFF (byte 4 of the line); re-encode the file as UTF-8 (e.g. "
                             "iconv -f latin1 -t utf-8)");
  auto o = options(bad, valid);
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[1].ids, (std::vector<int64_t>{4, 0}));  // U+FFFD is <unk> here
  EXPECT_EQ(take_log(), "data: " + bad + ": 1 invalid UTF-8 sequences replaced with U+FFFD (on_invalid_utf8: replace)\n");

  auto [empty, empty_error] = error("empty.tsv", "\n  \n");
  EXPECT_EQ(empty_error, empty + ": no examples; write one label<TAB>text line (.tsv) or one {\"text\": ..., \"label\": "
                                 "...} object (.jsonl) per example");
  auto [not_json, not_json_error] = error("a.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\ntext a, label x\n");
  EXPECT_EQ(not_json_error, not_json + ":2: not JSON (column 2: syntax error while parsing value - invalid literal; "
                                       "last read: 'te'); each line of a .jsonl file is one JSON object");
  auto [missing, missing_error] = error("b.jsonl", "{\"txt\": \"a\", \"label\": \"x\"}\n");
  EXPECT_EQ(missing_error, missing + ":1: no \"text\" field (keys: label, txt); set data.text_field to the key of the text");
  auto [fields, fields_error] = error("c.tsv", "x\ta\tb\n");
  EXPECT_EQ(fields_error, fields + ":1: 3 tab-separated fields, expected 2 (label<TAB>text)");
  auto [blank, blank_error] = error("d.tsv", "x\ta\ny\t\n");
  EXPECT_EQ(blank_error, blank + ":2: the text is empty; fill it in or remove the line");
  auto [csv, csv_error] = error("e.csv", "x,a\n");
  EXPECT_EQ(csv_error, csv + ": the classification data type reads .tsv, .jsonl files, not '.csv'; rename the file "
                             "to the extension of its format");
}
