// Data parallelism through `zoo launch`: two ranks on 127.0.0.1 stay one model and equal one
// process trained on the union of their batches; a run resumes at another world size; a rank
// that dies stops the launch (tests/scripts/distributed_rank_dies.sh).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <regex>
#include <set>

#include "cli/register_all.h"
#include "tests/cli/process.h"
#include "trainers/loop.h"

namespace fs = std::filesystem;
using zoo::testing::events;

namespace {

const char* kRecipe = R"(name: ddp
seed: 5
threads: 1
tokenizer: {type: char}
data: {type: text, train: tiny.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 32, block_size: 32}
trainer:
  type: lm
  batch_size: 4
  max_steps: 20
  log_every: 5
  eval_every: 0
  eval_batches: 2
  checkpoint_every: 10
  # A small step: AdamW divides by the gradients' root mean square, which magnifies the last-bit
  # differences of two summation orders in gradients near zero; at 1e-3 they reach 1.5e-6 in 20 steps.
  optimizer: {type: adamw, lr: 3.0e-4}
  scheduler: {type: constant}
generation: {max_new_tokens: 0}
)";

// On one host zoo launch picks a free port: tests running side by side do not meet.
std::string launch(int nproc) { return std::string(ZOO_BINARY) + " launch --nproc " + std::to_string(nproc) + " -- "; }

std::map<std::string, torch::Tensor> weights(const fs::path& run) {
  zoo::register_all();
  auto loaded = zoo::trainers::load_run(run.string(), "latest", "cpu");
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : loaded.objective->model().named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

// Two ranks of batch 4 train runs/ddp; the tests compare it with one process.
class Distributed : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir();
    zoo::testing::write_tiny_corpus(dir_->path() / "tiny.txt", 400);
    std::ofstream(dir_->path() / "ddp.yaml") << kRecipe;
    ranks_ = new zoo::testing::ProcessResult(zoo::testing::run_shell(launch(2) + "train ddp.yaml", dir_->path()));
  }
  static void TearDownTestSuite() {
    delete ranks_;
    delete dir_;
  }
  static zoo::testing::ProcessResult zoo(const std::string& args) {
    return zoo::testing::run_shell(std::string(ZOO_BINARY) + " " + args, dir_->path());
  }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult* ranks_ = nullptr;
};

}  // namespace

TEST_F(Distributed, TwoRanksStayOneModelEqualToOneProcessOnTheUnionOfTheirBatches) {
  ASSERT_EQ(ranks_->exit_code, 0) << ranks_->out << ranks_->err;
  // Every rank ends with the same bytes.
  std::set<std::string> fingerprints;
  std::regex line(R"(\[rank (\d)\] .*rank \d: weights fingerprint ([0-9a-f]{16}))");
  for (std::sregex_iterator it(ranks_->out.begin(), ranks_->out.end(), line), end; it != end; ++it)
    fingerprints.insert((*it)[2]);
  ASSERT_NE(ranks_->out.find("[rank 1]"), std::string::npos) << ranks_->out;
  EXPECT_EQ(fingerprints.size(), 1u) << ranks_->out;
  EXPECT_NE(ranks_->out.find("2 ranks (batch 4 a rank, 8 in all)"), std::string::npos) << ranks_->out;

  // One process on batches of 8 draws what the two ranks drew together: the same weights.
  auto single = zoo("train ddp.yaml name=single trainer.batch_size=8");
  ASSERT_EQ(single.exit_code, 0) << single.err;
  auto ours = weights(dir_->path() / "runs/ddp"), theirs = weights(dir_->path() / "runs/single");
  ASSERT_EQ(ours.size(), theirs.size());
  double worst = 0;
  for (const auto& [name, tensor] : ours) worst = std::max(worst, (tensor - theirs.at(name)).abs().max().item<double>());
  EXPECT_LE(worst, 1e-6);
  std::cout << "largest weight difference between 2 ranks and 1 process: " << worst << "\n";
  // The log is rank 0's, with losses averaged over ranks and every rank's tokens counted.
  auto train = events(dir_->path() / "runs/ddp/metrics.jsonl", "train");
  auto alone = events(dir_->path() / "runs/single/metrics.jsonl", "train");
  ASSERT_EQ(train.size(), alone.size());
  EXPECT_NEAR(train.back()["loss"].get<double>(), alone.back()["loss"].get<double>(), 1e-5);
  EXPECT_GT(train.back()["all_reduce_mb_per_step"].get<double>(), 0.0);
  EXPECT_EQ(events(dir_->path() / "runs/ddp/metrics.jsonl", "start").at(0)["world_size"], 2);
}

TEST_F(Distributed, ARunResumesAtAnotherWorldSize) {
  ASSERT_EQ(ranks_->exit_code, 0) << ranks_->out << ranks_->err;
  // Two ranks' checkpoint of step 20, continued by one process, then that by two ranks again.
  zoo::testing::TempDir other;
  fs::create_directories(other.path() / "runs");
  fs::copy(dir_->path() / "tiny.txt", other.path() / "tiny.txt");
  fs::copy(dir_->path() / "runs/ddp", other.path() / "runs/ddp", fs::copy_options::recursive);
  auto alone = zoo::testing::run_shell(std::string(ZOO_BINARY) + " train --resume runs/ddp trainer.max_steps=30",
                                       other.path());
  ASSERT_EQ(alone.exit_code, 0) << alone.err;
  auto again = zoo::testing::run_shell(launch(2) + "train --resume runs/ddp trainer.max_steps=40", other.path());
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  auto train = events(other.path() / "runs/ddp/metrics.jsonl", "train");
  ASSERT_FALSE(train.empty());
  EXPECT_EQ(train.back()["step"], 40);
  auto resumes = events(other.path() / "runs/ddp/metrics.jsonl", "resume");
  ASSERT_EQ(resumes.size(), 2u);
  EXPECT_EQ(resumes[0]["world_size"], 1);
  EXPECT_EQ(resumes[1]["world_size"], 2);
  EXPECT_LT(train.back()["loss"].get<double>(), events(other.path() / "runs/ddp/metrics.jsonl", "train").front()["loss"].get<double>());
}

TEST(Launch, MistakesAreOneLineErrors) {
  zoo::testing::TempDir dir;
  auto bad_rank = zoo::testing::run_shell(std::string(ZOO_BINARY) + " launch --nnodes 2 --node-rank 2 -- train r.yaml",
                                          dir.path());
  EXPECT_EQ(bad_rank.exit_code, 2);
  EXPECT_NE(bad_rank.err.find("--node-rank 2 is not below --nnodes 2"), std::string::npos) << bad_rank.err;
  auto bad_world = zoo::testing::run_shell("WORLD_SIZE=2 RANK=5 " + std::string(ZOO_BINARY) + " train r.yaml", dir.path());
  EXPECT_EQ(bad_world.exit_code, 2);
  EXPECT_NE(bad_world.err.find("needs a RANK in 0..1"), std::string::npos) << bad_world.err;
}
