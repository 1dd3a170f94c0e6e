// BERT: presets, validation, embeddings, encoder blocks, heads and BERT's initialisation.
#include "models/bert.h"

#include "core/error.h"
#include "models/nn/dropout.h"

namespace zoo::models {

void BertOptions::apply_preset(const std::string& name) {
  d_ff = 0;
  if (name == "bert_tiny") {
    n_layer = 2, n_head = 2, d_model = 128;
  } else if (name == "bert_small") {
    n_layer = 4, n_head = 8, d_model = 512;
  } else {  // bert_mini
    n_layer = 4, n_head = 4, d_model = 256;
  }
}

void BertOptions::validate(int64_t vocab_size) const {
  auto fail = [](const std::string& what) { throw UserError("model: " + what); };
  if (vocab_size <= 0) fail("vocab_size is " + std::to_string(vocab_size) + "; the tokenizer must have a vocabulary");
  if (d_model % n_head != 0)
    fail("d_model (" + std::to_string(d_model) + ") must be divisible by n_head (" + std::to_string(n_head) + ")");
  moe.validate(n_layer);
}

namespace {

nn::Norm layer_norm(const BertOptions& o) { return std::make_shared<nn::LayerNormImpl>(o.d_model, true, o.layer_norm_eps); }

// 0 .. T-1 as (T), from ids' shape: a traced export keeps T dynamic.
torch::Tensor positions_like(const torch::Tensor& ids) { return torch::ones_like(ids.select(0, 0)).cumsum(0) - 1; }

}  // namespace

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertOptions& o, int64_t vocab_size) : dropout(o.dropout) {
  word = register_module("word", torch::nn::Embedding(vocab_size, o.d_model));
  position = register_module("position", torch::nn::Embedding(o.max_positions, o.d_model));
  segment = register_module("segment", torch::nn::Embedding(o.type_vocab_size, o.d_model));
  norm = register_module("norm", layer_norm(o));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& ids, const torch::Tensor& segment_ids,
                                          const torch::Tensor& positions) {
  auto x = word(ids) + position(positions) + segment(segment_ids);  // (B, T, C)
  return nn::dropout(norm->forward(x), dropout, is_training());
}

BertLayerImpl::BertLayerImpl(const BertOptions& o, int64_t layer) : pre_norm(o.norm_position == "pre") {
  attn = register_module(
      "attn", nn::SelfAttention(nn::SelfAttentionOptions(o.d_model, o.n_head).causal(false).dropout(o.dropout)));
  ln_1 = register_module("ln_1", layer_norm(o));
  const int64_t d_ff = o.d_ff > 0 ? o.d_ff : 4 * o.d_model;
  mlp = register_module("mlp", o.moe.replaces(layer)
                                   ? std::make_shared<nn::MoEImpl>(o.moe, "gelu", o.d_model, d_ff, true, o.dropout)
                                   : nn::make_feed_forward("gelu", o.d_model, true, o.dropout, d_ff));
  ln_2 = register_module("ln_2", layer_norm(o));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const nn::AttentionContext& context) {
  if (pre_norm) {
    auto y = x + attn(ln_1->forward(x), context);
    return y + mlp->forward(ln_2->forward(y));
  }
  auto y = ln_1->forward(x + attn(x, context));
  return ln_2->forward(y + mlp->forward(y));
}

BertMaskedLMHeadImpl::BertMaskedLMHeadImpl(const BertOptions& o, int64_t vocab_size) {
  dense = register_module("dense", nn::LoRALinear(o.d_model, o.d_model));
  norm = register_module("norm", layer_norm(o));
  bias = register_parameter("bias", torch::zeros({vocab_size}));
}

torch::Tensor BertMaskedLMHeadImpl::forward(const torch::Tensor& states, const torch::Tensor& word_embeddings) {
  auto h = norm->forward(torch::gelu(dense(states)));  // (N, C)
  return torch::linear(h, word_embeddings, bias);      // (N, V)
}

BertImpl::BertImpl(const BertOptions& options, int64_t vocab_size, const BertHeads& heads)
    : options_(options), heads_(heads), vocab_size_(vocab_size) {
  options_.validate(vocab_size);
  const auto& o = options_;
  embeddings = register_module("embeddings", BertEmbeddings(o, vocab_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer; ++i) {
    blocks_.emplace_back(o, i);
    layers->push_back(blocks_.back());
  }
  if (o.norm_position == "pre") final_norm = register_module("final_norm", layer_norm(o));
  if (heads.masked_lm) mlm = register_module("mlm", BertMaskedLMHead(o, vocab_size));
  // The tanh pooler over [CLS] serves next-sentence prediction and [CLS] classification.
  if (heads.next_sentence || (heads.sequence_labels > 0 && o.pooling == "cls"))
    pooler = register_module("pooler", nn::LoRALinear(o.d_model, o.d_model));
  if (heads.next_sentence) nsp = register_module("nsp", nn::LoRALinear(o.d_model, 2));
  if (heads.sequence_labels > 0)
    classifier = register_module("classifier", nn::LoRALinear(o.d_model, heads.sequence_labels));
  if (heads.token_labels > 0) tagger = register_module("tagger", nn::LoRALinear(o.d_model, heads.token_labels));
  init_weights();
}

// BERT: every weight matrix and embedding N(0, 0.02), biases 0, LayerNorms 1 and 0 (their own
// defaults).
void BertImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    auto& p = item.value();
    const std::string& name = item.key();
    const bool norm = name.find("norm") != std::string::npos || name.find("ln_") != std::string::npos;
    if (norm) continue;
    if (p.dim() >= 2) p.normal_(0.0, 0.02);
    else p.zero_();
  }
}

torch::Tensor BertImpl::encode(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                               const torch::Tensor& segment_ids) {
  TORCH_CHECK(ids.dim() == 2, "ids must be (B, T), got ", ids.sizes());
  if (ids.size(1) > options_.max_positions)
    throw UserError("model: " + std::to_string(ids.size(1)) + " tokens exceed max_positions " +
                    std::to_string(options_.max_positions) + " (lower data.max_length)");
  auto segments = segment_ids.defined() ? segment_ids : torch::zeros_like(ids);
  auto x = embeddings(ids, segments, positions_like(ids));
  nn::AttentionContext context;
  if (attention_mask.defined()) {
    TORCH_CHECK(attention_mask.sizes() == ids.sizes(), "attention mask ", attention_mask.sizes(), " does not match ids ",
                ids.sizes());
    context.key_mask = attention_mask;
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    context.layer = static_cast<int64_t>(i);
    x = blocks_[i](x, context);
  }
  return final_norm ? final_norm->forward(x) : x;
}

torch::Tensor BertImpl::masked_lm_logits(const torch::Tensor& states) {
  TORCH_CHECK(mlm, "this BERT has no masked-LM head");
  return mlm(states, embeddings->word->weight);
}

torch::Tensor BertImpl::next_sentence_logits(const torch::Tensor& hidden) {
  TORCH_CHECK(nsp, "this BERT has no next-sentence head");
  auto pooled = torch::tanh(pooler(hidden.select(1, 0)));  // (B, C)
  return nsp(nn::dropout(pooled, options_.dropout, is_training()));
}

torch::Tensor BertImpl::sequence_logits(const torch::Tensor& hidden, const torch::Tensor& attention_mask) {
  TORCH_CHECK(classifier, "this BERT has no sequence classifier");
  torch::Tensor pooled;  // (B, C)
  if (options_.pooling == "cls") {
    pooled = torch::tanh(pooler(hidden.select(1, 0)));
  } else if (attention_mask.defined()) {
    auto mask = attention_mask.to(hidden.scalar_type()).unsqueeze(-1);  // (B, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0);
  } else {
    pooled = hidden.mean(1);
  }
  return classifier(nn::dropout(pooled, options_.dropout, is_training()));
}

torch::Tensor BertImpl::token_logits(const torch::Tensor& hidden) {
  TORCH_CHECK(tagger, "this BERT has no token classifier");
  return tagger(nn::dropout(hidden, options_.dropout, is_training()));
}

torch::Tensor BertImpl::classify(const torch::Tensor& ids, const torch::Tensor& attention_mask) {
  auto hidden = encode(ids, attention_mask);
  return tagger ? token_logits(hidden) : sequence_logits(hidden, attention_mask);
}

bool BertImpl::is_head_parameter(const std::string& name) {
  for (const char* head : {"mlm.", "pooler.", "nsp.", "classifier.", "tagger."})
    if (name.rfind(head, 0) == 0) return true;
  return false;
}

void BertImpl::freeze(bool freeze_embeddings, int64_t frozen_layers) {
  if (frozen_layers > options_.n_layer)
    throw UserError("trainer.freeze.layers: " + std::to_string(frozen_layers) + " is more than the model's " +
                    std::to_string(options_.n_layer) + " layers");
  if (freeze_embeddings)
    for (auto& p : embeddings->parameters()) p.set_requires_grad(false);
  for (int64_t i = 0; i < frozen_layers; ++i)
    for (auto& p : blocks_[static_cast<size_t>(i)]->parameters()) p.set_requires_grad(false);
}

Factory<Bert, const BertContext&>& encoder_models() {
  static Factory<Bert, const BertContext&> factory("model");
  return factory;
}

bool is_encoder_model(const std::string& type) { return encoder_models().has(type); }

void register_encoder_models() {
  encoder_models().add<BertOptions>(
      "bert", "bidirectional transformer encoder (BERT) for mlm, classify and token tagging",
      std::function<Bert(const BertOptions&, const BertContext&)>(
          [](const BertOptions& options, const BertContext& context) {
            return Bert(options, context.vocab_size, context.heads);
          }));
  classifier_models().add<BertOptions>(
      "bert", "bidirectional transformer encoder (BERT) for mlm, classify and token tagging",
      std::function<Classifier(const BertOptions&, const ClassifierContext&)>(
          [](const BertOptions& options, const ClassifierContext& context) -> Classifier {
            BertHeads heads;
            heads.sequence_labels = context.sequence_labels;
            heads.token_labels = context.token_labels;
            return std::make_shared<BertImpl>(options, context.vocab_size, heads);
          }));
}

}  // namespace zoo::models
