// The seq2seq trainer end to end on a tiny task (reversing letter strings, the output spelled
// with spaces between letters): it learns it, `zoo eval` scores every distinct validation
// source against all its references, `zoo generate` decodes through the run's Decoder, and the
// exported encode / decode_step run in Python with only torch and decode what the run does.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <sstream>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: reverse
seed: 5
threads: 1
tokenizer: {type: char, special_tokens: [pad, bos, eos]}
data: {type: pairs, train: train.tsv, valid: valid.tsv}
model: {type: seq2seq, embedding_dim: 32, hidden_size: 64, attention: luong_general, input_feeding: true, dropout: 0.0}
trainer:
  type: seq2seq
  batch_size: 32
  max_steps: 400
  log_every: 50
  eval_every: 0
  eval_batches: 4
  eval_metrics: [exact_match, wer, per, bleu]
  teacher_forcing: {start: 1.0, end: 0.8, decay_steps: 400}
  optimizer: {type: adamw, lr: 5.0e-3, weight_decay: 0.0}
  scheduler: {type: cosine, warmup_steps: 20, min_lr: 5.0e-4}
generation: {strategy: greedy, prompt: "abc", max_new_tokens: 40}
)";

std::string random_word(std::mt19937& rng) {
  std::string word;
  const int length = 3 + static_cast<int>(rng() % 4);
  for (int i = 0; i < length; ++i) word += static_cast<char>('a' + rng() % 8);
  return word;
}

// "abc" -> "c b a".
std::string reversed_spelled(const std::string& word) {
  std::string out;
  for (auto it = word.rbegin(); it != word.rend(); ++it) {
    if (!out.empty()) out += ' ';
    out += *it;
  }
  return out;
}

class Seq2seqRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir;
    std::mt19937 rng(11);
    std::ofstream train(dir_->path() / "train.tsv");
    for (int i = 0; i < 2000; ++i) {
      auto word = random_word(rng);
      train << word << '\t' << reversed_spelled(word) << '\n';
    }
    // Each validation source twice: its reversal and a wrong second reference, which must not
    // make a right output count as wrong.
    std::ofstream valid(dir_->path() / "valid.tsv");
    for (int i = 0; i < 50; ++i) {
      auto word = random_word(rng);
      valid << word << '\t' << reversed_spelled(word) << '\n' << word << "\ta a\n";
    }
    valid.close();
    train.close();
    std::ofstream(dir_->path() / "reverse.yaml") << kRecipe;
    train_ = new zoo::testing::ProcessResult(run_shell(std::string(ZOO_BINARY) + " train reverse.yaml", dir_->path()));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete dir_;
  }
  static zoo::testing::ProcessResult zoo(const std::string& args) {
    return run_shell(std::string(ZOO_BINARY) + " " + args, dir_->path());
  }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult* train_ = nullptr;
};

TEST_F(Seq2seqRun, LearnsTheTaskAndEvalScoresEveryDistinctSource) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto result = zoo("eval runs/reverse --checkpoint latest --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto values = nlohmann::json::parse(result.out);
  std::cout << "[ reverse ] " << values.dump() << "\n";
  EXPECT_EQ(values["eval_sources"].get<int64_t>(), 50);
  EXPECT_GE(values["exact_match"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(values["wer"].get<double>(), 1.0 - values["exact_match"].get<double>());
  EXPECT_LT(values["per"].get<double>(), 0.1);
  EXPECT_GT(values["bleu"].get<double>(), 80.0);

  // The same numbers were logged at the end of training.
  nlohmann::json logged;
  std::ifstream in(dir_->path() / "runs/reverse/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto event = nlohmann::json::parse(line);
    if (event["event"] == "eval_metrics") logged = event;
  }
  for (const char* key : {"exact_match", "per", "bleu"})
    EXPECT_NEAR(values[key].get<double>(), logged[key].get<double>(), 1e-9) << key;
}

TEST_F(Seq2seqRun, GenerateDecodesWithEveryStrategy) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto greedy = zoo("generate runs/reverse --checkpoint latest --json --prompt abcdef --strategy greedy");
  ASSERT_EQ(greedy.exit_code, 0) << greedy.err;
  auto sequence = nlohmann::json::parse(greedy.out)["sequences"][0];
  EXPECT_EQ(sequence["text"], "f e d c b a");
  EXPECT_EQ(sequence["finish_reason"], "stop_token");
  auto beam = zoo("generate runs/reverse --checkpoint latest --json --prompt abcdef --beam 4 --num-return 2");
  ASSERT_EQ(beam.exit_code, 0) << beam.err;
  auto beams = nlohmann::json::parse(beam.out)["sequences"];
  ASSERT_EQ(beams.size(), 2u);
  EXPECT_EQ(beams[0]["text"], "f e d c b a");
  EXPECT_GE(beams[0]["score"].get<double>(), beams[1]["score"].get<double>());
  auto sampled = zoo("generate runs/reverse --checkpoint latest --json --prompt abcdef --strategy sample --seed 3");
  ASSERT_EQ(sampled.exit_code, 0) << sampled.err;
}

// Traced at a batch of 2 sources of 5 tokens; run here at 3 sources of 3 to 7.
TEST_F(Seq2seqRun, TheExportedEncodeAndDecodeStepDecodeInPythonAsTheRunDoes) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto exported = zoo("export runs/reverse --checkpoint latest --out reverse.pt");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::ofstream(dir_->path() / "sources.txt") << "abc\nhgfedca\nbead\n";
  auto run = zoo("generate runs/reverse --checkpoint latest --json --strategy greedy --prompt-file sources.txt");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string expected;
  std::istringstream lines(run.out);
  for (std::string line; std::getline(lines, line);)
    expected += nlohmann::json::parse(line)["sequences"][0]["text"].get<std::string>() + "\n";
  auto python = run_shell(std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR +
                              "/tests/python/seq2seq_greedy_from_archive.py reverse.pt abc hgfedca bead",
                          dir_->path());
  ASSERT_EQ(python.exit_code, 0) << python.err;
  EXPECT_EQ(python.out, expected);
}

}  // namespace
