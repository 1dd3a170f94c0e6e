// Confusion matrix, accuracy and macro-F1 on hand-computed examples, and its checks of label ids.
#include <gtest/gtest.h>

#include "eval/classification.h"

using zoo::eval::ConfusionMatrix;

TEST(ConfusionMatrix, AccuracyAndF1ByHand) {
  // truth 0 0 1 1 2 2 2 (and one padding position), predicted 0 1 1 1 2 0 2:
  //   class 0: tp 1, predicted 2, actual 2 -> F1 = 2*1 / (2+2) = 0.5
  //   class 1: tp 2, predicted 3, actual 2 -> F1 = 4/5 = 0.8
  //   class 2: tp 2, predicted 2, actual 3 -> F1 = 4/5 = 0.8
  // accuracy 5/7, macro-F1 (0.5 + 0.8 + 0.8) / 3 = 0.7. Class 3 never occurs and is left out;
  // the padding position's prediction (3) is not counted either.
  ConfusionMatrix m(4);
  m.add({0, 0, 1, 1, 2, 2, 2, -100}, {0, 1, 1, 1, 2, 0, 2, 3});
  EXPECT_EQ(m.total(), 7);
  EXPECT_EQ(m.count(0, 1), 1);
  EXPECT_EQ(m.count(2, 0), 1);
  EXPECT_EQ(m.count(1, 1), 2);
  EXPECT_EQ(m.count(3, 3), 0);
  EXPECT_NEAR(m.accuracy(), 5.0 / 7.0, 1e-12);
  auto f1 = m.f1_per_class();
  EXPECT_NEAR(f1[0], 0.5, 1e-12);
  EXPECT_NEAR(f1[1], 0.8, 1e-12);
  EXPECT_NEAR(f1[2], 0.8, 1e-12);
  EXPECT_EQ(f1[3], 0.0);
  EXPECT_NEAR(m.macro_f1(), 0.7, 1e-12);
}

TEST(ConfusionMatrix, ClassOnlyPredictedCountsInMacroF1) {
  // 3 classes, truth 0 0 1, predicted 0 2 1:
  //   class 0: tp 1, predicted 1, actual 2 -> F1 = 2/3
  //   class 1: tp 1, predicted 1, actual 1 -> F1 = 1
  //   class 2: never true but predicted once, tp 0 -> F1 = 0, and it occurs, so it counts
  // accuracy 2/3, macro-F1 (2/3 + 1 + 0) / 3 = 5/9.
  ConfusionMatrix m(3);
  m.add(0, 0);
  m.add(0, 2);
  m.add(1, 1);
  EXPECT_NEAR(m.accuracy(), 2.0 / 3.0, 1e-12);
  auto f1 = m.f1_per_class();
  EXPECT_NEAR(f1[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(f1[1], 1.0, 1e-12);
  EXPECT_EQ(f1[2], 0.0);
  EXPECT_NEAR(m.macro_f1(), 5.0 / 9.0, 1e-12);
  // Nothing added: every metric is 0 rather than a division by zero.
  ConfusionMatrix empty(2);
  EXPECT_EQ(empty.accuracy(), 0.0);
  EXPECT_EQ(empty.macro_f1(), 0.0);
}

TEST(ConfusionMatrix, FormatsRowsAsTruth) {
  ConfusionMatrix m(2);
  m.add({0, 1, 1}, {1, 1, 0});
  EXPECT_EQ(m.format({"ham", "spam"}), "truth   ham  spam\n  ham     0     1\n spam     1     1\n");
  EXPECT_THROW(m.format({"ham"}), std::invalid_argument);
}

TEST(ConfusionMatrix, RejectsLabelsOutOfRange) {
  ConfusionMatrix m(2);
  EXPECT_THROW(m.add(2, 0), std::invalid_argument);
  EXPECT_THROW(m.add(0, -1), std::invalid_argument);
  EXPECT_THROW(m.add(std::vector<int64_t>{0}, std::vector<int64_t>{0, 1}), std::invalid_argument);
  EXPECT_THROW(m.add(std::vector<int64_t>{0, 5}, std::vector<int64_t>{0, 1}), std::invalid_argument);
  EXPECT_THROW(m.count(0, 2), std::invalid_argument);
  EXPECT_THROW(ConfusionMatrix(0), std::invalid_argument);
  try {
    m.add(3, 1);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "ConfusionMatrix::add: label pair (truth 3, predicted 1) is outside classes 0..1");
  }
  EXPECT_EQ(m.total(), 1);  // only the valid pair of the vector before the bad one was added
}
