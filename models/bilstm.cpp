// The BiLSTM tagger and classifier: masked bidirectional layers, pooling and heads.
#include "models/bilstm.h"

#include <limits>

#include "core/error.h"
#include "models/nn/dropout.h"
#include "models/nn/lstm.h"
#include "models/nn/rnn.h"

namespace zoo::models {

namespace {

torch::nn::LSTM one_layer(int64_t input, int64_t hidden) {
  return torch::nn::LSTM(torch::nn::LSTMOptions(input, hidden).num_layers(1).batch_first(true));
}

}  // namespace

BiLSTMImpl::BiLSTMImpl(const BiLSTMOptions& options, int64_t vocab_size, int64_t sequence_labels,
                       int64_t token_labels)
    : options_(options) {
  if (vocab_size <= 0) throw UserError("model: the tokenizer has no vocabulary");
  const auto& o = options_;
  embedding = register_module("embedding", torch::nn::Embedding(vocab_size, o.embedding_dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    const int64_t input = i == 0 ? o.embedding_dim : output_size();
    auto layer = std::make_shared<torch::nn::Module>();
    forward_.push_back(layer->register_module("forward_lstm", one_layer(input, o.hidden_size)));
    if (o.bidirectional) backward_.push_back(layer->register_module("backward_lstm", one_layer(input, o.hidden_size)));
    layers->push_back(layer);
  }
  if (sequence_labels > 0) classifier = register_module("classifier", nn::LoRALinear(output_size(), sequence_labels));
  if (token_labels > 0) tagger = register_module("tagger", nn::LoRALinear(output_size(), token_labels));
}

torch::Tensor BiLSTMImpl::encode(const torch::Tensor& ids, const torch::Tensor& attention_mask) {
  TORCH_CHECK(ids.dim() == 2, "ids must be (B, T), got ", ids.sizes());
  const auto mask = attention_mask.defined() ? attention_mask : torch::ones_like(ids);
  const double p = options_.dropout;
  auto x = nn::dropout(embedding(ids), p, is_training());  // (B, T, E)
  const auto reverse = options_.bidirectional ? nn::reversal_index(mask) : torch::Tensor();
  const auto lengths = mask.to(torch::kLong).sum(1);  // (B)
  for (size_t i = 0; i < forward_.size(); ++i) {
    if (i > 0) x = nn::dropout(x, p, is_training());
    // The forward LSTM reaches a row's padding only after its last real token, and the states
    // there are padding: training skips them.
    const auto zeros = nn::zero_state(x, 1, options_.hidden_size);
    const auto state = std::make_tuple(zeros, zeros);
    auto forward_states = nn::lstm_padded(forward_[i], x, state, lengths);  // (B, T, H)
    if (!options_.bidirectional) {
      x = forward_states;
      continue;
    }
    auto backward_states =
        nn::gather_time(nn::lstm_padded(backward_[i], nn::gather_time(x, reverse), state, lengths), reverse);
    x = torch::cat({forward_states, backward_states}, -1);  // (B, T, 2H)
  }
  return x;
}

torch::Tensor BiLSTMImpl::sequence_logits(const torch::Tensor& states, const torch::Tensor& attention_mask) {
  TORCH_CHECK(classifier, "this BiLSTM has no sequence classifier");
  const auto mask = (attention_mask.defined() ? attention_mask : torch::ones_like(states.select(-1, 0))).to(torch::kBool);
  torch::Tensor pooled;  // (B, D)
  if (options_.pooling == "max") {
    pooled = states.masked_fill(~mask.unsqueeze(-1), -std::numeric_limits<float>::infinity()).amax(1);
  } else if (options_.pooling == "mean") {
    auto weights = mask.to(states.scalar_type()).unsqueeze(-1);  // (B, T, 1)
    pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1.0);
  } else {  // last: the forward direction at the last real token, the backward one at the first
    const int64_t H = options_.hidden_size;
    auto last = (mask.to(torch::kLong).sum(1, true) - 1).clamp_min(0);  // (B, 1)
    auto forward_last = states.narrow(-1, 0, H).gather(1, last.unsqueeze(-1).expand({-1, -1, H})).squeeze(1);
    pooled = options_.bidirectional ? torch::cat({forward_last, states.select(1, 0).narrow(-1, H, H)}, -1)
                                    : forward_last;
  }
  return classifier(nn::dropout(pooled, options_.dropout, is_training()));
}

torch::Tensor BiLSTMImpl::token_logits(const torch::Tensor& states) {
  TORCH_CHECK(tagger, "this BiLSTM has no token classifier");
  return tagger(nn::dropout(states, options_.dropout, is_training()));
}

torch::Tensor BiLSTMImpl::classify(const torch::Tensor& ids, const torch::Tensor& attention_mask) {
  auto states = encode(ids, attention_mask);
  return tagger ? token_logits(states) : sequence_logits(states, attention_mask);
}

bool BiLSTMImpl::is_head(const std::string& name) const {
  return name.rfind("classifier.", 0) == 0 || name.rfind("tagger.", 0) == 0;
}

void BiLSTMImpl::freeze(bool freeze_embeddings, int64_t frozen_layers) {
  if (frozen_layers > options_.num_layers)
    throw UserError("trainer.freeze.layers: " + std::to_string(frozen_layers) + " is more than the model's " +
                    std::to_string(options_.num_layers) + " layers");
  if (freeze_embeddings) embedding->weight.set_requires_grad(false);
  for (int64_t i = 0; i < frozen_layers; ++i)
    for (auto& p : layers[static_cast<size_t>(i)]->parameters()) p.set_requires_grad(false);
}

void register_bilstm_models() {
  classifier_models().add<BiLSTMOptions>(
      "bilstm", "embedding -> stacked bidirectional LSTM -> per-token (tag) or pooled (classify) head",
      std::function<Classifier(const BiLSTMOptions&, const ClassifierContext&)>(
          [](const BiLSTMOptions& options, const ClassifierContext& context) -> Classifier {
            return std::make_shared<BiLSTMImpl>(options, context.vocab_size, context.sequence_labels,
                                                context.token_labels);
          }));
}

}  // namespace zoo::models
