// LoRA through `zoo`: a recipe's `lora:` adapts the layers it names and trains only them (the
// log and metrics say how many parameters), the run loads again for generation with its
// adapters, and the export (adapters merged) generates what the run does.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::events;

namespace {

const char* kRecipe = R"(name: lora
seed: 4
threads: 1
tokenizer: {type: char}
data: {type: text, train: tiny.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 32}
lora: {rank: 4, alpha: 8, dropout: 0.0, targets: [attn.c_attn, attn.c_proj, mlp.c_fc], trainable: [ln_f.*]}
trainer:
  type: lm
  batch_size: 16
  max_steps: 60
  log_every: 20
  eval_every: 30
  eval_batches: 4
  optimizer: {type: adamw, lr: 1.0e-2}
  scheduler: {type: cosine, warmup_steps: 5}
generation: {max_new_tokens: 0}
export: {torchscript: true}
)";

class LoRARun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new zoo::testing::SharedRun("lora.yaml", kRecipe, 400); }
  static void TearDownTestSuite() { delete shared_; }
  static zoo::testing::ProcessResult zoo(const std::string& args) { return shared_->zoo(args); }
  static inline zoo::testing::SharedRun* shared_ = nullptr;
};

}  // namespace

TEST_F(LoRARun, OnlyTheAdaptersAndTheNamedExtrasTrain) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  auto start = events(shared_->dir.path() / "runs/lora/metrics.jsonl", "start").at(0);
  // d_model 32, two blocks: c_attn 4 x (32 + 96), c_proj 4 x (32 + 32), c_fc 4 x (32 + 128) per
  // block, and ln_f's weight and bias.
  const int64_t adapters = 2 * (4 * (32 + 96) + 4 * (32 + 32) + 4 * (32 + 128)), ln_f = 2 * 32;
  EXPECT_EQ(start["trainable_parameters"].get<int64_t>(), adapters + ln_f);
  EXPECT_GT(start["parameters"].get<int64_t>(), 10 * (adapters + ln_f));
  const std::string log = shared_->result.out + shared_->result.err;
  EXPECT_NE(log.find("lora: rank 4 adapters on 6 layers: h.0.attn.c_attn, h.0.attn.c_proj, h.0.mlp.c_fc"),
            std::string::npos) << log;
  EXPECT_NE(log.find("trainable"), std::string::npos) << log;
  auto train = events(shared_->dir.path() / "runs/lora/metrics.jsonl", "train");
  EXPECT_LT(train.back()["loss"].get<double>(), train.front()["loss"].get<double>());
}

TEST_F(LoRARun, TheExportWithMergedAdaptersGeneratesWhatTheRunDoes) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  const std::string flags = " --strategy greedy --prompt 'the c' --max-new-tokens 30";
  auto from_run = zoo("generate runs/lora --checkpoint latest" + flags);
  ASSERT_EQ(from_run.exit_code, 0) << from_run.err;
  auto from_archive = zoo("generate --torchscript runs/lora/export/model.pt" + flags);
  ASSERT_EQ(from_archive.exit_code, 0) << from_archive.err;
  EXPECT_EQ(from_archive.out, from_run.out);
}

TEST_F(LoRARun, ATargetMatchingNothingIsOneLine) {
  auto bad = zoo("train lora.yaml name=bad \"lora.targets=[attn.qkv]\"");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("lora.targets: 'attn.qkv' matches no linear layer; this model's are h.0.attn.c_attn"),
            std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(shared_->dir.path() / "runs/bad"));  // nothing half-written
}

// LoRA on a pretrained base (trainer.init_from): before the first step the adapted model is the
// base exactly (B = 0), so its validation loss is the base's; training the adapters lowers it.
// Its checkpoints hold the adapters alone and name the base, which must be the same base to load.
TEST_F(LoRARun, AdaptersOnABaseRunSaveAloneAndLoadOntoThatBase) {
  auto base = zoo("train lora.yaml name=base lora.rank=0");
  ASSERT_EQ(base.exit_code, 0) << base.err;
  auto adapted = zoo("train lora.yaml name=on-base trainer.init_from=runs/base trainer.init_checkpoint=latest "
                     "trainer.eval_at_start=true trainer.optimizer.lr=3.0e-3 export.torchscript=false");
  ASSERT_EQ(adapted.exit_code, 0) << adapted.err;
  const fs::path dir = shared_->dir.path();
  const double base_loss = events(dir / "runs/base/metrics.jsonl", "eval").back()["valid_loss"].get<double>();
  auto evals = events(dir / "runs/on-base/metrics.jsonl", "eval");
  ASSERT_EQ(evals.front()["step"].get<int64_t>(), 0);
  EXPECT_NEAR(evals.front()["valid_loss"].get<double>(), base_loss, 1e-6);
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), base_loss);

  // The checkpoint: adapter.pt (the adapters and ln_f) and base.json, no whole model.
  const fs::path checkpoint = dir / "runs/on-base/checkpoints/step_000060";
  ASSERT_TRUE(fs::exists(checkpoint / "adapter.pt"));
  EXPECT_FALSE(fs::exists(checkpoint / "model.pt"));
  const auto base_model_bytes = fs::file_size(dir / "runs/base/checkpoints/step_000060/model.pt");
  EXPECT_LT(fs::file_size(checkpoint / "adapter.pt") * 4, base_model_bytes);
  auto base_json = nlohmann::json::parse(std::ifstream(checkpoint / "base.json"));
  EXPECT_EQ(base_json["checkpoint"], "runs/base/checkpoints/step_000060");

  // Evaluated again from its checkpoint (adapters onto the base) it is better than the base; the
  // run's `base` checkpoint is the base run's weights exactly.
  auto number = [&](const std::string& args, const char* key) {
    auto result = zoo("eval " + args + " --data tiny.txt --json");
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.exit_code == 0 ? nlohmann::json::parse(result.out)[key].get<double>() : -1.0;
  };
  const double adapted_perplexity = number("runs/on-base --checkpoint latest", "perplexity");
  const double base_perplexity = number("runs/base --checkpoint latest", "perplexity");
  EXPECT_LT(adapted_perplexity, 0.99 * base_perplexity);
  EXPECT_DOUBLE_EQ(number("runs/on-base --checkpoint base", "perplexity"), base_perplexity);

  // zoo lora merge writes a plain run: whole weights, no lora: section, the same outputs.
  auto merged = zoo("lora merge runs/on-base --checkpoint latest --out runs/merged");
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_TRUE(fs::exists(dir / "runs/merged/checkpoints/step_000060/model.pt"));
  std::ifstream recipe(dir / "runs/merged/checkpoints/step_000060/recipe.yaml");
  const std::string merged_recipe((std::istreambuf_iterator<char>(recipe)), std::istreambuf_iterator<char>());
  EXPECT_NE(merged_recipe.find("rank: 0"), std::string::npos) << merged_recipe;
  EXPECT_NEAR(number("runs/merged", "perplexity"), adapted_perplexity, 1e-4 * adapted_perplexity);
  const std::string flags = " --strategy greedy --prompt 'the c' --max-new-tokens 30";
  EXPECT_EQ(zoo("generate runs/merged" + flags).out, zoo("generate runs/on-base" + flags).out);

  // Onto another base it does not load: one line, exit code 2.
  ASSERT_EQ(zoo("train lora.yaml name=other-base seed=5 lora.rank=0 trainer.max_steps=10").exit_code, 0);
  auto wrong = zoo("eval runs/on-base --checkpoint latest --base runs/other-base");
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("not the base model the adapters of"), std::string::npos) << wrong.err;
  auto twice = zoo("lora merge runs/on-base --out runs/merged");
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("runs/merged: already exists"), std::string::npos) << twice.err;
}
