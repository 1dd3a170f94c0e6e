// Mixture-of-Experts: identical experts with top-1 routing equal the dense feed-forward, only
// the chosen experts get gradients, the sorted dispatch equals a per-token reference, capacity
// drops the overflow in token order, the router losses and statistics follow their formulas,
// and GPT and BERT place MoE layers in every n-th block.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "core/error.h"
#include "models/bert.h"
#include "models/gpt.h"
#include "models/nn/feed_forward.h"
#include "models/nn/moe.h"

namespace nn = zoo::models::nn;

namespace {

constexpr int64_t kDim = 16, kHidden = 32;

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

nn::MoEOptions moe_options(int64_t experts, int64_t top_k) {
  nn::MoEOptions o;
  o.num_experts = experts;
  o.top_k = top_k;
  o.hidden = kHidden;
  return o;
}

std::shared_ptr<nn::MoEImpl> make_moe(const nn::MoEOptions& o) {
  return std::make_shared<nn::MoEImpl>(o, "gelu", kDim, 0, true, 0.0);
}

// Router logits that send token t to expert (sign of x_t . w): 0 when positive, `other` when not.
void route_by_sign(nn::MoEImpl& moe, int64_t other) {
  torch::NoGradGuard no_grad;
  auto w = torch::randn({kDim});
  moe.router->weight.zero_();
  moe.router->weight[0].copy_(w * 10);
  moe.router->weight[other].copy_(-w * 10);
}

// out_t = sum over the top-k experts j of gate_j * expert_j(x_t), one token at a time.
torch::Tensor per_token_reference(nn::MoEImpl& moe, const torch::Tensor& x) {
  auto flat = x.reshape({-1, kDim});
  auto out = torch::zeros_like(flat);
  const auto& o = moe.options();
  for (int64_t t = 0; t < flat.size(0); ++t) {
    auto row = flat[t].unsqueeze(0);
    auto logits = moe.router(row)[0];
    auto probs = torch::softmax(logits, 0);
    auto [values, experts] = logits.topk(o.top_k);
    auto gate = o.gate == "softmax" ? probs.index_select(0, experts) : torch::softmax(values, 0);
    for (int64_t j = 0; j < o.top_k; ++j) {
      auto* expert = moe.experts[experts[j].item<int64_t>()]->as<nn::GeluMLPImpl>();
      out[t] += gate[j] * expert->forward(row)[0];
    }
  }
  return out.view_as(x);
}

}  // namespace

TEST(MoE, IdenticalExpertsWithTopOneEqualTheDenseFeedForward) {
  torch::manual_seed(0);
  nn::GeluMLP dense(nn::FeedForwardOptions(kDim, kHidden));
  auto moe = make_moe(moe_options(4, 1));
  {
    torch::NoGradGuard no_grad;
    for (size_t e = 0; e < moe->experts->size(); ++e) {
      auto* expert = moe->experts[e]->as<nn::GeluMLPImpl>();
      auto params = expert->parameters();
      auto source = dense->parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(source[i]);
    }
  }
  auto x = torch::randn({3, 7, kDim});
  torch::NoGradGuard no_grad;
  for (bool training : {true, false}) {
    moe->train(training);
    EXPECT_LE(max_abs_diff(moe->forward(x), dense->forward(x)), 1e-6) << "training " << training;
  }
}

TEST(MoE, GradientsReachOnlyTheChosenExperts) {
  torch::manual_seed(1);
  for (const std::string gate : {"top_k_softmax", "softmax"}) {
    auto o = moe_options(4, 1);
    o.gate = gate;
    auto moe = make_moe(o);
    route_by_sign(*moe, 2);
    moe->forward(torch::randn({4, 9, kDim})).square().sum().backward();
    for (int64_t e = 0; e < 4; ++e) {
      for (const auto& p : moe->experts[static_cast<size_t>(e)]->parameters()) {
        const bool reached = p.grad().defined() && p.grad().abs().sum().item<double>() > 0;
        EXPECT_EQ(reached, e == 0 || e == 2) << gate << " expert " << e;
      }
    }
    // The router learns from the output only through softmax gates; top-1 renormalised is 1.
    const auto& g = moe->router->weight.grad();
    const bool router_reached = g.defined() && g.abs().sum().item<double>() > 0;
    EXPECT_EQ(router_reached, gate == "softmax");
  }
}

TEST(MoE, SortedDispatchEqualsThePerTokenReference) {
  torch::manual_seed(2);
  for (int64_t experts : {4, 16})
    for (int64_t top_k : {1, 2})
      for (const std::string gate : {"top_k_softmax", "softmax"}) {
        auto o = moe_options(experts, top_k);
        o.gate = gate;
        auto moe = make_moe(o);
        auto x = torch::randn({2, 11, kDim});
        torch::NoGradGuard no_grad;
        auto expected = per_token_reference(*moe, x);
        for (bool training : {true, false}) {
          moe->train(training);
          EXPECT_LE(max_abs_diff(moe->forward(x), expected), 1e-5)
              << experts << " experts, top " << top_k << ", " << gate << ", training " << training;
        }
      }
}

TEST(MoE, CapacityDropsTheOverflowInTokenOrderWhileTraining) {
  torch::manual_seed(3);
  auto o = moe_options(2, 1);
  o.capacity_factor = 1.0;  // capacity = 1.0 * N * 1 / 2 = N / 2
  auto moe = make_moe(o);
  {
    torch::NoGradGuard no_grad;
    moe->router->weight.zero_();
    moe->router->weight[0].fill_(1.0);  // every token to expert 0 for positive inputs
  }
  auto x = torch::rand({1, 10, kDim}) + 0.1;
  auto expert0 = moe->experts[0]->as<nn::GeluMLPImpl>()->forward(x);
  auto out = moe->forward(x);
  EXPECT_LE(max_abs_diff(out.narrow(1, 0, 5), expert0.narrow(1, 0, 5)), 1e-6);
  EXPECT_EQ(out.narrow(1, 5, 5).abs().max().item<double>(), 0.0);  // the residual alone carries them
  EXPECT_NEAR(moe->dropped_fraction.item<double>(), 0.5, 1e-9);
  moe->eval();  // evaluation never drops
  EXPECT_LE(max_abs_diff(moe->forward(x), expert0), 1e-6);
}

TEST(MoE, RouterLossesFollowTheirFormulas) {
  torch::manual_seed(4);
  auto o = moe_options(4, 2);
  auto moe = make_moe(o);
  {
    torch::NoGradGuard no_grad;
    moe->router->weight.zero_();  // uniform probabilities: balance E * sum f_i / E = 1, z = (log E)^2
  }
  auto x = torch::randn({3, 5, kDim});
  moe->forward(x);
  EXPECT_NEAR(moe->balance_loss.item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(moe->z_loss.item<double>(), std::pow(std::log(4.0), 2), 1e-5);

  // Everything to experts 0 and 1 with probability ~1/2 each: f = (1/2, 1/2, 0, 0), P ~ the same.
  {
    torch::NoGradGuard no_grad;
    moe->router->weight.zero_();
  }
  auto ones = torch::ones({2, 6, kDim});
  {
    torch::NoGradGuard no_grad;
    moe->router->weight[0].fill_(2.0);
    moe->router->weight[1].fill_(2.0);
  }
  moe->forward(ones);
  EXPECT_NEAR(moe->balance_loss.item<double>(), 4.0 * (0.5 * 0.5 + 0.5 * 0.5), 1e-4);

  // The trainer's sum: weights from the options, one term per MoE layer.
  torch::nn::Sequential model(moe);
  auto losses = nn::router_losses(*model);
  EXPECT_NEAR(losses.total.item<double>(),
              o.aux_loss_weight * moe->balance_loss.item<double>() + o.z_loss_weight * moe->z_loss.item<double>(), 1e-9);
}

TEST(MoE, StatisticsCountEveryAssignmentAndTheRouterEntropy) {
  torch::manual_seed(5);
  auto moe = make_moe(moe_options(4, 2));
  route_by_sign(*moe, 3);
  moe->eval();
  torch::nn::Sequential model(moe);
  nn::MoEStatsScope scope(*model);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({4, 25, kDim});
  moe->forward(x);
  auto report = scope.report();
  const auto& layer = report["layers"].begin().value();
  EXPECT_EQ(layer["tokens"].get<int64_t>(), 100);
  double total = 0;
  for (const auto& f : layer["fraction"]) total += f.get<double>();
  EXPECT_NEAR(total, 1.0, 1e-9);
  // Experts 0 and 3 take every token's first choice: together at least half the assignments.
  EXPECT_GE(layer["fraction"][0].get<double>() + layer["fraction"][3].get<double>(), 0.5);
  auto probs = torch::softmax(moe->router(x.reshape({-1, kDim})), -1);
  const double entropy = (-(probs * probs.clamp_min(1e-30).log()).sum(-1)).mean().item<double>();  // 0 log 0 = 0
  EXPECT_NEAR(layer["entropy"].get<double>(), entropy, 1e-5);
  EXPECT_NEAR(report["max_entropy"].get<double>(), std::log(4.0), 1e-12);
}

TEST(MoE, GptAndBertHoldMoELayersInEveryNthBlock) {
  zoo::models::GPTOptions g;
  g.n_layer = 4, g.n_head = 2, g.d_model = 32, g.block_size = 16;
  g.moe.num_experts = 4, g.moe.top_k = 2, g.moe.every = 2, g.moe.hidden = 64;
  zoo::models::GPTImpl gpt(g, 40);
  auto params = gpt.named_parameters();
  EXPECT_TRUE(params.contains("h.0.mlp.c_fc.weight"));
  EXPECT_TRUE(params.contains("h.1.mlp.router.weight"));
  EXPECT_EQ(params["h.1.mlp.experts.3.c_fc.weight"].sizes(), (std::vector<int64_t>{64, 32}));
  EXPECT_FALSE(params.contains("h.2.mlp.router.weight"));
  EXPECT_TRUE(params.contains("h.3.mlp.router.weight"));
  EXPECT_EQ(nn::moe_layers(gpt).size(), 2u);
  auto logits = gpt.forward(torch::randint(40, {2, 16}));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 16, 40}));

  zoo::models::BertOptions b;
  b.apply_preset("bert_tiny");
  b.moe.num_experts = 2, b.moe.top_k = 1, b.moe.every = 1;
  zoo::models::BertImpl bert(b, 40, zoo::models::BertHeads{true});
  EXPECT_EQ(nn::moe_layers(bert).size(), 2u);
  EXPECT_TRUE(bert.named_parameters().contains("layers.0.mlp.experts.1.c_proj.weight"));
  auto ids = torch::randint(40, {2, 9});
  EXPECT_EQ(bert.encode(ids, torch::ones_like(ids)).sizes(), (std::vector<int64_t>{2, 9, 128}));

  g.moe.top_k = 5;
  EXPECT_THROW(zoo::models::GPTImpl(g, 40), zoo::UserError);
  g.moe.top_k = 2, g.moe.every = 5;
  EXPECT_THROW(zoo::models::GPTImpl(g, 40), zoo::UserError);
}
