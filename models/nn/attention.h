// Multi-head self-attention (causal or bidirectional, padding mask, grouped-query heads, rotary
// positions) and the KV cache that incremental decoding appends to. Plain matmul + softmax:
// libtorch 1.13 has no fused scaled-dot-product attention.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "models/nn/embedding.h"
#include "models/nn/lora.h"

namespace zoo::models::nn {

// Keys and values of every layer for `batch` sequences, preallocated to `max_length` tokens so
// that a decoding step writes in place instead of concatenating. Layers append at length(); the
// model calls advance() once all its layers have appended.
class KVCache {
 public:
  KVCache() = default;
  KVCache(int64_t n_layer, int64_t batch, int64_t n_kv_head, int64_t max_length, int64_t head_dim,
          const torch::TensorOptions& options);

  int64_t length() const { return length_; }
  int64_t max_length() const { return max_length_; }
  int64_t batch() const { return keys_.empty() ? 0 : keys_[0].size(0); }
  int64_t n_layer() const { return static_cast<int64_t>(keys_.size()); }

  // Writes k, v (B, n_kv_head, T, head_dim) of `layer` at [length, length + T) and returns views
  // of that layer's keys and values over [0, length + T).
  std::pair<torch::Tensor, torch::Tensor> append(int64_t layer, const torch::Tensor& k, const torch::Tensor& v);
  // Moves length() past `n` tokens that every layer has appended.
  void advance(int64_t n);
  // Empties the cache, keeping its memory.
  void reset();
  // Keeps batch rows `index` (B') in that order: beam search reorders hypotheses with this.
  void reorder(const torch::Tensor& index);

  // Padding: marks which of the next T tokens are real, mask (B, T) with 1 = real. Tokens never
  // marked count as real. Models read key_mask() to hide padded keys and to number positions
  // from the first real token (left-padded prompts decode like unpadded ones).
  void mark_padding(const torch::Tensor& mask);
  bool has_padding() const { return padding_.defined(); }
  // (B, length + new_tokens) bool over all keys of the next forward, or undefined if no padding.
  torch::Tensor key_mask(int64_t new_tokens) const;

 private:
  void check_room(int64_t n) const;

  std::vector<torch::Tensor> keys_, values_;  // per layer (B, n_kv_head, max_length, head_dim)
  torch::Tensor padding_;                     // (B, max_length) bool, or undefined
  int64_t length_ = 0;
  int64_t max_length_ = 0;
};

struct SelfAttentionOptions {
  SelfAttentionOptions(int64_t d_model, int64_t n_head) : d_model_(d_model), n_head_(n_head) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, n_head);
  TORCH_ARG(int64_t, n_kv_head) = 0;  // 0 = n_head; fewer shares each K/V head among n_head / n_kv_head queries
  TORCH_ARG(bool, causal) = true;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(double, dropout) = 0.0;   // on attention probabilities and on the output

 public:  // TORCH_ARG leaves the section private
  int64_t kv_heads() const { return n_kv_head_ > 0 ? n_kv_head_ : n_head_; }
  int64_t head_dim() const { return d_model_ / n_head_; }
};

// What an attention call needs besides its input; the same for every layer of one forward,
// except `layer`, which the model sets as it walks the blocks.
struct AttentionContext {
  torch::Tensor key_mask;    // (B, S) 1 = attend to this key; undefined = all keys
  // (B, T) packed sequences, no cache: a query sees only the keys of its own segment (several
  // examples in one row never attend to each other); undefined = one sequence a row.
  torch::Tensor segment_ids;
  Rotation rotation;         // rotary tables for the query positions; undefined = no rotary
  KVCache* cache = nullptr;  // set for incremental decoding
  int64_t layer = 0;         // which of the cache's layers this call appends to
};

// x (B, T, C) -> (B, T, C). With a cache, the T new tokens sit after the cache's length() tokens
// and attend to all of them plus (causally) themselves.
struct SelfAttentionImpl : torch::nn::Module {
  explicit SelfAttentionImpl(const SelfAttentionOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const AttentionContext& context = {});

  SelfAttentionOptions options;
  LoRALinear c_attn{nullptr};  // fused q, k, v: d_model -> (n_head + 2 n_kv_head) head_dim
  LoRALinear c_proj{nullptr};  // output, residual projection

 private:
  torch::Tensor forward_causal_training(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                        double scale);
};
TORCH_MODULE(SelfAttention);

}  // namespace zoo::models::nn
