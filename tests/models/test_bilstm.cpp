// BiLSTM tests: states, tag logits and every pooling against an independent Python PyTorch
// BiLSTM (one torch.nn.LSTM on packed sequences) on the same weights with padding in the batch;
// padding never reaching real tokens; which parameters are heads; freezing.
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
#include "models/bilstm.h"

namespace fs = std::filesystem;
using zoo::models::BiLSTMImpl;
using zoo::models::BiLSTMOptions;

namespace {

constexpr int64_t kVocab = 50;
constexpr int64_t kClasses = 3;
constexpr int64_t kTags = 6;

BiLSTMOptions small_bilstm(const std::string& pooling = "max", bool bidirectional = true) {
  BiLSTMOptions o;
  o.embedding_dim = 12;
  o.hidden_size = 16;
  o.num_layers = 2;
  o.bidirectional = bidirectional;
  o.pooling = pooling;
  return o;
}

// Both heads, so one model gives the tag and the class logits; the same seed gives the same weights.
std::shared_ptr<BiLSTMImpl> build(const BiLSTMOptions& o, uint64_t seed = 0) {
  torch::manual_seed(seed);
  auto model = std::make_shared<BiLSTMImpl>(o, kVocab, kClasses, kTags);
  model->eval();
  return model;
}

// Right-padded rows of lengths 11, 6, 1 and 9.
struct PaddedBatch {
  torch::Tensor ids, mask;
  std::vector<int64_t> lengths;
};
PaddedBatch padded_batch() {
  torch::manual_seed(7);
  std::vector<int64_t> lengths{11, 6, 1, 9};
  auto ids = torch::randint(1, kVocab, {4, 11}, torch::kLong);
  auto mask = torch::zeros({4, 11}, torch::kLong);
  for (int64_t b = 0; b < 4; ++b) mask[b].narrow(0, 0, lengths[static_cast<size_t>(b)]).fill_(1);
  ids.masked_fill_(mask == 0, 0);
  return {ids, mask, lengths};
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Saves the weights, the batch and the C++ outputs, runs tests/python/bilstm_reference.py and
// returns its largest max abs difference over real positions (NaN if the script failed).
double python_reference_diff(BiLSTMImpl& model, const PaddedBatch& batch) {
  static int run = 0;
  fs::path dir =
      fs::temp_directory_path() / ("zoo_bilstm_reference_" + std::to_string(getpid()) + "_" + std::to_string(run++));
  fs::remove_all(dir);
  fs::create_directories(dir);

  torch::NoGradGuard no_grad;
  auto states = model.encode(batch.ids, batch.mask);
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& item : model.named_parameters()) tensors.insert("model." + item.key(), item.value().detach().clone());
  tensors.insert("ids", batch.ids);
  tensors.insert("mask", batch.mask);
  tensors.insert("states", states);
  tensors.insert("tokens", model.token_logits(states));
  tensors.insert("sequence", model.sequence_logits(states, batch.mask));
  auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(dir / "tensors.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const auto& o = model.options();
  nlohmann::json config = {{"vocab_size", kVocab},          {"embedding_dim", o.embedding_dim},
                           {"hidden_size", o.hidden_size},  {"num_layers", o.num_layers},
                           {"bidirectional", o.bidirectional}, {"pooling", o.pooling},
                           {"sequence_labels", kClasses},   {"token_labels", kTags}};
  std::ofstream(dir / "config.json") << config.dump();

  std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/bilstm_reference.py " +
                        dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << read_text(dir / "log.txt");
  if (rc != 0 || !fs::exists(dir / "diff.txt")) return std::nan("");
  double diff = std::stod(read_text(dir / "diff.txt"));
  std::cout << "[ reference ] " << (o.bidirectional ? "bidirectional" : "forward only") << ", " << o.pooling
            << " pooling: " << read_text(dir / "log.txt");
  fs::remove_all(dir);
  return diff;
}

}  // namespace

TEST(BiLSTMReference, EveryPoolingMatchesTorchNNOnPackedSequences) {
  for (const char* pooling : {"last", "max", "mean"}) {
    auto model = build(small_bilstm(pooling));
    EXPECT_LE(python_reference_diff(*model, padded_batch()), 1e-5) << pooling;
  }
}

TEST(BiLSTMReference, ForwardOnlyMatchesTorchNN) {
  auto model = build(small_bilstm("last", /*bidirectional=*/false));
  EXPECT_LE(python_reference_diff(*model, padded_batch()), 1e-5);
}

// Each row of a right-padded batch gets the states it gets alone, whatever ids sit in the padding.
TEST(BiLSTM, PaddingNeverReachesRealTokens) {
  auto model = build(small_bilstm("max"));
  auto batch = padded_batch();
  torch::NoGradGuard no_grad;
  auto states = model->encode(batch.ids, batch.mask);
  auto noisy = model->encode(batch.ids.masked_fill(batch.mask == 0, 17), batch.mask);
  auto pooled = model->sequence_logits(states, batch.mask);
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t n = batch.lengths[static_cast<size_t>(b)];
    auto row = batch.ids[b].narrow(0, 0, n).unsqueeze(0);
    auto alone = model->encode(row, {});
    EXPECT_LE((states[b].narrow(0, 0, n) - alone[0]).abs().max().item<double>(), 1e-6) << "row " << b;
    EXPECT_LE((noisy[b].narrow(0, 0, n) - alone[0]).abs().max().item<double>(), 1e-6) << "row " << b;
    EXPECT_LE((pooled[b] - model->sequence_logits(alone, {})[0]).abs().max().item<double>(), 1e-6) << "row " << b;
  }
}

// Training runs the fused LSTM, which skips each row's padding (nn::lstm_padded); evaluation
// runs libtorch's over every position. Real tokens get the same states, and every pooling the
// same logits.
TEST(BiLSTM, TrainingGivesRealTokensTheStatesOfEvaluation) {
  for (const char* pooling : {"last", "max", "mean"}) {
    auto model = build(small_bilstm(pooling));
    auto batch = padded_batch();
    const auto real = batch.mask.to(torch::kBool).unsqueeze(-1);  // (B, T, 1)
    torch::Tensor evaluated, evaluated_pooled;
    {
      torch::NoGradGuard no_grad;
      evaluated = model->encode(batch.ids, batch.mask);
      evaluated_pooled = model->sequence_logits(evaluated, batch.mask);
    }
    auto trained = model->encode(batch.ids, batch.mask);
    ASSERT_TRUE(trained.requires_grad());
    EXPECT_LE(((trained - evaluated) * real).abs().max().item<double>(), 1e-5) << pooling;
    EXPECT_LE((model->sequence_logits(trained, batch.mask) - evaluated_pooled).abs().max().item<double>(), 1e-5)
        << pooling;
  }
}

TEST(BiLSTM, HeadsAndFreezing) {
  auto model = build(small_bilstm());
  int64_t heads = 0;
  for (const auto& item : model->named_parameters()) heads += model->is_head(item.key());
  EXPECT_EQ(heads, 4);  // classifier.{weight,bias}, tagger.{weight,bias}
  EXPECT_TRUE(model->named_parameters().contains("layers.1.backward_lstm.weight_hh_l0"));

  model->freeze(/*embeddings=*/true, /*layers=*/1);
  for (const auto& item : model->named_parameters()) {
    const bool frozen = item.key().rfind("embedding.", 0) == 0 || item.key().rfind("layers.0.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), !frozen) << item.key();
  }
  EXPECT_THROW(model->freeze(false, 3), zoo::UserError);
}

// A tagger learns a rule that needs both directions: tag 1 where the next token is larger than
// the previous one. Loss falls from chance (log 2) to near zero.
TEST(BiLSTM, LearnsATagThatNeedsBothNeighbours) {
  torch::manual_seed(1);
  BiLSTMOptions o = small_bilstm();
  o.num_layers = 1;
  o.dropout = 0.0;
  BiLSTMImpl model(o, 10, 0, 2);
  torch::optim::Adam adam(model.parameters(), torch::optim::AdamOptions(2e-2));
  auto make_batch = [] {
    auto ids = torch::randint(1, 10, {32, 8}, torch::kLong);
    auto labels = torch::zeros({32, 8}, torch::kLong);
    labels.narrow(1, 1, 6).copy_((ids.narrow(1, 2, 6) > ids.narrow(1, 0, 6)).to(torch::kLong));
    labels.select(1, 0).fill_(-100);
    labels.select(1, 7).fill_(-100);
    return std::make_pair(ids, labels);
  };
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    auto [ids, labels] = make_batch();
    auto logits = model.classify(ids, torch::ones_like(ids));
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 2}), labels.reshape({-1}));
    adam.zero_grad();
    loss.backward();
    adam.step();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
  }
  EXPECT_NEAR(first, std::log(2.0), 0.1);
  EXPECT_LT(last, 0.1);
}
