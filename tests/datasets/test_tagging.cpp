// The tagging data type: CoNLL and JSONL, tags on first subword tokens, truncation, epochs and
// resume, and the user errors.
#include <gtest/gtest.h>

#include "datasets/labelled.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using Special = zoo::tokenizers::Special;

namespace {

constexpr int64_t X = kIgnoreIndex;

// Ids: 0 <unk>, 1 <pad>, then a=2 b=3 c=4 d=5 e=6. Tags of the sample: B=0 I=1 O=2.
class TaggingTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer("abcde", {Special::pad});
  }

  TaggingOptions options(const std::string& train, const std::string& valid = "") {
    TaggingOptions o;
    o.train = train;
    o.valid = valid.empty() ? train : valid;
    return o;
  }
  std::shared_ptr<TaggingDataset> make(const TaggingOptions& o, uint64_t seed = 1) {
    return std::make_shared<TaggingDataset>(o, DataContext{tokenizer_, seed, 0});
  }
  // Two sentences: "ab/B c/O" and "dea/O ab/I".
  std::string sample_conll() { return write("sample.conll", "-DOCSTART- O\n\nab\tB\nc\tO\n\n\ndea O\nab   I\n"); }
  std::string twelve() {
    std::string lines;
    const std::vector<std::string> words = {"a", "b", "c", "d", "e", "ab", "bc", "cd", "de", "abc", "bcd", "cde"};
    for (size_t i = 0; i < words.size(); ++i) lines += words[i] + "\t" + (i % 2 ? "O" : "B") + "\nd\tO\n\n";
    return write("twelve.conll", lines);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

zoo::testing::RowsOf<TaggingDataset> rows() {
  return [](const TaggingBatch& batch) {
    auto inputs = zoo::testing::row_keys(batch.input.masked_fill(batch.attention_mask.logical_not(), -1));
    auto labels = zoo::testing::row_keys(batch.labels);
    for (size_t b = 0; b < inputs.size(); ++b) inputs[b] += "| " + labels[b];
    return inputs;
  };
}

}  // namespace

TEST_F(TaggingTest, TagsGoOnEachWordsFirstToken) {
  auto data = make(options(sample_conll()));
  EXPECT_EQ(data->tags(), (std::vector<std::string>{"B", "I", "O"}));
  TaggingBatch batch = data->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(batch.input, matrix({{2, 3, 4, 1, 1}, {5, 6, 2, 2, 3}}));
  EXPECT_TENSOR_EQ(batch.attention_mask, bools({{1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.labels, matrix({{0, X, 2, X, X}, {2, X, X, 1, X}}));
  EXPECT_EQ(data->describe(), "train 2 examples (8 tokens), valid 2, 3 tags");
}

TEST_F(TaggingTest, JsonlGivesTheSameSentencesAndEmptyWordsBecomeUnk) {
  const std::string jsonl = write("sample.jsonl", R"({"tokens": ["ab", "c"], "tags": ["B", "O"]}
{"tokens": ["dea", "ab"], "tags": ["O", "I"]}
{"tokens": ["", "c"], "tags": ["O", "B"]}
)");
  auto data = make(options(jsonl));
  TaggingBatch batch = data->valid_batch(0, 3);
  EXPECT_TENSOR_EQ(batch.input, matrix({{2, 3, 4, 1, 1}, {5, 6, 2, 2, 3}, {0, 4, 1, 1, 1}}));
  EXPECT_TENSOR_EQ(batch.labels, matrix({{0, X, 2, X, X}, {2, X, X, 1, X}, {2, 0, X, X, X}}));
  auto o = options(jsonl);
  EXPECT_EQ(o.texts(jsonl), (std::vector<std::string>{"ab c", "dea ab", "c"}));
}

TEST_F(TaggingTest, ConllTakesTheFirstFieldAsWordAndTheLastAsTag) {
  auto data = make(options(write("four.conll", "ab NNP B-NP B-ORG\nc . O O\n")));
  EXPECT_EQ(data->tags(), (std::vector<std::string>{"B-ORG", "O"}));
  EXPECT_TENSOR_EQ(data->valid_batch(0, 1).labels, matrix({{0, X, 1}}));
}

TEST_F(TaggingTest, TruncationCutsTokensAndTagsTogether) {
  auto o = options(sample_conll(), write("valid.conll", "a\tB\n"));
  o.max_length = 3;
  auto right = make(o);
  EXPECT_EQ(right->train_examples()[1].ids, (std::vector<int64_t>{5, 6, 2}));
  EXPECT_EQ(right->train_examples()[1].labels, (std::vector<int64_t>{2, X, X}));
  EXPECT_EQ(take_log(), "data: 1 of 2 train examples longer than 3 tokens were cut (truncation: right)\n");
  o.truncation = "left";
  auto left = make(o);
  EXPECT_EQ(left->train_examples()[1].ids, (std::vector<int64_t>{2, 2, 3}));
  EXPECT_EQ(left->train_examples()[1].labels, (std::vector<int64_t>{X, 1, X}));
  take_log();
  // Left truncation can leave only continuation tokens: that sentence has nothing to learn.
  o.train = write("long.conll", "abcde\tB\n\nab\tO\n");
  EXPECT_EQ(make(o)->train_size(), 1);
  EXPECT_EQ(take_log(), "data: 1 of 2 train examples longer than 3 tokens were cut (truncation: left); 1 of them had "
                        "nothing left to learn from and were dropped\n");
  o.truncation = "error";
  EXPECT_EQ(user_error([&] { make(o); }),
            o.train + ":1: the sentence is 5 tokens, more than the limit of 3 (data.truncation: error); shorten it, "
                      "raise data.max_length, or set data.truncation: right or left");
}

TEST_F(TaggingTest, EpochsVisitEverySentenceOnceInShuffledOrder) {
  const std::string train = twelve();
  const std::string valid = write("valid.conll", "a\tB\n");
  zoo::testing::expect_shuffled_epochs<TaggingDataset>([&](uint64_t seed) { return make(options(train, valid), seed); },
                                                       rows());
}

TEST_F(TaggingTest, ResumesMidEpochExactly) {
  const std::string train = twelve();
  const std::string valid = write("valid.conll", "a\tB\n");
  zoo::testing::expect_exact_resume<TaggingDataset>([&](uint64_t seed) { return make(options(train, valid), seed); },
                                                    rows());
}

TEST_F(TaggingTest, UnseenTagsAreAnErrorAtTheirLineOrSkipped) {
  const std::string valid = write("valid.conll", "ab\tB\nc\tO\n\nc\tB-MISC\n\nd\tI\n");
  auto o = options(sample_conll(), valid);
  EXPECT_EQ(user_error([&] { make(o); }),
            valid + ":4: tag 'B-MISC' not in the training tags (B, I, O); fix the tag, or set data.unknown_tag: skip "
                    "to leave such sentences out");
  o.unknown_tag = "skip";
  auto data = make(o);
  EXPECT_EQ(data->valid_size(), 2);
  EXPECT_TENSOR_EQ(data->valid_batch(1, 1).labels, matrix({{1}}));
  EXPECT_EQ(take_log(),
            "data: 1 of 3 valid sentences with a tag not in the training tags were skipped (unknown_tag: skip)\n");
}

TEST_F(TaggingTest, FileErrorsNameFileLineAndFix) {
  const auto error = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write(name, bytes);
    return std::make_pair(path, user_error([&] { make(options(path)); }));
  };
  auto [bad, bad_error] = error("bad.conll", "a\tB\n\xC3\tO\n");
  EXPECT_EQ(bad_error, bad + ":2: invalid UTF-8 byte 0xC3 (byte 1 of the line); re-encode the file as UTF-8 (e.g. "
                             "iconv -f latin1 -t utf-8)");
  auto o = options(bad);
  o.on_invalid_utf8 = "replace";
  EXPECT_EQ(make(o)->train_examples()[0].ids, (std::vector<int64_t>{2, 0}));
  auto [empty, empty_error] = error("empty.conll", "-DOCSTART- O\n\n");
  EXPECT_EQ(empty_error, empty + ": no examples; write one word<TAB>tag line per word with a blank line after each "
                                 "sentence (.conll, .txt, .tsv), or one {\"tokens\": [...], \"tags\": [...]} object "
                                 "per sentence (.jsonl)");
  auto [untagged, untagged_error] = error("untagged.txt", "a\tB\nb\n");
  EXPECT_EQ(untagged_error, untagged + ":2: a word without a tag; write word<TAB>tag (the tag is the last field), a "
                                       "blank line between sentences");
  auto [uneven, uneven_error] = error("uneven.jsonl", R"({"tokens": ["a", "b"], "tags": ["B"]})");
  EXPECT_EQ(uneven_error, uneven + ":1: 2 words but 1 tags; give one tag per word");
  auto [missing, missing_error] = error("missing.jsonl", R"({"words": ["a"], "tags": ["B"]})");
  EXPECT_EQ(missing_error,
            missing + ":1: no \"tokens\" field (keys: tags, words); set data.tokens_field to the key of the words");
  auto [not_json, not_json_error] = error("not.jsonl", "{\"tokens\": [\"a\"], \"tags\": [\"B\"]\n");
  EXPECT_NE(not_json_error.find(not_json + ":1: not JSON ("), std::string::npos) << not_json_error;
}
