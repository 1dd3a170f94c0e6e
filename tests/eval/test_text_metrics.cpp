// BLEU, chrF and the 13a tokenizer against sacreBLEU's own test vectors, and every text metric
// on examples computed by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/perplexity.h"
#include "eval/text_metrics.h"

using namespace zoo::eval;

namespace {

// sacreBLEU test/test_bleu.py and README.md: three hypotheses with two reference streams.
const std::vector<std::string> kHyps{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs{
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."},
};

// 100 * BP * (p1 p2 p3 p4)^(1/4), the precisions as fractions.
double bleu_of(double bp, double p1, double p2, double p3, double p4) {
  return 100.0 * bp * std::pow(p1 * p2 * p3 * p4, 0.25);
}

}  // namespace

TEST(Bleu, MatchesSacreBleuTestVectors) {
  // test/test_bleu.py (EPSILON 1e-8), test_corpus_bleu: default settings (13a, exp smoothing),
  // tokenize none, empty hypotheses kept.
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs).score, 48.530827, 1e-6);
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, "13a").score, 48.530827, 1e-6);
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, "none").score, 49.1919566, 1e-6);
  EXPECT_EQ(corpus_bleu({"", "", ""}, kRefs).score, 0.0);
  // test_statistics: matched and total n-grams of orders 1-4.
  auto stats = corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, "none");
  EXPECT_EQ(stats.correct, (std::array<int64_t, 4>{4, 2, 1, 0}));
  EXPECT_EQ(stats.total, (std::array<int64_t, 4>{6, 5, 4, 3}));
  // test_scoring: from statistics alone.
  EXPECT_NEAR(bleu_from_counts({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11).score / 100, 0.8375922397, 1e-8);
  // test_raw_bleu: identical sentences score 100; no shared word scores 0 (issue #141).
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, "none").score, 100.0, 1e-9);
  EXPECT_EQ(corpus_bleu({"this is a test", "another test"}, {{"ref1", "ref2"}}, "none").score, 0.0);

  // README.md prints the statistics: 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17
  // ref_len = 18); the fractions are 14/17, 7/14, 5/11, 3/8 by hand.
  auto readme = corpus_bleu(kHyps, kRefs);
  EXPECT_NEAR(readme.precisions[0], 100.0 * 14 / 17, 1e-9);
  EXPECT_NEAR(readme.precisions[1], 100.0 * 7 / 14, 1e-9);
  EXPECT_NEAR(readme.precisions[2], 100.0 * 5 / 11, 1e-9);
  EXPECT_NEAR(readme.precisions[3], 100.0 * 3 / 8, 1e-9);
  EXPECT_NEAR(readme.brevity_penalty, std::exp(1.0 - 18.0 / 17.0), 1e-12);
  EXPECT_NEAR(readme.ratio, 17.0 / 18.0, 1e-12);
  EXPECT_EQ(readme.hyp_length, 17);
  EXPECT_EQ(readme.ref_length, 18);
  // README.md "Variable Number of References": the first reference of sentence 1 is '': 29.44,
  // ref_len 19 (29.443657650964873 running sacreBLEU's source at commit f615c72).
  auto variable = kRefs;
  variable[0][0] = "";
  EXPECT_NEAR(corpus_bleu(kHyps, variable).score, 29.443657650964873, 1e-9);
  EXPECT_EQ(corpus_bleu(kHyps, variable).ref_length, 19);

  // test/test_sentence_bleu.py (EPSILON 1e-3), issue #98, smoothing exp: 13a splits off the ';'
  // and scores 8.493, tokenize none 7.347. Every order has n-grams, so effective order (which
  // that test turns on) changes nothing and corpus BLEU of the one sentence is the same.
  const std::string ref = "producţia de zahăr brut se exprimă în zahăr alb;";
  const std::string sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
  EXPECT_NEAR(corpus_bleu({sys}, {{ref}}).score, 8.493, 1e-3);
  EXPECT_NEAR(corpus_bleu({sys}, {{ref}}, "none").score, 7.347, 1e-3);
  // Issue #141: no match at all scores 0.
  EXPECT_EQ(corpus_bleu({"this is a cat"}, {{"okay thanks"}}).score, 0.0);
}

TEST(Bleu, HandComputedTwoSentenceCorpus) {
  // 1: "the cat sat on the mat" vs "the cat is on the mat":
  //    1-grams 5/6 (the x2, cat, on, mat), 2-grams 3/5 (the cat, on the, the mat),
  //    3-grams 1/4 (on the mat), 4-grams 0/3.
  // 2: "a dog barked" vs "a dog barked loudly today": 3/3, 2/2, 1/1, 0/0.
  // Corpus: 8/9, 5/7, 2/5, 0/3 -> exp smoothing 1/(2*3) = 1/6. hyp_len 9, ref_len 6 + 5 = 11:
  // BP = exp(1 - 11/9) = exp(-2/9) = 0.8007, ratio 9/11.
  // BLEU = 100 * exp(-2/9) * (8/9 * 5/7 * 2/5 * 1/6)^(1/4) = 36.3201 (sacreBLEU prints 36.32).
  auto bleu = corpus_bleu({"the cat sat on the mat", "a dog barked"},
                          {{"the cat is on the mat", "a dog barked loudly today"}});
  EXPECT_EQ(bleu.correct, (std::array<int64_t, 4>{8, 5, 2, 0}));
  EXPECT_EQ(bleu.total, (std::array<int64_t, 4>{9, 7, 5, 3}));
  EXPECT_NEAR(bleu.precisions[0], 100.0 * 8 / 9, 1e-9);
  EXPECT_NEAR(bleu.precisions[1], 100.0 * 5 / 7, 1e-9);
  EXPECT_NEAR(bleu.precisions[2], 100.0 * 2 / 5, 1e-9);
  EXPECT_NEAR(bleu.precisions[3], 100.0 * 1 / 6, 1e-9);
  EXPECT_EQ(bleu.hyp_length, 9);
  EXPECT_EQ(bleu.ref_length, 11);
  EXPECT_NEAR(bleu.ratio, 9.0 / 11.0, 1e-12);
  EXPECT_NEAR(bleu.brevity_penalty, std::exp(-2.0 / 9.0), 1e-12);
  const double expected = bleu_of(std::exp(-2.0 / 9.0), 8.0 / 9, 5.0 / 7, 2.0 / 5, 1.0 / 6);
  EXPECT_NEAR(bleu.score, expected, 1e-9);
  EXPECT_NEAR(expected, 36.3201, 1e-4);
}

TEST(Bleu, EdgeCases) {
  // An empty hypothesis still counts: its closest reference (2 words) joins ref_len. Sentence 2
  // matches fully, so every precision is 100: BLEU = 100 * exp(1 - 8/6).
  auto with_empty = corpus_bleu({"", "the cat sat on the mat"}, {{"a b", "the cat sat on the mat"}});
  EXPECT_EQ(with_empty.hyp_length, 6);
  EXPECT_EQ(with_empty.ref_length, 8);
  EXPECT_NEAR(with_empty.score, 100.0 * std::exp(1.0 - 8.0 / 6.0), 1e-9);
  // Only empty hypotheses: BP 0 (sacreBLEU's value for sys_len 0) and score 0.
  auto empty = corpus_bleu({""}, {{"a b c d"}});
  EXPECT_EQ(empty.brevity_penalty, 0.0);
  EXPECT_EQ(empty.score, 0.0);
  // No match at all: 0, whatever the lengths.
  EXPECT_EQ(corpus_bleu({"x y z w"}, {{"a b c d"}}).score, 0.0);
  // Longer than the reference: BP 1 and ratio 7/6; precisions 6/7, 5/6, 4/5, 3/4.
  auto longer = corpus_bleu({"the cat sat on the mat today"}, {{"the cat sat on the mat"}});
  EXPECT_DOUBLE_EQ(longer.brevity_penalty, 1.0);
  EXPECT_NEAR(longer.ratio, 7.0 / 6.0, 1e-12);
  EXPECT_NEAR(longer.score, bleu_of(1.0, 6.0 / 7, 5.0 / 6, 4.0 / 5, 3.0 / 4), 1e-9);
  // A 2-word hypothesis has no 3-grams: sacreBLEU stops at the empty order, whose precision 0
  // makes the corpus score 0 (effective order is off), though BP is still exp(1 - 6/2).
  auto short_hyp = corpus_bleu({"the cat"}, {{"the cat sat on the mat"}});
  EXPECT_NEAR(short_hyp.brevity_penalty, std::exp(-2.0), 1e-12);
  EXPECT_EQ(short_hyp.score, 0.0);
  // Segments are right-stripped before 13a, so a final "-\n" is not a joined hyphenation
  // (sacreBLEU scores this 100).
  EXPECT_NEAR(corpus_bleu({"one two three word-\n"}, {{"one two three word-"}}).score, 100.0, 1e-9);
}

TEST(Bleu, ClosestReferenceLengthPrefersTheShorterOnATie) {
  // Hypothesis of 4 words; references of 3 and 5 words are equally close: sacreBLEU takes 3.
  auto bleu = corpus_bleu({"a b c d"}, {{"a b c"}, {"a b c d e"}});
  EXPECT_EQ(bleu.ref_length, 3);
  EXPECT_EQ(bleu.hyp_length, 4);
  EXPECT_NEAR(bleu.ratio, 4.0 / 3.0, 1e-12);
  // With a 4-word reference among them, that one is closest.
  EXPECT_EQ(corpus_bleu({"a b c d"}, {{"a b c"}, {"a b c d e"}, {"w x y z"}}).ref_length, 4);
}

TEST(Bleu, TokensAgreeWithStringsAndStreamsAreChecked) {
  // Token ids written as strings: the same statistics as the whitespace-split text.
  const std::vector<Words> hyps{{"5", "9", "2", "7", "1"}, {"3", "3"}};
  const std::vector<std::vector<Words>> refs{{{"5", "9", "2", "7", "8"}, {"3", "4", "3"}}};
  auto tokens = corpus_bleu_tokens(hyps, refs);
  auto text = corpus_bleu({"5 9 2 7 1", "3 3"}, {{"5 9 2 7 8", "3 4 3"}}, "none");
  EXPECT_EQ(tokens.correct, text.correct);
  EXPECT_EQ(tokens.total, text.total);
  EXPECT_DOUBLE_EQ(tokens.score, text.score);
  // By hand: 1-grams 4/5 + 2/2 = 6/7, 2-grams 3/4 + 0/1 = 3/5, 3-grams 2/3, 4-grams 1/2;
  // hyp_len 7, ref_len 5 + 3 = 8.
  EXPECT_NEAR(tokens.score, bleu_of(std::exp(1.0 - 8.0 / 7.0), 6.0 / 7, 3.0 / 5, 2.0 / 3, 1.0 / 2), 1e-9);

  EXPECT_THROW(corpus_bleu({"a", "b"}, {{"a"}}), std::invalid_argument);  // stream of 1 for 2 hypotheses
  EXPECT_THROW(corpus_bleu({"a"}, {}), std::invalid_argument);
  EXPECT_THROW(corpus_bleu({"a"}, {{"a"}}, "intl"), std::invalid_argument);
}

TEST(Tokenize13a, MatchesSacreBleu) {
  // sacreBLEU has no test file for 13a; these outputs are sacrebleu.tokenizers.tokenizer_13a.
  // Tokenizer13a() run from the repository's source (commit f615c72) on the same inputs.
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("Hello, world! (3.14, 1,000)"), "Hello , world ! ( 3.14 , 1,000 )");
  EXPECT_EQ(tokenize_13a("pages 10-12 and e-mail &amp; &quot;quotes&quot; &lt;b&gt;"),
            "pages 10 - 12 and e-mail & \" quotes \" < b >");
  EXPECT_EQ(tokenize_13a("end-\nof-line\nnext"), "endof-line next");
  EXPECT_EQ(tokenize_13a("a<skipped>b"), "ab");
  EXPECT_EQ(tokenize_13a("x.y 5. .5 a,b 1.a a.1"), "x . y 5 . . 5 a , b 1 . a a . 1");
  // Python's split() also splits on no-break, thin and ideographic spaces.
  EXPECT_EQ(tokenize_13a("no\u00a0break\u2009thin\u3000ideo"), "no break thin ideo");
  // Non-ASCII punctuation stays attached; numbers keep their separators.
  EXPECT_EQ(tokenize_13a("zahăr brut, alb; „citat“ — 5€"), "zahăr brut , alb ; „citat“ — 5€");
  EXPECT_EQ(tokenize_13a("It's $5.00/kg {x}~[y]`z`@#%^*_=+|\\"), "It's $ 5.00 / kg { x } ~ [ y ] ` z ` @ # % ^ * _ = + | \\");
  EXPECT_EQ(tokenize_13a("  spaced   out  "), "spaced out");
}

TEST(Chrf, MatchesSacreBleuTestVectors) {
  // README.md: CHRF() defaults on the README corpus print chrF2 = 59.73 (59.7275178268 running
  // sacreBLEU's source at commit f615c72).
  EXPECT_NEAR(corpus_chrf(kHyps, kRefs), 59.7275178268, 1e-8);

  // test/test_chrf.py (EPSILON 1e-4), test_cases: char_order 6, beta 3, eps smoothing.
  ChrfOptions eps;
  eps.beta = 3;
  eps.eps_smoothing = true;
  struct Case { std::vector<std::string> hyp, ref; double expected; };
  const std::vector<Case> cases{
      {{"abcdefg"}, {"hijklmnop"}, 0.0},
      {{"a"}, {"b"}, 0.0},
      {{""}, {"b"}, 0.0},
      {{""}, {"ref"}, 0.0},
      {{""}, {"reference"}, 0.0},
      {{"aa"}, {"ab"}, 8.3333},
      {{"a", "b"}, {"a", "c"}, 8.3333},
      {{"a"}, {"a"}, 16.6667},
      {{"a b c"}, {"a b c"}, 50.0},
      {{"a b c"}, {"abc"}, 50.0},
      {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
       {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."},
       63.361730},
      {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
       {"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 64.1302698},
      {{"Niemand hat die Absicht, eine Mauer zu errichten"}, {"Niemand hat die Absicht, eine Mauer zu errichten"}, 100.0},
  };
  for (const auto& c : cases) EXPECT_NEAR(corpus_chrf(c.hyp, {c.ref}, eps), c.expected, 1e-4) << c.hyp[0];

  // test_cases_effective_order: beta 3, sacreBLEU 2's default smoothing.
  ChrfOptions effective;
  effective.beta = 3;
  const std::vector<Case> effective_cases{
      {{"a"}, {"a"}, 100.0},         {{""}, {"reference"}, 0.0}, {{"a b c"}, {"a b c"}, 100.0},
      {{"a b c"}, {"abc"}, 100.0},   {{""}, {"c"}, 0.0},         {{"a", "b"}, {"a", "c"}, 50.0},
      {{"aa"}, {"ab"}, 25.0},
  };
  for (const auto& c : effective_cases) EXPECT_NEAR(corpus_chrf(c.hyp, {c.ref}, effective), c.expected, 1e-4) << c.hyp[0];

  // test_cases_keep_whitespace.
  ChrfOptions keep = effective;
  keep.whitespace = true;
  EXPECT_NEAR(corpus_chrf({"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
                          {{"Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}}, keep),
              67.3481606, 1e-4);
  EXPECT_NEAR(corpus_chrf({"risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
                          {{"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}}, keep),
              65.2414427, 1e-4);

  // test_sentence_level_chrf: sentence_chrf defaults (beta 2) with eps smoothing; Czech text,
  // so n-grams must be over code points, not bytes.
  ChrfOptions sentence;
  sentence.eps_smoothing = true;
  EXPECT_NEAR(corpus_chrf({"Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře."},
                          {{"Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."}}, sentence),
              39.14078509, 1e-4);
  EXPECT_NEAR(corpus_chrf({"Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři."},
                          {{"A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."}}, sentence),
              31.22557079, 1e-4);
  EXPECT_NEAR(corpus_chrf({"Lapali po dechu, jejich životy skončily dřív, než skutečně začaly."},
                          {{"Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."}}, sentence),
              57.15704367, 1e-4);
}

TEST(Chrf, HandComputedDefault) {
  // "ab" vs "ac", beta 2: 1-grams P = R = 1/2; 2-grams P = R = 0; orders 3-6 have no n-grams and
  // are left out. Mean P = R = 1/4 over the 2 orders, F2 = 5 PR / (4P + R) = 0.3125 / 1.25 = 0.25.
  EXPECT_NEAR(corpus_chrf({"ab"}, {{"ac"}}), 25.0, 1e-9);
  // Whitespace, Unicode no-break space included, is removed before counting.
  EXPECT_NEAR(corpus_chrf({"a b"}, {{"ab"}}), 100.0, 1e-9);
  EXPECT_NEAR(corpus_chrf({"a\u00a0b"}, {{"ab"}}), 100.0, 1e-9);
  // Two references: the segment takes the better one.
  EXPECT_NEAR(corpus_chrf({"ab"}, {{"ac"}, {"ab"}}), 100.0, 1e-9);
  // "abc" vs "abd", corpus-level sums with "x" vs "x": 1-grams 3/4 both ways, 2-grams 1/2,
  // 3-grams 0/1, orders 4-6 empty. Mean P = R = (3/4 + 1/2 + 0) / 3 = 5/12; F of equal P and R
  // is that value: 41.667.
  EXPECT_NEAR(corpus_chrf({"abc", "x"}, {{"abd", "x"}}), 100.0 * 5 / 12, 1e-9);
}

TEST(ExactMatch, ComparesTrimmedStrings) {
  // " a " = "a" and "b" = "\u00a0b\n" after trimming (Unicode spaces too), "c" != "d": 2/3.
  EXPECT_NEAR(exact_match({" a ", "b", "c"}, {"a", "\u00a0b\n", "d"}), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(exact_match({"A"}, {"a"}), 0.0);
  EXPECT_EQ(exact_match({"a b"}, {"a  b"}), 0.0);  // inner whitespace is kept
  EXPECT_EQ(exact_match({}, {}), 0.0);
  EXPECT_THROW(exact_match({"a"}, {}), std::invalid_argument);
}

TEST(ErrorRate, EditDistanceOverTokens) {
  // kitten -> sitting: substitute k/s and e/i, insert g.
  EXPECT_EQ(edit_distance({"k", "i", "t", "t", "e", "n"}, {"s", "i", "t", "t", "i", "n", "g"}), 3);
  EXPECT_EQ(edit_distance({}, {"a", "b"}), 2);
  EXPECT_EQ(edit_distance({"a", "b"}, {}), 2);
  // "the cat sat" vs "the cat sat down": one deletion over 4 words; "a b" vs "a c": one
  // substitution over 2. Corpus WER = (1 + 1) / (4 + 2), not the mean (1/4 + 1/2) / 2.
  EXPECT_NEAR(word_error_rate({"the cat sat"}, {"the cat sat down"}).rate, 0.25, 1e-12);
  auto wer = word_error_rate({"the cat sat", "a b"}, {"the cat sat down", "a c"});
  EXPECT_EQ(wer.edits, 2);
  EXPECT_EQ(wer.reference_tokens, 6);
  EXPECT_NEAR(wer.rate, 1.0 / 3.0, 1e-12);
  // Phoneme error rate: K AE T S vs K AH T: one substitution, one deletion over 4 phonemes.
  EXPECT_NEAR(error_rate({{"K", "AH", "T"}}, {{"K", "AE", "T", "S"}}).rate, 0.5, 1e-12);
  EXPECT_EQ(word_error_rate({"x"}, {""}).rate, 0.0);  // no reference words: 0, not a division by zero
  EXPECT_THROW(word_error_rate({"a"}, {"a", "b"}), std::invalid_argument);
}

TEST(Diversity, DistinctNCountsUniqueOverTotal) {
  // Unigrams a b a b a c: 3 distinct of 6. Bigrams ab ba ab ac: 3 of 4.
  std::vector<Words> generations{{"a", "b", "a", "b"}, {"a", "c"}};
  EXPECT_NEAR(distinct_n(generations, 1), 0.5, 1e-12);
  EXPECT_NEAR(distinct_n(generations, 2), 0.75, 1e-12);
  // Trigrams aba bab: 2 of 2; "a c" has none.
  EXPECT_NEAR(distinct_n(generations, 3), 1.0, 1e-12);
  EXPECT_EQ(distinct_n({{"a"}}, 2), 0.0);
  EXPECT_THROW(distinct_n(generations, 0), std::invalid_argument);
}

TEST(Diversity, SelfBleuIsBleuAgainstTheOthers) {
  // Two sentences: each against the other scores 100 * (5/6 * 3/5 * 1/4 * 1/6)^(1/4) = 37.99
  // (equal lengths, BP 1; the counts of sentence 1 in Bleu.HandComputedTwoSentenceCorpus, and
  // symmetric here), so their mean does too.
  const double pair = bleu_of(1.0, 5.0 / 6, 3.0 / 5, 1.0 / 4, 1.0 / 6);
  EXPECT_NEAR(self_bleu({"the cat sat on the mat", "the cat is on the mat"}), pair, 1e-9);
  EXPECT_NEAR(self_bleu({"a b c d", "a b c d", "a b c d"}), 100.0, 1e-9);
  // Two copies score 100 each against references holding the other; the third shares no word
  // with them and scores 0: mean 200 / 3.
  EXPECT_NEAR(self_bleu({"a b c d", "a b c d", "e f g h"}), 200.0 / 3.0, 1e-9);
  EXPECT_EQ(self_bleu({"a b c d", "e f g h"}), 0.0);
  EXPECT_THROW(self_bleu({"a b c d"}), std::invalid_argument);
}

TEST(Perplexity, PerTokenCharacterAndWord) {
  // "héllo wörld\n": 12 code points (é and ö are 2 bytes each), 2 words.
  auto units = count_units("héllo wörld\n");
  EXPECT_EQ(units.characters, 12);
  EXPECT_EQ(units.words, 2);
  // 4 tokens with a total loss of 4 ln 2: per token ppl 2; per char exp(4 ln2 / 12) = 2^(1/3);
  // per word 2^2 = 4; bits per char 4/12.
  Perplexity p{4 * std::log(2.0), 4, units};
  EXPECT_NEAR(p.per_token(), 2.0, 1e-12);
  EXPECT_NEAR(p.per_character(), std::pow(2.0, 1.0 / 3.0), 1e-12);
  EXPECT_NEAR(p.per_word(), 4.0, 1e-12);
  EXPECT_NEAR(p.bits_per_character(), 1.0 / 3.0, 1e-12);
}
