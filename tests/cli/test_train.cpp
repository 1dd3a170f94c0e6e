// End to end through the `zoo` binary: a tiny char GPT trains (its loss falls), the run
// directory has its parts, generation is reproducible, and existing runs are not clobbered.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::events;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: tiny
seed: 5
threads: 2
tokenizer: {type: char}
data: {type: text, train: tiny.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer:
  type: lm
  batch_size: 16
  max_steps: 150
  log_every: 10
  eval_every: 50
  eval_batches: 4
  checkpoint_every: 50
  keep_last: 2
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: cosine, warmup_steps: 10}
generation: {prompt: "the ", max_new_tokens: 40, temperature: 0.8}
)";

class TrainRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir;
    zoo::testing::write_tiny_corpus(dir_->path() / "tiny.txt", 600);
    std::ofstream(dir_->path() / "tiny.yaml") << kRecipe;
    result_ = new zoo::testing::ProcessResult(run_shell(std::string(ZOO_BINARY) + " train tiny.yaml", dir_->path()));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete dir_;
  }
  static fs::path run() { return dir_->path() / "runs/tiny"; }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult* result_ = nullptr;
};

TEST_F(TrainRun, LossFallsWellBelowUniform) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  auto train = events(run() / "metrics.jsonl", "train");
  ASSERT_EQ(train.size(), 15u);
  // 16 distinct characters: a uniform guess costs ln(16) = 2.77 nats.
  EXPECT_GT(train.front()["loss"].get<double>(), 2.0);
  auto evals = events(run() / "metrics.jsonl", "eval");
  ASSERT_EQ(evals.size(), 3u);
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), 1.6);
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), evals.front()["valid_loss"].get<double>());
}

TEST_F(TrainRun, RunDirectoryHasRecipeCheckpointsLatestAndBest) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  EXPECT_TRUE(fs::exists(run() / "recipe.yaml"));
  EXPECT_FALSE(fs::exists(run() / "checkpoints/step_000050"));  // keep_last: 2
  for (const char* part : {"model.pt", "optimizer.pt", "rng.pt", "data_state.bin", "state.json", "recipe.yaml",
                           "tokenizer/tokenizer.json"})
    EXPECT_TRUE(fs::exists(run() / "checkpoints/step_000150" / part)) << part;
  EXPECT_EQ(zoo::testing::slurp(run() / "latest"), "checkpoints/step_000150\n");
  EXPECT_TRUE(fs::exists(run() / "best/model.pt"));
  // The resolved recipe has every default filled in and trains the same run again.
  std::string resolved = zoo::testing::slurp(run() / "recipe.yaml");
  EXPECT_NE(resolved.find("grad_accum_steps: 1"), std::string::npos) << resolved;
  EXPECT_NE(result_->out.find("--- sample ---"), std::string::npos);
}

TEST_F(TrainRun, GenerationIsReproducibleForASeedAndDiffersAcrossSeeds) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  auto generate = [&](int seed) {
    return run_shell(std::string(ZOO_BINARY) + " generate runs/tiny --prompt 'the ' --max-new-tokens 60 --seed " +
                         std::to_string(seed),
                     dir_->path());
  };
  auto a = generate(1), b = generate(1), c = generate(2);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_EQ(a.out.rfind("the ", 0), 0u);
  EXPECT_GE(a.out.size(), 60u);
}

TEST_F(TrainRun, ExistingRunIsNotClobberedAndResumeNeedsACheckpoint) {
  ASSERT_EQ(result_->exit_code, 0) << result_->err;
  auto again = run_shell(std::string(ZOO_BINARY) + " train tiny.yaml", dir_->path());
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already holds a run"), std::string::npos) << again.err;
  auto resume = run_shell(std::string(ZOO_BINARY) + " train --resume nowhere", dir_->path());
  EXPECT_EQ(resume.exit_code, 2);
  EXPECT_EQ(resume.err, "nowhere: no checkpoint to resume from (is this a run directory? it has no checkpoints/step_* yet)\n");
  // Resuming a finished run with a larger budget continues from its last step.
  auto more = run_shell(std::string(ZOO_BINARY) + " train --resume runs/tiny trainer.max_steps=160", dir_->path());
  ASSERT_EQ(more.exit_code, 0) << more.err;
  auto train = events(run() / "metrics.jsonl", "train");
  EXPECT_EQ(train.back()["step"].get<int>(), 160);
}

}  // namespace
