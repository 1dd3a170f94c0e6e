// Search on a small random GPT: the identities between strategies, seeded reproducibility,
// log-probabilities against the full forward, batching with left padding, stopping, and beam
// search against exhaustive search.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "generation/generate.h"
#include "models/gpt.h"
#include "tests/support/user_error.h"

using namespace zoo::generation;

namespace {

// O(1) weights give peaked, input-dependent distributions (GPT-2 init gives near-uniform ones);
// `sharpness` scales them.
std::shared_ptr<zoo::models::GPTImpl> random_gpt(int64_t vocab = 50, int64_t context = 32, double sharpness = 1.0) {
  zoo::models::GPTOptions o;
  o.block_size = context;
  o.n_layer = 2;
  o.n_head = 4;
  o.d_model = 64;
  torch::manual_seed(0);
  auto model = std::make_shared<zoo::models::GPTImpl>(o, vocab);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters())
    if (p.dim() >= 2) p.normal_(0.0, sharpness / std::sqrt(static_cast<double>(p.size(1))));
  model->eval();
  return model;
}

zoo::GenerationOptions options_for(const std::string& strategy, int64_t max_new_tokens) {
  zoo::GenerationOptions o;
  o.apply_preset(strategy == "greedy" ? "precise" : "creative");
  o.strategy = strategy;
  o.max_new_tokens = max_new_tokens;
  o.length_penalty = 0.0;
  return o;
}

std::vector<std::vector<Sequence>> run(zoo::models::GPTImpl& model, Request request) {
  auto decoder = language_model_decoder(model);
  return generate(*decoder, request);
}

Sequence one(zoo::models::GPTImpl& model, const Tokens& prompt, const zoo::GenerationOptions& options,
             uint64_t seed = 0, Tokens stop_tokens = {}) {
  Request request;
  request.prompts = {prompt};
  request.options = options;
  request.seed = seed;
  request.stop_tokens = std::move(stop_tokens);
  return run(model, request)[0][0];
}

// log p(continuation | prompt) from one full forward over prompt + continuation.
double full_forward_log_prob(zoo::models::GPTImpl& model, const Tokens& prompt, const Tokens& continuation) {
  Tokens all = prompt;
  all.insert(all.end(), continuation.begin(), continuation.end());
  torch::NoGradGuard no_grad;
  auto log_probs = model.forward(torch::tensor(all).view({1, -1}))[0].log_softmax(-1);  // (T, V)
  double total = 0;
  for (size_t i = 0; i < continuation.size(); ++i)
    total += log_probs[static_cast<int64_t>(prompt.size() + i - 1)][continuation[i]].item<double>();
  return total;
}

const Tokens kPrompt{3, 14, 15, 9, 2};

}  // namespace

TEST(Generate, GreedyEqualsBeamSearchOfWidthOne) {
  auto model = random_gpt();
  // 60 tokens on a 32-token context: both slide their window the same way.
  auto greedy = one(*model, kPrompt, options_for("greedy", 60));
  auto beam_options = options_for("beam", 60);
  beam_options.num_beams = 1;
  auto beam = one(*model, kPrompt, beam_options);
  ASSERT_EQ(greedy.ids.size(), 60u);
  EXPECT_EQ(beam.ids, greedy.ids);
  EXPECT_NEAR(beam.log_prob, greedy.log_prob, 1e-4);
  EXPECT_GT(std::set<int64_t>(greedy.ids.begin(), greedy.ids.end()).size(), 3u) << "a degenerate model proves little";

  // With a stop token, greedy stops at it; width-1 beam search with early stopping too.
  const int64_t stop = greedy.ids[6];
  auto greedy_stopped = one(*model, kPrompt, options_for("greedy", 60), 0, {stop});
  beam_options.early_stopping = true;
  auto beam_stopped = one(*model, kPrompt, beam_options, 0, {stop});
  EXPECT_EQ(greedy_stopped.finish_reason, "stop_token");
  EXPECT_LE(greedy_stopped.ids.size(), 6u);
  EXPECT_EQ(beam_stopped.ids, greedy_stopped.ids);
  EXPECT_EQ(beam_stopped.finish_reason, "stop_token");
}

TEST(Generate, TopKOfOneEqualsGreedy) {
  auto model = random_gpt();
  auto sample = options_for("sample", 40);
  sample.top_k = 1;
  EXPECT_EQ(one(*model, kPrompt, sample, 123).ids, one(*model, kPrompt, options_for("greedy", 40)).ids);
}

TEST(Generate, SeededSamplingIsReproducible) {
  auto model = random_gpt(50, 32, 0.5);
  auto options = options_for("sample", 40);
  auto first = one(*model, kPrompt, options, 42);
  EXPECT_EQ(one(*model, kPrompt, options, 42).ids, first.ids);
  EXPECT_NE(one(*model, kPrompt, options, 43).ids, first.ids);
  EXPECT_NE(first.ids, one(*model, kPrompt, options_for("greedy", 40)).ids);
}

TEST(Generate, LogProbabilityMatchesTheFullForward) {
  auto model = random_gpt(50, 32, 0.5);
  for (const std::string strategy : {"greedy", "sample"}) {
    auto sequence = one(*model, kPrompt, options_for(strategy, 25), 5);
    ASSERT_EQ(sequence.ids.size(), 25u);
    EXPECT_NEAR(sequence.log_prob, full_forward_log_prob(*model, kPrompt, sequence.ids), 1e-3) << strategy;
    EXPECT_DOUBLE_EQ(sequence.score, sequence.log_prob);
  }
}

TEST(Generate, LeftPaddedBatchDecodesLikeEachPromptAlone) {
  auto model = random_gpt(50, 32, 0.5);
  std::vector<Tokens> prompts{{7, 1, 2}, {4, 4, 8, 9, 10, 11, 12}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};
  for (const std::string strategy : {"greedy", "sample"}) {
    Request batch;
    batch.prompts = prompts;
    batch.options = options_for(strategy, 18);
    batch.options.top_k = 1;  // a deterministic draw, so that batched and alone must agree
    auto together = run(*model, batch);
    for (size_t p = 0; p < prompts.size(); ++p) {
      auto alone = one(*model, prompts[p], batch.options);
      EXPECT_EQ(together[p][0].ids, alone.ids) << strategy << " prompt " << p;
      EXPECT_NEAR(together[p][0].log_prob, alone.log_prob, 1e-3);
    }
  }
}

TEST(Generate, EachSequenceStopsOnItsOwn) {
  auto model = random_gpt();
  std::vector<Tokens> prompts{kPrompt, {1, 2, 3}};
  auto alone0 = one(*model, prompts[0], options_for("greedy", 30));
  const int64_t stop = alone0.ids[4];  // ends prompt 0 early; prompt 1 may or may not meet it
  Request batch;
  batch.prompts = prompts;
  batch.options = options_for("greedy", 30);
  batch.stop_tokens = {stop};
  auto together = run(*model, batch);
  for (size_t p = 0; p < prompts.size(); ++p) {
    auto alone = one(*model, prompts[p], batch.options, 0, {stop});
    EXPECT_EQ(together[p][0].ids, alone.ids) << p;
    EXPECT_EQ(together[p][0].finish_reason, alone.finish_reason) << p;
  }
  EXPECT_EQ(together[0][0].finish_reason, "stop_token");
  EXPECT_LE(together[0][0].ids.size(), 4u);
  for (int64_t token : together[1][0].ids) EXPECT_NE(token, stop);
}

TEST(Generate, StopStringsCutTheText) {
  auto model = random_gpt();
  auto decode = [](const Tokens& ids) {
    std::string text;
    for (int64_t id : ids) text += static_cast<char>('a' + id % 26);
    return text;
  };
  Request request;
  request.prompts = {kPrompt};
  request.options = options_for("greedy", 30);
  request.decode = decode;
  auto full = run(*model, request)[0][0];
  ASSERT_EQ(full.text, decode(full.ids));
  const std::string stop = full.text.substr(8, 2);
  request.options.stop = {stop};
  auto cut = run(*model, request)[0][0];
  EXPECT_EQ(cut.finish_reason, "stop_string");
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_LE(cut.ids.size(), 10u);
}

TEST(Generate, NoRepeatNgramLeavesNoRepeatedBigram) {
  auto model = random_gpt();
  auto options = options_for("greedy", 30);
  options.no_repeat_ngram_size = 2;
  auto sequence = one(*model, kPrompt, options);
  Tokens all = kPrompt;
  all.insert(all.end(), sequence.ids.begin(), sequence.ids.end());
  std::set<std::pair<int64_t, int64_t>> bigrams;
  for (size_t i = 0; i + 1 < all.size(); ++i) EXPECT_TRUE(bigrams.insert({all[i], all[i + 1]}).second) << i;
}

TEST(Generate, SamplingReturnsIndependentDraws) {
  auto model = random_gpt(50, 32, 0.5);
  Request request;
  request.prompts = {kPrompt, {5, 6}};
  request.options = options_for("sample", 12);
  request.options.num_return_sequences = 3;
  request.seed = 9;
  auto results = run(*model, request);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& draws : results) {
    ASSERT_EQ(draws.size(), 3u);
    EXPECT_NE(draws[0].ids, draws[1].ids);
  }
}

TEST(BeamSearch, ReturnsTheNBestScoredByLogProbability) {
  auto model = random_gpt(50, 32, 0.5);
  auto options = options_for("beam", 8);
  options.num_beams = 5;
  options.num_return_sequences = 3;
  Request request;
  request.prompts = {kPrompt};
  request.options = options;
  auto best = run(*model, request)[0];
  ASSERT_EQ(best.size(), 3u);
  for (size_t k = 0; k < best.size(); ++k) {
    // length_penalty 0 and no penalties: the score is the log-probability under the model.
    EXPECT_NEAR(best[k].score, full_forward_log_prob(*model, kPrompt, best[k].ids), 1e-3);
    if (k > 0) {
      EXPECT_GE(best[k - 1].score, best[k].score);
      EXPECT_NE(best[k - 1].ids, best[k].ids);
    }
  }
  // Beam search of width 5 finds a continuation at least as likely as greedy's here.
  EXPECT_GE(best[0].log_prob, one(*model, kPrompt, options_for("greedy", 8)).log_prob - 1e-6);
}

TEST(BeamSearch, IsExactWhenTheBeamHoldsEveryPrefix) {
  // Vocabulary 5, 3 new tokens: a beam of 25 keeps every 2-token prefix, so its best must be the
  // most likely of all 125 continuations.
  auto model = random_gpt(5, 16, 0.7);
  auto options = options_for("beam", 3);
  options.num_beams = 25;
  auto best = one(*model, {1, 3}, options);
  double best_brute = -1e30;
  Tokens argmax;
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t b = 0; b < 5; ++b)
      for (int64_t c = 0; c < 5; ++c) {
        double lp = full_forward_log_prob(*model, {1, 3}, {a, b, c});
        if (lp > best_brute) best_brute = lp, argmax = {a, b, c};
      }
  EXPECT_EQ(best.ids, argmax);
  EXPECT_NEAR(best.score, best_brute, 1e-4);
}

TEST(BeamSearch, LengthPenaltyIsGnmt) {
  EXPECT_DOUBLE_EQ(length_penalty(7, 0.0), 1.0);
  EXPECT_NEAR(length_penalty(7, 0.6), std::pow(2.0, 0.6), 1e-12);  // ((5 + 7) / 6)^0.6
  EXPECT_NEAR(length_penalty(1, 1.0), 1.0, 1e-12);
}

TEST(Generate, ContradictoryOptionsAreUserErrors) {
  auto model = random_gpt();
  auto options = options_for("beam", 4);
  options.num_beams = 2;
  options.num_return_sequences = 3;
  EXPECT_EQ(zoo::testing::user_error_of([&] { one(*model, kPrompt, options); }),
            "generation.num_return_sequences: beam search keeps 2 hypotheses and cannot return 3 (raise num_beams)");
  options = options_for("greedy", 4);
  options.num_return_sequences = 2;
  EXPECT_NE(zoo::testing::user_error_of([&] { one(*model, kPrompt, options); }), "(no UserError)");
}
