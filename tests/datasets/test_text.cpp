// The text data type: window shapes and contents against the raw token stream, seeded
// determinism, exact resume from state(), fixed validation windows, user errors.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "tests/support/user_error.h"
#include "core/error.h"
#include "core/files.h"
#include "datasets/dataset.h"
#include "datasets/text.h"
#include "tokenizers/char.h"

namespace fs = std::filesystem;
using namespace zoo::datasets;
using zoo::UserError;

namespace {

constexpr int64_t kBlock = 16;

class TextDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_datasets();
    dir_ = fs::temp_directory_path() / ("zoo_test_text_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Random words over a small alphabet with multi-byte characters: windows are unique.
    std::mt19937 rng(7);
    const std::vector<std::string> letters = {"a", "b", "c", "d", "é", "ж", "日", "🙂"};
    std::string text;
    while (text.size() < 6000) {
      for (int i = 0, n = 1 + rng() % 8; i < n; ++i) text += letters[rng() % letters.size()];
      text += rng() % 10 == 0 ? "\n" : " ";
    }
    train_file_ = write("train.txt", text);
    tokenizer_ = zoo::tokenizers::CharTokenizer::fit(text, train_file_);
    auto ids = tokenizer_->encode(text);
    stream_ = torch::tensor(ids, torch::kInt64);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  }

  std::shared_ptr<LMDataset> make(uint64_t seed = 1, std::string valid = "", int64_t block = kBlock,
                                  std::string train = "") {
    auto options = std::make_shared<TextOptions>();
    options->train = train.empty() ? train_file_ : train;
    options->valid = valid;
    options->block_size = block;
    return std::dynamic_pointer_cast<LMDataset>(datasets().build(zoo::Component{"text", options}, DataContext{tokenizer_, seed}));
  }

  // Whether `window` (T+1) occurs in stream[begin, end) at some start.
  static bool occurs_in(const torch::Tensor& window, const torch::Tensor& stream, int64_t begin, int64_t end) {
    torch::Tensor all = stream.slice(0, begin, end).unfold(0, window.numel(), 1);  // (starts, T+1)
    return all.eq(window.unsqueeze(0)).all(1).any().item<bool>();
  }

  fs::path dir_;
  std::string train_file_;
  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_;
  torch::Tensor stream_;  // the whole train file's tokens
};

std::string error_of(const std::function<void()>& f) { return zoo::testing::user_error_of(f); }

void expect_same(const LMBatch& a, const LMBatch& b) {
  EXPECT_TRUE(torch::equal(a.input, b.input));
  EXPECT_TRUE(torch::equal(a.target, b.target));
}

}  // namespace

TEST_F(TextDatasetTest, SplitsTheLastTenthForValidation) {
  auto data = make();
  const int64_t n = stream_.numel();
  EXPECT_EQ(data->valid_tokens(), n / 10);
  EXPECT_EQ(data->train_tokens() + data->valid_tokens(), n);
  EXPECT_EQ(data->block_size(), kBlock);
}

TEST_F(TextDatasetTest, TrainWindowsAreShiftedSlicesOfTheTrainSplit) {
  auto data = make();
  LMBatch batch = data->next_train_batch(8);
  ASSERT_EQ(batch.input.sizes(), (std::vector<int64_t>{8, kBlock}));
  ASSERT_EQ(batch.target.sizes(), (std::vector<int64_t>{8, kBlock}));
  EXPECT_EQ(batch.input.scalar_type(), torch::kInt64);
  EXPECT_EQ(batch.target.scalar_type(), torch::kInt64);
  for (int b = 0; b < 3; ++b, batch = data->next_train_batch(8)) {
    EXPECT_TRUE(torch::equal(batch.input.slice(1, 1), batch.target.slice(1, 0, kBlock - 1)));
    for (int64_t row = 0; row < 8; ++row) {
      torch::Tensor window = torch::cat({batch.input[row], batch.target[row].slice(0, kBlock - 1)});
      EXPECT_TRUE(occurs_in(window, stream_, 0, data->train_tokens())) << "row " << row;
    }
  }
}

TEST_F(TextDatasetTest, StartsCoverTheWholeTrainRange) {
  // With a tiny stream every start in [0, n-T-1] must be drawn, and none beyond.
  const std::string file = write("tiny.txt", "abcdefghij");  // 10 tokens, 10% to valid: 9 train
  auto data = make(3, write("tiny_valid.txt", "abcdefg"), 4, file);
  std::set<int64_t> firsts;
  for (int i = 0; i < 50; ++i) {
    LMBatch batch = data->next_train_batch(4);
    for (int64_t row = 0; row < 4; ++row) firsts.insert(batch.input[row][0].item<int64_t>());
  }
  // Starts 0..5 of "abcdefghij" (block 4 needs 5 tokens): first tokens a..f.
  std::set<int64_t> expected;
  for (char c = 'a'; c <= 'f'; ++c) expected.insert(tokenizer_->encode(std::string(1, c))[0]);
  EXPECT_EQ(firsts, expected);
}

TEST_F(TextDatasetTest, SameSeedSameBatchesOtherSeedOthers) {
  auto a = make(42), b = make(42), c = make(43);
  for (int i = 0; i < 3; ++i) {
    LMBatch x = a->next_train_batch(4), y = b->next_train_batch(4), z = c->next_train_batch(4);
    expect_same(x, y);
    EXPECT_FALSE(torch::equal(x.input, z.input));
  }
}

TEST_F(TextDatasetTest, LoadStateResumesExactly) {
  auto data = make(5);
  for (int i = 0; i < 3; ++i) data->next_train_batch(4);
  const std::string state = data->state();
  std::vector<LMBatch> expected;
  for (int i = 0; i < 3; ++i) expected.push_back(data->next_train_batch(4 + i));

  auto resumed = make(999);  // another seed: the state must override it
  resumed->load_state(state);
  for (int i = 0; i < 3; ++i) expect_same(resumed->next_train_batch(4 + i), expected[i]);
  data->load_state(state);  // rewinding the same object works too
  expect_same(data->next_train_batch(4), expected[0]);
}

TEST_F(TextDatasetTest, LoadStateRejectsForeignOrDamagedStates) {
  auto data = make();
  EXPECT_NE(error_of([&] { data->load_state("not json"); }).find("data position in the checkpoint"),
            std::string::npos);
  EXPECT_NE(error_of([&] { data->load_state("{\"type\": \"pairs\"}"); }).find("not the state of a text dataset"),
            std::string::npos);
  // The same state over a different amount of training data cannot resume exactly.
  auto other = make(1, write("v.txt", std::string(100, 'a')));
  EXPECT_NE(error_of([&] { other->load_state(data->state()); }).find("training tokens"), std::string::npos);
}

TEST_F(TextDatasetTest, ValidBatchesAreFixedNonOverlappingWindowsOfTheValidSplit) {
  auto data = make();
  LMBatch first = data->valid_batch(1, 4);
  for (int i = 0; i < 5; ++i) data->next_train_batch(4);
  expect_same(data->valid_batch(1, 4), first);
  expect_same(make(77)->valid_batch(1, 4), first);
  ASSERT_EQ(first.input.sizes(), (std::vector<int64_t>{4, kBlock}));
  // Batch 1 of size 4 holds windows 4..7: valid stream tokens [4T, 8T] in order.
  const int64_t valid_begin = data->train_tokens();
  for (int64_t row = 0; row < 4; ++row) {
    const int64_t start = valid_begin + (4 + row) * kBlock;
    EXPECT_TRUE(torch::equal(first.input[row], stream_.slice(0, start, start + kBlock)));
    EXPECT_TRUE(torch::equal(first.target[row], stream_.slice(0, start + 1, start + kBlock + 1)));
  }
  // Indexes past the end wrap around to the first windows.
  const int64_t windows = (data->valid_tokens() - 1) / kBlock;
  expect_same(data->valid_batch(windows, 1), data->valid_batch(0, 1));
}

TEST_F(TextDatasetTest, SeparateValidFile) {
  const std::string valid = "日ж abc 🙂 ébé\n" + std::string(40, 'd');
  auto data = make(1, write("valid.txt", valid));
  EXPECT_EQ(data->train_tokens(), stream_.numel());
  EXPECT_EQ(data->valid_tokens(), static_cast<int64_t>(tokenizer_->encode(valid).size()));
  torch::Tensor first = data->valid_batch(0, 1).input[0];
  EXPECT_EQ(tokenizer_->decode(std::vector<int64_t>(first.data_ptr<int64_t>(), first.data_ptr<int64_t>() + kBlock)),
            "日ж abc 🙂 ébé\nddd");  // 13 characters, then 3 of the d's
}

TEST_F(TextDatasetTest, UserErrorsNameTheFileAndTheFix) {
  const std::string tiny = write("tiny.txt", "abcdefgh");
  EXPECT_EQ(error_of([&] { make(1, "", kBlock, tiny); }),
            tiny + " (less its last data.valid_fraction) has 8 tokens, fewer than data.block_size + 2 = 18; "
                   "use more text or lower data.block_size");
  const std::string empty = write("empty.txt", "");
  EXPECT_EQ(error_of([&] { make(1, empty); }),
            empty + ": empty file; the text data type needs text to read");
  // Enough for training, but its last tenth is too short for one validation window.
  const std::string small = write("small.txt", std::string(100, 'a'));
  EXPECT_NE(error_of([&] { make(1, "", kBlock, small); }).find(small + ": its last data.valid_fraction"),
            std::string::npos);
  const std::string bad = write("bad.txt", "ok\n\xC3(\n");
  EXPECT_EQ(error_of([&] { make(1, bad); }).rfind(bad + ":2: invalid UTF-8 byte 0xC3", 0), 0u);
}

TEST_F(TextDatasetTest, TokenizersLearnFromTheSplitTrainOnNames) {
  auto options = std::make_shared<TextOptions>();
  options->train = train_file_;
  options->valid = write("valid.txt", "valid text\n");
  EXPECT_EQ(tokenizer_training_file(zoo::Component{"text", options}, "data.train"), train_file_);
  EXPECT_EQ(tokenizer_training_file(zoo::Component{"text", options}, "data.valid"), options->valid);
  EXPECT_EQ(tokenizer_training_file(zoo::Component{"text", options}, options->valid), options->valid);
  EXPECT_NE(error_of([&] { tokenizer_training_file(zoo::Component{"text", options}, "data.test"); })
                .find("has no file at 'data.test'"),
            std::string::npos);
}

TEST_F(TextDatasetTest, TokenFileIsMemoryMappedAndGivesTheSameBatches) {
  auto in_memory = make(5);
  const std::string path = write_token_file(train_file_, *tokenizer_);
  EXPECT_EQ(path, token_file_path(train_file_, zoo::tokenizers::fingerprint(*tokenizer_)));
  // Header (64 bytes) + 2 bytes a token: the vocabulary fits in uint16.
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(path)), 64 + 2 * stream_.numel());
  TokenStream mapped = TokenStream::map_file(path);
  ASSERT_EQ(mapped.size(), stream_.numel());
  for (int64_t i = 0; i < mapped.size(); i += 97) EXPECT_EQ(mapped.at(i), stream_[i].item<int64_t>()) << i;

  auto from_file = make(5);  // finds the token file beside the text
  for (int step = 0; step < 3; ++step) {
    auto a = in_memory->next_train_batch(4), b = from_file->next_train_batch(4);
    EXPECT_TRUE(torch::equal(a.input, b.input));
    EXPECT_TRUE(torch::equal(a.target, b.target));
  }
  EXPECT_TRUE(torch::equal(in_memory->valid_batch(1, 4).input, from_file->valid_batch(1, 4).input));
}

TEST_F(TextDatasetTest, StaleOrDamagedTokenFiles) {
  const std::string path = write_token_file(train_file_, *tokenizer_);
  // A token file made from an earlier version of the text is not used.
  const std::string original = zoo::read_file(train_file_);
  write("train.txt", original + "more");
  TokenStream stream;
  EXPECT_FALSE(open_token_file(train_file_, zoo::tokenizers::fingerprint(*tokenizer_), stream));
  write("train.txt", original);
  EXPECT_TRUE(open_token_file(train_file_, zoo::tokenizers::fingerprint(*tokenizer_), stream));
  // A truncated or foreign file is an error that says how to fix it.
  fs::resize_file(path, fs::file_size(path) - 3);
  EXPECT_EQ(error_of([&] { TokenStream::map_file(path); }).rfind(path + ": holds ", 0), 0u);
  const std::string foreign = write("foreign.tokens", std::string(80, 'x'));
  EXPECT_EQ(error_of([&] { TokenStream::map_file(foreign); }),
            foreign + ": not a token file (bad magic); delete it and write it again with `zoo data tokenize`");
}

TEST_F(TextDatasetTest, WideVocabulariesUseFourBytesATokenAndSlicesShareStorage) {
  std::vector<int64_t> ids = {0, 65535, 65536, 1 << 20, 7};
  TokenStream wide = TokenStream::from_ids(ids, (1 << 20) + 1);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(wide.at(static_cast<int64_t>(i)), ids[i]);
  TokenStream tail = wide.slice(2, 5);
  EXPECT_EQ(tail.size(), 3);
  EXPECT_EQ(tail.at(0), 65536);
  std::vector<int64_t> out(4);
  const int64_t starts[] = {0, 1};
  tail.gather(starts, 2, 2, out.data());
  EXPECT_EQ(out, (std::vector<int64_t>{65536, 1 << 20, 1 << 20, 7}));
}

TEST_F(TextDatasetTest, InvalidUtf8IsReplacedWhenAsked) {
  const std::string bad = write("bad_train.txt", zoo::read_file(train_file_) + "\xC3(\n");
  EXPECT_EQ(error_of([&] { make(1, "", kBlock, bad); }).rfind(bad + ":", 0), 0u);
  auto options = std::make_shared<TextOptions>();
  options->train = bad;
  options->on_invalid_utf8 = "replace";
  auto data = datasets().build(zoo::Component{"text", options}, DataContext{tokenizer_, 1});
  auto text = std::dynamic_pointer_cast<LMDataset>(data);
  // The bad byte became one <unk> (U+FFFD is not in the vocabulary); "(" and "\n" follow.
  EXPECT_EQ(text->train_tokens() + text->valid_tokens(), stream_.numel() + 3);
}
