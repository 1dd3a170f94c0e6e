// BERT end to end through the binary on generated data: masked-LM pretraining (loss falls,
// masked-token accuracy rises from its value before the first step), fine-tuning a classifier
// from it (the encoder loaded, the heads fresh, both logged), the exported classifier equal to
// the C++ model in libtorch and in Python, early stopping, and the user errors of fine-tuning.
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

const char* kPretrain = R"(name: mlm
seed: 3
threads: 1
tokenizer: {type: word, special_tokens: [pad, mask, cls, sep]}
data: {type: text, train: corpus.txt, valid: valid.txt, block_size: 24}
model: {type: bert, n_layer: 2, n_head: 2, d_model: 32, max_positions: 32, dropout: 0.0}
trainer:
  type: mlm
  batch_size: 16
  max_steps: 300
  log_every: 50
  eval_every: 150
  eval_batches: 4
  eval_metrics: [mlm]
  eval_at_start: true
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: constant, warmup_steps: 10}
)";

// Fine-tuning: `label<TAB>text` examples whose label says whether a pet is named.
const char* kFineTune = R"(name: pets
seed: 3
threads: 1
tokenizer: {type: saved, path: runs/mlm}
data: {type: classification, train: pets.tsv, valid: pets_valid.tsv, max_length: 12, add_cls: true}
model: {type: bert, n_layer: 2, n_head: 2, d_model: 32, max_positions: 32, dropout: 0.0}
trainer:
  type: classify
  init_from: runs/mlm
  head_lr_scale: 3
  balance_classes: true
  batch_size: 16
  max_steps: 120
  log_every: 40
  eval_every: 40
  eval_metrics: [accuracy, f1]
  best_metric: f1_pets
  optimizer: {type: adamw, lr: 3.0e-3}
export: {torchscript: true}
)";

const char* kWords[] = {"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "house", "in", "rain"};

// Sentences whose masked words the context tells: each animal has its own verb and place
// ("the dog ran to the house ."), so masked-token accuracy can rise far above chance.
void write_animal_corpus(const fs::path& path, int lines, unsigned seed) {
  const char* animals[][3] = {{"cat", "sat", "mat"}, {"dog", "ran", "house"}, {"bird", "flew", "tree"},
                              {"fish", "swam", "pond"}};
  std::ofstream out(path);
  for (int i = 0; i < lines; ++i) {
    for (int s = 0; s < 2; ++s) {
      seed = seed * 1103515245u + 12345u;
      const auto& a = animals[(seed >> 16) % 4];
      out << "the " << a[0] << " " << a[1] << " to the " << a[2] << (s ? " .\n" : " . ");
    }
  }
}

// Documents of three sentences on one animal each ("the dog ran to the house ." three times),
// a blank line between them: a true next sentence names the animal of the first, a random one
// mostly another, so next-sentence prediction can learn.
void write_animal_documents(const fs::path& path, int documents, unsigned seed) {
  const char* animals[][3] = {{"cat", "sat", "mat"}, {"dog", "ran", "house"}, {"bird", "flew", "tree"},
                              {"fish", "swam", "pond"}};
  std::ofstream out(path);
  for (int d = 0; d < documents; ++d) {
    seed = seed * 1103515245u + 12345u;
    const auto& a = animals[(seed >> 16) % 4];
    for (int s = 0; s < 3; ++s) out << "the " << a[0] << " " << a[1] << " to the " << a[2] << " .\n";
    out << "\n";
  }
}

void write_pets(const fs::path& path, int lines, unsigned seed) {
  std::ofstream out(path);
  for (int i = 0; i < lines; ++i) {
    std::string text;
    bool pet = false;
    for (int w = 0; w < 8; ++w) {
      seed = seed * 1103515245u + 12345u;
      const char* word = kWords[(seed >> 16) % 13];
      pet = pet || std::string(word) == "cat" || std::string(word) == "dog";
      text += std::string(w ? " " : "") + word;
    }
    out << (pet ? "pets" : "none") << "\t" << text << "\n";
  }
}

class Bert : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir;
    write_animal_corpus(dir_->path() / "corpus.txt", 500, 1);
    write_animal_corpus(dir_->path() / "valid.txt", 60, 2);
    write_pets(dir_->path() / "pets.tsv", 400, 11);
    write_pets(dir_->path() / "pets_valid.tsv", 80, 29);
    std::ofstream(dir_->path() / "mlm.yaml") << kPretrain;
    std::ofstream(dir_->path() / "pets.yaml") << kFineTune;
    pretrain_ = new zoo::testing::ProcessResult(zoo("train mlm.yaml"));
    fine_tune_ = new zoo::testing::ProcessResult(zoo("train pets.yaml"));
  }
  static void TearDownTestSuite() {
    delete pretrain_;
    delete fine_tune_;
    delete dir_;
  }
  static zoo::testing::ProcessResult zoo(const std::string& args) {
    return run_shell(std::string(ZOO_BINARY) + " " + args, dir_->path());
  }
  static void expect_one_line_error(const std::string& args, const std::string& contains) {
    auto result = zoo(args);
    EXPECT_EQ(result.exit_code, 2) << args << "\n" << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(contains), std::string::npos) << result.err;
  }
  static fs::path path(const std::string& name) { return dir_->path() / name; }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult *pretrain_ = nullptr, *fine_tune_ = nullptr;
};

TEST_F(Bert, PretrainingLowersTheLossAndRaisesMaskedAccuracy) {
  ASSERT_EQ(pretrain_->exit_code, 0) << pretrain_->err;
  auto metrics = events(path("runs/mlm/metrics.jsonl"), "eval_metrics");
  ASSERT_EQ(metrics.size(), 3u);  // before the first step, at 150 and at 300
  EXPECT_EQ(metrics.front()["step"], 0);
  const double before = metrics.front()["masked_accuracy"], after = metrics.back()["masked_accuracy"];
  std::cout << "[ mlm ] masked accuracy " << before << " -> " << after << ", loss "
            << metrics.front()["mlm_loss"] << " -> " << metrics.back()["mlm_loss"] << "\n";
  EXPECT_LT(before, 0.15);  // chance over a 19-token vocabulary is 0.05
  EXPECT_GT(after, before + 0.4);
  EXPECT_LT(metrics.back()["mlm_loss"].get<double>(), metrics.front()["mlm_loss"].get<double>() - 1.0);
  auto evals = events(path("runs/mlm/metrics.jsonl"), "eval");
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), evals.front()["valid_loss"].get<double>());
}

// Window halves as sentence pairs: next-sentence prediction trains beside the masked LM.
TEST_F(Bert, NextSentencePredictionTrainsAndIsReported) {
  auto result = zoo("train mlm.yaml name=mlm-nsp trainer.next_sentence=true trainer.max_steps=150 trainer.eval_every=150 "
                    "trainer.eval_metrics=[mlm,nsp]");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto metrics = events(path("runs/mlm-nsp/metrics.jsonl"), "eval_metrics");
  ASSERT_EQ(metrics.size(), 2u);
  for (const auto& values : metrics) {
    EXPECT_GE(values["nsp_accuracy"].get<double>(), 0.0);
    EXPECT_LE(values["nsp_accuracy"].get<double>(), 1.0);
  }
  EXPECT_GT(metrics.back()["masked_accuracy"].get<double>(), metrics.front()["masked_accuracy"].get<double>() + 0.1);
  auto evaluated = zoo("eval runs/mlm-nsp --json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  auto values = nlohmann::json::parse(evaluated.out);
  EXPECT_DOUBLE_EQ(values["nsp_accuracy"].get<double>(), metrics.back()["nsp_accuracy"].get<double>());
  EXPECT_DOUBLE_EQ(values["masked_accuracy"].get<double>(), metrics.back()["masked_accuracy"].get<double>());
}

TEST_F(Bert, FineTuningLoadsTheEncoderLogsTheHeadsAndLearns) {
  ASSERT_EQ(fine_tune_->exit_code, 0) << fine_tune_->err;
  const std::string& log = fine_tune_->out;  // the log goes to stdout, errors to stderr
  EXPECT_NE(log.find("init_from runs/mlm/best: loaded 29 tensors: embeddings (5), layers (24)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("newly initialised: pooler.weight, pooler.bias, classifier.weight, classifier.bias"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("not used from the checkpoint: mlm.bias, mlm.dense.bias, mlm.dense.weight, mlm.norm.bias, "
                     "mlm.norm.weight"),
            std::string::npos)
      << log;
  auto result = zoo("eval runs/pets --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto values = nlohmann::json::parse(result.out);
  EXPECT_GE(values["accuracy"].get<double>(), 0.9) << result.out;
  EXPECT_GE(values["f1_pets"].get<double>(), 0.9) << result.out;
  EXPECT_EQ(values["eval_examples"], 80);
}

// The archive's forward equals the C++ model's logits, in libtorch and in Python, on a padded batch.
TEST_F(Bert, ExportedClassifierGivesTheModelsLogitsInCppAndPython) {
  ASSERT_EQ(fine_tune_->exit_code, 0) << fine_tune_->err;
  torch::manual_seed(0);
  auto ids = torch::randint(4, 10, {3, 10}, torch::kLong);  // within every vocabulary here
  auto mask = torch::ones({3, 10}, torch::kLong);
  mask[1].narrow(0, 6, 4).fill_(0);
  mask[2].narrow(0, 2, 8).fill_(0);
  auto check = zoo::testing::check_exported_encoder(dir_->path(), "pets", ids, mask, {"none", "pets"}, 2);
  EXPECT_EQ(check.expected.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_LE(check.cpp_diff, 1e-5);
  EXPECT_LE(check.python_diff, 1e-5) << check.python_output;
  EXPECT_LE(check.padding_diff, 1e-5) << check.python_output;
}

TEST_F(Bert, EarlyStoppingEndsTheRunWhenTheMetricStopsImproving) {
  ASSERT_EQ(pretrain_->exit_code, 0) << pretrain_->err;
  auto result = zoo("train pets.yaml name=pets-patience trainer.max_steps=400 trainer.eval_every=10 "
                    "trainer.patience=2 trainer.best_metric=accuracy export.torchscript=false");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto end = events(path("runs/pets-patience/metrics.jsonl"), "end");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_TRUE(end[0]["early_stopped"].get<bool>());
  EXPECT_LT(end[0]["step"].get<int64_t>(), 400);
  auto evals = events(path("runs/pets-patience/metrics.jsonl"), "eval_metrics");
  // The last two validations did not beat the best before them.
  ASSERT_GE(evals.size(), 3u);
  double best = 0;
  for (size_t i = 0; i + 2 < evals.size(); ++i) best = std::max(best, evals[i]["accuracy"].get<double>());
  EXPECT_LE(evals[evals.size() - 2]["accuracy"].get<double>(), best);
  EXPECT_LE(evals.back()["accuracy"].get<double>(), best);
  EXPECT_NE(result.out.find("early stopping at step"), std::string::npos);
}

TEST_F(Bert, AnotherVocabularyIsAnErrorNamingBoth) {
  ASSERT_EQ(pretrain_->exit_code, 0) << pretrain_->err;
  expect_one_line_error("train pets.yaml name=other-vocab tokenizer.type=word tokenizer.path=~",
                        "tokenizer.path");  // a saved tokenizer's key on another type
  std::ofstream(path("char.yaml")) << std::string(kFineTune).replace(
      std::string(kFineTune).find("{type: saved, path: runs/mlm}"), 29,
      "{type: char, special_tokens: [pad, mask, cls, sep]}");
  auto result = zoo("train char.yaml name=other-vocab");
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_NE(result.err.find("trainer.init_from: the pretrained run's vocabulary differs from this recipe's tokenizer: "
                            "runs/mlm/best (word tokenizer, 20 tokens"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("vs the recipe's tokenizer (char tokenizer"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("use the pretrained tokenizer (tokenizer: {type: saved, path: runs/mlm})"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(path("runs/other-vocab")));
}

// The sentences type: documents from two files packed into examples, split into pairs at line
// boundaries, half of them with another example's lines as sentence B.
TEST_F(Bert, SentencePairsFromSeveralFilesTrainBothHeads) {
  write_animal_documents(path("docs_a.txt"), 150, 5);
  write_animal_documents(path("docs_b.txt"), 150, 6);
  write_animal_documents(path("docs_valid.txt"), 120, 7);
  const std::string pairs =
      "train mlm.yaml name=pairs 'data={type: sentences, train: [docs_a.txt, docs_b.txt], valid: docs_valid.txt, "
      "max_length: 24, next_sentence: true}' trainer.eval_metrics=[mlm,nsp]";
  auto result = zoo(pairs + " trainer.next_sentence=true");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto metrics = events(path("runs/pairs/metrics.jsonl"), "eval_metrics");
  ASSERT_EQ(metrics.size(), 3u);
  std::cout << "[ pairs ] nsp accuracy " << metrics.front()["nsp_accuracy"] << " -> " << metrics.back()["nsp_accuracy"]
            << ", masked accuracy " << metrics.front()["masked_accuracy"] << " -> "
            << metrics.back()["masked_accuracy"] << "\n";
  // Chance is 0.5 (0.65 is three standard deviations above it on 120 pairs); a same-animal rule
  // gets 0.875 (a random B names the same animal a quarter of the time).
  EXPECT_GT(metrics.back()["nsp_accuracy"].get<double>(), 0.65);
  EXPECT_GT(metrics.back()["masked_accuracy"].get<double>(), metrics.front()["masked_accuracy"].get<double>() + 0.3);
  // The validation pairs and masks are fixed: eval reads the last validation's figures again.
  auto evaluated = zoo("eval runs/pairs --json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(evaluated.out)["nsp_accuracy"].get<double>(),
                   metrics.back()["nsp_accuracy"].get<double>());
  expect_one_line_error(pairs + " name=no-head",
                        "data.next_sentence: sentence pairs need the next-sentence head; set trainer.next_sentence: true");
}

TEST_F(Bert, ASingleClassIsAnErrorAndLongInputsAreCutWithALoggedCount) {
  {
    std::ofstream out(path("one_label.tsv"));
    for (int i = 0; i < 20; ++i) out << "pets\tthe cat sat\n";
  }
  expect_one_line_error("train pets.yaml name=one data.train=one_label.tsv data.valid=one_label.tsv",
                        "data.train: one_label.tsv has a single label ('pets'); a classifier needs at least two classes");
  auto result = zoo("train pets.yaml name=cut data.max_length=5 trainer.max_steps=2 export.torchscript=false");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("data: 400 of 400 train examples longer than 5 tokens were cut (truncation: right)"),
            std::string::npos)
      << result.out;
  // With --json the count goes to standard error and standard output stays one JSON object.
  auto evaluated = zoo("eval runs/cut --json");
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_EQ(nlohmann::json::parse(evaluated.out)["eval_examples"], 80) << evaluated.out;
  EXPECT_NE(evaluated.err.find("valid examples longer than 5 tokens were cut"), std::string::npos) << evaluated.err;
}

}  // namespace
