// The sentences data type: chunks packed within the budget and documents, the [CLS] A [SEP]
// (B [SEP]) layout and its masks, next-sentence pairs, batch seeds through epochs and resume,
// lists of files in a recipe, and the tokenizer's text over several files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "core/config.h"
#include "datasets/sentences.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
using zoo::testing::bools;
using zoo::testing::char_tokenizer;
using zoo::testing::matrix;
using zoo::testing::user_error;
using Special = zoo::tokenizers::Special;

namespace {

using Ids = std::vector<int64_t>;

// Ids: 0 <unk>, 1 <pad>, 2 <mask>, 3 <cls>, 4 <sep>, then a=5 b=6 ... j=14.
constexpr int64_t kPad = 1, kCls = 3, kSep = 4;

class SentencesTest : public zoo::testing::ExampleDataTest {
 protected:
  void SetUp() override {
    ExampleDataTest::SetUp();
    tokenizer_ = char_tokenizer("abcdefghij", {Special::pad, Special::mask, Special::cls, Special::sep});
  }

  SentencesOptions options(const std::vector<std::string>& train, const std::vector<std::string>& valid = {}) {
    SentencesOptions o;
    o.train = train;
    o.valid = valid;
    return o;
  }
  std::shared_ptr<SentencesDataset> make(const SentencesOptions& o, uint64_t seed = 1, int64_t context = 0) {
    return std::make_shared<SentencesDataset>(o, DataContext{tokenizer_, seed, context});
  }

  // Three documents; with max_length 8 (a budget of 6 tokens) they pack into
  // [ab cd] [efg] | [hi j] [abcdef] | [cd], the long line cut.
  std::string documents() { return write("docs.txt", "ab\ncd\nefg\n\nhi\nj\nabcdefghij\n  \t\ncd\n"); }

  // `count` documents of 2 to 5 lines of 2 to 4 letters, drawn from `seed`.
  std::string corpus(const std::string& name, int count, unsigned seed) {
    std::mt19937 rng(seed);
    std::string text;
    for (int d = 0; d < count; ++d) {
      if (d > 0) text += "\n";
      for (unsigned lines = 2 + rng() % 4; lines > 0; --lines) {
        for (unsigned letters = 2 + rng() % 3; letters > 0; --letters) text += static_cast<char>('a' + rng() % 10);
        text += "\n";
      }
    }
    return write(name, text);
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
};

// The real tokens of row b.
Ids row_of(const SentenceBatch& batch, int64_t b) {
  const torch::Tensor row = batch.input[b].masked_select(batch.attention_mask[b]);
  return Ids(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
}

// Whether `part` is ids[begin, begin + part.size()).
bool occurs_at(const Ids& ids, int64_t begin, const Ids& part) {
  return begin + static_cast<int64_t>(part.size()) <= static_cast<int64_t>(ids.size()) &&
         std::equal(part.begin(), part.end(), ids.begin() + begin);
}

// Row b of a next-sentence batch against the chunk `self` of `split` it was made from:
// [CLS] A [SEP] B [SEP] with segments 0 then 1, the masks exact, and for label 0 the chunk
// itself split at a line boundary, for label 1 A a prefix of the chunk and B the start of a
// run of lines of another chunk, the pair within the budget.
void expect_pair(const SentenceBatch& batch, int64_t b, const std::vector<SentenceChunk>& split, size_t self,
                 int64_t budget) {
  SCOPED_TRACE("row " + std::to_string(b) + ", chunk " + std::to_string(self));
  const Ids row = row_of(batch, b);
  const auto length = static_cast<int64_t>(row.size());
  std::vector<int64_t> seps;
  for (int64_t t = 0; t < length; ++t)
    if (row[t] == kSep) seps.push_back(t);
  ASSERT_EQ(seps.size(), 2u);
  ASSERT_EQ(row[0], kCls);
  ASSERT_EQ(seps[1], length - 1);
  const Ids a(row.begin() + 1, row.begin() + seps[0]), second(row.begin() + seps[0] + 1, row.end() - 1);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(second.empty());
  EXPECT_LE(static_cast<int64_t>(a.size() + second.size()), budget);
  const int64_t T = batch.input.size(1);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t segment = t > seps[0] && t < length ? 1 : 0;
    EXPECT_EQ(batch.segment_ids[b][t].item<int64_t>(), segment) << t;
    EXPECT_EQ(batch.attention_mask[b][t].item<bool>(), t < length) << t;
    EXPECT_EQ(batch.special_mask[b][t].item<bool>(), t == 0 || t == seps[0] || t >= length - 1) << t;
    if (t >= length) {
      EXPECT_EQ(batch.input[b][t].item<int64_t>(), kPad) << t;
    }
  }
  const SentenceChunk& chunk = split[self];
  ASSERT_TRUE(occurs_at(chunk.ids, 0, a));
  if (batch.next_sentence[b].item<int64_t>() == 0) {
    Ids both = a;
    both.insert(both.end(), second.begin(), second.end());
    EXPECT_EQ(both, chunk.ids);
    if (chunk.lines() > 1) {
      const auto boundary = static_cast<int64_t>(a.size());
      EXPECT_NE(std::find(chunk.line_starts.begin() + 1, chunk.line_starts.end(), boundary), chunk.line_starts.end());
    }
  } else {
    ASSERT_EQ(batch.next_sentence[b].item<int64_t>(), 1);
    bool found = false;
    for (size_t j = 0; j < split.size() && !found; ++j)
      for (int64_t start : split[j].line_starts) found |= j != self && occurs_at(split[j].ids, start, second);
    EXPECT_TRUE(found) << "B is no run of lines of another chunk";
  }
}

// Input, segments and label of each row: the pairs of a batch as strings.
std::vector<std::string> pairs_of(const SentenceBatch& batch) {
  auto keys = zoo::testing::row_keys(batch.input);
  auto segments = zoo::testing::row_keys(batch.segment_ids);
  for (size_t b = 0; b < keys.size(); ++b)
    keys[b] += "| " + segments[b] + "| " + std::to_string(batch.next_sentence[b].item<int64_t>());
  return keys;
}

// The pairs with the batch's seed.
zoo::testing::RowsOf<SentencesDataset> rows_with_seed() {
  return [](const SentenceBatch& batch) {
    auto keys = pairs_of(batch);
    for (auto& key : keys) key += " | seed " + std::to_string(batch.seed);
    return keys;
  };
}

}  // namespace

TEST_F(SentencesTest, ChunksPackLinesWithinTheBudgetAndNeverCrossABlankLine) {
  auto o = options({documents()}, {write("valid.txt", "ab\n\ncd\n")});
  o.max_length = 8;
  auto data = make(o);
  EXPECT_EQ(data->budget(), 6);
  const auto& chunks = data->train_examples();
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].ids, (Ids{5, 6, 7, 8}));  // ab cd: efg would make 7
  EXPECT_EQ(chunks[0].line_starts, (Ids{0, 2}));
  EXPECT_EQ(chunks[1].ids, (Ids{9, 10, 11}));  // efg: hi would fit, but a document ends
  EXPECT_EQ(chunks[1].line_starts, (Ids{0}));
  EXPECT_EQ(chunks[2].ids, (Ids{12, 13, 14}));  // hi j
  EXPECT_EQ(chunks[2].line_starts, (Ids{0, 2}));
  EXPECT_EQ(chunks[3].ids, (Ids{5, 6, 7, 8, 9, 10}));  // abcdefghij cut to 6
  EXPECT_EQ(chunks[4].ids, (Ids{7, 8}));  // after a line of spaces and a tab
  EXPECT_EQ(take_log(), "data: 1 of 7 train lines longer than 6 tokens were cut\n");
  EXPECT_EQ(data->describe(), "train 5 chunks (18 tokens), valid 2");

  o.next_sentence = true;  // [CLS] A [SEP] B [SEP]: one token less
  auto pairs = make(o);
  EXPECT_EQ(pairs->budget(), 5);
  std::vector<Ids> ids;
  for (const auto& chunk : pairs->train_examples()) ids.push_back(chunk.ids);
  EXPECT_EQ(ids, (std::vector<Ids>{{5, 6, 7, 8}, {9, 10, 11}, {12, 13, 14}, {5, 6, 7, 8, 9}, {7, 8}}));

  o.max_length = 0;  // the model's context
  EXPECT_EQ(make(o, 1, 9)->budget(), 6);
}

TEST_F(SentencesTest, ChunksOfABigCorpusStayWithinTheBudgetAndDocuments) {
  const std::string file = corpus("corpus.txt", 200, 7);
  auto o = options({file});
  o.max_length = 12;
  auto data = make(o);
  // The lines of each document, as the tokenizer encodes them.
  std::vector<std::vector<Ids>> documents(1);
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) documents.emplace_back();
    else documents.back().push_back(tokenizer_->encode(line));
  }
  // Packed greedily, chunk by chunk, in order: train then valid.
  std::vector<SentenceChunk> chunks = data->train_examples();
  chunks.insert(chunks.end(), data->valid_examples().begin(), data->valid_examples().end());
  EXPECT_EQ(data->valid_size(), static_cast<int64_t>(chunks.size() / 20));  // valid_fraction 0.05
  size_t next = 0;
  for (const auto& lines : documents) {
    for (size_t line = 0; line < lines.size();) {
      ASSERT_LT(next, chunks.size());
      const SentenceChunk& chunk = chunks[next++];
      EXPECT_LE(chunk.tokens(), 10);
      for (int64_t start : chunk.line_starts) {
        ASSERT_LT(line, lines.size()) << "chunk " << next - 1 << " runs past its document";
        EXPECT_TRUE(occurs_at(chunk.ids, start, lines[line]));
        ++line;
      }
      // Greedy: the next line of the document would not have fitted.
      if (line < lines.size()) {
        EXPECT_GT(chunk.tokens() + static_cast<int64_t>(lines[line].size()), 10);
      }
    }
  }
  EXPECT_EQ(next, chunks.size());
}

TEST_F(SentencesTest, ClsTextSepRightPaddedWithMasks) {
  const std::string docs = documents();
  auto o = options({docs}, {docs});
  o.max_length = 8;
  auto data = make(o);
  take_log();
  EXPECT_FALSE(data->next_sentence());
  const SentenceBatch batch = data->valid_batch(0, 2);
  EXPECT_TENSOR_EQ(batch.input, matrix({{kCls, 5, 6, 7, 8, kSep}, {kCls, 9, 10, 11, kSep, kPad}}));
  EXPECT_TENSOR_EQ(batch.segment_ids, matrix({{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}}));
  EXPECT_TENSOR_EQ(batch.attention_mask, bools({{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0}}));
  EXPECT_TENSOR_EQ(batch.special_mask, bools({{1, 0, 0, 0, 0, 1}, {1, 0, 0, 0, 1, 1}}));
  EXPECT_FALSE(batch.next_sentence.defined());
  // The last batch holds the fifth chunk only, T its length.
  EXPECT_EQ(batch_count(data->valid_size(), 2), 3);
  EXPECT_TENSOR_EQ(data->valid_batch(2, 2).input, matrix({{kCls, 7, 8, kSep}}));
}

TEST_F(SentencesTest, PairsAreClsASepBSepWithSegmentsAndTrueOrRandomB) {
  auto o = options({corpus("train.txt", 60, 1)}, {corpus("valid.txt", 60, 2)});
  o.max_length = 12;
  o.next_sentence = true;
  auto data = make(o);
  EXPECT_TRUE(data->next_sentence());
  EXPECT_EQ(data->budget(), 9);
  int64_t labels[2] = {0, 0};
  for (int64_t index = 0; index < batch_count(data->valid_size(), 16); ++index) {
    const SentenceBatch batch = data->valid_batch(index, 16);
    ASSERT_TRUE(batch.next_sentence.defined());
    EXPECT_EQ(batch.next_sentence.sizes(), (torch::IntArrayRef{batch.input.size(0)}));
    for (int64_t b = 0; b < batch.input.size(0); ++b) {
      expect_pair(batch, b, data->valid_examples(), static_cast<size_t>(index * 16 + b), data->budget());
      ++labels[batch.next_sentence[b].item<int64_t>()];
    }
  }
  EXPECT_GT(labels[0], 20);
  EXPECT_GT(labels[1], 20);
  // Training batches pair within the train split; the first batch holds the first chunks of
  // epoch 0's permutation.
  const SentenceBatch train = data->next_train_batch(16);
  const auto order = EpochOrder::permutation(data->train_size(), /*seed=*/1, /*epoch=*/0);
  for (int64_t b = 0; b < 16; ++b)
    expect_pair(train, b, data->train_examples(), static_cast<size_t>(order[b]), data->budget());
}

TEST_F(SentencesTest, HalfOfThePairsGetARandomB) {
  auto o = options({corpus("train.txt", 300, 3)}, {corpus("valid.txt", 20, 4)});
  o.max_length = 16;
  o.next_sentence = true;
  auto data = make(o);
  int64_t random = 0, total = 0;
  while (total < 2000) {
    const SentenceBatch batch = data->next_train_batch(100);
    random += batch.next_sentence.sum().item<int64_t>();
    total += batch.next_sentence.size(0);
  }
  EXPECT_GE(random, 900);  // 0.45
  EXPECT_LE(random, 1100);  // 0.55
}

TEST_F(SentencesTest, EpochsVisitEveryChunkOnceInShuffledOrder) {
  // Twelve one-line documents: twelve distinct chunks.
  std::string text;
  for (const char* line : {"ab", "ac", "ad", "ae", "bc", "bd", "be", "cd", "ce", "de", "fg", "hi"})
    text += std::string(line) + "\n\n";
  const std::string train = write("train.txt", text), valid = write("valid.txt", "ab\n");
  auto o = options({train}, {valid});
  o.max_length = 8;
  zoo::testing::expect_shuffled_epochs<SentencesDataset>(
      [&](uint64_t seed) { return make(o, seed); },
      [](const SentenceBatch& batch) { return zoo::testing::row_keys(batch.input); });
}

TEST_F(SentencesTest, ResumesWithTheSameBatchesAndSeeds) {
  auto o = options({corpus("train.txt", 6, 5)}, {corpus("valid.txt", 4, 6)});
  o.max_length = 10;
  o.next_sentence = true;
  zoo::testing::expect_exact_resume<SentencesDataset>([&](uint64_t seed) { return make(o, seed); },
                                                      rows_with_seed());
}

TEST_F(SentencesTest, SeedsDifferEveryBatchAndEveryEpoch) {
  auto o = options({corpus("train.txt", 30, 8)}, {corpus("valid.txt", 4, 9)});
  o.max_length = 10;
  o.next_sentence = true;
  auto data = make(o);
  const int64_t n = data->train_size();
  std::set<uint64_t> seeds;
  std::vector<std::string> epochs[2];
  for (int epoch = 0; epoch < 2; ++epoch) {
    for (int64_t i = 0; i < n; ++i) {
      const SentenceBatch batch = data->next_train_batch(1);
      seeds.insert(batch.seed);
      epochs[epoch].push_back(pairs_of(batch)[0]);
    }
  }
  EXPECT_EQ(data->epoch(), 1);
  EXPECT_EQ(static_cast<int64_t>(seeds.size()), 2 * n);
  // The same chunks, paired anew: other splits and other random Bs.
  std::sort(epochs[0].begin(), epochs[0].end());
  std::sort(epochs[1].begin(), epochs[1].end());
  EXPECT_NE(epochs[0], epochs[1]);
  // The same data seed gives the same seeds, another one others.
  const uint64_t first = make(o)->next_train_batch(4).seed;
  EXPECT_EQ(make(o)->next_train_batch(4).seed, first);
  EXPECT_NE(make(o, 2)->next_train_batch(4).seed, first);
}

TEST_F(SentencesTest, ValidBatchesAreTheSameOnEveryCall) {
  auto o = options({corpus("train.txt", 30, 10)}, {corpus("valid.txt", 30, 11)});
  o.max_length = 10;
  o.next_sentence = true;
  auto data = make(o);
  const SentenceBatch first = data->valid_batch(1, 8);
  data->next_train_batch(8);  // training in between changes nothing
  const SentenceBatch second = data->valid_batch(1, 8);
  EXPECT_EQ(first.seed, second.seed);
  EXPECT_TENSOR_EQ(first.input, second.input);
  EXPECT_TENSOR_EQ(first.segment_ids, second.segment_ids);
  EXPECT_TENSOR_EQ(first.next_sentence, second.next_sentence);
  EXPECT_NE(data->valid_batch(0, 8).seed, first.seed);
  EXPECT_EQ(make(o)->valid_batch(1, 8).seed, first.seed);
}

TEST_F(SentencesTest, HoldsOutTheLastChunksWhenNoValidFile) {
  const std::string docs = documents();
  auto o = options({docs});
  o.max_length = 8;
  o.valid_fraction = 0.4;  // 2 of 5
  auto data = make(o);
  EXPECT_EQ(data->train_size(), 3);
  ASSERT_EQ(data->valid_size(), 2);
  EXPECT_EQ(data->valid_examples()[1].ids, (Ids{7, 8}));
}

TEST_F(SentencesTest, ReadsEveryTrainFileInOrder) {
  const std::string first = write("first.txt", "ab\n"), second = write("second.txt", "cd\nef\n");
  auto o = options({first, second}, {first});
  o.max_length = 8;
  auto data = make(o);
  ASSERT_EQ(data->train_size(), 2);  // a file ends a document
  EXPECT_EQ(data->train_examples()[0].ids, (Ids{5, 6}));
  EXPECT_EQ(data->train_examples()[1].ids, (Ids{7, 8, 9, 10}));
  EXPECT_EQ(o.split_file("train"), first);
  EXPECT_EQ(o.split_files("train"), (std::vector<std::string>{first, second}));
  EXPECT_EQ(o.split_file("test"), "");
}

TEST_F(SentencesTest, RecipeListsOfFilesAreCheckedEach) {
  const std::string a = write("a.txt", "ab\n"), missing = (dir_ / "missing.txt").string();
  const auto read = [](const std::string& train) {
    const std::string yaml = "data:\n  train: " + train + "\n";
    auto doc = zoo::RecipeDocument::load_string(yaml, "r.yaml");
    zoo::Reader reader(doc, doc.root()["data"], "data");
    SentencesOptions o;
    o.visit(reader);
    return o;
  };
  EXPECT_EQ(read("[" + a + ", " + a + "]").train, (std::vector<std::string>{a, a}));
  EXPECT_EQ(read(a).train, (std::vector<std::string>{a}));  // one string is a list of one
  const std::string column = std::to_string(std::string("  train: [" + a + ", ").size() + 1);
  EXPECT_EQ(user_error([&] { read("[" + a + ", " + missing + "]"); }),
            "r.yaml:2:" + column + ": data.train[1]: file not found: " + missing +
                " (relative paths start from the current directory)");
  EXPECT_EQ(user_error([&] { read("[" + a + ", data/nowhere/b.txt]"); }),
            "r.yaml:2:" + column + ": data.train[1]: file not found: data/nowhere/b.txt (corpora are fetched with "
                                   "scripts/fetch_data.sh NAME)");
  EXPECT_EQ(user_error([&] { read(missing); }), "r.yaml:2:10: data.train: file not found: " + missing +
                                                    " (relative paths start from the current directory)");
  EXPECT_EQ(user_error([&] { read("[]"); }), "r.yaml:2:10: data.train: expected at least one value, got none");
  EXPECT_EQ(user_error([&] { read("\n  valid: []"); }), "r.yaml:2:3: data: missing required key 'train'");
}

TEST_F(SentencesTest, NeedsClsSepAndPadAndRoomForText) {
  auto o = options({documents()});
  o.max_length = 8;
  tokenizer_ = char_tokenizer("abcdefghij", {Special::pad, Special::mask, Special::sep});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data type sentences needs a <cls> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[cls, ...]");
  tokenizer_ = char_tokenizer("abcdefghij", {Special::pad, Special::cls});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data type sentences needs a <sep> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[sep, ...]");
  tokenizer_ = char_tokenizer("abcdefghij", {Special::cls, Special::sep});
  EXPECT_EQ(user_error([&] { make(o); }),
            "data type sentences needs a <pad> token, but the char tokenizer has none; add it with "
            "tokenizer.special_tokens=[pad, ...]");
  tokenizer_ = char_tokenizer("abcdefghij", {Special::pad, Special::mask, Special::cls, Special::sep});
  o.max_length = 7;
  EXPECT_EQ(user_error([&] { make(o); }),
            "data.max_length: examples of 7 tokens leave too little room beside [CLS] and [SEP]; set "
            "data.max_length to 8 or more");
  o.max_length = 0;
  EXPECT_EQ(user_error([&] { make(o, 1, 6); }),
            "data.max_length: examples of 6 tokens (the model's context) leave too little room beside [CLS] and "
            "[SEP]; set data.max_length to 8 or more");
  EXPECT_EQ(user_error([&] { make(o, 1, 0); }),
            "data.max_length: the model gives no context length to default to; set data.max_length (8 or more)");
}

TEST_F(SentencesTest, FileErrors) {
  auto o = options({documents(), write("empty.txt", "\n  \n")});
  o.max_length = 8;
  EXPECT_EQ(user_error([&] { make(o); }),
            (dir_ / "empty.txt").string() +
                ": no examples; write one sentence (or paragraph) a line, a blank line between documents");
  const std::string bad = write("bad.txt", "ab\nc\xE0\n");
  o.train = {bad};
  EXPECT_EQ(user_error([&] { make(o); }).rfind(bad + ":2: invalid UTF-8 byte 0xE0", 0), 0u);
  o.on_invalid_utf8 = "replace";
  o.valid = {documents()};
  EXPECT_EQ(make(o)->train_examples()[0].ids, (Ids{5, 6, 7, 0}));
  take_log();
  // Pairs need another chunk to draw a random B from.
  o = options({write("one.txt", "abc\n")});
  o.max_length = 8;
  o.next_sentence = true;
  o.valid = {write("valid.txt", "ab\n\ncd\n")};
  EXPECT_EQ(user_error([&] { make(o); }),
            (dir_ / "one.txt").string() +
                ": data.next_sentence takes a random B from another chunk of the train split, which has 1; add text");
}

TEST_F(SentencesTest, TokenizersLearnFromEveryTrainFile) {
  const char* previous = std::getenv("ZOO_CACHE_DIR");
  const std::string saved = previous ? previous : "";
  ::setenv("ZOO_CACHE_DIR", (dir_ / "cache").c_str(), 1);
  auto o = std::make_shared<SentencesOptions>(
      options({write("one.txt", "ab cd\n\nef\n"), write("two.txt", "gh\nij\n")}, {write("v.txt", "ba\n")}));
  const std::string both = tokenizer_training_file(zoo::Component{"sentences", o}, "data.train");
  const std::string valid = tokenizer_training_file(zoo::Component{"sentences", o}, "data.valid");
  std::ostringstream text, valid_text;
  text << std::ifstream(both).rdbuf();
  valid_text << std::ifstream(valid).rdbuf();
  EXPECT_EQ(text.str(), "ab cd\nef\ngh\nij\n");  // blank lines carry nothing to learn
  EXPECT_EQ(valid_text.str(), "ba\n");
  EXPECT_NE(both, valid);
  EXPECT_EQ(both.rfind((dir_ / "cache" / "texts").string(), 0), 0u);
  // Another order of the same files is another text.
  std::swap(o->train[0], o->train[1]);
  EXPECT_NE(tokenizer_training_file(zoo::Component{"sentences", o}, "data.train"), both);
  if (previous) ::setenv("ZOO_CACHE_DIR", saved.c_str(), 1);
  else ::unsetenv("ZOO_CACHE_DIR");
}

TEST_F(SentencesTest, BuiltByTheFactory) {
  register_datasets();
  auto o = std::make_shared<SentencesOptions>(options({documents()}, {write("v.txt", "ab\n")}));
  o->max_length = 8;
  auto data = datasets().build(zoo::Component{"sentences", o}, DataContext{tokenizer_, 1, 0});
  auto sentences = data_as<SentencesDataset>(data, "sentences", "mlm", "sentences");
  EXPECT_EQ(sentences->train_size(), 5);
}
