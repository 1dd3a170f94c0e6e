// The fast paths training takes (models/nn/dropout.h, the causal attention of training steps,
// GPT's position view, the fused LSTM layer) against the general code they stand in for.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/gpt.h"
#include "models/nn/attention.h"
#include "models/nn/dropout.h"
#include "models/nn/lstm.h"
#include "tests/support/threads.h"

namespace nn = zoo::models::nn;

namespace {
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST(Dropout, KeepsOneMinusPOfTheElementsScaledAndRoutesGradientsThroughTheSameMask) {
  torch::manual_seed(0);
  auto x = (torch::rand({1000, 1000}) + 0.5).requires_grad_();
  auto y = nn::dropout(x, 0.2, /*train=*/true);
  auto kept = y.ne(0);
  // 1M Bernoulli(0.8) draws: the standard deviation of the kept share is 0.0004.
  EXPECT_NEAR(kept.to(torch::kDouble).mean().item<double>(), 0.8, 0.002);
  EXPECT_LE(max_abs_diff(y.masked_select(kept), x.detach().masked_select(kept) / 0.8), 1e-6);
  y.sum().backward();
  EXPECT_LE(max_abs_diff(x.grad(), kept.to(torch::kFloat) / 0.8), 1e-6);
  // Rows and columns are independent: no stripes from the hash of the flat index.
  auto row_share = kept.to(torch::kDouble).mean(1), column_share = kept.to(torch::kDouble).mean(0);
  EXPECT_LT((row_share - 0.8).abs().max().item<double>(), 0.06);  // 5 sigma over 1000 elements
  EXPECT_LT((column_share - 0.8).abs().max().item<double>(), 0.06);
}

TEST(Dropout, IsSeededByTheGeneratorAndIdentityOutsideTraining) {
  auto x = torch::ones({64, 64});
  torch::manual_seed(7);
  auto first = nn::dropout(x, 0.5, true), second = nn::dropout(x, 0.5, true);
  torch::manual_seed(7);
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.5, true), first));
  EXPECT_FALSE(torch::equal(first, second));  // each call draws a new seed
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.5, false), x));
  EXPECT_TRUE(torch::equal(nn::dropout(x, 0.0, true), x));
}

TEST(Attention, TrainingPathMatchesTheGeneralPathInValuesAndGradients) {
  zoo::testing::ScopedThreads two(2);  // the sequences split between two threads
  torch::manual_seed(0);
  nn::SelfAttention attention(nn::SelfAttentionOptions(32, 4).causal(true));
  auto x = torch::randn({3, 10, 32});
  auto run = [&](bool training) {
    attention->train(training);  // dropout 0: train and eval differ only in the path taken
    attention->zero_grad();
    auto input = x.clone().requires_grad_();
    auto y = attention(input);
    (y * y).sum().backward();
    return std::make_tuple(y.detach(), input.grad(), attention->c_attn->weight.grad().clone());
  };
  auto [y_fast, dx_fast, dw_fast] = run(true);
  auto [y_general, dx_general, dw_general] = run(false);
  EXPECT_LE(max_abs_diff(y_fast, y_general), 1e-6);
  EXPECT_LE(max_abs_diff(dx_fast, dx_general), 1e-5);
  EXPECT_LE(max_abs_diff(dw_fast, dw_general), 1e-5);
}

// The CPU training path (one node from c_attn's output to the heads' outputs, dropout drawn a
// sequence at a time) against the same attention written with plain ops under the same seed:
// equal masks, so equal values and gradients, with dropout on.
TEST(Attention, FusedCpuTrainingPathMatchesPlainOpsWithDropout) {
  zoo::testing::ScopedThreads two(2);
  torch::manual_seed(0);
  const int64_t B = 3, T = 10, C = 32, H = 4, hd = C / H;
  nn::SelfAttention attention(nn::SelfAttentionOptions(C, H).causal(true).dropout(0.3));
  attention->train();
  auto x = torch::randn({B, T, C});

  auto fused_input = x.clone().requires_grad_();
  torch::manual_seed(11);
  auto fused = attention(fused_input);
  auto weights = torch::randn_like(fused);
  (fused * weights).sum().backward();
  auto fused_grad_w = attention->c_attn->weight.grad().clone();
  attention->zero_grad();

  auto plain_input = x.clone().requires_grad_();
  torch::manual_seed(11);
  auto qkv = attention->c_attn(plain_input).split(C, -1);
  auto heads = [&](const torch::Tensor& t) { return t.view({B, T, H, hd}).transpose(1, 2); };  // (B, H, T, hd)
  auto q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
  scores = scores.masked_fill(torch::ones({T, T}, torch::kBool).triu(1), -1e30);
  auto probs = nn::dropout(torch::softmax(scores, -1).contiguous(), 0.3, true);
  auto y = torch::matmul(probs, v).transpose(1, 2).reshape({B, T, C});
  auto plain = nn::dropout(attention->c_proj(y), 0.3, true);
  (plain * weights).sum().backward();

  EXPECT_LE(max_abs_diff(fused, plain), 1e-5);
  EXPECT_GT(plain.eq(0).sum().item<int64_t>(), 0);  // the output dropout did drop
  EXPECT_LE(max_abs_diff(fused_input.grad(), plain_input.grad()), 1e-5);
  EXPECT_LE(max_abs_diff(fused_grad_w, attention->c_attn->weight.grad()), 1e-5);
}

TEST(Gpt, TrainingForwardWithThePositionViewMatchesEvalForward) {
  torch::manual_seed(0);
  zoo::models::GPTOptions options;
  options.n_layer = 2;
  options.n_head = 2;
  options.d_model = 32;
  options.block_size = 16;
  auto model = std::make_shared<zoo::models::GPTImpl>(options, 50);
  auto ids = torch::randint(50, {2, 12});
  model->train();
  auto trained = model->forward(ids);
  model->eval();
  EXPECT_LE(max_abs_diff(trained, model->forward(ids)), 1e-5);
}

TEST(Gpt, GradientCheckpointingGivesTheSameGradientsWithDropout) {
  zoo::models::GPTOptions options;
  options.n_layer = 2;
  options.n_head = 2;
  options.d_model = 32;
  options.block_size = 16;
  options.dropout = 0.2;  // the recomputation must draw the same masks
  auto ids = torch::randint(50, {2, 12});
  auto gradients = [&](bool checkpointing) {
    options.gradient_checkpointing = checkpointing;
    torch::manual_seed(0);
    auto model = std::make_shared<zoo::models::GPTImpl>(options, 50);
    model->train();
    torch::manual_seed(1);
    auto logits = model->forward(ids);
    (logits * logits).mean().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach(), grads);
  };
  auto [plain_logits, plain] = gradients(false);
  auto [checkpointed_logits, checkpointed] = gradients(true);
  EXPECT_TRUE(torch::equal(plain_logits, checkpointed_logits));
  ASSERT_EQ(plain.size(), checkpointed.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_LE(max_abs_diff(plain[i], checkpointed[i]), 1e-6) << "parameter " << i;
}

namespace {
// Outputs and every gradient of an LSTM run, for comparing two ways of running it.
struct LSTMRun {
  torch::Tensor output, h_n, c_n, grad_x, grad_h0, grad_c0;
  std::vector<torch::Tensor> grad_weights;
};

// A loss that reads the outputs and both final states with random weights, so every gradient path
// (through h_n and c_n as well as the outputs) is exercised.
LSTMRun run_lstm(torch::nn::LSTM& module, const torch::Tensor& x, const torch::Tensor& h0, const torch::Tensor& c0,
                 bool fused) {
  module->zero_grad();
  auto input = x.clone().requires_grad_(), h = h0.clone().requires_grad_(), c = c0.clone().requires_grad_();
  auto [output, state] = fused ? nn::lstm(module, input, {h, c}) : module->forward(input, std::make_tuple(h, c));
  auto [h_n, c_n] = state;
  // randn(sizes), not randn_like: libtorch's batch_first output is a transposed view, and
  // randn_like would lay the same draws out in its strides, giving other weights.
  torch::manual_seed(99);
  auto loss = (output * torch::randn(output.sizes())).sum() + (h_n * torch::randn(h_n.sizes())).sum() +
              (c_n * torch::randn(c_n.sizes())).sum();
  loss.backward();
  LSTMRun run{output.detach(), h_n.detach(), c_n.detach(), input.grad(), h.grad(), c.grad(), {}};
  for (const auto& weight : module->all_weights()) run.grad_weights.push_back(weight.grad().clone());
  return run;
}

// Each tensor within tolerance of the reference's, relative to the reference's largest magnitude
// when that exceeds 1: weight gradients sum over every row and step.
void expect_same_lstm_run(const LSTMRun& fused, const LSTMRun& reference, double tolerance) {
  auto expect_close = [&](const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
    const double scale = std::max(1.0, b.abs().max().item<double>());
    EXPECT_LE(max_abs_diff(a, b) / scale, tolerance) << what << " (largest magnitude " << scale << ")";
  };
  expect_close(fused.output, reference.output, "output");
  expect_close(fused.h_n, reference.h_n, "h_n");
  expect_close(fused.c_n, reference.c_n, "c_n");
  expect_close(fused.grad_x, reference.grad_x, "dL/dx");
  expect_close(fused.grad_h0, reference.grad_h0, "dL/dh0");
  expect_close(fused.grad_c0, reference.grad_c0, "dL/dc0");
  ASSERT_EQ(fused.grad_weights.size(), reference.grad_weights.size());
  for (size_t i = 0; i < fused.grad_weights.size(); ++i)
    expect_close(fused.grad_weights[i], reference.grad_weights[i], "gradient of weight " + std::to_string(i));
}
}  // namespace

// libtorch's own LSTM (at::lstm, the path evaluation and export take) is the reference. 1e-5 is
// about 100 float32 ulps: the two sum the same products in other orders.
TEST(FusedLSTM, MatchesLibtorchsLSTMInOutputsFinalStatesAndEveryGradient) {
  torch::manual_seed(0);
  torch::nn::LSTM module(torch::nn::LSTMOptions(6, 8).batch_first(true));
  auto x = torch::randn({5, 7, 6}), h0 = torch::randn({1, 5, 8}), c0 = torch::randn({1, 5, 8});
  expect_same_lstm_run(run_lstm(module, x, h0, c0, true), run_lstm(module, x, h0, c0, false), 1e-5);
}

// Inputs 30x larger saturate the gates (pre-activations beyond +-80, where exp must be clamped):
// the sigmoids and tanhs still agree with libtorch's, and no NaN or infinity appears.
TEST(FusedLSTM, MatchesLibtorchsLSTMWithSaturatedGates) {
  torch::manual_seed(1);
  torch::nn::LSTM module(torch::nn::LSTMOptions(16, 32).batch_first(true));
  auto x = 30 * torch::randn({4, 9, 16}), h0 = torch::randn({1, 4, 32}), c0 = torch::randn({1, 4, 32});
  auto fused = run_lstm(module, x, h0, c0, true);
  EXPECT_TRUE(torch::isfinite(fused.grad_x).all().item<bool>());
  expect_same_lstm_run(fused, run_lstm(module, x, h0, c0, false), 1e-5);
}

// Two layers (the seq2seq decoder's shape), a batch wide enough for the gate passes to run in
// parallel chunks, and one time step (h_n is then the only output row).
TEST(FusedLSTM, MatchesLibtorchsLSTMForStackedLayersWideBatchesAndOneStep) {
  zoo::testing::ScopedThreads two(2);  // 300 rows of 64 units: two chunks a gate pass
  torch::manual_seed(2);
  torch::nn::LSTM module(torch::nn::LSTMOptions(12, 64).num_layers(2).batch_first(true));
  for (int64_t steps : {1, 11}) {
    auto x = torch::randn({300, steps, 12}), h0 = torch::randn({2, 300, 64}), c0 = torch::randn({2, 300, 64});
    expect_same_lstm_run(run_lstm(module, x, h0, c0, true), run_lstm(module, x, h0, c0, false), 1e-5);
  }
}

namespace {
// lstm_padded against libtorch's LSTM over the whole padded batch, the loss reading only real
// positions: outputs there, and every gradient, must agree; the fused outputs at padding are zero.
void expect_padded_run_matches_libtorch(torch::nn::LSTM& module, const torch::Tensor& x, const torch::Tensor& h0,
                                        const torch::Tensor& c0, const torch::Tensor& lengths) {
  const auto real = (torch::arange(x.size(1)).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1);  // (B, T, 1)
  auto run = [&](bool padded) {
    module->zero_grad();
    auto input = x.clone().requires_grad_(), h = h0.clone().requires_grad_(), c = c0.clone().requires_grad_();
    auto output = padded ? nn::lstm_padded(module, input, {h, c}, lengths)
                         : std::get<0>(module->forward(input, std::make_tuple(h, c)));
    torch::manual_seed(98);
    (output * torch::randn(output.sizes()) * real).sum().backward();
    LSTMRun result{output.detach() * real, {}, {}, input.grad(), h.grad(), c.grad(), {}};
    for (const auto& weight : module->all_weights()) result.grad_weights.push_back(weight.grad().clone());
    return std::make_pair(result, output.detach());
  };
  auto [padded, padded_output] = run(true);
  auto [reference, reference_output] = run(false);
  padded.h_n = reference.h_n = padded.c_n = reference.c_n = torch::zeros({1});  // not returned with lengths
  expect_same_lstm_run(padded, reference, 1e-5);
  EXPECT_EQ(padded_output.masked_select(real.logical_not()).abs().max().item<float>(), 0.0f);
}
}  // namespace

// Rows in any order, one of full length and one empty; then in descending and in ascending order
// (no permutation); then a batch wide enough for two gate-pass chunks, its rows dropping out step
// by step.
TEST(FusedLSTM, PaddedRowsSkipTheirPaddingAndMatchLibtorchsLSTMAtRealPositions) {
  zoo::testing::ScopedThreads two(2);
  torch::manual_seed(4);
  torch::nn::LSTM module(torch::nn::LSTMOptions(6, 8).num_layers(2).batch_first(true));
  auto x = torch::randn({6, 7, 6}), h0 = torch::randn({2, 6, 8}), c0 = torch::randn({2, 6, 8});
  expect_padded_run_matches_libtorch(module, x, h0, c0, torch::tensor({3, 7, 0, 5, 7, 1}));
  expect_padded_run_matches_libtorch(module, x, h0, c0, torch::tensor({7, 7, 5, 3, 1, 0}));
  expect_padded_run_matches_libtorch(module, x, h0, c0, torch::tensor({0, 1, 3, 5, 7, 7}));

  torch::nn::LSTM wide(torch::nn::LSTMOptions(12, 64).batch_first(true));
  auto wide_x = torch::randn({600, 9, 12}), wide_h0 = torch::randn({1, 600, 64}), wide_c0 = torch::randn({1, 600, 64});
  expect_padded_run_matches_libtorch(wide, wide_x, wide_h0, wide_c0, torch::randint(0, 10, {600}, torch::kLong));
}

TEST(FusedLSTM, TakesTheModulesOwnPathWithoutGradients) {
  torch::manual_seed(3);
  torch::nn::LSTM module(torch::nn::LSTMOptions(4, 4).batch_first(true));
  auto x = torch::randn({2, 3, 4}), zeros = torch::zeros({1, 2, 4});
  torch::NoGradGuard no_grad;
  auto [fused, fused_state] = nn::lstm(module, x, {zeros, zeros});
  auto [general, general_state] = module->forward(x, std::make_tuple(zeros, zeros));
  EXPECT_TRUE(torch::equal(fused, general));  // the same code ran: bit for bit
}
