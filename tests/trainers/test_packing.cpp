// Packing instruction examples into shared rows (data.packing) changes nothing an example
// learns: the loss of every example in a packed row equals its loss alone, because attention
// stays within each example and positions restart at each. Without the segment mask the same
// rows give other losses, so the test can tell.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "datasets/instructions.h"
#include "models/gpt.h"
#include "tests/datasets/example_fixture.h"

using namespace zoo::datasets;
namespace F = torch::nn::functional;

namespace {

// The data type with its collation in reach, to batch chosen rows.
struct Instructions : InstructionsDataset {
  using InstructionsDataset::collate;
  using InstructionsDataset::InstructionsDataset;
};

std::vector<const InstructionExample*> pointers(const std::vector<InstructionExample>& examples) {
  std::vector<const InstructionExample*> out;
  for (const auto& example : examples) out.push_back(&example);
  return out;
}

class PackingTest : public zoo::testing::ExampleDataTest {
 protected:
  // 40 reversal examples of 2 to 9 letters: prompts of 4 to 11 tokens, responses of 3 to 10.
  std::string examples() {
    std::mt19937 random(7);
    std::string lines;
    for (int i = 0; i < 40; ++i) {
      std::string word(2 + random() % 8, 'a');
      for (auto& c : word) c = static_cast<char>('a' + random() % 5);
      lines += R"({"instruction": ")" + word + R"(", "output": ")" + std::string(word.rbegin(), word.rend()) + "\"}\n";
    }
    return write("reverse.jsonl", lines);
  }

  InstructionOptions options(bool packing) {
    InstructionOptions o;
    o.train = o.valid = examples();
    o.prompt_template_no_input = "Q{instruction}>";
    o.max_length = 48;
    o.packing = packing;
    return o;
  }

  zoo::models::GPT model(const std::string& pos) {
    torch::manual_seed(3);
    zoo::models::GPTOptions o;
    o.n_layer = 2;
    o.n_head = 2;
    o.d_model = 32;
    o.block_size = 48;
    o.pos = pos;
    zoo::models::GPT gpt(o, tokenizer_->vocab_size());
    gpt->eval();
    return gpt;
  }

  // Summed next-token loss of each example (keyed by its ids), from rows run by `forward`.
  template <class Forward>
  std::map<std::vector<int64_t>, double> losses(const std::vector<InstructionExample>& rows,
                                                const InstructionBatch& batch, Forward forward) {
    auto logits = forward(batch);
    auto per_token = F::cross_entropy(logits.reshape({-1, logits.size(-1)}), batch.target.reshape({-1}),
                                      F::CrossEntropyFuncOptions().ignore_index(kIgnoreIndex).reduction(torch::kNone))
                         .reshape(batch.target.sizes());
    std::map<std::vector<int64_t>, double> out;
    for (size_t b = 0; b < rows.size(); ++b) {
      const auto& row = rows[b];
      const auto lengths = row.segment_lengths.empty() ? std::vector<int64_t>{row.tokens()} : row.segment_lengths;
      int64_t start = 0;
      for (int64_t length : lengths) {
        // The example's targets are input positions start .. start + length - 2.
        const double loss = per_token[static_cast<int64_t>(b)].narrow(0, start, length - 1).sum().template item<double>();
        out[std::vector<int64_t>(row.ids.begin() + start, row.ids.begin() + start + length)] = loss;
        start += length;
      }
    }
    return out;
  }

  std::shared_ptr<zoo::tokenizers::CharTokenizer> tokenizer_ =
      zoo::testing::char_tokenizer("Q>abcde", {zoo::tokenizers::Special::pad, zoo::tokenizers::Special::eos});
};

}  // namespace

TEST_F(PackingTest, RowsHoldWholeExamplesAndMaskTheirBoundaries) {
  auto packed = std::make_shared<Instructions>(options(true), DataContext{tokenizer_, 1, 0});
  const auto& rows = packed->train_examples();
  ASSERT_LT(rows.size(), 20u);  // 40 examples of 9 to 22 tokens in rows of 49
  int64_t examples = 0;
  for (const auto& row : rows) {
    EXPECT_LE(row.tokens(), 49);
    int64_t start = 0;
    for (int64_t length : row.segment_lengths) {
      EXPECT_EQ(row.labels[start], kIgnoreIndex) << "an example's first token is no target";
      start += length;
      ++examples;
    }
    EXPECT_EQ(start, row.tokens());
  }
  EXPECT_EQ(examples, 40);
  EXPECT_EQ(packed->unpacked_train_examples().size(), 40u);
  EXPECT_NE(packed->describe().find("train 40 examples packed into " + std::to_string(rows.size()) + " rows of 49"),
            std::string::npos)
      << packed->describe();

  // Segment ids number the examples of the input positions (ids[:-1]); padding is 0.
  InstructionBatch batch = packed->collate(pointers(rows));
  ASSERT_TRUE(batch.segment_ids.defined());
  EXPECT_EQ(batch.segment_ids.sizes(), batch.input.sizes());
  EXPECT_TRUE(batch.segment_ids.eq(0).eq(batch.attention_mask.logical_not()).all().item<bool>());
  const auto& row = rows[0];
  EXPECT_EQ(batch.segment_ids[0][0].item<int64_t>(), 1);
  EXPECT_EQ(batch.segment_ids[0][row.segment_lengths[0] - 1].item<int64_t>(), 1);
  EXPECT_EQ(batch.segment_ids[0][row.segment_lengths[0]].item<int64_t>(), 2);
  EXPECT_EQ(batch.segment_ids[0][row.tokens() - 2].item<int64_t>(), static_cast<int64_t>(row.segment_lengths.size()));
  EXPECT_FALSE(packed->valid_batch(0, 4).segment_ids.defined()) << "validation rows are single examples";
}

TEST_F(PackingTest, EachExamplesLossEqualsItsLossAlone) {
  auto packed = std::make_shared<Instructions>(options(true), DataContext{tokenizer_, 1, 0});
  auto alone = std::make_shared<Instructions>(options(false), DataContext{tokenizer_, 1, 0});
  const auto& rows = packed->train_examples();
  const auto& singles = alone->valid_examples();
  ASSERT_GT(rows.front().segment_lengths.size(), 1u);

  for (const std::string pos : {"learned", "rotary"}) {
    SCOPED_TRACE(pos);
    auto gpt = model(pos);
    torch::NoGradGuard no_grad;
    const InstructionBatch packed_batch = packed->collate(pointers(rows));
    auto with_packing = losses(rows, packed_batch, [&](const InstructionBatch& b) {
      return gpt->forward_packed(b.input, b.segment_ids);
    });
    auto naive = losses(rows, packed_batch, [&](const InstructionBatch& b) { return gpt->forward(b.input); });
    auto unpacked = losses(singles, alone->collate(pointers(singles)),
                           [&](const InstructionBatch& b) { return gpt->forward_masked(b.input, b.attention_mask); });

    ASSERT_EQ(with_packing.size(), unpacked.size());
    double largest_leak = 0;
    for (const auto& [ids, loss] : unpacked) {
      ASSERT_TRUE(with_packing.count(ids));
      EXPECT_NEAR(with_packing[ids], loss, 1e-4) << "an example's summed loss (nats) differs when packed";
      largest_leak = std::max(largest_leak, std::abs(naive[ids] - loss));
    }
    // The same rows run as one sequence each (no segments) let examples see those before them.
    EXPECT_GT(largest_leak, 1e-2);
  }
}
