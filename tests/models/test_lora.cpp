// LoRA: a LoRALinear without an adapter is torch::nn::Linear, a fresh adapter changes nothing,
// merging gives the adapted outputs, training moves only the adapters, and the recipe's
// patterns adapt what they name or say what there is.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/gpt.h"
#include "models/nn/lora.h"

namespace nn = zoo::models::nn;

namespace {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

std::shared_ptr<zoo::models::GPTImpl> small_gpt() {
  zoo::models::GPTOptions o;
  o.block_size = 16, o.n_layer = 2, o.n_head = 2, o.d_model = 32;
  torch::manual_seed(0);
  return std::make_shared<zoo::models::GPTImpl>(o, 30);
}

zoo::LoRAOptions lora(std::vector<std::string> targets, int64_t rank = 4) {
  zoo::LoRAOptions o;
  o.rank = rank;
  o.alpha = 8;
  o.dropout = 0.0;
  o.targets = std::move(targets);
  return o;
}

}  // namespace

TEST(LoRA, WithoutAnAdapterItIsTorchLinear) {
  torch::manual_seed(7);
  torch::nn::Linear reference(torch::nn::LinearOptions(12, 5));
  torch::manual_seed(7);
  nn::LoRALinear ours(torch::nn::LinearOptions(12, 5));
  EXPECT_TRUE(ours->weight.equal(reference->weight));  // the same initialisation, draw for draw
  EXPECT_TRUE(ours->bias.equal(reference->bias));
  auto x = torch::randn({3, 12});
  EXPECT_TRUE(ours(x).equal(reference(x)));
  auto names = ours->named_parameters();
  EXPECT_EQ(names.size(), 2u);
  EXPECT_TRUE(names.contains("weight") && names.contains("bias"));
}

TEST(LoRA, AFreshAdapterLeavesTheOutputsUnchanged) {
  auto model = small_gpt();
  auto ids = torch::randint(30, {2, 16});
  torch::NoGradGuard no_grad;
  auto before = model->forward(ids);
  auto adapted = nn::inject_lora(*model, lora({"attn.c_attn", "mlp.*"}));
  EXPECT_EQ(adapted, (std::vector<std::string>{"h.0.attn.c_attn", "h.0.mlp.c_fc", "h.0.mlp.c_proj", "h.1.attn.c_attn",
                                               "h.1.mlp.c_fc", "h.1.mlp.c_proj"}));
  EXPECT_TRUE(model->forward(ids).equal(before));  // B = 0: exactly the base model
  auto params = model->named_parameters();
  EXPECT_EQ(params["h.0.attn.c_attn.lora_A"].sizes(), (std::vector<int64_t>{4, 32}));
  EXPECT_EQ(params["h.0.attn.c_attn.lora_B"].sizes(), (std::vector<int64_t>{96, 4}));
  EXPECT_GT(params["h.0.attn.c_attn.lora_A"].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(params["h.0.attn.c_attn.lora_B"].abs().sum().item<double>(), 0.0);
}

TEST(LoRA, MergedWeightsGiveTheAdaptedOutputs) {
  auto model = small_gpt();
  nn::inject_lora(*model, lora({"attn.*", "mlp.c_fc"}));
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters())
    if (item.key().find("lora_B") != std::string::npos) item.value().normal_(0.0, 0.1);
  auto base = model->named_parameters()["h.1.attn.c_proj.weight"].clone();
  auto ids = torch::randint(30, {3, 16});
  auto adapted = model->forward(ids);
  nn::merge_lora(*model);
  EXPECT_LE(max_abs_diff(model->forward(ids), adapted), 1e-5);
  EXPECT_GT(max_abs_diff(model->named_parameters()["h.1.attn.c_proj.weight"], base), 1e-3);
  nn::unmerge_lora(*model);
  EXPECT_LE(max_abs_diff(model->named_parameters()["h.1.attn.c_proj.weight"], base), 1e-6);
  EXPECT_LE(max_abs_diff(model->forward(ids), adapted), 1e-5);
}

TEST(LoRA, TrainingMovesOnlyTheAdaptersAndTheNamedExtras) {
  auto model = small_gpt();
  auto options = lora({"attn.c_attn", "attn.c_proj"});
  options.trainable = {"ln_f.*"};
  nn::inject_lora(*model, options);
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : model->named_parameters()) before[item.key()] = item.value().clone();
  torch::optim::AdamW optimizer(model->decay_parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  for (int step = 0; step < 5; ++step) {
    optimizer.zero_grad();
    auto ids = torch::randint(30, {4, 16});
    auto logits = model->forward(ids.narrow(1, 0, 15));
    torch::nn::functional::cross_entropy(logits.reshape({-1, 30}), ids.narrow(1, 1, 15).reshape({-1})).backward();
    optimizer.step();
  }
  torch::optim::AdamW extras(model->no_decay_parameters(), torch::optim::AdamWOptions(1e-2));
  optimizer.zero_grad();
  auto ids = torch::randint(30, {4, 16});
  model->forward(ids).square().mean().backward();
  extras.step();
  for (const auto& item : model->named_parameters()) {
    const auto& name = item.key();
    const bool trained = name.find("lora_") != std::string::npos || name.rfind("ln_f.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), trained) << name;
    if (trained)
      EXPECT_FALSE(item.value().equal(before[name])) << name << " did not train";
    else
      EXPECT_TRUE(item.value().equal(before[name])) << name << " changed";  // bit for bit
  }
}

TEST(LoRA, PatternsMatchAPathsEndAndAPatternMatchingNothingIsAnError) {
  EXPECT_TRUE(nn::path_matches("attn.c_attn", "h.0.attn.c_attn"));
  EXPECT_TRUE(nn::path_matches("mlp.*", "h.1.mlp.c_fc"));
  EXPECT_TRUE(nn::path_matches("h.0.*", "h.0.mlp.c_proj"));
  EXPECT_TRUE(nn::path_matches("*", "lm_head"));
  EXPECT_FALSE(nn::path_matches("attn.c_attn", "h.0.attn.c_attn2"));
  EXPECT_FALSE(nn::path_matches("tn.c_attn", "h.0.attn.c_attn"));  // whole components only
  EXPECT_FALSE(nn::path_matches("mlp.c_fc", "h.0.mlp.c_fc.lora_A"));

  auto model = small_gpt();
  try {
    nn::inject_lora(*model, lora({"attn.qkv"}));
    FAIL() << "no error";
  } catch (const zoo::UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("lora.targets: 'attn.qkv' matches no linear layer; this model's are "
                                          "h.0.attn.c_attn, h.0.attn.c_proj",
                                          0),
              0u)
        << e.what();
  }
  auto options = lora({"mlp.*"});
  options.trainable = {"classifier.*"};
  EXPECT_THROW(nn::inject_lora(*small_gpt(), options), zoo::UserError);
}
