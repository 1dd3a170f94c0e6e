// Char tokenizer: exact round trips over multi-byte UTF-8, save/load, invalid UTF-8 errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>

#include "tests/support/user_error.h"
#include "core/error.h"
#include "tokenizers/char.h"
#include "tokenizers/tokenizer.h"

namespace fs = std::filesystem;
using zoo::UserError;
using zoo::tokenizers::CharTokenizer;

namespace {

// "é" (2 bytes), "—" and "日本" (3 bytes), "🙂" (4 bytes), newline, tab.
const std::string kText = "Héllo wörld — 日本語!\n\tsmile 🙂 again\n";

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("zoo_test_char_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path.string();
}

std::string error_of(const std::function<void()>& f) { return zoo::testing::user_error_of(f); }

}  // namespace

TEST(CharTokenizer, OneTokenPerCodePoint) {
  auto tok = CharTokenizer::fit(kText, "mem");
  // 34 code points, 24 distinct: \t \n space ! H a d e g i l m n o r s w é ö — 日 本 語 🙂
  EXPECT_EQ(tok->vocab_size(), 24 + 1);
  EXPECT_EQ(tok->encode(kText).size(), 34u);
  EXPECT_EQ(tok->encode("🙂").size(), 1u);
  EXPECT_EQ(tok->encode("日本").size(), 2u);
  // Ids follow code point order, after <unk> = 0.
  EXPECT_EQ(tok->encode("\t"), std::vector<int64_t>{1});
  EXPECT_EQ(tok->encode("🙂"), std::vector<int64_t>{24});
  EXPECT_LT(tok->encode("a")[0], tok->encode("g")[0]);
}

TEST(CharTokenizer, RoundTripIsExact) {
  auto tok = CharTokenizer::fit(kText, "mem");
  EXPECT_EQ(tok->decode(tok->encode(kText)), kText);
  const std::string reordered = "日本 🙂 wörld—Hé\n";
  EXPECT_EQ(tok->decode(tok->encode(reordered)), reordered);
}

TEST(CharTokenizer, UnknownIsZeroAndDecodesToReplacementCharacter) {
  auto tok = CharTokenizer::fit(kText, "mem");
  EXPECT_EQ(tok->encode("xé€"), (std::vector<int64_t>{0, tok->encode("é")[0], 0}));
  EXPECT_EQ(tok->decode({0}), "\xEF\xBF\xBD");              // U+FFFD
  EXPECT_EQ(tok->decode({tok->vocab_size()}), "\xEF\xBF\xBD");  // out of range
  // Bytes that are not UTF-8 encode to unknown, one id per bad byte.
  EXPECT_EQ(tok->encode("a\xFF" "a").size(), 3u);
  EXPECT_EQ(tok->encode("a\xFF" "a")[1], 0);
}

TEST(CharTokenizer, SaveLoadGivesIdenticalIds) {
  fs::path dir = temp_dir("save");
  auto tok = CharTokenizer::fit_file(write_file(dir / "train.txt", kText));
  fs::create_directories(dir / "tok");
  tok->save((dir / "tok").string());
  auto loaded = zoo::tokenizers::load_tokenizer((dir / "tok").string());
  EXPECT_EQ(loaded->type(), "char");
  EXPECT_EQ(loaded->vocab_size(), tok->vocab_size());
  const std::string probe = kText + "unseen € and 🙂";
  EXPECT_EQ(loaded->encode(probe), tok->encode(probe));
  EXPECT_EQ(loaded->decode(loaded->encode(kText)), kText);
  fs::remove_all(dir);
}

TEST(CharTokenizer, InvalidUtf8NamesFileAndLine) {
  fs::path dir = temp_dir("bad");
  const std::string file = write_file(dir / "bad.txt", "fine\nalso fine\nbad \xFF here\n");
  EXPECT_EQ(error_of([&] { CharTokenizer::fit_file(file); }),
            file + ":3: invalid UTF-8 byte 0xFF (byte 5 of the line); "
                   "re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)");
  // Overlong "/", a UTF-16 surrogate, a truncated sequence at the end, a stray continuation.
  for (const std::string bad : {"\xC0\xAF", "\xED\xA0\x80", "ok\xE6\x97", "\x80"}) {
    EXPECT_NE(error_of([&] { CharTokenizer::fit(bad, "t.txt"); }).find("t.txt:1: invalid UTF-8 byte"),
              std::string::npos)
        << bad;
  }
  fs::remove_all(dir);
}

TEST(CharTokenizer, UserErrorsForMissingEmptyAndDamagedFiles) {
  fs::path dir = temp_dir("errors");
  EXPECT_NE(error_of([&] { CharTokenizer::fit_file((dir / "nope.txt").string()); }).find("nope.txt: cannot open"),
            std::string::npos);
  const std::string empty = write_file(dir / "empty.txt", "");
  EXPECT_EQ(error_of([&] { CharTokenizer::fit_file(empty); }).rfind(empty + ": empty file", 0), 0u);
  write_file(dir / "tokenizer.json", "{\"type\": \"char\", \"chars\": [\"ab\"]}");
  EXPECT_NE(error_of([&] { zoo::tokenizers::load_tokenizer(dir.string()); }).find("is not one character"),
            std::string::npos);
  write_file(dir / "tokenizer.json", "{\"type\": \"klingon\"}");
  EXPECT_NE(error_of([&] { zoo::tokenizers::load_tokenizer(dir.string()); }).find("unknown tokenizer type 'klingon'"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(CharTokenizer, BuiltByTheFactory) {
  zoo::tokenizers::register_tokenizers();
  fs::path dir = temp_dir("factory");
  const std::string file = write_file(dir / "train.txt", kText);
  zoo::Component component{"char", std::make_shared<zoo::tokenizers::CharOptions>()};
  auto tok = zoo::tokenizers::tokenizers().build(component, file);
  EXPECT_EQ(tok->type(), "char");
  EXPECT_EQ(tok->decode(tok->encode(kText)), kText);
  EXPECT_THROW(zoo::tokenizers::tokenizers().build(component, ""), UserError);
  fs::remove_all(dir);
}
