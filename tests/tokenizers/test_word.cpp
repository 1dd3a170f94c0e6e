// Word tokenizer: the split rule, frequency-ranked vocabulary with min_count / max_vocab,
// special tokens, decode spacing, save/load, and the errors a user can meet.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/support/user_error.h"
#include "tokenizers/char.h"
#include "tokenizers/word.h"

namespace fs = std::filesystem;
using namespace zoo::tokenizers;

namespace {

class WordTokenizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("zoo_test_word_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  }

  std::shared_ptr<WordTokenizer> fit(const std::string& text, WordOptions options = {}) {
    return WordTokenizer::fit_file(write("train.txt", text), options);
  }

  fs::path dir_;
};

std::vector<std::string> strings(const std::vector<std::string_view>& views) {
  return {views.begin(), views.end()};
}

}  // namespace

TEST(SplitWords, WordsPunctuationAndInnerApostrophes) {
  EXPECT_EQ(strings(split_words("Don't stop, Mr. O'Neil -- it's 1960s' \"naïve\" café!")),
            (std::vector<std::string>{"Don't", "stop", ",", "Mr", ".", "O'Neil", "-", "-", "it's", "1960s", "'",
                                      "\"", "naïve", "\"", "café", "!"}));
  EXPECT_EQ(strings(split_words("  \t\n ")), std::vector<std::string>{});
  EXPECT_EQ(strings(split_words("a\u2014b")), (std::vector<std::string>{"a", "\u2014", "b"}));  // em dash
}

TEST_F(WordTokenizerTest, VocabularyIsRankedByCountThenBytes) {
  auto tokenizer = fit("the cat . the dog . the cat sat");
  // the:3, cat:2, .:2 -> ties in byte order ('.' < 'cat'), then dog, sat.
  EXPECT_EQ(tokenizer->vocab_size(), 1 + 5);
  EXPECT_EQ(tokenizer->id_to_piece(0), "<unk>");
  EXPECT_EQ(tokenizer->id_to_piece(1), "the");
  EXPECT_EQ(tokenizer->id_to_piece(2), ".");
  EXPECT_EQ(tokenizer->id_to_piece(3), "cat");
  EXPECT_EQ(tokenizer->id_to_piece(4), "dog");
  EXPECT_EQ(tokenizer->id_to_piece(5), "sat");
  EXPECT_EQ(tokenizer->encode("the cat ate"), (std::vector<int64_t>{1, 3, 0}));
  EXPECT_EQ(tokenizer->special_id(Special::unk), 0);
  EXPECT_EQ(tokenizer->special_id(Special::pad), -1);
}

TEST_F(WordTokenizerTest, MinCountAndMaxVocabLimitTheVocabulary) {
  WordOptions options;
  options.min_count = 2;
  EXPECT_EQ(fit("a a b b b c", options)->vocab_size(), 3);  // unk, b, a
  options.min_count = 1;
  options.max_vocab = 1;
  auto top = fit("a a b b b c", options);
  EXPECT_EQ(top->vocab_size(), 2);
  EXPECT_EQ(top->encode("a b c"), (std::vector<int64_t>{0, 1, 0}));
}

TEST_F(WordTokenizerTest, SpecialTokensComeAfterUnknownInTheOrderListed) {
  WordOptions options;
  options.special_tokens = {"pad", "bos", "eos"};
  auto tokenizer = fit("hello world", options);
  EXPECT_EQ(tokenizer->special_id(Special::pad), 1);
  EXPECT_EQ(tokenizer->special_id(Special::bos), 2);
  EXPECT_EQ(tokenizer->special_id(Special::eos), 3);
  EXPECT_EQ(tokenizer->special_id(Special::mask), -1);
  EXPECT_EQ(tokenizer->id_to_piece(3), "</s>");
  EXPECT_EQ(tokenizer->vocab_size(), 6);
  // Specials other than unk are not text.
  EXPECT_EQ(tokenizer->decode({2, 4, 5, 3, 1, 1}), "hello world");
  EXPECT_EQ(tokenizer->require_special(Special::eos, "data pairs"), 3);
  EXPECT_EQ(zoo::testing::user_error_of([&] { tokenizer->require_special(Special::mask, "trainer mlm"); }),
            "trainer mlm needs a <mask> token, but the word tokenizer has none; add it with "
            "tokenizer.special_tokens=[mask, ...]");
}

TEST_F(WordTokenizerTest, DecodeSpacesWordsButNotPunctuation) {
  const std::string text = "He said ( quietly ) : it's fine, isn't it? Yes.";
  auto tokenizer = fit(text);
  EXPECT_EQ(tokenizer->decode(tokenizer->encode(text)), "He said (quietly): it's fine, isn't it? Yes.");
}

TEST_F(WordTokenizerTest, LowercaseFoldsAsciiLetters) {
  WordOptions options;
  options.lowercase = true;
  auto tokenizer = fit("The THE the", options);
  EXPECT_EQ(tokenizer->vocab_size(), 2);
  EXPECT_EQ(tokenizer->encode("tHe"), (std::vector<int64_t>{1}));
}

TEST_F(WordTokenizerTest, SaveLoadGivesTheSameIds) {
  WordOptions options;
  options.special_tokens = {"mask", "cls", "sep"};
  options.lowercase = true;
  const std::string text = "Naïve café owners sell 42 crêpes; don't they?";
  auto tokenizer = fit(text, options);
  fs::create_directories(dir_ / "saved");
  tokenizer->save((dir_ / "saved").string());
  auto loaded = load_tokenizer((dir_ / "saved").string());
  EXPECT_EQ(loaded->type(), "word");
  EXPECT_EQ(loaded->vocab_size(), tokenizer->vocab_size());
  EXPECT_EQ(loaded->encode(text), tokenizer->encode(text));
  EXPECT_EQ(loaded->special_id(Special::sep), 3);
  EXPECT_EQ(fingerprint(*loaded), fingerprint(*tokenizer));
  EXPECT_NE(fingerprint(*loaded), fingerprint(*fit("other words")));
}

TEST_F(WordTokenizerTest, EncodeBatchEqualsEncodeOneByOne) {
  std::vector<std::string> lines;
  for (int i = 0; i < 500; ++i) lines.push_back("line " + std::to_string(i % 37) + " of the text, again.");
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  auto tokenizer = fit(text);
  const auto batch = tokenizer->encode_batch(lines);
  ASSERT_EQ(batch.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(batch[i], tokenizer->encode(lines[i])) << i;
}

TEST_F(WordTokenizerTest, UserErrors) {
  using zoo::testing::user_error_of;
  const std::string empty = write("empty.txt", " \n\t");
  EXPECT_EQ(user_error_of([&] { WordTokenizer::fit_file(empty, {}); }),
            empty + ": no words in the file; the word tokenizer learns its vocabulary from the training text");
  const std::string bad = write("bad.txt", "fine\nbad \xFF byte\n");
  EXPECT_EQ(user_error_of([&] { WordTokenizer::fit_file(bad, {}); }).rfind(bad + ":2: invalid UTF-8 byte 0xFF", 0), 0u);
  WordOptions options;
  options.special_tokens = {"padd"};
  EXPECT_EQ(user_error_of([&] { fit("x", options); }),
            "tokenizer.special_tokens: unknown special token 'padd' (did you mean 'pad'?); choose from pad, bos, "
            "eos, mask, cls, sep (unk always exists)");
  options.special_tokens = {"eos", "eos"};
  EXPECT_EQ(user_error_of([&] { fit("x", options); }), "tokenizer.special_tokens: special token 'eos' is listed twice");

  // A missing or corrupt saved tokenizer names the file.
  const fs::path missing = dir_ / "missing";
  EXPECT_EQ(user_error_of([&] { load_tokenizer(missing.string()); }).rfind((missing / kTokenizerFile).string() + ":", 0), 0u);
  fs::create_directories(dir_ / "corrupt");
  write("corrupt/tokenizer.json", "{\"type\": \"word\", \"words\": [\"a\", 7]}");
  EXPECT_NE(user_error_of([&] { load_tokenizer((dir_ / "corrupt").string()); }).find("malformed"), std::string::npos);
  write("corrupt/tokenizer.json", "{\"type\": \"word\", \"words\": [\"a\", \"a\"]}");
  EXPECT_NE(user_error_of([&] { load_tokenizer((dir_ / "corrupt").string()); }).find("holds a word twice"),
            std::string::npos);
  write("corrupt/tokenizer.json", "not json");
  EXPECT_NE(user_error_of([&] { load_tokenizer((dir_ / "corrupt").string()); }).find("not a saved tokenizer"),
            std::string::npos);
}

TEST_F(WordTokenizerTest, CharTokenizerSpecialsShiftTheCharacters) {
  auto tokenizer = CharTokenizer::fit("ab", "text", {Special::pad, Special::eos});
  EXPECT_EQ(tokenizer->vocab_size(), 5);
  EXPECT_EQ(tokenizer->special_id(Special::pad), 1);
  EXPECT_EQ(tokenizer->special_id(Special::eos), 2);
  EXPECT_EQ(tokenizer->encode("ba?"), (std::vector<int64_t>{4, 3, 0}));
  EXPECT_EQ(tokenizer->decode({1, 3, 4, 2, 0}), "ab\uFFFD");
  EXPECT_EQ(tokenizer->id_to_piece(1), "<pad>");
  EXPECT_EQ(tokenizer->id_to_piece(3), "a");
  fs::create_directories(dir_ / "char");
  tokenizer->save((dir_ / "char").string());
  auto loaded = load_tokenizer((dir_ / "char").string());
  EXPECT_EQ(loaded->encode("ba?"), tokenizer->encode("ba?"));
  EXPECT_EQ(loaded->special_id(Special::eos), 2);
}
