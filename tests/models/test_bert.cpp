// BERT tests: every head's output against an independent Python PyTorch BERT (torch.nn's own
// TransformerEncoderLayer) on the same weights with padding in the batch; padding never
// reaching real tokens; presets; freezing; which parameters are heads.
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

#include "core/config.h"
#include "core/error.h"
#include "core/recipe.h"
#include "models/bert.h"

namespace fs = std::filesystem;
using zoo::models::Bert;
using zoo::models::BertHeads;
using zoo::models::BertOptions;

namespace {

constexpr int64_t kVocab = 60;

BertOptions small_bert() {
  BertOptions o;
  o.n_layer = 2;
  o.n_head = 4;
  o.d_model = 32;
  o.d_ff = 48;
  o.max_positions = 40;
  return o;
}

BertHeads all_heads() {
  BertHeads heads;
  heads.masked_lm = true;
  heads.next_sentence = true;
  heads.sequence_labels = 3;
  heads.token_labels = 5;
  return heads;
}

// BERT's init (std 0.02) leaves logits nearly linear; O(1) weights make a wrong GELU, norm or
// mask show up in the comparison.
Bert build(const BertOptions& o, const BertHeads& heads = all_heads(), uint64_t seed = 0) {
  torch::manual_seed(seed);
  Bert model(o, kVocab, heads);
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters()) {
    auto& p = item.value();
    if (p.dim() >= 2) p.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(p.size(1))));
    else if (item.key().find("bias") != std::string::npos) p.normal_(0.0, 0.2);
    else p.normal_(1.0, 0.2);
  }
  model->eval();
  return model;
}

// Three right-padded sequences of lengths 12, 7 and 3, sentence B from position 5 on.
struct PaddedBatch {
  torch::Tensor ids, mask, segments;
};
PaddedBatch padded_batch() {
  torch::manual_seed(3);
  const int64_t lengths[] = {12, 7, 3};
  auto ids = torch::randint(1, kVocab, {3, 12}, torch::kLong);
  auto mask = torch::zeros({3, 12}, torch::kLong);
  auto segments = torch::zeros({3, 12}, torch::kLong);
  for (int64_t b = 0; b < 3; ++b) {
    mask[b].narrow(0, 0, lengths[b]).fill_(1);
    if (lengths[b] > 5) segments[b].narrow(0, 5, lengths[b] - 5).fill_(1);
  }
  ids.masked_fill_(mask == 0, 0);
  return {ids, mask, segments};
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Saves the weights, the batch and every C++ output, runs tests/python/bert_reference.py and
// returns its largest max abs difference over real positions (NaN if the script failed).
double python_reference_diff(Bert& model, const PaddedBatch& batch) {
  static int run = 0;
  fs::path dir = fs::temp_directory_path() / ("zoo_bert_reference_" + std::to_string(getpid()) + "_" + std::to_string(run++));
  fs::remove_all(dir);
  fs::create_directories(dir);

  torch::NoGradGuard no_grad;
  auto hidden = model->encode(batch.ids, batch.mask, batch.segments);
  c10::Dict<std::string, at::Tensor> tensors;
  for (const auto& item : model->named_parameters()) tensors.insert("model." + item.key(), item.value().detach().clone());
  tensors.insert("ids", batch.ids);
  tensors.insert("mask", batch.mask);
  tensors.insert("segments", batch.segments);
  tensors.insert("hidden", hidden);
  tensors.insert("mlm", model->masked_lm_logits(hidden.flatten(0, 1)).unflatten(0, {hidden.size(0), hidden.size(1)}));
  tensors.insert("nsp", model->next_sentence_logits(hidden));
  tensors.insert("sequence", model->sequence_logits(hidden, batch.mask));
  tensors.insert("tokens", model->token_logits(hidden));
  auto bytes = torch::pickle_save(c10::IValue(tensors));
  std::ofstream(dir / "tensors.pt", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  const auto& o = model->options();
  const auto& heads = model->heads();
  nlohmann::json config = {{"vocab_size", kVocab},
                           {"n_layer", o.n_layer},
                           {"n_head", o.n_head},
                           {"d_model", o.d_model},
                           {"d_ff", o.d_ff},
                           {"max_positions", o.max_positions},
                           {"type_vocab_size", o.type_vocab_size},
                           {"norm_position", o.norm_position},
                           {"pooling", o.pooling},
                           {"layer_norm_eps", o.layer_norm_eps},
                           {"sequence_labels", heads.sequence_labels},
                           {"token_labels", heads.token_labels}};
  std::ofstream(dir / "config.json") << config.dump();

  std::string command = std::string(ZOO_PYTHON) + " " + ZOO_SOURCE_DIR + "/tests/python/bert_reference.py " +
                        dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
  int rc = std::system(command.c_str());
  EXPECT_EQ(rc, 0) << read_text(dir / "log.txt");
  if (rc != 0 || !fs::exists(dir / "diff.txt")) return std::nan("");
  double diff = std::stod(read_text(dir / "diff.txt"));
  std::cout << "[ reference ] " << o.norm_position << "-norm, " << o.pooling << " pooling: " << read_text(dir / "log.txt");
  fs::remove_all(dir);
  return diff;
}

}  // namespace

TEST(BertReference, PostNormClsPoolingMatchesPythonWithPadding) {
  auto model = build(small_bert());
  EXPECT_LE(python_reference_diff(model, padded_batch()), 1e-5);
}

TEST(BertReference, PreNormMeanPoolingMatchesPythonWithPadding) {
  BertOptions o = small_bert();
  o.norm_position = "pre";
  o.pooling = "mean";
  auto model = build(o);
  EXPECT_LE(python_reference_diff(model, padded_batch()), 1e-5);
}

// Each sequence of a right-padded batch gets the states it gets alone, whatever the pad ids.
TEST(Bert, PaddingNeverReachesRealTokens) {
  auto model = build(small_bert());
  auto batch = padded_batch();
  torch::NoGradGuard no_grad;
  auto hidden = model->encode(batch.ids, batch.mask, batch.segments);
  auto noisy = batch.ids.masked_fill(batch.mask == 0, 17);
  auto hidden_noisy = model->encode(noisy, batch.mask, batch.segments);
  const int64_t lengths[] = {12, 7, 3};
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t n = lengths[b];
    auto alone = model->encode(batch.ids[b].narrow(0, 0, n).unsqueeze(0), {}, batch.segments[b].narrow(0, 0, n).unsqueeze(0));
    EXPECT_LE((hidden[b].narrow(0, 0, n) - alone[0]).abs().max().item<double>(), 1e-5) << "row " << b;
    EXPECT_LE((hidden_noisy[b].narrow(0, 0, n) - alone[0]).abs().max().item<double>(), 1e-5) << "row " << b;
  }
}

TEST(Bert, PresetsSetSizesAndKeysOverrideThem) {
  zoo::models::register_models();
  auto options = [](const std::string& yaml) {
    auto component = zoo::parse_component("model", yaml);
    return dynamic_cast<const BertOptions&>(*component.options);
  };
  auto tiny = options("{type: bert, preset: bert_tiny}");
  EXPECT_EQ(tiny.n_layer, 2);
  EXPECT_EQ(tiny.d_model, 128);
  EXPECT_EQ(tiny.n_head, 2);
  auto small = options("{type: bert, preset: bert_small, n_layer: 2}");
  EXPECT_EQ(small.n_layer, 2);
  EXPECT_EQ(small.d_model, 512);
  EXPECT_EQ(small.n_head, 8);
  auto mini = options("{type: bert}");
  EXPECT_EQ(mini.n_layer, 4);
  EXPECT_EQ(mini.d_model, 256);
}

TEST(Bert, HeadsAreOnlyTheOnesAskedForAndTheDecoderIsTied) {
  BertHeads heads;
  heads.masked_lm = true;
  Bert model(small_bert(), kVocab, heads);
  int64_t head_tensors = 0;
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.key().find("classifier"), std::string::npos);
    EXPECT_EQ(item.key().find("pooler"), std::string::npos);
    head_tensors += Bert::Impl::is_head_parameter(item.key());
  }
  EXPECT_EQ(head_tensors, 5);  // mlm.dense.{weight,bias}, mlm.norm.{weight,bias}, mlm.bias
  // Tied: the MLM logits move with the token embedding.
  torch::NoGradGuard no_grad;
  auto states = torch::randn({4, 32});
  auto before = model->masked_lm_logits(states);
  model->named_parameters()["embeddings.word.weight"].mul_(2.0);
  auto after = model->masked_lm_logits(states);
  EXPECT_GT((after - before).abs().max().item<double>(), 1e-3);
}

TEST(Bert, FreezeStopsGradientsIntoEmbeddingsAndFirstLayers) {
  BertHeads heads;
  heads.sequence_labels = 2;
  Bert model(small_bert(), kVocab, heads);
  model->freeze(true, 1);
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool frozen = name.rfind("embeddings.", 0) == 0 || name.rfind("layers.0.", 0) == 0;
    EXPECT_EQ(item.value().requires_grad(), !frozen) << name;
  }
  EXPECT_THROW(model->freeze(false, 3), zoo::UserError);
}

TEST(Bert, InputsLongerThanMaxPositionsAreAUserError) {
  Bert model(small_bert(), kVocab, all_heads());
  EXPECT_THROW(model->encode(torch::zeros({1, 41}, torch::kLong)), zoo::UserError);
}
