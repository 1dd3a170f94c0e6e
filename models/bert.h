// BERT: a bidirectional transformer encoder (Devlin et al. 2019) with token, position and
// segment embeddings, post-norm blocks by default (pre-norm as an option), exact GELU and
// padding masks, and the heads its objectives use: masked-language modelling tied to the token
// embedding, next-sentence prediction, sequence classification ([CLS] or mean pooling) and
// token classification. The encoder is built from models/nn/; only the heads are new here.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/options.h"
#include "core/registry.h"
#include "models/model.h"
#include "models/nn/attention.h"
#include "models/nn/feed_forward.h"
#include "models/nn/lora.h"
#include "models/nn/moe.h"
#include "models/nn/norm.h"

namespace zoo::models {

// The recipe's `model: {type: bert, ...}`. A preset sets the sizes of Google's BERT miniatures
// (Turc et al. 2019); keys given beside it override: `{type: bert, preset: bert_mini, dropout: 0}`.
struct BertOptions : zoo::Options<BertOptions>, ClassifierOptionsBase {
  std::string preset = "bert_mini";
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t d_model = 256;
  int64_t d_ff = 0;  // 0 = 4 * d_model
  int64_t max_positions = 512;
  int64_t type_vocab_size = 2;
  double dropout = 0.1;
  std::string norm_position = "post";
  std::string pooling = "cls";
  double layer_norm_eps = 1e-12;
  nn::MoEOptions moe;

  // bert_tiny: 2 layers x 128 (2 heads); bert_mini: 4 x 256 (4); bert_small: 4 x 512 (8).
  void apply_preset(const std::string& name);

  template <class V>
  void visit(V& v) {
    v("preset", preset, "sizes of a BERT miniature, overridden by the keys below",
      one_of({"bert_tiny", "bert_mini", "bert_small"}));
    // Fields read after the preset override it, so a reader applies the preset first.
    if constexpr (std::is_same_v<V, Reader>) apply_preset(preset);
    v("n_layer", n_layer, "encoder blocks", positive());
    v("n_head", n_head, "attention heads", positive());
    v("d_model", d_model, "hidden width, divisible by n_head", positive());
    v("d_ff", d_ff, "feed-forward width; 0 = 4 * d_model", non_negative());
    v("max_positions", max_positions, "longest input in tokens (learned position embeddings)", positive());
    v("type_vocab_size", type_vocab_size, "segment embeddings (2: sentence A and B)", positive());
    v("dropout", dropout, "dropout on embeddings, attention probabilities, residual branches and heads",
      between(0, 1));
    v("norm_position", norm_position, "post: LayerNorm after each residual add (BERT); pre: before each branch",
      one_of({"post", "pre"}));
    v("pooling", pooling, "sequence classification reads the [CLS] state (through a tanh pooler) or the mean "
      "of the real tokens' states", one_of({"cls", "mean"}));
    v("layer_norm_eps", layer_norm_eps, "LayerNorm epsilon", positive());
    v.section("moe", moe, "mixture of experts in place of the feed-forward of every n-th block");
  }

  // Checks between fields that visit cannot express; throws zoo::UserError("model: ...").
  void validate(int64_t vocab_size) const;
  int64_t max_length() const override { return max_positions; }
};

// Which heads a model carries: each objective asks for the ones its loss reads.
struct BertHeads {
  bool masked_lm = false;
  bool next_sentence = false;
  int64_t sequence_labels = 0;  // > 0: a classifier over pooled states
  int64_t token_labels = 0;     // > 0: a classifier over every token's state
};

// Word + position + segment embeddings, then LayerNorm and dropout.
struct BertEmbeddingsImpl : torch::nn::Module {
  BertEmbeddingsImpl(const BertOptions& options, int64_t vocab_size);
  // ids, segment_ids (B, T), positions (T) -> (B, T, C).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& segment_ids, const torch::Tensor& positions);

  torch::nn::Embedding word{nullptr}, position{nullptr}, segment{nullptr};
  nn::Norm norm;
  double dropout;
};
TORCH_MODULE(BertEmbeddings);

// Post-norm: x = ln_1(x + attn(x)); x = ln_2(x + mlp(x)). mlp is an nn::MoE in the layers
// options.moe replaces (parameters mlp.router, mlp.experts.<e>.{c_fc, c_proj}).
// Pre-norm:  x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).
struct BertLayerImpl : torch::nn::Module {
  BertLayerImpl(const BertOptions& options, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const nn::AttentionContext& context);  // (B, T, C)

  bool pre_norm;
  nn::SelfAttention attn{nullptr};
  nn::Norm ln_1, ln_2;
  nn::FeedForward mlp;
};
TORCH_MODULE(BertLayer);

// The MLM transform: dense -> GELU -> LayerNorm, then the tied decoder plus a bias per token.
struct BertMaskedLMHeadImpl : torch::nn::Module {
  BertMaskedLMHeadImpl(const BertOptions& options, int64_t vocab_size);
  torch::Tensor forward(const torch::Tensor& states, const torch::Tensor& word_embeddings);  // (N, C) -> (N, V)

  nn::LoRALinear dense{nullptr};
  nn::Norm norm;
  torch::Tensor bias;
};
TORCH_MODULE(BertMaskedLMHead);

// Parameter names: embeddings.{word, position, segment, norm}, layers.<i>.{attn.c_attn, attn.c_proj,
// ln_1, mlp.c_fc, mlp.c_proj, ln_2}, final_norm (pre-norm only); heads: mlm.{dense, norm, bias}
// (its decoder is embeddings.word), pooler, nsp, classifier, tagger. Everything outside the
// heads is the encoder that fine-tuning loads from a pretrained run.
class BertImpl : public ClassifierImpl {
 public:
  BertImpl(const BertOptions& options, int64_t vocab_size, const BertHeads& heads);

  // ids (B, T); attention_mask (B, T) 1 = real token (undefined: all real); segment_ids (B, T)
  // (undefined: all sentence A) -> hidden states (B, T, C). Inputs are right-padded: positions
  // count from the first token.
  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& attention_mask = {},
                       const torch::Tensor& segment_ids = {});
  // Vocabulary logits of selected hidden states (N, C) -> (N, V): the loss reads only masked
  // positions, so only they pay for the vocabulary projection.
  torch::Tensor masked_lm_logits(const torch::Tensor& states);
  // hidden (B, T, C) -> IsNext / NotNext logits (B, 2) from the pooled [CLS] state.
  torch::Tensor next_sentence_logits(const torch::Tensor& hidden);
  // hidden (B, T, C), attention_mask (B, T) or undefined -> class logits (B, sequence_labels).
  torch::Tensor sequence_logits(const torch::Tensor& hidden, const torch::Tensor& attention_mask = {});
  // hidden (B, T, C) -> tag logits (B, T, token_labels).
  torch::Tensor token_logits(const torch::Tensor& hidden);

  // Whether a parameter name belongs to a head rather than the encoder.
  static bool is_head_parameter(const std::string& name);

  // ClassifierImpl: the sequence or token classifier over encode(ids, attention_mask).
  torch::Tensor classify(const torch::Tensor& ids, const torch::Tensor& attention_mask) override;
  bool is_head(const std::string& name) const override { return is_head_parameter(name); }
  // Stops gradients into the embeddings and/or the first `layers` blocks (fine-tuning).
  void freeze(bool embeddings, int64_t layers) override;
  bool reads_cls() const override { return heads_.sequence_labels > 0 && options_.pooling == "cls"; }

  const BertOptions& options() const { return options_; }
  const BertHeads& heads() const { return heads_; }
  int64_t vocab_size() const { return vocab_size_; }

 private:
  void init_weights();

  BertOptions options_;
  BertHeads heads_;
  int64_t vocab_size_;
  BertEmbeddings embeddings{nullptr};
  torch::nn::ModuleList layers;
  std::vector<BertLayer> blocks_;  // the same modules as layers, typed
  nn::Norm final_norm;             // pre-norm only
  // Heads, null unless asked for.
  BertMaskedLMHead mlm{nullptr};
  nn::LoRALinear pooler{nullptr}, nsp{nullptr}, classifier{nullptr}, tagger{nullptr};
};
TORCH_MODULE(Bert);

struct BertContext {
  int64_t vocab_size = 0;
  BertHeads heads;
};

// `model: {type: bert}` for the objectives that train an encoder (mlm, classify, ...).
Factory<Bert, const BertContext&>& encoder_models();

// Whether `type` names a model of encoder_models(); the objectives that need one say so in
// one line otherwise ("trainer mlm trains an encoder; use model.type bert").
bool is_encoder_model(const std::string& type);

// Called by register_models().
void register_encoder_models();

}  // namespace zoo::models
