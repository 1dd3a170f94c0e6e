// The seq2seq Decoder under generate(): left-padded batches decode as each source alone, beam
// width 1 is greedy, generation stops at the length limit, and recorded attention follows rows
// through reorder() and equals the model's teacher-forced attention.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "generation/generate.h"
#include "generation/seq2seq_decoder.h"

using zoo::generation::Request;
using zoo::generation::Seq2SeqDecoder;
using zoo::generation::Tokens;
using zoo::models::Seq2Seq;
using zoo::models::Seq2SeqOptions;

namespace {

constexpr int64_t kVocab = 19, kBos = 1, kEos = 2;

Seq2Seq build(const std::string& attention, uint64_t seed = 0) {
  Seq2SeqOptions o;
  o.embedding_dim = 12;
  o.hidden_size = 16;
  o.encoder_layers = 2;
  o.attention = attention;
  o.input_feeding = attention != "none";
  o.dropout = 0.0;
  torch::manual_seed(seed);
  Seq2Seq model(o, kVocab);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0.0, p.dim() >= 2 ? 1.0 / std::sqrt(static_cast<double>(p.size(1))) : 0.2);
  return model;
}

std::vector<Tokens> sources() { return {{5, 9, 3, 12, 7, 4}, {8, 3}, {11, 6, 6, 14}}; }

Request greedy(const std::vector<Tokens>& prompts, int64_t max_new_tokens = 12) {
  Request request;
  request.prompts = prompts;
  request.options.strategy = "greedy";
  request.options.max_new_tokens = max_new_tokens;
  request.stop_tokens = {kEos};
  return request;
}

}  // namespace

TEST(Seq2seqDecoder, ALeftPaddedBatchDecodesAsEachSourceAlone) {
  for (const char* attention : {"bahdanau", "luong_general", "none"}) {
    auto model = build(attention);
    Seq2SeqDecoder decoder(*model, kBos, 40);
    auto batched = zoo::generation::generate(decoder, greedy(sources()));
    for (size_t i = 0; i < sources().size(); ++i) {
      auto alone = zoo::generation::generate(decoder, greedy({sources()[i]}));
      EXPECT_EQ(batched[i][0].ids, alone[0][0].ids) << attention << " source " << i;
      EXPECT_NEAR(batched[i][0].log_prob, alone[0][0].log_prob, 1e-4) << attention << " source " << i;
    }
  }
}

TEST(Seq2seqDecoder, BeamWidthOneIsGreedy) {
  auto model = build("luong_general");
  Seq2SeqDecoder decoder(*model, kBos, 40);
  auto greedy_results = zoo::generation::generate(decoder, greedy(sources()));
  auto request = greedy(sources());
  request.options.strategy = "beam";
  request.options.num_beams = 1;
  request.options.length_penalty = 0.0;
  auto beam_results = zoo::generation::generate(decoder, request);
  for (size_t i = 0; i < sources().size(); ++i) {
    EXPECT_EQ(beam_results[i][0].ids, greedy_results[i][0].ids) << "source " << i;
    EXPECT_NEAR(beam_results[i][0].log_prob, greedy_results[i][0].log_prob, 1e-4) << "source " << i;
  }
  // A wider beam finds a sequence at least as likely as greedy's (no length penalty, and these
  // random models rarely stop early).
  request.options.num_beams = 5;
  auto wide = zoo::generation::generate(decoder, request);
  for (size_t i = 0; i < sources().size(); ++i)
    EXPECT_GE(wide[i][0].score, greedy_results[i][0].log_prob - 1e-6) << "source " << i;
}

// With no stop token, every sequence runs to the decoder's limit and stops there: greedy,
// sampling and beam search alike, even when max_new_tokens asks for more.
TEST(Seq2seqDecoder, GenerationStopsAtTheLengthLimit) {
  auto model = build("bahdanau");
  Seq2SeqDecoder decoder(*model, kBos, 5);
  for (const char* strategy : {"greedy", "sample", "beam"}) {
    auto request = greedy(sources(), 50);
    request.stop_tokens.clear();
    request.options.strategy = strategy;
    request.options.num_beams = 3;
    for (const auto& results : zoo::generation::generate(decoder, request)) {
      EXPECT_EQ(results[0].ids.size(), 5u) << strategy;
      EXPECT_EQ(results[0].finish_reason, "length") << strategy;
    }
  }
}

// Recorded weights are each source's own, in source order, and follow the rows through
// reorder(): they equal the teacher-forced attention of the decoded tokens.
TEST(Seq2seqDecoder, RecordedAttentionFollowsRowsAndMatchesTeacherForcing) {
  auto model = build("luong_general");
  Seq2SeqDecoder decoder(*model, kBos, 40);
  decoder.record_attention(true);
  const auto all = sources();
  // The left-padded batch generate() would pass: rows of 6, 2 and 4 tokens.
  auto ids = torch::zeros({3, 6}, torch::kLong);
  auto mask = torch::zeros({3, 6}, torch::kBool);
  for (int64_t b = 0; b < 3; ++b) {
    const auto& s = all[static_cast<size_t>(b)];
    const auto n = static_cast<int64_t>(s.size());
    ids[b].narrow(0, 6 - n, n).copy_(torch::tensor(s, torch::kLong));
    mask[b].narrow(0, 6 - n, n).fill_(true);
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tokens;
  auto logits = decoder.start(ids, mask);
  for (int t = 0; t < 4; ++t) {
    tokens.push_back(logits.argmax(-1));
    logits = decoder.step(tokens.back());
  }
  auto order = torch::tensor(std::vector<int64_t>{2, 0}, torch::kLong);  // drop row 1, swap the others
  decoder.reorder(order);
  auto recorded = decoder.attention();  // (2, 5, 6)
  ASSERT_EQ(recorded.sizes(), (std::vector<int64_t>{2, 5, 6}));
  auto decoded = torch::stack(tokens, 1).index_select(0, order);  // (2, 4)
  for (int64_t r = 0; r < 2; ++r) {
    const auto& s = all[static_cast<size_t>(order[r].item<int64_t>())];
    const auto n = static_cast<int64_t>(s.size());
    auto source = torch::tensor(s, torch::kLong).unsqueeze(0);
    auto input = torch::cat({torch::full({1, 1}, kBos, torch::kLong), decoded[r].unsqueeze(0)}, 1);  // (1, 5)
    auto forced = model->forward(source, torch::ones_like(source, torch::kBool), input).attention[0];  // (5, n)
    EXPECT_LE((recorded[r].narrow(1, 0, n) - forced).abs().max().item<double>(), 1e-5) << "row " << r;
    EXPECT_EQ(recorded[r].narrow(1, n, 6 - n).abs().sum().item<double>(), 0.0) << "row " << r;
  }
}

// The output limit never cuts the source: a 30-token source with outputs of at most 5 decodes
// as the model's own encode of all 30 does (greedy, beam). A source limit keeps the last tokens,
// as training's left truncation does.
TEST(Seq2seqDecoder, SourcesLongerThanTheOutputLimitAreReadWhole) {
  auto model = build("bahdanau");
  Tokens source;
  for (int64_t i = 0; i < 30; ++i) source.push_back(3 + (i * 7) % (kVocab - 3));
  struct Decoded {
    Tokens ids;
    double log_prob = 0;
  };
  auto manual = [&](const Tokens& ids) {  // greedy by hand on encode/decode_step
    torch::NoGradGuard no_grad;
    model->eval();
    auto src = torch::tensor(ids).unsqueeze(0);
    auto state = model->encode(src, torch::ones_like(src));
    Decoded out;
    auto token = torch::full({1}, kBos, torch::kLong);
    for (int i = 0; i < 4; ++i) {
      auto step = model->decode_step(state, token);
      state = step.state;
      auto log_probs = torch::log_softmax(step.logits, -1);
      token = step.logits.argmax(-1);
      out.ids.push_back(token.item<int64_t>());
      out.log_prob += log_probs[0][out.ids.back()].item<double>();
    }
    return out;
  };
  auto request = greedy({source}, 4);
  request.stop_tokens.clear();
  auto expect_decodes_as = [&](Seq2SeqDecoder& decoder, const Decoded& expected, const char* what) {
    auto got = zoo::generation::generate(decoder, request)[0][0];
    EXPECT_EQ(got.ids, expected.ids) << what;
    EXPECT_NEAR(got.log_prob, expected.log_prob, 1e-4) << what;
  };
  Seq2SeqDecoder whole(*model, kBos, 5);
  expect_decodes_as(whole, manual(source), "greedy");
  request.options.strategy = "beam";
  request.options.num_beams = 1;
  expect_decodes_as(whole, manual(source), "beam");

  request.options.strategy = "greedy";
  Seq2SeqDecoder limited(*model, kBos, 5, /*max_source_length=*/12);
  const Tokens last(source.end() - 12, source.end());
  expect_decodes_as(limited, manual(last), "the last 12");
  EXPECT_GT(std::abs(manual(last).log_prob - manual(source).log_prob), 1e-3);  // the cut matters to this model
}
