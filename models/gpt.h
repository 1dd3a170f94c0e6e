// GPT: a pre-norm decoder-only transformer (GPT-2 / nanoGPT), with recipe switches for the
// Llama-style pieces (RMSNorm, SwiGLU, rotary positions, grouped-query attention).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/options.h"
#include "models/model.h"
#include "models/nn/attention.h"
#include "models/nn/embedding.h"
#include "models/nn/feed_forward.h"
#include "models/nn/lora.h"
#include "models/nn/moe.h"
#include "models/nn/norm.h"

namespace zoo::models {

// The recipe's `model: {type: gpt, ...}`. vocab_size comes from the tokenizer (ModelContext).
struct GPTOptions : zoo::Options<GPTOptions> {
  int64_t block_size = 256;
  int64_t n_layer = 6;
  int64_t n_head = 6;
  int64_t n_kv_head = 0;  // 0 = n_head (plain multi-head attention)
  int64_t d_model = 384;
  double dropout = 0.0;
  bool bias = true;
  bool tie_weights = true;
  std::string norm = "layernorm";
  std::string mlp = "gelu";
  std::string pos = "learned";
  bool gradient_checkpointing = false;
  nn::MoEOptions moe;

  template <class V>
  void visit(V& v) {
    v("block_size", block_size, "context length in tokens", positive());
    v("n_layer", n_layer, "transformer blocks", positive());
    v("n_head", n_head, "attention heads", positive());
    v("n_kv_head", n_kv_head, "key/value heads, dividing n_head (grouped-query attention); 0 = n_head",
      non_negative());
    v("d_model", d_model, "embedding width, divisible by n_head", positive());
    v("dropout", dropout, "dropout on embeddings, attention probabilities and residual branches", between(0, 1));
    v("bias", bias, "biases in linear layers and LayerNorms");
    v("tie_weights", tie_weights, "share the token embedding matrix with the output layer");
    v("norm", norm, "normalisation layer", one_of({"layernorm", "rmsnorm"}));
    v("mlp", mlp, "feed-forward layer", one_of({"gelu", "swiglu"}));
    v("pos", pos, "position encoding", one_of({"learned", "sinusoidal", "rotary"}));
    v("gradient_checkpointing", gradient_checkpointing,
      "keep only each block's input in training and recompute the rest in the backward pass: less memory "
      "for one more forward per step (docs/performance.md)");
    v.section("moe", moe, "mixture of experts in place of the feed-forward of every n-th block");
  }

  // Checks between fields (and against vocab_size) that visit cannot express; throws
  // zoo::UserError("model: ...").
  void validate(int64_t vocab_size) const;
};

// x + attn(ln_1(x)), then x + mlp(ln_2(x)); mlp is an nn::MoE in the blocks options.moe replaces.
struct GPTBlockImpl : torch::nn::Module {
  GPTBlockImpl(const GPTOptions& options, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const nn::AttentionContext& context);  // (B, T, C)

  nn::Norm ln_1, ln_2;
  nn::SelfAttention attn{nullptr};
  nn::FeedForward mlp;
};
TORCH_MODULE(GPTBlock);

// Parameter names: wte, wpe (learned positions), h.<i>.{ln_1, attn.c_attn, attn.c_proj, ln_2,
// mlp.c_fc, mlp.c_gate (swiglu), mlp.c_proj}, ln_f, lm_head (untied only). An MoE block's mlp
// holds mlp.router and mlp.experts.<e>.{c_fc, c_gate, c_proj}.
class GPTImpl : public LanguageModelImpl {
 public:
  GPTImpl(const GPTOptions& options, int64_t vocab_size);

  torch::Tensor forward(const torch::Tensor& ids) override;
  torch::Tensor forward_masked(const torch::Tensor& ids, const torch::Tensor& attention_mask) override;
  torch::Tensor forward_packed(const torch::Tensor& ids, const torch::Tensor& segment_ids) override;
  torch::Tensor forward_cached(const torch::Tensor& ids, nn::KVCache& cache) override;
  nn::KVCache make_cache(int64_t batch) const override;
  int64_t context_length() const override { return options_.block_size; }
  int64_t vocab_size() const override { return vocab_size_; }

  const GPTOptions& options() const { return options_; }

 private:
  // The one forward every entry point shares. positions (T) or (B, T); key_mask (B, S) or
  // undefined; segment_ids (B, T) or undefined; cache null for a full forward.
  torch::Tensor run(const torch::Tensor& ids, const torch::Tensor& positions, const torch::Tensor& key_mask,
                    nn::KVCache* cache, const torch::Tensor& segment_ids = {});
  void init_weights();

  GPTOptions options_;
  int64_t vocab_size_;
  torch::nn::Embedding wte{nullptr};
  torch::nn::Embedding wpe{nullptr};                  // pos: learned
  nn::SinusoidalEmbedding sinusoidal{nullptr};        // pos: sinusoidal
  nn::RotaryEmbedding rotary{nullptr};                // pos: rotary
  torch::nn::ModuleList h;
  std::vector<GPTBlock> blocks_;  // the same modules as h, typed
  nn::Norm ln_f;
  nn::LoRALinear lm_head{nullptr};  // only when weights are untied; tied logits use wte
};
TORCH_MODULE(GPT);

}  // namespace zoo::models
