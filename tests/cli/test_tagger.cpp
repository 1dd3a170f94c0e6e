// The BiLSTM tagger end to end through the binary on generated sentences whose ambiguous words
// only their context can tag: `zoo train` with trainer tag learns them, `zoo eval` reproduces
// the logged accuracy, the exported tagger equals the C++ model in libtorch and in Python at
// lengths it was not traced at, and a BiLSTM sentence classifier trains through classify.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/register_all.h"
#include "tests/cli/export_check.h"
#include "tests/cli/process.h"
#include "trainers/loop.h"

namespace fs = std::filesystem;
using zoo::testing::events;
using zoo::testing::run_shell;

namespace {

const char* kTagger = R"(name: tagger
seed: 5
threads: 1
tokenizer: {type: word}
data: {type: tagging, train: train.conll, valid: valid.conll}
model: {type: bilstm, embedding_dim: 16, hidden_size: 24, num_layers: 1, dropout: 0.0}
trainer:
  type: tag
  batch_size: 16
  max_steps: 150
  log_every: 50
  eval_every: 75
  eval_metrics: [accuracy, macro_f1]
  eval_at_start: true
  best_metric: accuracy
  optimizer: {type: adamw, lr: 1.0e-2}
  scheduler: {type: constant, warmup_steps: 5}
export: {torchscript: true}
)";

// Clauses "the run" (DT NN) or "they run" (PRP VB), joined by "and", ending in ".": whether
// run, walk, book or plan is a noun or a verb depends on the word before it.
void write_clauses(const fs::path& path, int sentences, unsigned seed) {
  const char* ambiguous[] = {"run", "walk", "book", "plan"};
  const char* determiners[] = {"the", "a"};
  const char* pronouns[] = {"they", "we"};
  std::ofstream out(path);
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return seed >> 16;
  };
  for (int s = 0; s < sentences; ++s) {
    const unsigned clauses = 1 + next() % 3;
    for (unsigned c = 0; c < clauses; ++c) {
      if (c > 0) out << "and\tCC\n";
      const bool noun = next() % 2;
      out << (noun ? determiners[next() % 2] : pronouns[next() % 2]) << "\t" << (noun ? "DT" : "PRP") << "\n";
      out << ambiguous[next() % 4] << "\t" << (noun ? "NN" : "VB") << "\n";
    }
    out << ".\t.\n\n";
  }
}

void write_sentiment(const fs::path& path, int lines, unsigned seed) {
  const char* words[] = {"good", "bad", "film", "plot", "the", "was", "very", "and"};
  std::ofstream out(path);
  for (int i = 0; i < lines; ++i) {
    int score = 0;
    std::string text;
    for (int w = 0; w < 6; ++w) {
      seed = seed * 1103515245u + 12345u;
      const std::string word = words[(seed >> 16) % 8];
      score += word == "good" ? 1 : word == "bad" ? -1 : 0;
      text += (w ? " " : "") + word;
    }
    out << (score >= 0 ? "pos" : "neg") << "\t" << text << "\n";
  }
}

class Tagger : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir;
    write_clauses(dir_->path() / "train.conll", 600, 1);
    write_clauses(dir_->path() / "valid.conll", 100, 2);
    std::ofstream(dir_->path() / "tagger.yaml") << kTagger;
    train_ = new zoo::testing::ProcessResult(zoo("train tagger.yaml"));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete dir_;
  }
  static zoo::testing::ProcessResult zoo(const std::string& args) {
    return run_shell(std::string(ZOO_BINARY) + " " + args, dir_->path());
  }
  static fs::path path(const std::string& name) { return dir_->path() / name; }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult* train_ = nullptr;
};

}  // namespace

TEST_F(Tagger, LearnsTagsOnlyTheContextTellsAndEvalReproducesThem) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto metrics = events(path("runs/tagger/metrics.jsonl"), "eval_metrics");
  ASSERT_EQ(metrics.size(), 3u);  // before the first step, at 75 and at 150
  const double accuracy = metrics.back()["accuracy"];
  EXPECT_LT(metrics.front()["accuracy"].get<double>(), 0.5);  // six tags, an untrained model
  std::cout << "[ tagger ] token accuracy " << metrics.front()["accuracy"] << " -> " << accuracy << "\n";
  // A tagger that ignores context gets the ambiguous words (2 of every ~5 tokens) half wrong.
  EXPECT_GE(accuracy, 0.99);
  auto evals = events(path("runs/tagger/metrics.jsonl"), "eval");
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), 0.05);

  auto result = zoo("eval runs/tagger --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto values = nlohmann::json::parse(result.out);
  EXPECT_DOUBLE_EQ(values["accuracy"].get<double>(), accuracy);
  EXPECT_GT(values["eval_tokens"].get<int64_t>(), 400);
}

// The archive's forward equals the C++ model's tag logits on a right-padded batch longer than
// the (2, 8) it was traced at, in libtorch and in Python.
TEST_F(Tagger, ExportedTaggerGivesTheModelsLogitsInCppAndPython) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  torch::manual_seed(0);
  auto ids = torch::randint(1, 10, {3, 13}, torch::kLong);  // the 11-word vocabulary has ids 0..10
  auto mask = torch::ones({3, 13}, torch::kLong);
  mask[1].narrow(0, 9, 4).fill_(0);
  mask[2].narrow(0, 3, 10).fill_(0);
  auto check = zoo::testing::check_exported_encoder(dir_->path(), "tagger", ids, mask,
                                                    {".", "CC", "DT", "NN", "PRP", "VB"}, 3);
  EXPECT_EQ(check.expected.sizes(), (std::vector<int64_t>{3, 13, 6}));
  EXPECT_LE(check.cpp_diff, 1e-5);
  EXPECT_LE(check.python_diff, 1e-5) << check.python_output;
  EXPECT_LE(check.padding_diff, 1e-5) << check.python_output;
}

TEST_F(Tagger, TagOnClassificationDataIsAOneLineError) {
  write_sentiment(path("sentiment.tsv"), 50, 3);
  auto result = zoo("train tagger.yaml name=wrong data.type=classification data.train=sentiment.tsv data.valid=sentiment.tsv");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find("trainer tag cannot train on data of type classification"), std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(path("runs/wrong")));
}

// The same model type classifies whole sentences (max pooling) through the classify trainer.
TEST_F(Tagger, ABiLSTMSentenceClassifierLearns) {
  write_sentiment(path("sentiment_train.tsv"), 600, 4);
  write_sentiment(path("sentiment_valid.tsv"), 100, 5);
  auto result = zoo(
      "train tagger.yaml name=sentiment data.type=classification data.train=sentiment_train.tsv "
      "data.valid=sentiment_valid.tsv trainer.type=classify trainer.max_steps=200 model.pooling=max "
      "export.torchscript=false");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto metrics = events(path("runs/sentiment/metrics.jsonl"), "eval_metrics");
  ASSERT_FALSE(metrics.empty());
  std::cout << "[ classifier ] accuracy " << metrics.back()["accuracy"] << "\n";
  EXPECT_GE(metrics.back()["accuracy"].get<double>(), 0.9);
}

// Batches are drawn a step ahead on a thread (datasets/prefetch.h) and bucketed by length; the
// checkpoint records the data position before the batch drawn ahead, so 20 steps and 20 more
// resumed end with the loss of 40 in one go, to the bit (dropout on: the RNG resumes too).
TEST_F(Tagger, AResumedRunEndsWithTheUninterruptedRunsLoss) {
  const std::string train = "train tagger.yaml trainer.log_every=1 trainer.eval_every=0 trainer.eval_at_start=false "
                            "model.dropout=0.2 data.bucket_batches=4 export.torchscript=false ";
  auto whole = zoo(train + "name=whole trainer.max_steps=40");
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  auto first = zoo(train + "name=halves trainer.max_steps=20");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto resumed = zoo("train --resume runs/halves trainer.max_steps=40");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  auto expected = events(path("runs/whole/metrics.jsonl"), "train");
  auto got = events(path("runs/halves/metrics.jsonl"), "train");
  ASSERT_EQ(got.size(), 40u);
  ASSERT_EQ(expected.size(), 40u);
  for (size_t step : {20u, 21u, 39u})
    EXPECT_DOUBLE_EQ(got[step]["loss"].get<double>(), expected[step]["loss"].get<double>()) << "step " << step + 1;
}
