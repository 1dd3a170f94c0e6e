// GPT: options validation, block, model, GPT-2 initialisation.
#include "models/gpt.h"

#include <cmath>

#include "core/error.h"
#include "models/nn/checkpoint.h"
#include "models/nn/dropout.h"

namespace zoo::models {

void GPTOptions::validate(int64_t vocab_size) const {
  auto fail = [](const std::string& what) { throw UserError("model: " + what); };
  auto str = [](int64_t v) { return std::to_string(v); };
  if (vocab_size <= 0) fail("vocab_size is " + str(vocab_size) + "; the tokenizer must have a vocabulary");
  if (d_model % n_head != 0)
    fail("d_model (" + str(d_model) + ") must be divisible by n_head (" + str(n_head) + ")");
  if (n_kv_head > n_head || (n_kv_head > 0 && n_head % n_kv_head != 0))
    fail("n_kv_head (" + str(n_kv_head) + ") must divide n_head (" + str(n_head) + ")");
  if (pos == "rotary" && (d_model / n_head) % 2 != 0)
    fail("rotary positions need an even head size, d_model / n_head = " + str(d_model / n_head));
  if (pos == "sinusoidal" && d_model % 2 != 0)
    fail("sinusoidal positions need an even d_model, got " + str(d_model));
  moe.validate(n_layer);
  if (gradient_checkpointing && moe.num_experts > 0)
    fail("gradient_checkpointing does not work with moe yet (the recomputed router losses would be lost); "
         "turn one of them off");
}

GPTBlockImpl::GPTBlockImpl(const GPTOptions& o, int64_t layer) {
  ln_1 = register_module("ln_1", nn::make_norm(o.norm, o.d_model, o.bias));
  attn = register_module("attn", nn::SelfAttention(nn::SelfAttentionOptions(o.d_model, o.n_head)
                                                       .n_kv_head(o.n_kv_head)
                                                       .causal(true)
                                                       .bias(o.bias)
                                                       .dropout(o.dropout)));
  ln_2 = register_module("ln_2", nn::make_norm(o.norm, o.d_model, o.bias));
  mlp = register_module("mlp", o.moe.replaces(layer)
                                   ? std::make_shared<nn::MoEImpl>(o.moe, o.mlp, o.d_model, 0, o.bias, o.dropout)
                                   : nn::make_feed_forward(o.mlp, o.d_model, o.bias, o.dropout));
}

torch::Tensor GPTBlockImpl::forward(const torch::Tensor& x, const nn::AttentionContext& context) {
  auto y = x + attn(ln_1->forward(x), context);  // (B, T, C)
  return y + mlp->forward(ln_2->forward(y));
}

GPTImpl::GPTImpl(const GPTOptions& options, int64_t vocab_size) : options_(options), vocab_size_(vocab_size) {
  options_.validate(vocab_size);
  const auto& o = options_;
  wte = register_module("wte", torch::nn::Embedding(vocab_size, o.d_model));
  if (o.pos == "learned") wpe = register_module("wpe", torch::nn::Embedding(o.block_size, o.d_model));
  if (o.pos == "sinusoidal") sinusoidal = register_module("sinusoidal", nn::SinusoidalEmbedding(o.block_size, o.d_model));
  if (o.pos == "rotary") rotary = register_module("rotary", nn::RotaryEmbedding(o.d_model / o.n_head, o.block_size));
  h = register_module("h", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.n_layer; ++i) {
    blocks_.emplace_back(o, i);
    h->push_back(blocks_.back());
  }
  ln_f = register_module("ln_f", nn::make_norm(o.norm, o.d_model, o.bias));
  if (!o.tie_weights)
    lm_head = register_module("lm_head", nn::LoRALinear(torch::nn::LinearOptions(o.d_model, vocab_size).bias(false)));
  init_weights();
}

// GPT-2: weights N(0, 0.02), biases 0; the projections that write into the residual stream
// (every `c_proj`) get 0.02 / sqrt(2 n_layer), as each block adds two of them to it.
void GPTImpl::init_weights() {
  torch::NoGradGuard no_grad;
  const double residual_std = 0.02 / std::sqrt(2.0 * options_.n_layer);
  auto ends_with = [](const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
  };
  for (auto& item : named_parameters()) {
    auto& p = item.value();
    if (ends_with(item.key(), "c_proj.weight"))
      p.normal_(0.0, residual_std);
    else if (p.dim() >= 2)
      p.normal_(0.0, 0.02);
    else if (ends_with(item.key(), ".bias"))
      p.zero_();
  }
}

namespace {

// 0 .. T-1 (+ offset) as (T), from ids' shape: a traced export keeps T dynamic.
torch::Tensor positions_like(const torch::Tensor& ids, int64_t offset) {
  return torch::ones_like(ids.select(0, 0)).cumsum(0) - 1 + offset;
}

// Positions that count real tokens only: mask (B, S) -> (B, S), padding gets 0.
torch::Tensor positions_from_mask(const torch::Tensor& mask) {
  return (mask.to(torch::kLong).cumsum(1) - 1).clamp_min(0);
}

// Each token's position within its segment: t minus where its run of equal ids began.
torch::Tensor positions_in_segments(const torch::Tensor& segment_ids) {
  auto t = torch::ones_like(segment_ids).cumsum(1) - 1;  // (B, T) 0 .. T-1
  auto starts_here = torch::ones_like(segment_ids, torch::kBool);
  starts_here.narrow(1, 1, segment_ids.size(1) - 1)
      .copy_(segment_ids.narrow(1, 1, segment_ids.size(1) - 1).ne(segment_ids.narrow(1, 0, segment_ids.size(1) - 1)));
  auto start = std::get<0>(torch::where(starts_here, t, torch::zeros_like(t)).cummax(1));
  return t - start;
}
}  // namespace

// Training leaves positions undefined: learned positions 0 .. T-1 are then a view of the table's
// first T rows, with no index tensor to build each step. Eval and export number them from ids.
torch::Tensor GPTImpl::forward(const torch::Tensor& ids) {
  return run(ids, is_training() ? torch::Tensor() : positions_like(ids, 0), {}, nullptr);
}

torch::Tensor GPTImpl::forward_masked(const torch::Tensor& ids, const torch::Tensor& attention_mask) {
  TORCH_CHECK(attention_mask.sizes() == ids.sizes(), "attention mask ", attention_mask.sizes(),
              " does not match ids ", ids.sizes());
  return run(ids, positions_from_mask(attention_mask), attention_mask, nullptr);
}

torch::Tensor GPTImpl::forward_packed(const torch::Tensor& ids, const torch::Tensor& segment_ids) {
  TORCH_CHECK(segment_ids.sizes() == ids.sizes(), "segment ids ", segment_ids.sizes(), " do not match ids ",
              ids.sizes());
  return run(ids, positions_in_segments(segment_ids), {}, nullptr, segment_ids);
}

torch::Tensor GPTImpl::forward_cached(const torch::Tensor& ids, nn::KVCache& cache) {
  TORCH_CHECK(cache.n_layer() == options_.n_layer, "KV cache has ", cache.n_layer(), " layers, model ",
              options_.n_layer);
  const int64_t offset = cache.length(), T = ids.size(1);
  auto key_mask = cache.key_mask(T);  // (B, offset + T) or undefined
  auto positions = key_mask.defined() ? positions_from_mask(key_mask).narrow(1, offset, T) : positions_like(ids, offset);
  return run(ids, positions, key_mask, &cache);
}

nn::KVCache GPTImpl::make_cache(int64_t batch) const {
  const auto& o = options_;
  return nn::KVCache(o.n_layer, batch, o.n_kv_head > 0 ? o.n_kv_head : o.n_head, o.block_size, o.d_model / o.n_head,
                     wte->weight.options());
}

torch::Tensor GPTImpl::run(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& key_mask,
                           nn::KVCache* cache, const torch::Tensor& segment_ids) {
  TORCH_CHECK(ids.dim() == 2, "ids must be (B, T), got ", ids.sizes());
  const int64_t offset = cache ? cache->length() : 0, T = ids.size(1);
  if (offset + T > options_.block_size)
    throw UserError("model: " + std::to_string(offset + T) + " tokens exceed block_size " +
                    std::to_string(options_.block_size));

  const auto positions_or_range = positions.defined() || wpe ? positions : positions_like(ids, 0);
  auto x = wte(ids);                                // (B, T, C)
  if (wpe) x = x + (positions.defined() ? wpe(positions) : wpe->weight.narrow(0, 0, T));  // + (T, C) or (B, T, C)
  if (sinusoidal) x = x + sinusoidal(positions_or_range);
  x = nn::dropout(x, options_.dropout, is_training());

  nn::AttentionContext context;
  context.key_mask = key_mask;
  context.segment_ids = segment_ids;
  if (rotary) context.rotation = rotary(positions_or_range);
  context.cache = cache;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    context.layer = static_cast<int64_t>(i);
    if (options_.gradient_checkpointing && is_training() && !cache)
      x = nn::checkpoint([block = blocks_[i], context](const torch::Tensor& input) mutable { return block(input, context); }, x);
    else
      x = blocks_[i](x, context);
  }
  x = ln_f->forward(x);
  auto logits = options_.tie_weights ? torch::linear(x, wte->weight) : lm_head(x);  // (B, T, vocab)
  if (cache) cache->advance(T);
  return logits;
}

}  // namespace zoo::models
