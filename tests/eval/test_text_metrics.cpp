// BLEU, chrF and the 13a tokenizer against sacreBLEU's own test vectors, and every text metric
// on examples computed by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/perplexity.h"
#include "eval/text_metrics.h"

using namespace zoo::eval;

namespace {

// sacreBLEU test/test_bleu.py: the README example, three hypotheses with two reference streams.
const std::vector<std::string> kHyps{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
const std::vector<std::vector<std::string>> kRefs{
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."},
};

}  // namespace

TEST(Bleu, MatchesSacreBleuTestVectors) {
  // test_corpus_bleu: default settings (13a, exp smoothing), tokenize none, empty hypotheses.
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs).score, 48.530827, 1e-6);
  EXPECT_NEAR(corpus_bleu(kHyps, kRefs, "none").score, 49.1919566, 1e-6);
  EXPECT_EQ(corpus_bleu({"", "", ""}, kRefs).score, 0.0);
  // test_statistics: matched and total n-grams of orders 1-4.
  auto stats = corpus_bleu({"am I am a character sequence"}, {{"I am a symbol string sequence a a"}}, "none");
  EXPECT_EQ(stats.correct, (std::array<int64_t, 4>{4, 2, 1, 0}));
  EXPECT_EQ(stats.total, (std::array<int64_t, 4>{6, 5, 4, 3}));
  // test_scoring: from statistics alone.
  EXPECT_NEAR(bleu_from_counts({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11).score / 100, 0.8375922397, 1e-8);
  // test_raw_bleu: identical sentences score 100.
  EXPECT_NEAR(corpus_bleu({"this is a test"}, {{"this is a test"}}, "none").score, 100.0, 1e-9);
}

TEST(Bleu, HandComputedPrecisionsAndBrevityPenalty) {
  // hyp: the cat sat on the mat / ref: the cat is on the mat.
  // 1-grams 5/6 (the x2, cat, on, mat); 2-grams 3/5 (the cat, on the, the mat); 3-grams 1/4
  // (on the mat); 4-grams 0/3, smoothed to 1/(2*3). Equal lengths: BP 1.
  // BLEU = 100 * (5/6 * 3/5 * 1/4 * 1/6)^(1/4) = 37.9918...
  auto bleu = corpus_bleu({"the cat sat on the mat"}, {{"the cat is on the mat"}});
  EXPECT_NEAR(bleu.precisions[0], 100.0 * 5 / 6, 1e-9);
  EXPECT_NEAR(bleu.precisions[1], 100.0 * 3 / 5, 1e-9);
  EXPECT_NEAR(bleu.precisions[2], 100.0 * 1 / 4, 1e-9);
  EXPECT_NEAR(bleu.precisions[3], 100.0 * 1 / 6, 1e-9);
  EXPECT_DOUBLE_EQ(bleu.brevity_penalty, 1.0);
  EXPECT_NEAR(bleu.score, 100.0 * std::pow(5.0 / 6 * 3.0 / 5 * 1.0 / 4 * 1.0 / 6, 0.25), 1e-9);

  // A 2-word hypothesis of a 6-word reference: BP = exp(1 - 6/2) = e^-2; it has no 3-grams, so
  // sacreBLEU's score is 0 (no effective order at corpus level).
  auto short_hyp = corpus_bleu({"the cat"}, {{"the cat sat on the mat"}});
  EXPECT_NEAR(short_hyp.brevity_penalty, std::exp(-2.0), 1e-12);
  EXPECT_EQ(short_hyp.score, 0.0);
  // Longer than the reference: BP 1. No match at all: 0.
  EXPECT_DOUBLE_EQ(corpus_bleu({"the cat sat on the mat today"}, {{"the cat sat on the mat"}}).brevity_penalty, 1.0);
  EXPECT_EQ(corpus_bleu({"x y z w"}, {{"a b c d"}}).score, 0.0);
}

TEST(Bleu, ClosestReferenceLengthPrefersTheShorterOnATie) {
  // Hypothesis of 4 words; references of 3 and 5 words are equally close: sacreBLEU takes 3.
  auto bleu = corpus_bleu({"a b c d"}, {{"a b c"}, {"a b c d e"}});
  EXPECT_EQ(bleu.ref_length, 3);
  EXPECT_EQ(bleu.hyp_length, 4);
}

TEST(Tokenize13a, SplitsPunctuationButNotNumbers) {
  EXPECT_EQ(tokenize_13a("It wasn't surprising."), "It wasn't surprising .");
  EXPECT_EQ(tokenize_13a("Hello, world! (3.14, 1,000)"), "Hello , world ! ( 3.14 , 1,000 )");
  EXPECT_EQ(tokenize_13a("pages 10-12 and e-mail &amp; \"quotes\""), "pages 10 - 12 and e-mail & \" quotes \"");
  EXPECT_EQ(tokenize_13a("  spaced   out  "), "spaced out");
}

TEST(Chrf, MatchesSacreBleuTestVectors) {
  // test_chrf.py test_cases: char_order 6, beta 3, eps smoothing.
  ChrfOptions eps;
  eps.beta = 3;
  eps.eps_smoothing = true;
  struct Case { std::vector<std::string> hyp, ref; double expected; };
  const std::vector<Case> cases{
      {{"abcdefg"}, {"hijklmnop"}, 0.0},
      {{"a"}, {"b"}, 0.0},
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
  EXPECT_NEAR(corpus_chrf({"a"}, {{"a"}}, effective), 100.0, 1e-4);
  EXPECT_NEAR(corpus_chrf({""}, {{"reference"}}, effective), 0.0, 1e-4);
  EXPECT_NEAR(corpus_chrf({"a b c"}, {{"abc"}}, effective), 100.0, 1e-4);
  EXPECT_NEAR(corpus_chrf({"a", "b"}, {{"a", "c"}}, effective), 50.0, 1e-4);
  EXPECT_NEAR(corpus_chrf({"aa"}, {{"ab"}}, effective), 25.0, 1e-4);

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
  // are left out. Mean P = R = 1/4, F2 = 5 PR / (4P + R) = 0.3125 / 1.25 = 0.25.
  EXPECT_NEAR(corpus_chrf({"ab"}, {{"ac"}}), 25.0, 1e-9);
  EXPECT_NEAR(corpus_chrf({"a b"}, {{"ab"}}), 100.0, 1e-9);  // whitespace is removed
  // Two references: the segment takes the better one.
  EXPECT_NEAR(corpus_chrf({"ab"}, {{"ac"}, {"ab"}}), 100.0, 1e-9);
}

TEST(ExactMatch, ComparesTrimmedStrings) {
  EXPECT_NEAR(exact_match({" a ", "b", "c"}, {"a", "b", "d"}), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(exact_match({"A"}, {"a"}), 0.0);
}

TEST(ErrorRate, EditDistanceOverTokens) {
  EXPECT_EQ(edit_distance({"k", "i", "t", "t", "e", "n"}, {"s", "i", "t", "t", "i", "n", "g"}), 3);
  EXPECT_EQ(edit_distance({}, {"a", "b"}), 2);
  EXPECT_EQ(edit_distance({"a", "b"}, {}), 2);
  // "the cat sat" vs "the cat sat down": one deletion over 4 words; "a b" vs "a c": one
  // substitution over 2. Corpus WER = (1 + 1) / (4 + 2).
  EXPECT_NEAR(word_error_rate({"the cat sat"}, {"the cat sat down"}).rate, 0.25, 1e-12);
  auto wer = word_error_rate({"the cat sat", "a b"}, {"the cat sat down", "a c"});
  EXPECT_EQ(wer.edits, 2);
  EXPECT_EQ(wer.reference_tokens, 6);
  EXPECT_NEAR(wer.rate, 1.0 / 3.0, 1e-12);
  // Phoneme error rate: K AE T S vs K AH T: one substitution, one deletion over 4 phonemes.
  EXPECT_NEAR(error_rate({{"K", "AH", "T"}}, {{"K", "AE", "T", "S"}}).rate, 0.5, 1e-12);
}

TEST(Diversity, DistinctNCountsUniqueOverTotal) {
  // Unigrams a b a b a c: 3 distinct of 6. Bigrams ab ba ab ac: 3 of 4.
  std::vector<Words> generations{{"a", "b", "a", "b"}, {"a", "c"}};
  EXPECT_NEAR(distinct_n(generations, 1), 0.5, 1e-12);
  EXPECT_NEAR(distinct_n(generations, 2), 0.75, 1e-12);
  EXPECT_EQ(distinct_n({{"a"}}, 2), 0.0);
}

TEST(Diversity, SelfBleuIsBleuAgainstTheOthers) {
  // Each of two sentences against the other scores 37.99 (Bleu.HandComputed...), so self-BLEU too.
  const double pair = 100.0 * std::pow(5.0 / 6 * 3.0 / 5 * 1.0 / 4 * 1.0 / 6, 0.25);
  EXPECT_NEAR(self_bleu({"the cat sat on the mat", "the cat is on the mat"}), pair, 1e-9);
  EXPECT_NEAR(self_bleu({"a b c d", "a b c d", "a b c d"}), 100.0, 1e-9);
  EXPECT_EQ(self_bleu({"a b c d", "e f g h"}), 0.0);
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
