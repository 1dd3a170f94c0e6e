// Logit processors on hand-computed rows: penalties, the sampling filters, and the draw.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "core/config.h"
#include "generation/logits.h"

using namespace zoo::generation;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

torch::Tensor row(std::vector<float> values) { return torch::tensor(values).view({1, -1}); }

// Logits whose softmax is exactly `probs`.
torch::Tensor from_probs(std::vector<float> probs) { return row(probs).log(); }

std::vector<float> values(const torch::Tensor& t) {
  auto flat = t.contiguous().view({-1});
  return {flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()};
}

// Which entries of a one-row result are still allowed.
std::vector<bool> kept(const torch::Tensor& logits) {
  std::vector<bool> out;
  for (float v : values(logits)) out.push_back(v != -kInf);
  return out;
}

}  // namespace

TEST(RepetitionPenalty, DividesPositiveAndMultipliesNegativeLogitsOfSeenTokens) {
  // Tokens 0 (logit 2) and 1 (logit -1) were seen: 2 / 2 = 1 and -1 * 2 = -2; others untouched.
  auto out = penalize_repetition(row({2, -1, 0.5, 3}), {{0, 1, 1}}, 2.0);
  EXPECT_EQ(values(out), (std::vector<float>{1, -2, 0.5, 3}));
  EXPECT_EQ(values(penalize_repetition(row({2, -1}), {{0}}, 1.0)), (std::vector<float>{2, -1}));
}

TEST(NoRepeatNgram, BansTheTokenThatWouldRepeatAnNgram) {
  // History 1 2 3 1 2: the trigram starting "1 2" was followed by 3, so 3 is banned, nothing else.
  auto out = ban_repeated_ngrams(torch::zeros({1, 5}), {{1, 2, 3, 1, 2}}, 3);
  EXPECT_EQ(kept(out), (std::vector<bool>{true, true, true, false, true}));
  // Bigrams: after 2, earlier 2 was followed by 3. After "4 4", 4 follows 4 again.
  EXPECT_EQ(kept(ban_repeated_ngrams(torch::zeros({1, 5}), {{1, 2, 3, 1, 2}}, 2)),
            (std::vector<bool>{true, true, true, false, true}));
  EXPECT_EQ(kept(ban_repeated_ngrams(torch::zeros({1, 5}), {{4, 4}}, 2)),
            (std::vector<bool>{true, true, true, true, false}));
  // Too short a history bans nothing.
  EXPECT_EQ(kept(ban_repeated_ngrams(torch::zeros({1, 5}), {{1, 2}}, 3)), std::vector<bool>(5, true));
}

TEST(TopK, KeepsTheKLargest) {
  EXPECT_EQ(kept(keep_top_k(row({1, 3, 2, 0}), 2)), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(kept(keep_top_k(row({1, 3, 2, 0}), 0)), std::vector<bool>(4, true));
}

TEST(TopP, KeepsTheSmallestSetReachingTheMass) {
  // probs .5 .3 .15 .05: mass before each = 0, .5, .8, .95.
  auto logits = from_probs({0.15f, 0.5f, 0.05f, 0.3f});
  EXPECT_EQ(kept(keep_top_p(logits, 0.7)), (std::vector<bool>{false, true, false, true}));   // .5 + .3 >= .7
  EXPECT_EQ(kept(keep_top_p(logits, 0.85)), (std::vector<bool>{true, true, false, true}));   // needs .15 too
  EXPECT_EQ(kept(keep_top_p(logits, 0.01)), (std::vector<bool>{false, true, false, false}));  // always the best
  EXPECT_EQ(kept(keep_top_p(logits, 1.0)), std::vector<bool>(4, true));
}

TEST(MinP, DropsTokensBelowAFractionOfTheBest) {
  // Best .5; min_p .4 -> threshold .2 keeps .5 and .3.
  EXPECT_EQ(kept(keep_min_p(from_probs({0.5f, 0.3f, 0.15f, 0.05f}), 0.4)), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(kept(keep_min_p(from_probs({0.5f, 0.3f, 0.15f, 0.05f}), 0.05)), std::vector<bool>(4, true));
}

TEST(Typical, KeepsTokensWhoseSurpriseIsClosestToTheEntropy) {
  // H = -(.5 ln .5 + .3 ln .3 + .15 ln .15 + .05 ln .05) = 1.1423 nats. |-ln p - H| =
  // .449, .062, .755, 1.853: the .3 token is the most typical, then .5, .15, .05.
  auto logits = from_probs({0.5f, 0.3f, 0.15f, 0.05f});
  EXPECT_EQ(kept(keep_typical(logits, 0.2)), (std::vector<bool>{false, true, false, false}));  // not the argmax
  EXPECT_EQ(kept(keep_typical(logits, 0.7)), (std::vector<bool>{true, true, false, false}));   // .3 + .5
  EXPECT_EQ(kept(keep_typical(logits, 0.9)), (std::vector<bool>{true, true, true, false}));
}

TEST(ChooseTokens, GreedyIsTheArgmaxAndTopKOneAgrees) {
  torch::manual_seed(0);
  auto logits = torch::randn({64, 100});
  auto generator = at::detail::createCPUGenerator(7);
  zoo::GenerationOptions greedy;
  greedy.strategy = "greedy";
  EXPECT_TRUE(choose_tokens(logits, greedy, generator).equal(logits.argmax(1)));
  zoo::GenerationOptions top1;
  top1.apply_preset("creative");
  top1.top_k = 1;
  EXPECT_TRUE(choose_tokens(logits, top1, generator).equal(logits.argmax(1)));
}

TEST(ChooseTokens, DrawsFollowTheTemperedDistributionAndTheSeed) {
  zoo::GenerationOptions options;
  options.apply_preset("creative");
  options.top_p = 1.0;
  options.temperature = 0.5;
  // probs .5 .3 .2 at temperature 0.5 become p^2 / sum = .25 .09 .04 over .38 = .658 .237 .105.
  auto logits = from_probs({0.5f, 0.3f, 0.2f}).expand({20000, 3}).contiguous();
  auto generator = at::detail::createCPUGenerator(11);
  auto draws = choose_tokens(logits, options, generator);
  auto frequency = torch::bincount(draws, {}, 3).to(torch::kFloat64) / 20000.0;
  EXPECT_NEAR(frequency[0].item<double>(), 0.25 / 0.38, 0.01);
  EXPECT_NEAR(frequency[1].item<double>(), 0.09 / 0.38, 0.01);
  EXPECT_NEAR(frequency[2].item<double>(), 0.04 / 0.38, 0.01);

  auto again = at::detail::createCPUGenerator(11);
  EXPECT_TRUE(choose_tokens(logits, options, again).equal(draws));
  auto other = at::detail::createCPUGenerator(12);
  EXPECT_FALSE(choose_tokens(logits, options, other).equal(draws));
}

TEST(Presets, ExplicitKeysOverrideThePreset) {
  zoo::GenerationOptions o;
  o.apply_preset("precise");
  EXPECT_EQ(o.strategy, "greedy");
  o.apply_preset("creative");
  EXPECT_EQ(o.strategy, "sample");
  EXPECT_DOUBLE_EQ(o.temperature, 1.0);
  EXPECT_DOUBLE_EQ(o.top_p, 0.95);

  // In a recipe the preset fills the fields first, whatever the key order, then keys override.
  auto doc = zoo::RecipeDocument::load_string("{top_p: 0.5, preset: creative, max_new_tokens: 7}", "<test>");
  zoo::GenerationOptions read;
  zoo::Reader reader(doc, doc.root(), "generation");
  read.visit(reader);
  reader.finish();
  EXPECT_EQ(read.strategy, "sample");
  EXPECT_DOUBLE_EQ(read.temperature, 1.0);  // from the preset
  EXPECT_DOUBLE_EQ(read.top_p, 0.5);        // overridden
  EXPECT_EQ(read.max_new_tokens, 7);
}
