// How the seq2seq trainer scores outputs: any reference counts for exact match, error rates
// use the closest reference, BLEU takes every reference.
#include <gtest/gtest.h>

#include "trainers/seq2seq.h"

using zoo::eval::Words;
using zoo::trainers::score_outputs;

TEST(Seq2seqScores, AnyReferenceCountsAndErrorRatesUseTheClosest) {
  // Source 0 has two pronunciations and the output matches the second; source 1's output is
  // one substitution from its only reference; source 2's is one deletion from the closer of two.
  std::vector<Words> hypotheses{{"T", "AH0", "M", "EY1", "T", "OW2"}, {"K", "AE1", "D"}, {"R", "IY1"}};
  std::vector<std::vector<Words>> references{
      {{"T", "AH0", "M", "AA1", "T", "OW2"}, {"T", "AH0", "M", "EY1", "T", "OW2"}},
      {{"K", "AE1", "T"}},
      {{"R", "EH1", "D", "IY0"}, {"R", "IY1", "D"}}};
  auto scores = score_outputs(hypotheses, references);
  EXPECT_DOUBLE_EQ(scores.exact_match, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(scores.wer, 2.0 / 3.0);
  // Edits 0 + 1 + 1 over the closest references' 6 + 3 + 3 phonemes.
  EXPECT_DOUBLE_EQ(scores.per, 2.0 / 12.0);
  EXPECT_GT(scores.bleu, 0.0);
  EXPECT_LT(scores.bleu, 100.0);

  // (Four tokens at least: corpus BLEU, as sacreBLEU's, is 0 without any 4-gram.)
  auto perfect = score_outputs({{"K", "AE1", "T", "S"}}, {{{"K", "AE1", "T", "S"}}});
  EXPECT_DOUBLE_EQ(perfect.exact_match, 1.0);
  EXPECT_DOUBLE_EQ(perfect.per, 0.0);
  EXPECT_NEAR(perfect.bleu, 100.0, 1e-9);
}

TEST(Seq2seqScores, BleuWithUnevenReferenceCountsEqualsRepeatingTheFirst) {
  std::vector<Words> hypotheses{{"a", "b", "c", "d"}, {"e", "f", "g", "h"}};
  auto uneven = score_outputs(hypotheses, {{{"a", "b", "c", "d"}, {"a", "b", "x", "d"}}, {{"e", "f", "g", "x"}}});
  auto even = score_outputs(hypotheses, {{{"a", "b", "c", "d"}, {"a", "b", "x", "d"}},
                                         {{"e", "f", "g", "x"}, {"e", "f", "g", "x"}}});
  EXPECT_DOUBLE_EQ(uneven.bleu, even.bleu);
  EXPECT_DOUBLE_EQ(uneven.exact_match, 0.5);
}
