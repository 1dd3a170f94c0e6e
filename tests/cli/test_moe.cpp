// An MoE-GPT end to end through `zoo`: its loss falls, the router losses are logged with every
// training line and the routing statistics with every validation, `zoo eval --moe-stats`
// prints them, resuming continues exactly, and a dense run says it has no MoE layers.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::events;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: moe
seed: 3
threads: 1
tokenizer: {type: char}
data: {type: text, train: tiny.txt, block_size: 32}
model:
  type: gpt
  n_layer: 2
  n_head: 2
  d_model: 32
  block_size: 32
  moe: {num_experts: 4, top_k: 2, every: 1, hidden: 64, capacity_factor: 1.5, router_noise: 0.1}
trainer:
  type: lm
  batch_size: 16
  max_steps: 120
  log_every: 20
  eval_every: 60
  eval_batches: 4
  checkpoint_every: 60
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: cosine, warmup_steps: 10}
generation: {max_new_tokens: 0}
)";

class MoERun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new zoo::testing::SharedRun("moe.yaml", kRecipe, 600); }
  static void TearDownTestSuite() { delete shared_; }
  static fs::path run() { return shared_->dir.path() / "runs/moe"; }
  static inline zoo::testing::SharedRun* shared_ = nullptr;
};

}  // namespace

TEST_F(MoERun, LossFallsAndTheRouterLossesAreLogged) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  auto train = events(run() / "metrics.jsonl", "train");
  ASSERT_EQ(train.size(), 6u);
  EXPECT_LT(train.back()["loss"].get<double>(), train.front()["loss"].get<double>() - 0.5);
  for (const auto& line : train) {
    // The balancing loss is 1 for a perfectly even router and at most num_experts.
    EXPECT_GE(line["moe_aux_loss"].get<double>(), 0.99) << line;
    EXPECT_LE(line["moe_aux_loss"].get<double>(), 4.0) << line;
    EXPECT_GT(line["moe_z_loss"].get<double>(), 0.0) << line;
    EXPECT_GE(line["moe_dropped"].get<double>(), 0.0) << line;
    EXPECT_LT(line["moe_dropped"].get<double>(), 0.5) << line;
  }
}

TEST_F(MoERun, EveryValidationReportsEachLayersRouting) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  auto evals = events(run() / "metrics.jsonl", "eval");
  ASSERT_EQ(evals.size(), 2u);
  for (const auto& eval : evals) {
    const auto& moe = eval["moe"];
    ASSERT_EQ(moe["layers"].size(), 2u) << eval;
    for (const auto& [name, layer] : moe["layers"].items()) {
      double total = 0;
      for (const auto& f : layer["fraction"]) total += f.get<double>();
      EXPECT_NEAR(total, 1.0, 1e-9) << name;
      EXPECT_EQ(layer["tokens"].get<int64_t>(), 4 * 16 * 32) << name;
      EXPECT_GT(layer["entropy"].get<double>(), 0.0);
      EXPECT_LE(layer["entropy"].get<double>(), std::log(4.0) + 1e-6);
    }
    EXPECT_GE(moe["max_share"].get<double>(), 1.0);
  }
  EXPECT_NE((shared_->result.out + shared_->result.err).find("experts: busiest"), std::string::npos) << shared_->result.out;
}

TEST_F(MoERun, ZooEvalMoeStatsRepeatsTheLastValidation) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  auto eval = shared_->zoo("eval runs/moe --checkpoint latest --moe-stats --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  auto stats = nlohmann::json::parse(eval.out);
  auto last = events(run() / "metrics.jsonl", "eval").back();
  EXPECT_NEAR(stats["valid_loss"].get<double>(), last["valid_loss"].get<double>(), 1e-6);
  EXPECT_NEAR(stats["max_share"].get<double>(), last["moe"]["max_share"].get<double>(), 1e-9);
  auto table = shared_->zoo("eval runs/moe --moe-stats");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("h.1.mlp"), std::string::npos) << table.out;
}

TEST_F(MoERun, ResumingContinuesTheSameRun) {
  // Router noise draws from the saved RNG, and experts a batch leaves idle keep their optimizer
  // state: 60 steps then 60 resumed equal 120 in one go (a constant schedule, which does not
  // depend on max_steps).
  zoo::testing::TempDir other;
  fs::copy(shared_->dir.path() / "tiny.txt", other.path() / "tiny.txt");
  fs::copy(shared_->dir.path() / "moe.yaml", other.path() / "moe.yaml");
  const std::string train = std::string(ZOO_BINARY) + " train moe.yaml \"trainer.scheduler={type: constant}\" ";
  auto whole = run_shell(train + "name=whole", other.path());
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  auto first = run_shell(train + "name=halves trainer.max_steps=60", other.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto resumed = run_shell(std::string(ZOO_BINARY) + " train --resume runs/halves trainer.max_steps=120", other.path());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  auto expected = events(other.path() / "runs/whole/metrics.jsonl", "train");
  auto got = events(other.path() / "runs/halves/metrics.jsonl", "train");
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_DOUBLE_EQ(got.back()["loss"].get<double>(), expected.back()["loss"].get<double>());
  EXPECT_DOUBLE_EQ(got.back()["moe_aux_loss"].get<double>(), expected.back()["moe_aux_loss"].get<double>());
}

TEST_F(MoERun, ADenseRunHasNoRoutingToReport) {
  ASSERT_EQ(shared_->result.exit_code, 0) << shared_->result.err;
  auto dense = run_shell(std::string(ZOO_BINARY) +
                             " train moe.yaml name=dense model.moe.num_experts=0 trainer.max_steps=5 trainer.eval_every=0"
                             " && " + ZOO_BINARY + " eval runs/dense --moe-stats",
                         shared_->dir.path());
  EXPECT_EQ(dense.exit_code, 2) << dense.err;
  EXPECT_NE(dense.err.find("zoo eval --moe-stats: runs/dense has no MoE layers"), std::string::npos) << dense.err;
}
