// BERT's masking (15% chosen, 80/10/10) and the optimizer's scaled head group.
#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/recipe.h"
#include "trainers/mlm.h"
#include "trainers/optim.h"

using zoo::trainers::mask_tokens;
using zoo::trainers::MaskingOptions;

namespace {

constexpr int64_t kMask = 1, kVocab = 1000;

// Ids 10.. so that no original token equals [MASK]; column 0 and the last 8 columns special.
struct Input {
  torch::Tensor ids, special;
};
Input input() {
  auto ids = torch::arange(10, 10 + 200 * 64, torch::kLong).remainder(kVocab - 10).add(10).reshape({200, 64});
  auto special = torch::zeros({200, 64}, torch::kBool);
  special.select(1, 0).fill_(true);
  special.narrow(1, 56, 8).fill_(true);
  return {ids, special};
}

}  // namespace

TEST(Masking, ChoosesFifteenPercentOfOrdinaryTokensAndSplitsThemEightyTenTen) {
  auto [ids, special] = input();
  auto masked = mask_tokens(ids, special, MaskingOptions{}, kMask, kVocab, at::detail::createCPUGenerator(7));
  auto chosen = masked.labels.ne(-100);
  EXPECT_FALSE(chosen.logical_and(special).any().item<bool>());
  // Labels hold the original ids where chosen.
  EXPECT_TRUE(masked.labels.masked_select(chosen).equal(ids.masked_select(chosen)));
  // Unchosen tokens are never changed.
  EXPECT_TRUE(masked.input.masked_select(chosen.logical_not()).equal(ids.masked_select(chosen.logical_not())));
  const double ordinary = static_cast<double>(special.logical_not().sum().item<int64_t>());  // 11,000
  const double n = static_cast<double>(chosen.sum().item<int64_t>());
  EXPECT_NEAR(n / ordinary, 0.15, 0.01);  // 3 standard deviations is 0.010
  const double as_mask = static_cast<double>(masked.input.eq(kMask).logical_and(chosen).sum().item<int64_t>());
  const double kept = static_cast<double>(masked.input.eq(ids).logical_and(chosen).sum().item<int64_t>());
  const double randomised = n - as_mask - kept;
  EXPECT_NEAR(as_mask / n, 0.8, 0.03);
  EXPECT_NEAR(randomised / n, 0.1, 0.025);  // a random draw can hit the original id: 1 in 1000
  EXPECT_NEAR(kept / n, 0.1, 0.025);
}

TEST(Masking, TheSameSeedGivesTheSameMasksAndAnotherSeedOthers) {
  auto [ids, special] = input();
  auto a = mask_tokens(ids, special, MaskingOptions{}, kMask, kVocab, at::detail::createCPUGenerator(3));
  auto b = mask_tokens(ids, special, MaskingOptions{}, kMask, kVocab, at::detail::createCPUGenerator(3));
  auto c = mask_tokens(ids, special, MaskingOptions{}, kMask, kVocab, at::detail::createCPUGenerator(4));
  EXPECT_TRUE(a.input.equal(b.input));
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_FALSE(a.labels.equal(c.labels));
}

TEST(Masking, OptionsChangeTheShares) {
  auto [ids, special] = input();
  MaskingOptions all_mask{0.5, 1.0, 0.0};
  auto masked = mask_tokens(ids, special, all_mask, kMask, kVocab, at::detail::createCPUGenerator(1));
  auto chosen = masked.labels.ne(-100);
  EXPECT_NEAR(chosen.sum().item<double>() / 11000.0, 0.5, 0.02);
  EXPECT_TRUE(masked.input.masked_select(chosen).eq(kMask).all().item<bool>());
}

TEST(ScaledGroups, TheHeadTrainsAtItsScaleOfTheScheduledLearningRate) {
  zoo::trainers::register_optimizers();
  auto encoder = torch::zeros({4, 4}, torch::requires_grad()), encoder_bias = torch::zeros({4}, torch::requires_grad());
  auto head = torch::zeros({2, 4}, torch::requires_grad()), head_bias = torch::zeros({2}, torch::requires_grad());
  zoo::trainers::ParameterGroups groups{{encoder}, {encoder_bias}, {head}, {head_bias}, 10.0};
  auto built = zoo::trainers::optimizers().build(zoo::parse_component("optimizer", "{type: adamw, lr: 0.01}"), groups);
  ASSERT_EQ(built.optimizer->param_groups().size(), 4u);
  zoo::trainers::set_learning_rate(*built.optimizer, 0.002, built.lr_scales);
  const double expected[] = {0.002, 0.002, 0.02, 0.02};
  for (size_t i = 0; i < 4; ++i)
    EXPECT_DOUBLE_EQ(built.optimizer->param_groups()[i].options().get_lr(), expected[i]) << "group " << i;
}
