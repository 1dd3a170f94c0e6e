// The fast paths training takes (models/nn/dropout.h, the causal attention of training steps,
// GPT's position view) against the general code they stand in for.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/gpt.h"
#include "models/nn/attention.h"
#include "models/nn/dropout.h"

namespace nn = zoo::models::nn;

namespace {
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST(Dropout, KeepsOneMinusPOfTheElementsScaledAndRoutesGradientsThroughTheSameMask) {
  torch::manual_seed(0);
  auto x = (torch::rand({1000, 1000}) + 0.5).requires_grad_();
  auto y = nn::dropout(x, 0.2, /*train=*/true);
  auto kept = y.ne(0);
  // 1M Bernoulli(0.8) draws: the standard deviation of the kept share is 0.0004.
  EXPECT_NEAR(kept.to(torch::kDouble).mean().item<double>(), 0.8, 0.002);
  EXPECT_LE(max_abs_diff(y.masked_select(kept), x.detach().masked_select(kept) / 0.8), 1e-6);
  y.sum().backward();
  EXPECT_LE(max_abs_diff(x.grad(), kept.to(torch::kFloat) / 0.8), 1e-6);
  // Rows and columns are independent: no stripes from the hash of the flat index.
  auto row_share = kept.to(torch::kDouble).mean(1), column_share = kept.to(torch::kDouble).mean(0);
  EXPECT_LT((row_share - 0.8).abs().max().item<double>(), 0.06);  // 5 sigma over 1000 elements
  EXPECT_LT((column_share - 0.8).abs().max().item<double>(), 0.06);
}

TEST(Dropout, IsSeededByTheGeneratorAndIdentityOutsideTraining) {
  auto x = torch::ones({64, 64});
  torch::manual_seed(7);
  auto first = nn::dropout(x, 0.5, true), second = nn::dropout(x, 0.5, true);
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.5, true), first));
  EXPECT_FALSE(torch::equal(first, second));  // each call draws a new seed
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.5, false), x));
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.0, true), x));
}

TEST(Attention, TrainingPathMatchesTheGeneralPathInValuesAndGradients) {
  torch::manual_seed(0);
  nn::SelfAttention attention(nn::SelfAttentionOptions(32, 4).causal(true));
  auto x = torch::randn({3, 10, 32});
  auto run = [&](bool training) {
    attention->train(training);  // dropout 0: train and eval differ only in the path taken
    attention->zero_grad();
    auto input = x.clone().requires_grad_();
    auto y = attention(input);
    (y * y).sum().backward();
    return std::make_tuple(y.detach(), input.grad(), attention->c_attn->weight.grad().clone());
  };
  auto [y_fast, dx_fast, dw_fast] = run(true);
  auto [y_general, dx_general, dw_general] = run(false);
  EXPECT_LE(max_abs_diff(y_fast, y_general), 1e-6);
  EXPECT_LE(max_abs_diff(dx_fast, dx_general), 1e-5);
  EXPECT_LE(max_abs_diff(dw_fast, dw_general), 1e-5);
}

TEST(Gpt, TrainingForwardWithThePositionViewMatchesEvalForward) {
  torch::manual_seed(0);
  zoo::models::GPTOptions options;
  options.n_layer = 2;
  options.n_head = 2;
  options.d_model = 32;
  options.block_size = 16;
  auto model = std::make_shared<zoo::models::GPTImpl>(options, 50);
  auto ids = torch::randint(50, {2, 12});
  model->train();
  auto trained = model->forward(ids);
  model->eval();
  EXPECT_LE(max_abs_diff(trained, model->forward(ids)), 1e-5);
}

TEST(Gpt, GradientCheckpointingGivesTheSameGradientsWithDropout) {
  zoo::models::GPTOptions options;
  options.n_layer = 2;
  options.n_head = 2;
  options.d_model = 32;
  options.block_size = 16;
  options.dropout = 0.2;  // the recomputation must draw the same masks
  auto ids = torch::randint(50, {2, 12});
  auto gradients = [&](bool checkpointing) {
    options.gradient_checkpointing = checkpointing;
    torch::manual_seed(0);
    auto model = std::make_shared<zoo::models::GPTImpl>(options, 50);
    model->train();
    torch::manual_seed(1);
    auto logits = model->forward(ids);
    (logits * logits).mean().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach(), grads);
  };
  auto [plain_logits, plain] = gradients(false);
  auto [checkpointed_logits, checkpointed] = gradients(true);
  EXPECT_TRUE(torch::equal(plain_logits, checkpointed_logits));
  ASSERT_EQ(plain.size(), checkpointed.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_LE(max_abs_diff(plain[i], checkpointed[i]), 1e-6) << "parameter " << i;
}
