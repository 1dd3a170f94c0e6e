// Seq2seq: an LSTM or GRU encoder-decoder (Sutskever et al. 2014) with Bahdanau (additive) or
// Luong (dot, general) attention, input feeding, or no attention at all (the bottleneck
// baseline: the decoder sees only the encoder's final state).
//
// Sources come right-padded with a mask, and padding never reaches a real position: each
// direction of the encoder is its own unidirectional RNN; the backward one reads every sequence
// reversed within its own length (a gather index computed from the mask), so both directions
// see only real tokens before the ones that matter, and attention gives padded positions -inf.
// Everything on the encode / decode_step path takes its shapes from tensors, so both trace.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"
#include "models/nn/lora.h"

namespace zoo::models {

// The recipe's `model: {type: seq2seq, ...}`. vocab_size comes from the tokenizer (one
// vocabulary for sources and targets).
struct Seq2SeqOptions : zoo::Options<Seq2SeqOptions> {
  std::string cell = "lstm";
  int64_t embedding_dim = 128;
  int64_t hidden_size = 256;
  int64_t encoder_layers = 1;
  int64_t decoder_layers = 1;
  bool bidirectional = true;
  double dropout = 0.1;
  std::string attention = "bahdanau";
  int64_t attention_dim = 0;  // bahdanau: 0 = hidden_size
  bool input_feeding = false;
  bool tie_embeddings = false;

  template <class V>
  void visit(V& v) {
    v("cell", cell, "recurrent cell of encoder and decoder", one_of({"lstm", "gru"}));
    v("embedding_dim", embedding_dim, "token embedding width (source and target)", positive());
    v("hidden_size", hidden_size, "recurrent state width; a bidirectional encoder gives each direction half",
      positive());
    v("encoder_layers", encoder_layers, "stacked encoder RNN layers", positive());
    v("decoder_layers", decoder_layers, "stacked decoder RNN layers", positive());
    v("bidirectional", bidirectional, "the encoder reads the source both ways");
    v("dropout", dropout, "dropout on embeddings, between RNN layers and before the output layer", between(0, 1));
    v("attention", attention,
      "bahdanau (additive, from the previous decoder state), luong_dot, luong_general (from the current one), "
      "or none (the decoder starts from the encoder's final state and sees nothing else)",
      one_of({"bahdanau", "luong_dot", "luong_general", "none"}));
    v("attention_dim", attention_dim, "bahdanau: width of the additive scorer; 0 = hidden_size", non_negative());
    v("input_feeding", input_feeding,
      "Luong's input feeding: the previous attentional vector joins the next input embedding");
    v("tie_embeddings", tie_embeddings,
      "the output layer reuses the target embedding matrix (needs embedding_dim == hidden_size)");
  }

  // Checks between fields (and against vocab_size) that visit cannot express; throws
  // zoo::UserError("model: ...").
  void validate(int64_t vocab_size) const;
};

// The decoding state of a batch: what encode() returns and decode_step() advances. Rows are
// sequences; index_select keeps rows (beam search, dropping finished ones).
struct Seq2SeqState {
  torch::Tensor memory;  // (B, S, H) encoder outputs (zero on padding)
  torch::Tensor keys;    // (B, S, A) what attention scores against: memory (luong_dot), W_a^T memory
                         // (luong_general), W_k memory (bahdanau)
  torch::Tensor mask;    // (B, S) bool, true on real source tokens
  torch::Tensor h;       // (L, B, H) decoder hidden state
  torch::Tensor c;       // (L, B, H) decoder cell state (lstm); undefined for gru
  torch::Tensor feed;    // (B, H) previous attentional vector (zeros before the first step)

  Seq2SeqState index_select(const torch::Tensor& index) const;
};

struct Seq2SeqStep {
  torch::Tensor logits;     // (B, V) next-token logits
  torch::Tensor attention;  // (B, S) attention weights of this step (zeros for attention none)
  Seq2SeqState state;       // after the step
};

struct Seq2SeqOutput {
  torch::Tensor logits;     // (B, T, V)
  torch::Tensor attention;  // (B, T, S)
};

// An LSTM or a GRU behind one interface: states h (L, B, H) and c (lstm only, else undefined).
// A handle to the module registered in its owner under `name`, so parameters are named
// `name.weight_ih_l0` as in torch.nn.
struct Recurrent {
  Recurrent() = default;
  Recurrent(torch::nn::Module& owner, const std::string& name, const std::string& cell, int64_t input_size,
            int64_t hidden_size, int64_t layers, double dropout);

  struct Result {
    torch::Tensor output;  // (B, T, H)
    torch::Tensor h, c;    // (L, B, H)
  };
  // x (B, T, In); h, c undefined: zeros.
  Result operator()(const torch::Tensor& x, const torch::Tensor& h = {}, const torch::Tensor& c = {});
  // The outputs alone, of x right-padded to `lengths` (B) real steps: at padding unspecified (an
  // LSTM skips it where nn::lstm_padded can).
  torch::Tensor padded(const torch::Tensor& x, const torch::Tensor& lengths, const torch::Tensor& h = {},
                       const torch::Tensor& c = {});

  torch::nn::LSTM lstm{nullptr};
  torch::nn::GRU gru{nullptr};

 private:
  std::pair<torch::Tensor, torch::Tensor> initial_state(const torch::Tensor& x, const torch::Tensor& h,
                                                        const torch::Tensor& c) const;
};

// One encoder layer: a forward RNN, and for a bidirectional encoder a backward RNN reading each
// sequence reversed within its length.
struct Seq2SeqEncoderLayerImpl : torch::nn::Module {
  Seq2SeqEncoderLayerImpl(const std::string& cell, int64_t input_size, int64_t direction_size, bool bidirectional);
  // x (B, S, In), reverse (B, S) the within-length reversal index, last (B) index of each last
  // real token -> outputs (B, S, D * directions) and the final hidden state of each direction
  // concatenated (B, D * directions): the forward one at the last real token, the backward one at
  // the first.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& reverse,
                                                  const torch::Tensor& last);

  Recurrent fwd, bwd;
};
TORCH_MODULE(Seq2SeqEncoderLayer);

// Scores decoder queries (B, T, H) against keys (B, S, A): additive (Bahdanau: v . tanh(W_q q +
// k), keys = W_k memory), dot (q . m) or general (W_a q . m, computed as q . W_a^T m with keys =
// W_a^T m, unless W_a has an unmerged adapter). Padded positions get -inf.
struct Seq2SeqAttentionImpl : torch::nn::Module {
  Seq2SeqAttentionImpl(const std::string& kind, int64_t hidden_size, int64_t attention_dim);
  // memory (B, S, H) -> keys (B, S, A).
  torch::Tensor keys_of(const torch::Tensor& memory);
  // Whether W_a is folded into the keys (luong_general), not applied to each query.
  bool scores_through_keys() const;
  // query (B, T, H), keys (B, S, A), mask (B, S) -> weights (B, T, S), each row summing to 1.
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& keys, const torch::Tensor& mask);

  std::string kind;
  nn::LoRALinear query{nullptr};  // bahdanau W_q, luong_general W_a
  nn::LoRALinear key{nullptr};    // bahdanau W_k
  nn::LoRALinear v{nullptr};      // bahdanau
};
TORCH_MODULE(Seq2SeqAttention);

// Parameter names: source_embedding, target_embedding, encoder.<i>.{fwd, bwd}.{weight,bias}_{ih,hh}_l0,
// bridge_h, bridge_c (lstm), decoder_rnn.{weight,bias}_{ih,hh}_l<k>, attention.{query, key, v},
// combine (attention other than none), output (untied only).
//
// A decoder step, with e the previous token's embedding and s the previous top-layer state:
//   bahdanau: a = attn(s, keys); ctx = a . memory; h = rnn([e; ctx (; feed)]); out = tanh(W_c [ctx; h])
//   luong:    h = rnn([e (; feed)]); a = attn(h, keys); ctx = a . memory;     out = tanh(W_c [ctx; h])
//   none:     h = rnn([e]); out = h
// logits = output(dropout(out)); feed = out. The decoder starts from tanh(bridge(final states)):
// the top encoder layer's final hidden states of both directions, mapped to every decoder layer
// (for an LSTM the cell state gets a bridge of its own from the same hidden states).
class Seq2SeqImpl : public torch::nn::Module {
 public:
  Seq2SeqImpl(const Seq2SeqOptions& options, int64_t vocab_size);

  // source (B, S) right-padded, source_mask (B, S) bool or 0/1 -> the state before the first step.
  Seq2SeqState encode(const torch::Tensor& source, const torch::Tensor& source_mask);
  // One decoder step from prev_token (B): logits, attention and the next state.
  Seq2SeqStep decode_step(const Seq2SeqState& state, const torch::Tensor& prev_token);
  // Teacher-forced: target_input (B, T) = <s> + target -> logits (B, T, V), attention (B, T, S).
  // With teacher_forcing_ratio < 1 (training), each row's input at each step after the first is
  // the model's own argmax with probability 1 - ratio. Ratio 1 with Luong attention (or none)
  // and no input feeding runs the decoder over all T at once; there, target_lengths (B, on any
  // device), each row's real target tokens, lets the decoder skip the padding after them, whose
  // logits are then unspecified.
  Seq2SeqOutput forward(const torch::Tensor& source, const torch::Tensor& source_mask,
                        const torch::Tensor& target_input, double teacher_forcing_ratio = 1.0,
                        const torch::Tensor& target_lengths = {});

  const Seq2SeqOptions& options() const { return options_; }
  int64_t vocab_size() const { return vocab_size_; }

 private:
  // h (B, T, H) decoder outputs, ctx (B, T, H) or undefined -> attentional vectors (B, T, H).
  torch::Tensor attentional(const torch::Tensor& h, const torch::Tensor& context);
  torch::Tensor logits_of(const torch::Tensor& attentional);
  // The whole target at once: Luong or none, no input feeding, teacher forcing 1.
  Seq2SeqOutput forward_parallel(const Seq2SeqState& state, const torch::Tensor& target_input,
                                 const torch::Tensor& target_lengths);
  void init_weights();

  Seq2SeqOptions options_;
  int64_t vocab_size_;
  torch::nn::Embedding source_embedding{nullptr}, target_embedding{nullptr};
  torch::nn::ModuleList encoder;
  std::vector<Seq2SeqEncoderLayer> encoder_layers_;  // the same modules as encoder, typed
  nn::LoRALinear bridge_h{nullptr}, bridge_c{nullptr};
  Recurrent decoder_rnn;
  Seq2SeqAttention attention{nullptr};
  nn::LoRALinear combine{nullptr};
  nn::LoRALinear output{nullptr};  // untied only; tied logits use target_embedding
};
TORCH_MODULE(Seq2Seq);

struct Seq2SeqContext {
  int64_t vocab_size = 0;
};

// `model: {type: seq2seq}` for the seq2seq objective.
Factory<Seq2Seq, const Seq2SeqContext&>& seq2seq_models();

// Called by register_models().
void register_seq2seq_models();

}  // namespace zoo::models
