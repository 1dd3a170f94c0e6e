// SentencePiece tokenizer: training (bpe, unigram) to the requested size, exact round trips,
// special ids, batch = one by one, save/load, byte fallback, the training cache, the errors a
// user can meet, and ids identical to Python's sentencepiece on the same model.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "tests/support/user_error.h"
#include "tokenizers/sentencepiece.h"

namespace fs = std::filesystem;
using namespace zoo::tokenizers;
using zoo::testing::user_error_of;

namespace {

const char* const kWords[] = {
    "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as", "his", "on", "be",
    "at", "by", "had", "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her",
    "all", "she", "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "no",
    "if", "out", "so", "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other",
    "new", "some", "could", "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such",
    "like", "our", "over", "man", "me", "even", "most", "made", "after", "also", "did", "many", "before",
    "must", "through", "back", "years", "where", "much", "your", "way", "well", "down", "should", "because",
    "each", "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world",
    "still", "own", "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under",
    "never", "day", "same", "another", "know", "while", "last", "might", "us", "great", "old", "year", "off",
    "come", "since", "against", "go", "came", "right", "used", "take", "three", "jury", "county", "election",
    "quickly", "brown", "fox", "jumps", "lazy", "dog", "zebra", "xylophone", "quartz", "vexing", "jackdaws"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

// English-like lines: 4 to 13 words from kWords, the first capitalised, commas here and there,
// ending in . ? or !; the same lines for the same seed on every platform.
std::vector<std::string> make_lines(int count, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    std::string line;
    const int words = 4 + static_cast<int>(rng() % 10);
    for (int w = 0; w < words; ++w) {
      std::string word = kWords[rng() % kNumWords];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      line += (w ? " " : "") + word;
      if (w + 1 < words && rng() % 7 == 0) line += ",";
    }
    line += ".?!"[rng() % 3];
    lines.push_back(line);
  }
  return lines;
}

// Lines of words never seen in training, built from the letters of seen ones.
std::vector<std::string> make_unseen_lines(int count, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    std::string line;
    for (int w = 0; w < 6; ++w) {
      std::string word = std::string(kWords[rng() % kNumWords]) + kWords[rng() % kNumWords];
      for (size_t k = word.size(); k > 1; --k) std::swap(word[k - 1], word[rng() % k]);
      line += (w ? (rng() % 5 == 0 ? ", " : " ") : "") + word;
    }
    lines.push_back(line + "?");
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

SentencePieceOptions options_for(const std::string& model_type, int64_t vocab_size) {
  SentencePieceOptions options;
  options.model_type = model_type;
  options.vocab_size = vocab_size;
  return options;
}

class SentencePieceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterized tests: Suite/Test/0
    dir_ = fs::temp_directory_path() / ("zoo_test_spm_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::setenv("ZOO_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    corpus_ = make_lines(400, 17);
    corpus_file_ = write("train.txt", join_lines(corpus_));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return (dir_ / name).string();
  }

  std::shared_ptr<SentencePieceTokenizer> train(const SentencePieceOptions& options) {
    return SentencePieceTokenizer::train(options, corpus_file_);
  }

  std::vector<fs::path> cached_dirs() const {
    std::vector<fs::path> dirs;
    if (fs::exists(dir_ / "cache" / "tokenizers"))
      for (const auto& entry : fs::directory_iterator(dir_ / "cache" / "tokenizers")) dirs.push_back(entry.path());
    return dirs;
  }

  fs::path dir_;
  std::vector<std::string> corpus_;
  std::string corpus_file_;
};

class SentencePieceModelTypeTest : public SentencePieceTest, public ::testing::WithParamInterface<std::string> {};

}  // namespace

TEST_P(SentencePieceModelTypeTest, TrainsTheRequestedSizeAndRoundTripsExactly) {
  auto tokenizer = train(options_for(GetParam(), 250));
  EXPECT_EQ(tokenizer->type(), "sentencepiece");
  EXPECT_EQ(tokenizer->vocab_size(), 250);
  size_t tokens = 0, chars = 0;
  for (const auto& line : corpus_) {
    const auto ids = tokenizer->encode(line);
    tokens += ids.size();
    chars += line.size();
    for (int64_t id : ids) ASSERT_TRUE(id > 2 && id < 250) << line;  // no unk, bos, eos
    ASSERT_EQ(tokenizer->decode(ids), line);
  }
  EXPECT_LT(tokens, chars / 2);  // subwords, not characters
  for (const auto& line : make_unseen_lines(100, 5)) {
    const auto ids = tokenizer->encode(line);
    for (int64_t id : ids) ASSERT_NE(id, 0) << line;
    ASSERT_EQ(tokenizer->decode(ids), line);
  }
}

TEST_P(SentencePieceModelTypeTest, EncodeBatchEqualsEncodeOneByOne) {
  auto tokenizer = train(options_for(GetParam(), 250));
  std::vector<std::string> texts = corpus_;
  for (const auto& line : make_unseen_lines(50, 9)) texts.push_back(line);
  // Whitespace the batch's word cache must treat as SentencePiece does, and a literal "▁".
  for (const std::string odd : {"  the  man ", " ", "", "the\u00a0man\tsaid", "a \u2581 b\u2581", "\u2581the", "x,y  "})
    texts.push_back(odd);
  const auto batch = tokenizer->encode_batch(texts);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) ASSERT_EQ(batch[i], tokenizer->encode(texts[i])) << "'" << texts[i] << "'";
  EXPECT_TRUE(tokenizer->encode_batch({}).empty());
}

INSTANTIATE_TEST_SUITE_P(ModelTypes, SentencePieceModelTypeTest, ::testing::Values("bpe", "unigram"));

TEST_F(SentencePieceTest, SpecialIdsAreSentencePiecesDefaults) {
  auto plain = train(options_for("bpe", 250));
  EXPECT_EQ(plain->special_id(Special::unk), 0);
  EXPECT_EQ(plain->special_id(Special::bos), 1);
  EXPECT_EQ(plain->special_id(Special::eos), 2);
  EXPECT_FALSE(plain->has_special(Special::pad));
  EXPECT_FALSE(plain->has_special(Special::mask));
  EXPECT_EQ(plain->id_to_piece(0), "<unk>");
  EXPECT_EQ(plain->id_to_piece(1), "<s>");
  EXPECT_EQ(plain->id_to_piece(2), "</s>");
  EXPECT_EQ(plain->id_to_piece(250), "<unk>");  // out of range

  auto options = options_for("bpe", 250);
  options.special_tokens = {"pad", "mask", "cls", "sep", "eos"};
  auto tokenizer = train(options);
  EXPECT_EQ(tokenizer->vocab_size(), 250);
  EXPECT_EQ(tokenizer->special_id(Special::unk), 0);
  EXPECT_EQ(tokenizer->special_id(Special::bos), 1);
  EXPECT_EQ(tokenizer->special_id(Special::eos), 2);
  EXPECT_EQ(tokenizer->special_id(Special::pad), 3);
  EXPECT_EQ(tokenizer->id_to_piece(3), "<pad>");
  const int64_t mask = tokenizer->special_id(Special::mask), cls = tokenizer->special_id(Special::cls),
                sep = tokenizer->special_id(Special::sep);
  EXPECT_EQ(tokenizer->id_to_piece(mask), "<mask>");
  EXPECT_EQ(tokenizer->id_to_piece(cls), "<cls>");
  EXPECT_EQ(tokenizer->id_to_piece(sep), "<sep>");
  EXPECT_EQ((std::set<int64_t>{0, 1, 2, 3, mask, cls, sep}.size()), 7u);
  // User-defined pieces are kept whole in text; every special piece but <unk> decodes to nothing.
  const auto ids = tokenizer->encode("the man<mask> said");
  EXPECT_NE(std::find(ids.begin(), ids.end(), mask), ids.end());
  std::vector<int64_t> with_specials = {1, cls};
  with_specials.insert(with_specials.end(), ids.begin(), ids.end());
  for (int64_t id : {sep, int64_t{2}, int64_t{3}, int64_t{3}}) with_specials.push_back(id);
  EXPECT_EQ(tokenizer->decode(with_specials), "the man said");
  EXPECT_EQ(tokenizer->decode({0}), " \u2047 ");  // SentencePiece's unk surface
}

TEST_F(SentencePieceTest, SaveAndLoadGiveIdenticalIds) {
  auto options = options_for("unigram", 250);
  options.special_tokens = {"pad", "mask"};
  auto tokenizer = train(options);
  const fs::path saved = dir_ / "saved";
  fs::create_directories(saved);
  tokenizer->save(saved.string());
  EXPECT_TRUE(fs::exists(saved / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(saved / "tokenizer.model"));
  auto loaded = load_tokenizer(saved.string());
  EXPECT_EQ(loaded->type(), "sentencepiece");
  EXPECT_EQ(loaded->vocab_size(), tokenizer->vocab_size());
  for (int s = 0; s < kNumSpecials; ++s)
    EXPECT_EQ(loaded->special_id(static_cast<Special>(s)), tokenizer->special_id(static_cast<Special>(s))) << s;
  for (const auto& line : make_unseen_lines(50, 3)) EXPECT_EQ(loaded->encode(line), tokenizer->encode(line)) << line;
  EXPECT_EQ(loaded->encode_batch(corpus_), tokenizer->encode_batch(corpus_));
  EXPECT_EQ(fingerprint(*loaded), fingerprint(*tokenizer));
}

TEST_F(SentencePieceTest, ByteFallbackEncodesUnseenCharactersAsBytes) {
  auto options = options_for("bpe", 400);
  options.byte_fallback = true;
  auto tokenizer = train(options);
  EXPECT_EQ(tokenizer->vocab_size(), 400);
  const std::string text = "the \u20ac price of \u4e2d";  // € and 中: not in the training text
  const auto ids = tokenizer->encode(text);
  std::vector<std::string> pieces;
  for (int64_t id : ids) pieces.push_back(tokenizer->id_to_piece(id));
  for (const std::string byte : {"<0xE2>", "<0x82>", "<0xAC>", "<0xE4>", "<0xB8>", "<0xAD>"})
    EXPECT_NE(std::find(pieces.begin(), pieces.end(), byte), pieces.end()) << byte;
  EXPECT_EQ(std::find(ids.begin(), ids.end(), 0), ids.end());  // no <unk>
  EXPECT_EQ(tokenizer->decode(ids), text);

  auto without = train(options_for("bpe", 250));
  const auto unk_ids = without->encode(text);
  EXPECT_NE(std::find(unk_ids.begin(), unk_ids.end(), 0), unk_ids.end());
  EXPECT_EQ(without->decode(unk_ids), "the  \u2047  price of  \u2047 ");  // unk's surface is " ⁇ "
}

TEST_F(SentencePieceTest, TheFactoryCachesTrainedTokenizersByContent) {
  const auto options = options_for("bpe", 250);
  auto first = SentencePieceTokenizer::fit_file(options, corpus_file_);
  const auto dirs = cached_dirs();
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_EQ(dirs[0].filename().string().rfind("sentencepiece-", 0), 0u) << dirs[0];
  EXPECT_TRUE(fs::exists(dirs[0] / "tokenizer.model"));

  // Proof that the second build loads the cache: plant another model there.
  train(options_for("bpe", 200))->save(dirs[0].string());
  EXPECT_EQ(SentencePieceTokenizer::fit_file(options, corpus_file_)->vocab_size(), 200);

  // The same text under another name and train_on is the same key; another option is not.
  auto renamed = options;
  renamed.train_on = "data.valid";
  const std::string copy = write("copy.txt", join_lines(corpus_));
  EXPECT_EQ(SentencePieceTokenizer::fit_file(renamed, copy)->vocab_size(), 200);
  EXPECT_EQ(cached_dirs().size(), 1u);
  auto other = options;
  other.vocab_size = 240;
  EXPECT_EQ(SentencePieceTokenizer::fit_file(other, corpus_file_)->vocab_size(), 240);
  EXPECT_EQ(cached_dirs().size(), 2u);
  // Another text is another key too.
  write("train.txt", join_lines(make_lines(400, 18)));
  EXPECT_EQ(SentencePieceTokenizer::fit_file(options, corpus_file_)->vocab_size(), 250);
  EXPECT_EQ(cached_dirs().size(), 3u);

  // Through the registry, as a recipe builds it.
  register_tokenizers();
  zoo::Component component{"sentencepiece", std::make_shared<SentencePieceOptions>(other)};
  EXPECT_EQ(tokenizers().build(component, corpus_file_)->vocab_size(), 240);
  EXPECT_EQ(cached_dirs().size(), 4u);
}

TEST_F(SentencePieceTest, TextErrorsNameTheFileAndTheFix) {
  const std::string invalid = write("invalid.txt", "the man\nsaid \xff no\n");
  EXPECT_EQ(user_error_of([&] { SentencePieceTokenizer::train(options_for("bpe", 100), invalid); })
                .rfind(invalid + ":2: invalid UTF-8", 0),
            0u);
  const std::string empty = write("empty.txt", "\n  \n");
  EXPECT_EQ(user_error_of([&] { SentencePieceTokenizer::train(options_for("bpe", 100), empty); }),
            empty + ": no text in the file; the sentencepiece tokenizer learns its vocabulary from it (check "
                    "tokenizer.train_on)");
  // 400 lines of ~170 words support a few hundred pieces, not 20000.
  for (const std::string type : {"bpe", "unigram"}) {
    const std::string message = user_error_of([&] { train(options_for(type, 20000)); });
    EXPECT_EQ(message.rfind(corpus_file_ + ": tokenizer.vocab_size: 20000 is more than this text supports (at most ", 0),
              0u)
        << message;
    EXPECT_EQ(message.substr(message.size() - 11), "); lower it") << message;
  }
  EXPECT_EQ(user_error_of([&] { train(options_for("bpe", 10)); }),
            corpus_file_ + ": tokenizer.vocab_size: 10 is less than this text needs (at least 60: its characters and "
                           "the special pieces); raise it or lower tokenizer.character_coverage");
}

TEST_F(SentencePieceTest, UserDefinedSymbolClashesAreUserErrors) {
  const auto with_symbols = [&](std::vector<std::string> symbols, std::vector<std::string> specials = {}) {
    auto options = options_for("bpe", 250);
    options.user_defined_symbols = std::move(symbols);
    options.special_tokens = std::move(specials);
    return user_error_of([&] { train(options); });
  };
  EXPECT_EQ(with_symbols({"<s>"}), "tokenizer.user_defined_symbols: '<s>' is the bos special piece; the sentencepiece "
                                   "tokenizer always has it: remove it from the list");
  EXPECT_EQ(with_symbols({"<mask>"}, {"mask"}),
            "tokenizer.user_defined_symbols: '<mask>' is the mask special piece; ask for it with "
            "tokenizer.special_tokens: [mask] instead");
  EXPECT_EQ(with_symbols({"<x>", "<y>", "<x>"}), "tokenizer.user_defined_symbols: '<x>' is listed twice");
  EXPECT_EQ(with_symbols({"a b"}), "tokenizer.user_defined_symbols: 'a b' holds a space, comma or '\u2581', which "
                                   "SentencePiece cannot keep in a piece; remove it or split it");
  EXPECT_EQ(with_symbols({""}), "tokenizer.user_defined_symbols: an empty symbol; remove it");
  EXPECT_EQ(with_symbols({}, {"unk"}).rfind("tokenizer.special_tokens: unknown special token 'unk'", 0), 0u);

  auto options = options_for("bpe", 250);
  options.user_defined_symbols = {"<x>", "<y>"};
  auto tokenizer = train(options);
  EXPECT_EQ(tokenizer->piece_to_id("<x>"), 3);
  EXPECT_EQ(tokenizer->piece_to_id("<y>"), 4);
  EXPECT_EQ(tokenizer->decode(tokenizer->encode("the<x>man <y>")), "the<x>man <y>");
}

TEST_F(SentencePieceTest, BrokenSavedTokenizersAreUserErrors) {
  auto tokenizer = train(options_for("bpe", 250));
  const fs::path saved = dir_ / "saved";
  fs::create_directories(saved);
  tokenizer->save(saved.string());
  const std::string model = (saved / "tokenizer.model").string();
  const std::string good = zoo::read_file(model);

  fs::remove(model);
  EXPECT_EQ(user_error_of([&] { load_tokenizer(saved.string()); }),
            model + ": missing (the SentencePiece model of " + (saved / "tokenizer.json").string() +
                "); train the tokenizer again or restore the file");

  std::mt19937 rng(1);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  for (const std::string& bytes : {noise, good.substr(0, good.size() / 2), std::string()}) {
    write("saved/tokenizer.model", bytes);
    const std::string message = user_error_of([&] { load_tokenizer(saved.string()); });
    EXPECT_EQ(message.rfind(model + ": not a SentencePiece model (", 0), 0u) << message;
    EXPECT_NE(message.find("; train the tokenizer again or restore the file"), std::string::npos) << message;
  }
}

// The shim is looked up once per process, so the missing-shim error is checked in a child
// process of this test binary with ZOO_SPM_SHIM pointing nowhere.
TEST(SentencePieceShim, AMissingShimIsAUserError) {
  if (std::getenv("ZOO_TEST_SPM_SHIM_CHILD")) {
    const fs::path text = fs::temp_directory_path() / ("zoo_test_spm_shim_" + std::to_string(::getpid()) + ".txt");
    std::ofstream(text) << "the man said\n";
    const std::string message =
        user_error_of([&] { SentencePieceTokenizer::train(options_for("bpe", 100), text.string()); });
    fs::remove(text);
    std::cout << "child error: " << message << "\n";
    return;
  }
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string command = "ZOO_TEST_SPM_SHIM_CHILD=1 ZOO_SPM_SHIM=/nonexistent/libzoo_spm_shim.so '" + self +
                              "' --gtest_filter=SentencePieceShim.AMissingShimIsAUserError 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  EXPECT_EQ(WEXITSTATUS(::pclose(pipe)), 0) << output;
  EXPECT_NE(output.find("child error: ZOO_SPM_SHIM=/nonexistent/libzoo_spm_shim.so: no such file; point it at "
                        "libzoo_spm_shim.so or unset it"),
            std::string::npos)
      << output;
}

// Our ids equal Python's sentencepiece.SentencePieceProcessor(model_file=...).encode(line) for
// training lines, unseen lines, odd whitespace and characters outside the vocabulary.
class SentencePieceParityTest : public SentencePieceTest,
                                public ::testing::WithParamInterface<std::tuple<std::string, bool>> {};

TEST_P(SentencePieceParityTest, IdsEqualPythonSentencePiece) {
  const auto& [model_type, byte_fallback] = GetParam();
  auto options = options_for(model_type, byte_fallback ? 400 : 250);
  options.byte_fallback = byte_fallback;
  options.special_tokens = {"pad", "mask"};
  auto tokenizer = train(options);
  const fs::path saved = dir_ / "saved";
  fs::create_directories(saved);
  tokenizer->save(saved.string());

  std::vector<std::string> texts(corpus_.begin(), corpus_.begin() + 200);
  for (const auto& line : make_unseen_lines(200, 11)) texts.push_back(line);
  for (const std::string odd : {"  the  man ", "", "the\u00a0man\tsaid", "a \u2581 b", "price: 5\u20ac, \u4e2d\u6587",
                                "The <mask> said", "caf\u00e9 na\u00efve \uff21\uff22"})
    texts.push_back(odd);
  const auto ids = tokenizer->encode_batch(texts);
  std::string ids_text;
  for (const auto& line_ids : ids) {
    for (size_t i = 0; i < line_ids.size(); ++i) ids_text += (i ? " " : "") + std::to_string(line_ids[i]);
    ids_text += "\n";
  }
  const std::string text_file = write("texts.txt", join_lines(texts));
  const std::string ids_file = write("ids.txt", ids_text);
  const std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/spm_parity.py '" +
                              (saved / "tokenizer.model").string() + "' '" + text_file + "' '" + ids_file + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output;
  EXPECT_EQ(output, std::to_string(texts.size()) + " lines identical\n");
}

INSTANTIATE_TEST_SUITE_P(ModelTypesAndByteFallback, SentencePieceParityTest,
                         ::testing::Combine(::testing::Values("bpe", "unigram"), ::testing::Bool()));
