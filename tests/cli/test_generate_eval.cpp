// `zoo generate` strategies and flags, and `zoo eval`, through the binary on a tiny trained run:
// the strategy identities hold end to end, streaming prints what the batch path returns, and
// the metrics logged during training equal those `zoo eval` computes on the same checkpoint.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <regex>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: tiny
seed: 5
threads: 1
tokenizer: {type: char}
data: {type: text, train: tiny.txt, valid: valid.txt, block_size: 32}
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer:
  type: lm
  batch_size: 16
  max_steps: 120
  log_every: 20
  eval_every: 60
  eval_batches: 4
  eval_metrics: [perplexity, distinct]
  optimizer: {type: adamw, lr: 3.0e-3}
generation: {prompt: "the ", max_new_tokens: 30}
export: {torchscript: true}
)";

class GenerateEval : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new zoo::testing::TempDir;
    zoo::testing::write_tiny_corpus(dir_->path() / "tiny.txt", 500);
    zoo::testing::write_tiny_corpus(dir_->path() / "valid.txt", 60);
    std::ofstream(dir_->path() / "tiny.yaml") << kRecipe;
    train_ = new zoo::testing::ProcessResult(run_shell(std::string(ZOO_BINARY) + " train tiny.yaml", dir_->path()));
  }
  static void TearDownTestSuite() {
    delete train_;
    delete dir_;
  }
  static zoo::testing::ProcessResult zoo(const std::string& args) {
    return run_shell(std::string(ZOO_BINARY) + " " + args, dir_->path());
  }
  // `zoo ARGS` fails with exactly this one line and exit code 2.
  static void expect_one_line_error(const std::string& args, const std::string& line) {
    auto result = zoo(args);
    EXPECT_EQ(result.exit_code, 2) << args;
    EXPECT_EQ(result.err, line + "\n") << args;
  }
  // The sequences of a --json generation.
  static nlohmann::json sequences(const std::string& flags) {
    auto result = zoo("generate runs/tiny --json " + flags);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out)["sequences"];
  }
  static inline zoo::testing::TempDir* dir_ = nullptr;
  static inline zoo::testing::ProcessResult* train_ = nullptr;
};

TEST_F(GenerateEval, GreedyEqualsBeamOfOneAndTopKOfOne) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto greedy = sequences("--strategy greedy --max-new-tokens 40");
  ASSERT_EQ(greedy.size(), 1u);
  EXPECT_EQ(greedy[0]["ids"].size(), 40u);
  EXPECT_EQ(sequences("--beam 1 --max-new-tokens 40")[0]["ids"], greedy[0]["ids"]);
  EXPECT_EQ(sequences("--strategy sample --top-k 1 --temperature 1 --max-new-tokens 40 --seed 9")[0]["ids"], greedy[0]["ids"]);
  EXPECT_EQ(sequences("--preset precise --max-new-tokens 40")[0]["ids"], greedy[0]["ids"]);
}

TEST_F(GenerateEval, SamplingIsReproducibleAndStreamingPrintsTheSameText) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto draws = sequences("--num-return 3 --seed 4 --preset creative");
  ASSERT_EQ(draws.size(), 3u);
  EXPECT_EQ(sequences("--num-return 3 --seed 4 --preset creative"), draws);
  EXPECT_NE(draws[0]["ids"], draws[1]["ids"]);
  for (const auto& draw : draws) {
    // The log-probability is the model's (unfiltered) and gives the reported perplexity.
    const double n = static_cast<double>(draw["ids"].size());
    EXPECT_NEAR(draw["perplexity"].get<double>(), std::exp(-draw["log_prob"].get<double>() / n), 1e-9);
  }
  auto plain = zoo("generate runs/tiny --seed 4 --prompt 'the ' --top-p 0.8");
  auto streamed = zoo("generate runs/tiny --seed 4 --prompt 'the ' --top-p 0.8 --stream");
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_EQ(streamed.out, plain.out);
}

TEST_F(GenerateEval, BeamSearchReturnsTheNBestInOrder) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto best = sequences("--beam 4 --num-return 3 --max-new-tokens 12 --length-penalty 0");
  ASSERT_EQ(best.size(), 3u);
  for (size_t k = 1; k < best.size(); ++k) {
    EXPECT_GE(best[k - 1]["score"].get<double>(), best[k]["score"].get<double>());
    EXPECT_NE(best[k - 1]["ids"], best[k]["ids"]);
  }
  // With no length penalty and no repetition penalty the score is the log-probability.
  EXPECT_NEAR(best[0]["score"].get<double>(), best[0]["log_prob"].get<double>(), 1e-4);
}

TEST_F(GenerateEval, StopStringsEndTheText) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  auto full = sequences("--strategy greedy --max-new-tokens 40")[0]["text"].get<std::string>();
  const std::string stop = full.substr(10, 2);
  auto cut = sequences("--strategy greedy --max-new-tokens 40 --stop '" + stop + "'")[0];
  EXPECT_EQ(cut["finish_reason"], "stop_string");
  EXPECT_EQ(cut["text"].get<std::string>(), full.substr(0, full.find(stop)));
}

TEST_F(GenerateEval, FlagMistakesAreOneLine) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  expect_one_line_error("generate runs/tiny --beam 2 --stream",
                        "zoo generate: --stream prints one sequence as it is generated; it cannot be combined with "
                        "beam search, --num-return above 1 or --prompt-file");
  expect_one_line_error("generate runs/tiny --beam 2 --num-return 3",
                        "zoo generate: beam search keeps 2 hypotheses and cannot return 3 (raise num_beams) (from the "
                        "flags and the recipe's generation.num_return_sequences)");
  expect_one_line_error("eval runs/tiny --metrics bleu",
                        "zoo eval --metrics: no metric 'bleu' for this trainer; it has: perplexity, distinct, self_bleu");
}

TEST_F(GenerateEval, EvalMatchesTheMetricsLoggedDuringTraining) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  nlohmann::json logged;
  std::ifstream in(dir_->path() / "runs/tiny/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto event = nlohmann::json::parse(line);
    if (event["event"] == "eval_metrics") logged = event;
  }
  ASSERT_EQ(logged["step"], 120);
  auto result = zoo("eval runs/tiny --checkpoint latest --json --metrics perplexity,distinct");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto values = nlohmann::json::parse(result.out);
  for (const char* key : {"perplexity", "perplexity_per_char", "perplexity_per_word", "distinct_1", "distinct_2"})
    EXPECT_NEAR(values[key].get<double>(), logged[key].get<double>(), 1e-6) << key;
  // Char tokens: every character but the first is a predicted token, so per-token and
  // per-character perplexity differ only by that one character.
  const double tokens = values["eval_tokens"].get<double>();
  EXPECT_NEAR(std::log(values["perplexity_per_char"].get<double>()), values["loss"].get<double>() * tokens / (tokens + 1), 1e-9);
  EXPECT_NEAR(values["perplexity"].get<double>(), std::exp(values["loss"].get<double>()), 1e-9);
  // A trained model beats the uniform guess over the tiny corpus's characters.
  EXPECT_LT(values["perplexity"].get<double>(), 8.0);

  // --data scores another file: the training text, which the model fits at least as well.
  auto on_train = nlohmann::json::parse(zoo("eval runs/tiny --checkpoint latest --json --metrics perplexity --data tiny.txt").out);
  EXPECT_GT(on_train["eval_tokens"].get<double>(), tokens);
}

TEST_F(GenerateEval, TheArchiveAloneGeneratesWhatTheRunDoes) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  // `export: {torchscript: true}` wrote one at the end of training; `zoo export` writes another.
  EXPECT_TRUE(fs::exists(dir_->path() / "runs/tiny/export/model.pt"));
  auto exported = zoo("export runs/tiny --checkpoint latest --out tiny.pt");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  // fp32: 4 bytes per parameter plus the code, tokenizer and recipe.
  std::smatch per_parameter;
  ASSERT_TRUE(std::regex_search(exported.out, per_parameter, std::regex(R"(\(([0-9.]+) bytes per parameter\))"))) << exported.out;
  EXPECT_GE(std::stod(per_parameter[1]), 4.0);
  EXPECT_LT(std::stod(per_parameter[1]), 5.0);

  const std::string flags = " --strategy greedy --prompt 'the c' --max-new-tokens 50";  // 55 > the 32-token context
  auto from_run = zoo("generate runs/tiny --checkpoint latest" + flags);
  auto from_archive = zoo("generate --torchscript tiny.pt" + flags);
  ASSERT_EQ(from_archive.exit_code, 0) << from_archive.err;
  EXPECT_EQ(from_archive.out, from_run.out);
  // The 20-line Python script of docs/export.md, with only torch.
  auto python = run_shell(std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/greedy_from_archive.py tiny.pt 'the c' 50",
                          dir_->path());
  ASSERT_EQ(python.exit_code, 0) << python.err;
  EXPECT_EQ(python.out, from_run.out);
  // examples/run_torchscript.cpp, with only libtorch.
  auto cpp = run_shell(std::string(ZOO_RUN_TORCHSCRIPT) + " tiny.pt 'the c' 50", dir_->path());
  ASSERT_EQ(cpp.exit_code, 0) << cpp.err;
  EXPECT_EQ(cpp.out, from_run.out);
}

TEST_F(GenerateEval, ArchiveMistakesAreOneLine) {
  ASSERT_EQ(train_->exit_code, 0) << train_->err;
  expect_one_line_error("export runs/none",
                        "runs/none: no checkpoint 'best' (use latest, best, step_N or base; is this a run directory?)");
  // A TorchScript file from another tool has none of the files zoo bundles.
  auto made = run_shell(std::string(ZOO_PYTHON) + " -c \"import torch; torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), 'other.pt')\"",
                        dir_->path());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  expect_one_line_error("generate --torchscript other.pt",
                        "other.pt: a TorchScript archive without zoo/manifest.json, so not one zoo export wrote; it "
                        "needs the tokenizer and recipe zoo export bundles");
  auto both = zoo("generate runs/tiny --torchscript other.pt");
  EXPECT_EQ(both.exit_code, 2);

  // A corrupt checkpoint: one line naming the file, nothing written.
  fs::create_directories(dir_->path() / "broken/checkpoints");
  fs::copy(dir_->path() / "runs/tiny/best", dir_->path() / "broken/best", fs::copy_options::recursive);
  std::ofstream(dir_->path() / "broken/best/model.pt", std::ios::trunc) << "not a checkpoint";
  auto corrupt = zoo("export broken --out broken.pt");
  EXPECT_EQ(corrupt.exit_code, 2);
  EXPECT_EQ(corrupt.err.rfind("broken/best/model.pt: cannot load model weights", 0), 0u) << corrupt.err;
  EXPECT_EQ(std::count(corrupt.err.begin(), corrupt.err.end(), '\n'), 1);
  EXPECT_FALSE(fs::exists(dir_->path() / "broken.pt"));
}

}  // namespace
