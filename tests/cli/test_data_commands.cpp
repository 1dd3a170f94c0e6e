// `zoo tokenizer` and `zoo data` end to end: training and encoding with each tokenizer type,
// the recipe form of tokenizer training, token files picked up by training, a BPE recipe
// that trains, and the one-line errors with exit code 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/process.h"

namespace fs = std::filesystem;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: tiny
seed: 3
threads: 1
tokenizer: {type: char}
data: {type: text, train: tiny.txt, block_size: 16}
model: {type: gpt, n_layer: 1, n_head: 2, d_model: 32, block_size: 16}
trainer:
  type: lm
  batch_size: 8
  max_steps: 60
  log_every: 10
  eval_every: 0
  eval_batches: 2
  optimizer: {type: adamw, lr: 1.0e-2}
  scheduler: {type: constant}
generation: {prompt: "the ", max_new_tokens: 10}
)";

class DataCommands : public ::testing::Test {
 protected:
  void SetUp() override {
    zoo::testing::write_tiny_corpus(dir_.path() / "tiny.txt", 300);
    std::ofstream(dir_.path() / "tiny.yaml") << kRecipe;
  }
  zoo::testing::ProcessResult zoo(const std::string& args) {
    return run_shell(std::string(ZOO_BINARY) + " " + args, dir_.path());
  }
  // Train losses logged in the run's metrics.
  std::vector<double> losses(const std::string& run) {
    std::vector<double> out;
    std::ifstream in(dir_.path() / "runs" / run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      auto event = nlohmann::json::parse(line);
      if (event["event"] == "train") out.push_back(event["loss"].get<double>());
    }
    return out;
  }
  zoo::testing::TempDir dir_;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_F(DataCommands, WordTokenizerTrainsAndEncodes) {
  auto trained = zoo("tokenizer train --input tiny.txt --type word --set 'special_tokens=[pad,eos]' --out word");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  // 13 words and "." plus <unk>, <pad>, </s>.
  EXPECT_EQ(lines(trained.out).back(), "word: word tokenizer, 17 tokens in the vocabulary");
  auto encoded = zoo("tokenizer encode word \"the cat sat.\"");
  ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
  const auto out = lines(encoded.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], "the cat sat .");
  EXPECT_EQ(lines(out[0]).size(), 1u);
}

TEST_F(DataCommands, RecipeAndFileFormsTrainTheSameSentencePieceModel) {
  auto from_file = zoo("tokenizer train --input tiny.txt --type bpe --vocab-size 60 --out a");
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(lines(from_file.out).back(), "a: sentencepiece tokenizer, 60 tokens in the vocabulary");
  auto from_recipe = zoo("tokenizer train tiny.yaml tokenizer.type=sentencepiece tokenizer.vocab_size=60 --out b");
  ASSERT_EQ(from_recipe.exit_code, 0) << from_recipe.err;
  std::ofstream(dir_.path() / "probe.txt") << "the dog ran to a house\nrain on the mat\n";
  auto a = zoo("tokenizer encode a --file probe.txt"), b = zoo("tokenizer encode b --file probe.txt");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(lines(a.out).size(), 2u);
  EXPECT_EQ(a.out, b.out);
}

TEST_F(DataCommands, TrainingReadsTheTokenFileAndLearnsTheSameWay) {
  auto in_memory = zoo("train tiny.yaml name=memory");
  ASSERT_EQ(in_memory.exit_code, 0) << in_memory.err;
  auto tokenized = zoo("data tokenize tiny.yaml");
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  EXPECT_NE(tokenized.out.find("tiny.txt: "), std::string::npos);
  auto mapped = zoo("train tiny.yaml name=mapped");
  ASSERT_EQ(mapped.exit_code, 0) << mapped.err;
  EXPECT_NE(mapped.out.find("tokens memory-mapped from tiny.txt."), std::string::npos) << mapped.out;
  // The same tokens in the same order: the same losses to the last bit.
  EXPECT_EQ(losses("memory"), losses("mapped"));
  EXPECT_EQ(losses("memory").size(), 6u);
}

TEST_F(DataCommands, OneOverrideSwitchesTheRecipeToBpeAndItStillTrains) {
  auto run = zoo("train tiny.yaml tokenizer.type=sentencepiece tokenizer.vocab_size=64 trainer.max_steps=100");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto loss = losses("tiny");
  ASSERT_EQ(loss.size(), 10u);
  // Uniform guessing costs ln(64) = 4.16; the words are drawn uniformly from 13, so a model
  // that learnt the pieces and the sentence ends gets near ln(13) = 2.56 a word-piece.
  EXPECT_LT(loss.back(), 2.8);
  // The tokenizer saved with the checkpoint is the BPE one.
  EXPECT_EQ(nlohmann::json::parse(zoo::testing::slurp(dir_.path() / "runs/tiny/best/tokenizer/tokenizer.json"))["type"],
            "sentencepiece");
}

TEST_F(DataCommands, MistakesAreOneLineWithExitCodeTwo) {
  struct Case {
    std::string args, message_start;
  };
  const std::vector<Case> cases = {
      {"tokenizer encode nowhere \"x\"", "nowhere/tokenizer.json: cannot open file"},
      {"tokenizer train --input tiny.txt --type bpe --vocab-size 100000 --out big", "tiny.txt: tokenizer.vocab_size: 100000 is more than this text supports (at most 76); lower it"},
      {"tokenizer train --input missing.txt --type word --out w", "missing.txt: cannot open file"},
      {"tokenizer train --input tiny.txt --type wrod --out w", "<tokenizer>:1:"},
      {"tokenizer train --input tiny.txt --type word --set nope --out w", "zoo tokenizer train: --set nope: expected KEY=VALUE"},
      {"data prepare brwn", "unknown corpus 'brwn' (did you mean 'brown'?)"},
      {"data tokenize", "zoo data tokenize: give a recipe"},
  };
  for (const auto& c : cases) {
    auto result = zoo(c.args);
    EXPECT_EQ(result.exit_code, 2) << c.args << "\n" << result.err;
    EXPECT_EQ(result.err.rfind(c.message_start, 0), 0u) << c.args << "\n" << result.err;
    EXPECT_EQ(lines(result.err).size(), 1u) << c.args << "\n" << result.err;
  }
}
