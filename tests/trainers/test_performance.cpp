// The trainer's efficiency parts: the fused AdamW against libtorch's AdamW, and the FLOPs count
// MFU is measured with against nanoGPT's formula.
#include <gtest/gtest.h>

#include "core/recipe.h"
#include "models/gpt.h"
#include "models/nn/lora.h"
#include "trainers/flops.h"
#include "trainers/optim.h"

namespace zoo::trainers {
namespace {

TEST(FusedAdamW, FollowsLibtorchsAdamWStepForStepAndKeepsItsState) {
  register_optimizers();
  torch::manual_seed(0);
  std::vector<torch::Tensor> ours{torch::randn({300, 70}), torch::randn({70})};
  std::vector<torch::Tensor> theirs{ours[0].clone(), ours[1].clone()};
  for (auto* set : {&ours, &theirs})
    for (auto& p : *set) p.set_requires_grad(true);
  ParameterGroups groups;
  groups.decay = {ours[0]};
  groups.no_decay = {ours[1]};
  auto built = optimizers().build(
      parse_component("optimizer", "{type: adamw, lr: 0.01, weight_decay: 0.1, betas: [0.8, 0.95], eps: 1.0e-6}"), groups);
  auto options = torch::optim::AdamWOptions(0.01).betas({0.8, 0.95}).eps(1e-6);
  std::vector<torch::optim::OptimizerParamGroup> reference_groups;
  reference_groups.emplace_back(std::vector<torch::Tensor>{theirs[0]},
                                std::make_unique<torch::optim::AdamWOptions>(options.weight_decay(0.1)));
  reference_groups.emplace_back(std::vector<torch::Tensor>{theirs[1]},
                                std::make_unique<torch::optim::AdamWOptions>(options.weight_decay(0.0)));
  torch::optim::AdamW reference(reference_groups, options);
  for (int step = 0; step < 20; ++step) {
    for (size_t i = 0; i < ours.size(); ++i) {
      auto grad = torch::randn_like(ours[i]) * (1.0 + step);
      ours[i].mutable_grad() = grad.clone();
      theirs[i].mutable_grad() = grad;
    }
    built.optimizer->step();
    reference.step();
  }
  // A step moves a weight by about lr = 0.01; the two differ by float32 rounding only (ours fuses
  // multiply-adds where the CPU has FMA): a few ulps of randn-sized weights, over 20 steps.
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_LE((ours[i] - theirs[i]).abs().max().item<double>(), 5e-6) << "parameter " << i;
  // The state is libtorch's, so optimizer.pt files load into either.
  const auto key = c10::guts::to_string(ours[0].unsafeGetTensorImpl());
  const auto& state = static_cast<torch::optim::AdamWParamState&>(*built.optimizer->state().at(key));
  EXPECT_EQ(state.step(), 20);
  const auto& expected =
      static_cast<torch::optim::AdamWParamState&>(*reference.state().at(c10::guts::to_string(theirs[0].unsafeGetTensorImpl())));
  EXPECT_LE(((state.exp_avg_sq() - expected.exp_avg_sq()).abs() / expected.exp_avg_sq()).max().item<double>(), 1e-6);
}

models::GPTOptions quickstart_gpt() {
  models::GPTOptions o;
  o.n_layer = 4;
  o.n_head = 4;
  o.d_model = 128;
  o.block_size = 64;
  return o;
}

TEST(TrainingFlops, CountsSixNPlusAttentionAsNanoGPTDoes) {
  models::GPTImpl gpt(quickstart_gpt(), 86);
  // nanoGPT: N = all parameters less the position table (the token table is the tied output).
  const double n = static_cast<double>(gpt.num_parameters() - 64 * 128);
  const auto flops = training_flops(gpt);
  EXPECT_DOUBLE_EQ(flops.weights, 6.0 * n);
  EXPECT_DOUBLE_EQ(flops.attention_per_key, 12.0 * 4 * 128);
  EXPECT_DOUBLE_EQ(flops.per_token(64), 6.0 * n + 12.0 * 4 * 128 * 64);
}

TEST(TrainingFlops, CountsTheActiveExpertsAndFrozenWeights) {
  auto o = quickstart_gpt();
  models::GPTImpl dense(o, 86);
  o.moe.num_experts = 4;
  o.moe.top_k = 2;
  o.moe.every = 2;
  o.moe.hidden = 512;  // each expert the size of the dense MLP
  models::GPTImpl moe(o, 86);
  // Two of four layers have 4 experts of which a token meets 2: each counts two MLPs where the
  // dense model counts one, plus the router.
  const double mlp = 128 * 512 + 512 + 512 * 128 + 128;
  const double router = 128 * 4;
  EXPECT_DOUBLE_EQ(training_flops(moe).weights, training_flops(dense).weights + 6.0 * 2 * (mlp + router));

  // Frozen weights: 2 FLOPs forward and 2 for the input's gradient, none for their own.
  models::GPTImpl frozen(quickstart_gpt(), 86);
  for (auto& p : frozen.parameters()) p.set_requires_grad(false);
  EXPECT_DOUBLE_EQ(training_flops(frozen).weights, training_flops(dense).weights * 4.0 / 6.0);
}

}  // namespace
}  // namespace zoo::trainers
