// Seq2seq: options validation, the RNN handle, encoder layer, attention, encoder-decoder.
#include "models/seq2seq.h"

#include <limits>

#include "core/error.h"
#include "models/nn/dropout.h"
#include "models/nn/lstm.h"
#include "models/nn/rnn.h"

namespace zoo::models {

void Seq2SeqOptions::validate(int64_t vocab_size) const {
  auto fail = [](const std::string& what) { throw UserError("model: " + what); };
  auto str = [](int64_t v) { return std::to_string(v); };
  if (vocab_size <= 0) fail("vocab_size is " + str(vocab_size) + "; the tokenizer must have a vocabulary");
  if (bidirectional && hidden_size % 2 != 0)
    fail("hidden_size (" + str(hidden_size) +
         ") must be even for a bidirectional encoder (each direction gets half); set an even hidden_size or "
         "bidirectional: false");
  if (tie_embeddings && embedding_dim != hidden_size)
    fail("tie_embeddings needs embedding_dim (" + str(embedding_dim) + ") == hidden_size (" + str(hidden_size) + ")");
  if (input_feeding && attention == "none")
    fail("input_feeding feeds the previous attentional vector, and attention none has none; set input_feeding: "
         "false or choose an attention");
}

Seq2SeqState Seq2SeqState::index_select(const torch::Tensor& index) const {
  Seq2SeqState out;
  out.memory = memory.index_select(0, index);
  out.keys = keys.is_same(memory) ? out.memory : keys.index_select(0, index);
  out.mask = mask.index_select(0, index);
  out.h = h.index_select(1, index);
  if (c.defined()) out.c = c.index_select(1, index);
  out.feed = feed.index_select(0, index);
  return out;
}

// ---- the RNN handle ----

Recurrent::Recurrent(torch::nn::Module& owner, const std::string& name, const std::string& cell, int64_t input_size,
                     int64_t hidden_size, int64_t layers, double dropout) {
  if (layers == 1) dropout = 0.0;  // torch.nn's between-layer dropout; it warns when there is no such place
  if (cell == "gru") {
    gru = owner.register_module(
        name, torch::nn::GRU(torch::nn::GRUOptions(input_size, hidden_size).num_layers(layers).dropout(dropout).batch_first(true)));
  } else {
    lstm = owner.register_module(
        name,
        torch::nn::LSTM(torch::nn::LSTMOptions(input_size, hidden_size).num_layers(layers).dropout(dropout).batch_first(true)));
  }
}

std::pair<torch::Tensor, torch::Tensor> Recurrent::initial_state(const torch::Tensor& x, const torch::Tensor& h,
                                                                 const torch::Tensor& c) const {
  if (h.defined()) return {h, c};
  // torch.nn's zero state would take the batch size as a number, which a trace bakes in.
  const auto& o = lstm ? lstm->options_base : gru->options_base;
  auto zeros = nn::zero_state(x, o.num_layers(), o.hidden_size());  // (L, B, H)
  return {zeros, lstm ? zeros : torch::Tensor()};
}

torch::Tensor Recurrent::padded(const torch::Tensor& x, const torch::Tensor& lengths, const torch::Tensor& h,
                                const torch::Tensor& c) {
  const auto [h0, c0] = initial_state(x, h, c);
  if (lstm) return nn::lstm_padded(lstm, x, std::make_tuple(h0, c0), lengths);
  return std::get<0>(gru->forward(x, h0));
}

Recurrent::Result Recurrent::operator()(const torch::Tensor& x, const torch::Tensor& h, const torch::Tensor& c) {
  const auto [h0, c0] = initial_state(x, h, c);
  if (lstm) {
    auto [output, last] = nn::lstm(lstm, x, std::make_tuple(h0, c0));
    return {output, std::get<0>(last), std::get<1>(last)};
  }
  auto [output, last] = gru->forward(x, h0);
  return {output, last, {}};
}

// ---- encoder layer ----

Seq2SeqEncoderLayerImpl::Seq2SeqEncoderLayerImpl(const std::string& cell, int64_t input_size, int64_t direction_size,
                                                 bool bidirectional) {
  fwd = Recurrent(*this, "fwd", cell, input_size, direction_size, 1, 0.0);
  if (bidirectional) bwd = Recurrent(*this, "bwd", cell, input_size, direction_size, 1, 0.0);
}

std::pair<torch::Tensor, torch::Tensor> Seq2SeqEncoderLayerImpl::forward(const torch::Tensor& x,
                                                                         const torch::Tensor& reverse,
                                                                         const torch::Tensor& last) {
  // Right padding follows the real tokens, so a forward RNN's real outputs never see it.
  auto forward_out = fwd(x).output;  // (B, S, D)
  const int64_t D = forward_out.size(-1);
  auto forward_final = forward_out.gather(1, last.view({-1, 1, 1}).expand({-1, 1, D})).squeeze(1);  // (B, D)
  if (!bwd.lstm && !bwd.gru) return {forward_out, forward_final};
  // Reversed within its length, each sequence still has its padding after its real tokens.
  auto backward_out = nn::gather_time(bwd(nn::gather_time(x, reverse)).output, reverse);  // (B, S, D)
  // The backward RNN has read the whole sequence when it reaches the first token.
  auto backward_final = backward_out.select(1, 0);  // (B, D)
  return {torch::cat({forward_out, backward_out}, -1), torch::cat({forward_final, backward_final}, -1)};
}

// ---- attention ----

Seq2SeqAttentionImpl::Seq2SeqAttentionImpl(const std::string& kind_, int64_t hidden_size, int64_t attention_dim)
    : kind(kind_) {
  if (kind == "bahdanau") {
    query = register_module("query", nn::LoRALinear(torch::nn::LinearOptions(hidden_size, attention_dim).bias(false)));
    key = register_module("key", nn::LoRALinear(hidden_size, attention_dim));
    v = register_module("v", nn::LoRALinear(torch::nn::LinearOptions(attention_dim, 1).bias(false)));
  } else if (kind == "luong_general") {
    query = register_module("query", nn::LoRALinear(torch::nn::LinearOptions(hidden_size, hidden_size).bias(false)));
  }
}

bool Seq2SeqAttentionImpl::scores_through_keys() const {
  // An unmerged adapter's dropout acts on the query, so only its own layer can apply it.
  return kind == "luong_general" && !(query->has_adapter() && !query->merged());
}

torch::Tensor Seq2SeqAttentionImpl::keys_of(const torch::Tensor& memory) {
  if (key) return key(memory);
  // (W_a q) . m = q . (W_a^T m): applied once to the S memory rows instead of to every one of the
  // T queries (every decoder step, when generating), and the same scores.
  if (scores_through_keys()) return memory.matmul(query->weight);
  return memory;
}

torch::Tensor Seq2SeqAttentionImpl::forward(const torch::Tensor& q, const torch::Tensor& keys, const torch::Tensor& mask) {
  torch::Tensor scores;  // (B, T, S)
  if (kind == "bahdanau") {
    auto hidden = torch::tanh(query(q).unsqueeze(2) + keys.unsqueeze(1));  // (B, T, S, A)
    scores = v(hidden).squeeze(-1);
  } else {
    const bool project_query = query && !scores_through_keys();
    scores = (project_query ? query(q) : q).bmm(keys.transpose(1, 2));  // (B, T, H) x (B, H, S)
  }
  scores = scores.masked_fill(mask.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  return scores.softmax(-1);
}

// ---- the model ----

Seq2SeqImpl::Seq2SeqImpl(const Seq2SeqOptions& options, int64_t vocab_size) : options_(options), vocab_size_(vocab_size) {
  options_.validate(vocab_size);
  const auto& o = options_;
  const int64_t H = o.hidden_size;
  source_embedding = register_module("source_embedding", torch::nn::Embedding(vocab_size, o.embedding_dim));
  target_embedding = register_module("target_embedding", torch::nn::Embedding(vocab_size, o.embedding_dim));
  encoder = register_module("encoder", torch::nn::ModuleList());
  const int64_t direction_size = o.bidirectional ? H / 2 : H;
  for (int64_t i = 0; i < o.encoder_layers; ++i) {
    encoder_layers_.emplace_back(o.cell, i == 0 ? o.embedding_dim : H, direction_size, o.bidirectional);
    encoder->push_back(encoder_layers_.back());
  }
  bridge_h = register_module("bridge_h", nn::LoRALinear(H, o.decoder_layers * H));
  if (o.cell == "lstm") bridge_c = register_module("bridge_c", nn::LoRALinear(H, o.decoder_layers * H));
  int64_t decoder_input = o.embedding_dim;
  if (o.attention == "bahdanau") decoder_input += H;
  if (o.input_feeding) decoder_input += H;
  decoder_rnn = Recurrent(*this, "decoder_rnn", o.cell, decoder_input, H, o.decoder_layers, o.dropout);
  if (o.attention != "none") {
    attention = register_module("attention", Seq2SeqAttention(o.attention, H, o.attention_dim > 0 ? o.attention_dim : H));
    combine = register_module("combine", nn::LoRALinear(torch::nn::LinearOptions(2 * H, H).bias(false)));
  }
  if (!o.tie_embeddings) output = register_module("output", nn::LoRALinear(H, vocab_size));
  init_weights();
}

// Uniform in [-0.1, 0.1], as Sutskever et al. and Luong et al. initialise.
void Seq2SeqImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) p.uniform_(-0.1, 0.1);
}

Seq2SeqState Seq2SeqImpl::encode(const torch::Tensor& source, const torch::Tensor& source_mask) {
  TORCH_CHECK(source.dim() == 2 && source_mask.sizes() == source.sizes(), "source ", source.sizes(), " and mask ",
              source_mask.sizes(), " must both be (B, S)");
  const auto& o = options_;
  auto mask = source_mask.to(torch::kBool);                         // (B, S)
  auto lengths = mask.sum(1, /*keepdim=*/true);                     // (B, 1)
  auto last = (lengths - 1).clamp_min(0);                           // (B, 1) the last real position
  auto reverse = nn::reversal_index(mask);                          // (B, S)

  auto x = nn::dropout(source_embedding(source), o.dropout, is_training());  // (B, S, E)
  torch::Tensor final;                                                          // (B, H)
  for (size_t i = 0; i < encoder_layers_.size(); ++i) {
    if (i > 0) x = nn::dropout(x, o.dropout, is_training());
    std::tie(x, final) = encoder_layers_[i](x, reverse, last.squeeze(1));
  }
  Seq2SeqState state;
  state.memory = x * mask.unsqueeze(-1).to(x.scalar_type());  // (B, S, H)
  state.keys = attention ? attention->keys_of(state.memory) : state.memory;
  state.mask = mask;
  const int64_t L = o.decoder_layers, H = o.hidden_size;
  auto per_layer = [&](const torch::Tensor& t) { return t.view({-1, L, H}).transpose(0, 1).contiguous(); };  // (L, B, H)
  state.h = per_layer(torch::tanh(bridge_h(final)));
  if (bridge_c) state.c = per_layer(torch::tanh(bridge_c(final)));
  state.feed = torch::zeros_like(final);  // (B, H)
  return state;
}

torch::Tensor Seq2SeqImpl::attentional(const torch::Tensor& h, const torch::Tensor& context) {
  if (!combine) return h;
  return torch::tanh(combine(torch::cat({context, h}, -1)));  // (B, T, H)
}

torch::Tensor Seq2SeqImpl::logits_of(const torch::Tensor& attentional) {
  auto x = nn::dropout(attentional, options_.dropout, is_training());
  return output ? output(x) : torch::linear(x, target_embedding->weight);  // (B, T, V)
}

Seq2SeqStep Seq2SeqImpl::decode_step(const Seq2SeqState& state, const torch::Tensor& prev_token) {
  const auto& o = options_;
  auto embedded = nn::dropout(target_embedding(prev_token), o.dropout, is_training()).unsqueeze(1);  // (B, 1, E)
  std::vector<torch::Tensor> inputs{embedded};
  torch::Tensor weights, context;  // (B, 1, S), (B, 1, H)
  if (o.attention == "bahdanau") {
    weights = attention(state.h.select(0, -1).unsqueeze(1), state.keys, state.mask);
    context = weights.bmm(state.memory);
    inputs.push_back(context);
  }
  if (o.input_feeding) inputs.push_back(state.feed.unsqueeze(1));
  auto rnn = decoder_rnn(inputs.size() == 1 ? embedded : torch::cat(inputs, -1), state.h, state.c);  // (B, 1, H)
  if (o.attention == "luong_dot" || o.attention == "luong_general") {
    weights = attention(rnn.output, state.keys, state.mask);
    context = weights.bmm(state.memory);
  }
  auto out = attentional(rnn.output, context);  // (B, 1, H)

  Seq2SeqStep step;
  step.logits = logits_of(out).squeeze(1);  // (B, V)
  step.attention = weights.defined() ? weights.squeeze(1) : torch::zeros_like(state.mask, state.memory.options());
  step.state = state;
  step.state.h = rnn.h;
  step.state.c = rnn.c;
  step.state.feed = out.squeeze(1);
  return step;
}

Seq2SeqOutput Seq2SeqImpl::forward_parallel(const Seq2SeqState& state, const torch::Tensor& target_input,
                                            const torch::Tensor& target_lengths) {
  auto embedded = nn::dropout(target_embedding(target_input), options_.dropout, is_training());  // (B, T, E)
  auto states = target_lengths.defined() ? decoder_rnn.padded(embedded, target_lengths, state.h, state.c)
                                         : decoder_rnn(embedded, state.h, state.c).output;  // (B, T, H)
  Seq2SeqOutput result;
  torch::Tensor context;
  if (attention) {
    result.attention = attention(states, state.keys, state.mask);  // (B, T, S)
    context = result.attention.bmm(state.memory);                  // (B, T, H)
  } else {
    result.attention = torch::zeros({target_input.size(0), target_input.size(1), state.mask.size(1)},
                                    state.memory.options());
  }
  result.logits = logits_of(attentional(states, context));  // (B, T, V)
  return result;
}

Seq2SeqOutput Seq2SeqImpl::forward(const torch::Tensor& source, const torch::Tensor& source_mask,
                                   const torch::Tensor& target_input, double teacher_forcing_ratio,
                                   const torch::Tensor& target_lengths) {
  TORCH_CHECK(target_input.dim() == 2 && target_input.size(0) == source.size(0), "target_input ", target_input.sizes(),
              " must be (B, T) for source ", source.sizes());
  const auto& o = options_;
  Seq2SeqState state = encode(source, source_mask);
  const bool teacher_forced = teacher_forcing_ratio >= 1.0;
  if (teacher_forced && o.attention != "bahdanau" && !o.input_feeding)
    return forward_parallel(state, target_input, target_lengths);

  const int64_t T = target_input.size(1);
  std::vector<torch::Tensor> logits, weights;
  for (int64_t t = 0; t < T; ++t) {
    auto token = target_input.select(1, t);  // (B)
    if (t > 0 && !teacher_forced) {
      auto own = logits.back().detach().argmax(-1);
      auto keep = torch::bernoulli(torch::full(token.sizes(), teacher_forcing_ratio, state.memory.options()))
                      .to(torch::kBool);
      token = torch::where(keep, token, own);
    }
    auto step = decode_step(state, token);
    logits.push_back(step.logits);
    weights.push_back(step.attention);
    state = std::move(step.state);
  }
  return {torch::stack(logits, 1), torch::stack(weights, 1)};  // (B, T, V), (B, T, S)
}

Factory<Seq2Seq, const Seq2SeqContext&>& seq2seq_models() {
  static Factory<Seq2Seq, const Seq2SeqContext&> factory("model");
  return factory;
}

void register_seq2seq_models() {
  seq2seq_models().add<Seq2SeqOptions>(
      "seq2seq", "LSTM/GRU encoder-decoder with Bahdanau or Luong attention (or none), for the seq2seq trainer",
      std::function<Seq2Seq(const Seq2SeqOptions&, const Seq2SeqContext&)>(
          [](const Seq2SeqOptions& options, const Seq2SeqContext& context) {
            return Seq2Seq(options, context.vocab_size);
          }));
}

}  // namespace zoo::models
