// Seq2seq tests: teacher-forced logits and attention against an independent Python PyTorch
// encoder-decoder on the same weights with padding in the batch; padding never reaching a real
// position; decode_step matching the teacher-forced forward; scheduled sampling at ratio 0
// being free-running greedy decoding; a small model learning to reverse strings.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/error.h"
#include "models/nn/lora.h"
#include "models/seq2seq.h"

namespace fs = std::filesystem;
using zoo::models::Seq2Seq;
using zoo::models::Seq2SeqOptions;

namespace {

constexpr int64_t kVocab = 23, kBos = 1;

Seq2SeqOptions small(const std::string& attention, const std::string& cell = "lstm", bool input_feeding = false) {
  Seq2SeqOptions o;
  o.cell = cell;
  o.embedding_dim = 12;
  o.hidden_size = 16;
  o.encoder_layers = 2;
  o.decoder_layers = 2;
  o.attention = attention;
  o.attention_dim = 10;
  o.input_feeding = input_feeding;
  o.dropout = 0.0;
  return o;
}

// The default init (U(-0.1, 0.1)) leaves everything nearly linear; O(1) weights make a wrong
// gate, mask or attention show up.
Seq2Seq build(const Seq2SeqOptions& o, uint64_t seed = 0) {
  torch::manual_seed(seed);
  Seq2Seq model(o, kVocab);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    auto& p = item.value();
    if (item.key().find("embedding") != std::string::npos) p.normal_(0.0, 1.0);
    else if (p.dim() >= 2) p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
    else p.normal_(0.0, 0.2);
  }
  model->eval();
  return model;
}

// Three right-padded pairs: sources of 9, 5 and 2 tokens, target inputs of 6, 3 and 7.
struct PaddedBatch {
  torch::Tensor source, mask, target, target_lengths;
  std::vector<int64_t> source_lengths{9, 5, 2}, target_length{6, 3, 7};
};
PaddedBatch padded_batch(int64_t pad_id = 0) {
  PaddedBatch batch;
  torch::manual_seed(3);
  batch.source = torch::randint(3, kVocab, {3, 9}, torch::kLong);
  batch.mask = torch::zeros({3, 9}, torch::kBool);
  batch.target = torch::randint(3, kVocab, {3, 7}, torch::kLong);
  batch.target.select(1, 0).fill_(kBos);
  for (int64_t b = 0; b < 3; ++b) {
    batch.mask[b].narrow(0, 0, batch.source_lengths[b]).fill_(true);
    batch.target[b].narrow(0, batch.target_length[b], 7 - batch.target_length[b]).fill_(pad_id);
  }
  batch.source.masked_fill_(batch.mask.logical_not(), pad_id);
  batch.target_lengths = torch::tensor(batch.target_length, torch::kLong);
  return batch;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Saves the weights, the batch and the C++ outputs, runs tests/python/seq2seq_reference.py and
// returns its largest max abs difference over real positions (NaN if the script failed).
double python_reference_diff(Seq2Seq& model, const PaddedBatch& batch) {
  static int run = 0;
  fs::path dir =
      fs::temp_directory_path() / ("zoo_seq2seq_reference_" + std::to_string(getpid()) + "_" + std::to_string(run++));
  fs::remove_all(dir);
  fs::create_directories(dir);

  torch::NoGradGuard no_grad;
  auto out = model->forward(batch.source, batch.mask, batch.target);
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors.insert("model." + item.key(), item.value().detach().clone());
  tensors.insert("source", batch.source);
  tensors.insert("source_mask", batch.mask);
  tensors.insert("target_input", batch.target);
  tensors.insert("target_lengths", batch.target_lengths);
  tensors.insert("logits", out.logits);
  tensors.insert("attention", out.attention);
  auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(dir / "tensors.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const auto& o = model->options();
  nlohmann::json config = {{"vocab_size", kVocab},         {"cell", o.cell},
                           {"embedding_dim", o.embedding_dim}, {"hidden_size", o.hidden_size},
                           {"encoder_layers", o.encoder_layers}, {"decoder_layers", o.decoder_layers},
                           {"bidirectional", o.bidirectional}, {"attention", o.attention},
                           {"input_feeding", o.input_feeding}};
  std::ofstream(dir / "config.json") << config.dump();

  std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/seq2seq_reference.py " +
                        dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << read_text(dir / "log.txt");
  if (rc != 0 || !fs::exists(dir / "diff.txt")) return std::nan("");
  double diff = std::stod(read_text(dir / "diff.txt"));
  std::cout << "[ reference ] " << o.cell << ", " << o.attention << (o.input_feeding ? ", input feeding" : "") << ": "
            << read_text(dir / "log.txt");
  fs::remove_all(dir);
  return diff;
}

// Greedy decoding through decode_step: the tokens chosen and the logits of each step.
std::pair<torch::Tensor, torch::Tensor> greedy_steps(Seq2Seq& model, const torch::Tensor& source,
                                                     const torch::Tensor& mask, int64_t steps) {
  auto state = model->encode(source, mask);
  auto token = torch::full({source.size(0)}, kBos, torch::kLong);
  std::vector<torch::Tensor> tokens, logits;
  for (int64_t t = 0; t < steps; ++t) {
    auto step = model->decode_step(state, token);
    state = step.state;
    token = step.logits.argmax(-1);
    tokens.push_back(token);
    logits.push_back(step.logits);
  }
  return {torch::stack(tokens, 1), torch::stack(logits, 1)};  // (B, T), (B, T, V)
}

}  // namespace

TEST(Seq2seqReference, BahdanauLstmWithInputFeedingMatchesPythonWithPadding) {
  auto model = build(small("bahdanau", "lstm", /*input_feeding=*/true));
  EXPECT_LE(python_reference_diff(model, padded_batch()), 1e-5);
}

TEST(Seq2seqReference, LuongGeneralLstmMatchesPythonWithPadding) {
  auto model = build(small("luong_general"));  // the parallel teacher-forced path
  EXPECT_LE(python_reference_diff(model, padded_batch()), 1e-5);
}

TEST(Seq2seqReference, LuongGeneralGruWithInputFeedingMatchesPythonWithPadding) {
  auto model = build(small("luong_general", "gru", /*input_feeding=*/true));
  EXPECT_LE(python_reference_diff(model, padded_batch()), 1e-5);
}

TEST(Seq2seqReference, LuongDotAndNoAttentionMatchPython) {
  auto dot = build(small("luong_dot", "gru"));
  EXPECT_LE(python_reference_diff(dot, padded_batch()), 1e-5);
  Seq2SeqOptions o = small("none");
  o.bidirectional = false;
  o.tie_embeddings = true;
  o.embedding_dim = o.hidden_size;
  auto none = build(o);
  EXPECT_LE(python_reference_diff(none, padded_batch()), 1e-5);
}

// Luong general applies W_a to the memory once (keys = W_a^T m) rather than to every query; with
// an unmerged adapter on W_a it applies the layer to the queries. Both give the same scores: the
// merged adapter folds into the keys, the unmerged one is the query side, same logits.
TEST(Seq2seq, LuongGeneralScoresTheSameThroughTheKeysAsThroughTheQueries) {
  auto model = build(small("luong_general"));
  auto batch = padded_batch();
  torch::NoGradGuard no_grad;
  auto plain = model->forward(batch.source, batch.mask, batch.target);

  zoo::LoRAOptions lora;
  lora.rank = 2;
  lora.alpha = 2.0;
  lora.dropout = 0.0;
  lora.targets = {"attention.query"};
  zoo::models::nn::inject_lora(*model, lora);
  auto query = model->named_modules()["attention.query"]->as<zoo::models::nn::LoRALinearImpl>();
  ASSERT_NE(query, nullptr);
  query->lora_B.normal_(0.0, 2.0);  // a fresh adapter changes nothing; this one does
  auto through_queries = model->forward(batch.source, batch.mask, batch.target);
  zoo::models::nn::merge_lora(*model);
  auto through_keys = model->forward(batch.source, batch.mask, batch.target);

  EXPECT_GT((through_queries.logits - plain.logits).abs().max().item<double>(), 1e-3);
  EXPECT_LE((through_keys.logits - through_queries.logits).abs().max().item<double>(), 1e-5);
  EXPECT_LE((through_keys.attention - through_queries.attention).abs().max().item<double>(), 1e-6);
}

// Training (the fused LSTM path, which skips each row's padding in the encoder and, given target
// lengths, in the decoder) gives the real positions the logits of evaluation (libtorch's LSTM over
// every position), and the target lengths change no gradient of a loss over real positions.
TEST(Seq2seq, TrainingSkipsPaddingWithoutChangingRealLogitsOrGradients) {
  auto model = build(small("luong_general"));
  auto batch = padded_batch();
  const auto real = (torch::arange(7).unsqueeze(0) < batch.target_lengths.unsqueeze(1)).unsqueeze(-1);  // (B, T, 1)
  torch::Tensor evaluated;
  {
    torch::NoGradGuard no_grad;
    evaluated = model->forward(batch.source, batch.mask, batch.target).logits;
  }
  model->train();  // dropout is 0: only the path changes
  auto run = [&](const torch::Tensor& target_lengths) {
    model->zero_grad();
    auto logits = model->forward(batch.source, batch.mask, batch.target, 1.0, target_lengths).logits;
    torch::manual_seed(5);
    (logits * torch::randn(logits.sizes()) * real).sum().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(logits.detach() * real, grads);
  };
  auto [skipping, skipping_grads] = run(batch.target_lengths);
  auto [full, full_grads] = run({});
  EXPECT_LE((skipping - evaluated * real).abs().max().item<double>(), 1e-5);
  EXPECT_LE((full - evaluated * real).abs().max().item<double>(), 1e-5);
  ASSERT_EQ(skipping_grads.size(), full_grads.size());
  for (size_t i = 0; i < full_grads.size(); ++i)
    EXPECT_LE((skipping_grads[i] - full_grads[i]).abs().max().item<double>(), 1e-5) << "parameter " << i;
}

// Each pair of a padded batch gets the logits it gets alone, whatever the pad ids.
TEST(Seq2seq, PaddingNeverReachesRealPositions) {
  for (const auto& options : {small("luong_general"), small("bahdanau", "gru", true), small("none")}) {
    auto model = build(options);
    torch::NoGradGuard no_grad;
    auto batch = padded_batch(0);
    auto noisy = padded_batch(17);
    auto logits = model->forward(batch.source, batch.mask, batch.target).logits;
    auto logits_noisy = model->forward(noisy.source, noisy.mask, noisy.target).logits;
    for (int64_t b = 0; b < 3; ++b) {
      const int64_t S = batch.source_lengths[b], T = batch.target_length[b];
      auto source = batch.source[b].narrow(0, 0, S).unsqueeze(0);
      auto alone = model->forward(source, torch::ones_like(source, torch::kBool),
                                  batch.target[b].narrow(0, 0, T).unsqueeze(0));
      EXPECT_LE((logits[b].narrow(0, 0, T) - alone.logits[0]).abs().max().item<double>(), 1e-5)
          << options.attention << " row " << b;
      EXPECT_LE((logits_noisy[b].narrow(0, 0, T) - alone.logits[0]).abs().max().item<double>(), 1e-5)
          << options.attention << " row " << b;
    }
  }
}

// Decoding greedily step by step gives the logits the teacher-forced forward gives on the
// decoded tokens, and the tokens are their argmax; both paths of forward are checked.
TEST(Seq2seq, GreedyDecodeStepsEqualTeacherForcedForwardOnTheirOutputs) {
  for (const auto& options : {small("luong_general"), small("luong_dot", "gru", true), small("bahdanau")}) {
    auto model = build(options);
    torch::NoGradGuard no_grad;
    auto batch = padded_batch();
    auto [tokens, step_logits] = greedy_steps(model, batch.source, batch.mask, 8);
    auto input = torch::cat({torch::full({3, 1}, kBos, torch::kLong), tokens.narrow(1, 0, 7)}, 1);
    auto forced = model->forward(batch.source, batch.mask, input).logits;
    EXPECT_LE((forced - step_logits).abs().max().item<double>(), 1e-5) << options.attention;
    EXPECT_TRUE(forced.argmax(-1).equal(tokens)) << options.attention;
  }
}

// At teacher-forcing ratio 0 every input after <s> is the model's own argmax: free-running
// greedy decoding, whatever the target says.
TEST(Seq2seq, TeacherForcingRatioZeroFeedsTheModelsOwnArgmax) {
  auto model = build(small("luong_general", "lstm", true));
  torch::NoGradGuard no_grad;
  auto batch = padded_batch();
  auto [tokens, step_logits] = greedy_steps(model, batch.source, batch.mask, 7);
  auto sampled = model->forward(batch.source, batch.mask, batch.target, 0.0).logits;
  EXPECT_LE((sampled - step_logits).abs().max().item<double>(), 1e-5);
  auto forced = model->forward(batch.source, batch.mask, batch.target, 1.0).logits;
  EXPECT_GT((forced - step_logits).abs().max().item<double>(), 1e-3);  // the targets differ from greedy
}

TEST(Seq2seq, OptionsThatContradictEachOtherAreUserErrors) {
  auto o = small("none");
  o.input_feeding = true;
  EXPECT_THROW(Seq2Seq(o, kVocab), zoo::UserError);
  o = small("luong_dot");
  o.hidden_size = 15;
  EXPECT_THROW(Seq2Seq(o, kVocab), zoo::UserError);
  o = small("luong_dot");
  o.tie_embeddings = true;
  EXPECT_THROW(Seq2Seq(o, kVocab), zoo::UserError);
}

// A small model learns to reverse strings of 3-7 letters: the loss falls from ln(vocab) and
// greedy decoding of unseen strings gets most of them exactly right.
TEST(Seq2seq, LearnsToReverseStrings) {
  torch::manual_seed(0);
  constexpr int64_t kEos = 2, kFirstLetter = 3, kLetters = 10, kMaxLength = 7;
  Seq2SeqOptions o;
  o.embedding_dim = 32;
  o.hidden_size = 64;
  o.attention = "luong_general";
  o.dropout = 0.0;
  Seq2Seq model(o, kFirstLetter + kLetters);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-2));

  auto make_batch = [&](int64_t n) {
    auto lengths = torch::randint(3, kMaxLength + 1, {n}, torch::kLong);
    auto letters = torch::randint(kFirstLetter, kFirstLetter + kLetters, {n, kMaxLength}, torch::kLong);
    auto positions = torch::arange(kMaxLength, torch::kLong).unsqueeze(0);
    auto mask = positions < lengths.unsqueeze(1);  // (n, S)
    auto source = letters.masked_fill(mask.logical_not(), 0);
    auto reversed_index = torch::where(mask, lengths.unsqueeze(1) - 1 - positions, positions);
    auto reversed = source.gather(1, reversed_index).masked_fill(mask.logical_not(), 0);
    // target_input = <s> + reversed; target_output = reversed + </s>, -100 on padding.
    auto input = torch::cat({torch::full({n, 1}, kBos, torch::kLong), reversed}, 1);
    auto output = torch::cat({reversed, torch::zeros({n, 1}, torch::kLong)}, 1);
    output.scatter_(1, lengths.unsqueeze(1), kEos);
    auto output_mask = torch::arange(kMaxLength + 1, torch::kLong).unsqueeze(0) <= lengths.unsqueeze(1);
    output.masked_fill_(output_mask.logical_not(), -100);
    return std::make_tuple(source, mask, input, output, reversed, lengths);
  };
  auto loss_of = [&](const torch::Tensor& source, const torch::Tensor& mask, const torch::Tensor& input,
                     const torch::Tensor& output) {
    auto logits = model->forward(source, mask, input).logits;
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), output.reshape({-1}),
                                                torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  };

  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    auto [source, mask, input, output, reversed, lengths] = make_batch(32);
    auto loss = loss_of(source, mask, input, output);
    optimizer.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
    optimizer.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }

  model->eval();
  torch::NoGradGuard no_grad;
  auto [source, mask, input, output, reversed, lengths] = make_batch(200);
  auto [tokens, logits] = greedy_steps(model, source, mask, kMaxLength + 1);
  int64_t exact = 0;
  for (int64_t b = 0; b < 200; ++b) {
    const int64_t n = lengths[b].item<int64_t>();
    exact += tokens[b].narrow(0, 0, n).equal(reversed[b].narrow(0, 0, n)) && tokens[b][n].item<int64_t>() == kEos;
  }
  const double valid_loss = loss_of(source, mask, input, output).item<double>();
  std::cout << "[ reverse ] loss " << first << " -> " << last << " (held out " << valid_loss << "), exact match "
            << exact << "/200\n";
  EXPECT_NEAR(first, std::log(static_cast<double>(kFirstLetter + kLetters)), 0.3);
  EXPECT_LT(valid_loss, 0.2);
  EXPECT_GE(exact, 160);
}
