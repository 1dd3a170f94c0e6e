// A BiLSTM encoder for tagging and classification: embedding -> stacked (bidirectional) LSTM
// -> dropout -> a per-token head (tagging) or a pooled head (classification: the last states,
// max or mean pooling). Inputs are right-padded; padding never reaches a real token's state.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/options.h"
#include "models/model.h"
#include "models/nn/lora.h"

namespace zoo::models {

// The recipe's `model: {type: bilstm, ...}`.
struct BiLSTMOptions : zoo::Options<BiLSTMOptions>, ClassifierOptionsBase {
  int64_t embedding_dim = 128;
  int64_t hidden_size = 256;
  int64_t num_layers = 2;
  bool bidirectional = true;
  double dropout = 0.3;
  std::string pooling = "max";

  template <class V>
  void visit(V& v) {
    v("embedding_dim", embedding_dim, "token embedding width", positive());
    v("hidden_size", hidden_size, "LSTM state width of each direction", positive());
    v("num_layers", num_layers, "stacked LSTM layers", positive());
    v("bidirectional", bidirectional, "a second LSTM reads each sequence right to left");
    v("dropout", dropout, "dropout on the embeddings, between layers and before the head", between(0, 1));
    v("pooling", pooling,
      "sequence classification reads the last states (the forward LSTM's at the last real token, the backward's "
      "at the first), or the max or mean over real tokens",
      one_of({"last", "max", "mean"}));
  }
  int64_t max_length() const override { return 0; }
};

// Parameter names: embedding.weight; layers.<i>.forward.{weight_ih_l0, weight_hh_l0, bias_ih_l0,
// bias_hh_l0} and layers.<i>.backward.* (bidirectional); heads: tagger or classifier. Each
// direction is its own one-layer torch::nn::LSTM, so the backward one can read every sequence
// reversed within its own length: a right-padded batch then gives each row the states it gets
// alone, with plain (traceable) tensor ops instead of packed sequences.
class BiLSTMImpl : public ClassifierImpl {
 public:
  BiLSTMImpl(const BiLSTMOptions& options, int64_t vocab_size, int64_t sequence_labels, int64_t token_labels);

  // ids (B, T), attention_mask (B, T) 1 = real token (undefined: all real) -> states (B, T, D),
  // D = hidden_size x directions; at padding unspecified (training skips it: nn::lstm_padded).
  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& attention_mask = {});
  // states (B, T, D), attention_mask (B, T) -> class logits (B, sequence_labels).
  torch::Tensor sequence_logits(const torch::Tensor& states, const torch::Tensor& attention_mask);
  // states (B, T, D) -> tag logits (B, T, token_labels).
  torch::Tensor token_logits(const torch::Tensor& states);

  torch::Tensor classify(const torch::Tensor& ids, const torch::Tensor& attention_mask) override;
  bool is_head(const std::string& name) const override;
  void freeze(bool embeddings, int64_t layers) override;

  const BiLSTMOptions& options() const { return options_; }
  int64_t output_size() const { return options_.hidden_size * (options_.bidirectional ? 2 : 1); }

 private:
  BiLSTMOptions options_;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::ModuleList layers;
  std::vector<torch::nn::LSTM> forward_, backward_;  // per layer; the same modules as in layers
  nn::LoRALinear classifier{nullptr}, tagger{nullptr};
};

// Called by register_models().
void register_bilstm_models();

}  // namespace zoo::models
