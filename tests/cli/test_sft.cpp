// The sft trainer through `zoo`: a GPT learns to reverse words from instruction data (loss on
// the responses only), and data of another type is one clear line.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>

#include "tests/cli/process.h"

using zoo::testing::events;
using zoo::testing::run_shell;

namespace {

const char* kRecipe = R"(name: sft
seed: 2
threads: 1
tokenizer: {type: char, special_tokens: [pad, eos]}
data:
  type: instructions
  train: train.jsonl
  valid: valid.jsonl
  prompt_template_no_input: "reverse {instruction}\n"
model: {type: gpt, n_layer: 2, n_head: 2, d_model: 64, block_size: 32}
trainer:
  type: sft
  batch_size: 32
  max_steps: 400
  log_every: 50
  eval_every: 200
  eval_batches: 2
  eval_at_start: true
  eval_metrics: [exact_match]
  optimizer: {type: adamw, lr: 3.0e-3}
  scheduler: {type: cosine, warmup_steps: 10}
generation: {max_new_tokens: 0}
)";

// {"instruction": "abc", "output": "cba"}: words of 3 to 6 letters from a 6-letter alphabet.
void write_reversals(const std::filesystem::path& path, int count, unsigned seed) {
  std::mt19937 random(seed);
  std::ofstream out(path);
  for (int i = 0; i < count; ++i) {
    std::string word(3 + random() % 4, 'a');
    for (auto& c : word) c = static_cast<char>('a' + random() % 6);
    out << nlohmann::json{{"instruction", word}, {"output", std::string(word.rbegin(), word.rend())}}.dump() << "\n";
  }
}

}  // namespace

TEST(SFT, AGptLearnsTheResponsesOfInstructionData) {
  zoo::testing::TempDir dir;
  write_reversals(dir.path() / "train.jsonl", 2000, 1);
  write_reversals(dir.path() / "valid.jsonl", 64, 2);
  std::ofstream(dir.path() / "sft.yaml") << kRecipe;
  auto result = run_shell(std::string(ZOO_BINARY) + " train sft.yaml", dir.path());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto evals = events(dir.path() / "runs/sft/metrics.jsonl", "eval");
  ASSERT_EQ(evals.size(), 3u);
  // Responses are 4 to 7 tokens of 7 kinds (6 letters and </s>): ln 7 = 1.95 nats when guessed.
  EXPECT_GT(evals.front()["valid_loss"].get<double>(), 1.5);
  EXPECT_LT(evals.back()["valid_loss"].get<double>(), 1.0);
  auto matches = events(dir.path() / "runs/sft/metrics.jsonl", "eval_metrics");
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches.front()["exact_match"].get<double>(), 0.0);
  EXPECT_GT(matches.back()["exact_match"].get<double>(), 0.1);

  // Packed: rows of up to 33 tokens hold 3 or 4 examples, so 10 rows a batch see about as many
  // examples as 32 single ones, and learn as well.
  auto packed = run_shell(std::string(ZOO_BINARY) + " train sft.yaml name=packed data.packing=true trainer.batch_size=10",
                          dir.path());
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  EXPECT_NE((packed.out + packed.err).find("train 2,000 examples packed into"), std::string::npos) << packed.out;
  auto packed_evals = events(dir.path() / "runs/packed/metrics.jsonl", "eval");
  EXPECT_GT(packed_evals.front()["valid_loss"].get<double>(), 1.5);
  EXPECT_LT(packed_evals.back()["valid_loss"].get<double>(), 1.0);
  EXPECT_GT(events(dir.path() / "runs/packed/metrics.jsonl", "eval_metrics").back()["exact_match"].get<double>(), 0.1);

  // zoo eval: exact match per task, with demonstrations before each prompt on request.
  auto evaluated = run_shell(std::string(ZOO_BINARY) + " eval runs/sft --checkpoint latest --few-shot 2 --json", dir.path());
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  auto values = nlohmann::json::parse(evaluated.out);
  EXPECT_EQ(values["few_shot"].get<int64_t>(), 2);
  EXPECT_EQ(values["eval_examples"].get<int64_t>(), 64);

  auto wrong = run_shell(std::string(ZOO_BINARY) +
                             " train sft.yaml name=wrong \"data={type: text, train: train.jsonl, block_size: 16}\"",
                         dir.path());
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("trainer sft cannot train on data of type text; use data.type instructions"),
            std::string::npos)
      << wrong.err;
}
