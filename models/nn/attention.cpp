// Multi-head self-attention and its KV cache.
#include "models/nn/attention.h"

#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <string>

#include "core/error.h"
#include "models/nn/dropout.h"

namespace zoo::models::nn {

KVCache::KVCache(int64_t n_layer, int64_t batch, int64_t n_kv_head, int64_t max_length, int64_t head_dim,
                 const torch::TensorOptions& options)
    : max_length_(max_length) {
  for (int64_t i = 0; i < n_layer; ++i) {
    keys_.push_back(torch::zeros({batch, n_kv_head, max_length, head_dim}, options));
    values_.push_back(torch::zeros({batch, n_kv_head, max_length, head_dim}, options));
  }
}

void KVCache::check_room(int64_t n) const {
  if (length_ + n > max_length_)
    throw UserError("model: " + std::to_string(length_) + " cached + " + std::to_string(n) +
                    " new tokens exceed the context length " + std::to_string(max_length_) +
                    " (shorten the prompt or max_new_tokens, or raise block_size)");
}

std::pair<torch::Tensor, torch::Tensor> KVCache::append(int64_t layer, const torch::Tensor& k,
                                                        const torch::Tensor& v) {
  TORCH_CHECK(layer >= 0 && layer < n_layer(), "KV cache has ", n_layer(), " layers, asked for layer ", layer);
  TORCH_CHECK(k.size(0) == batch() && v.size(0) == batch(), "KV cache holds ", batch(),
              " sequences, got a batch of ", k.size(0));
  const int64_t n = k.size(2);
  check_room(n);
  auto& keys = keys_[layer];
  auto& values = values_[layer];
  keys.narrow(2, length_, n).copy_(k);
  values.narrow(2, length_, n).copy_(v);
  return {keys.narrow(2, 0, length_ + n), values.narrow(2, 0, length_ + n)};  // (B, G, S, hd)
}

void KVCache::advance(int64_t n) {
  check_room(n);
  length_ += n;
}

void KVCache::reset() {
  length_ = 0;
  padding_ = torch::Tensor();
}

void KVCache::reorder(const torch::Tensor& index) {
  for (auto& k : keys_) k = k.index_select(0, index);
  for (auto& v : values_) v = v.index_select(0, index);
  if (padding_.defined()) padding_ = padding_.index_select(0, index);
}

void KVCache::mark_padding(const torch::Tensor& mask) {
  TORCH_CHECK(mask.dim() == 2 && mask.size(0) == batch(), "padding mask must be (", batch(), ", T), got ",
              mask.sizes());
  check_room(mask.size(1));
  if (!padding_.defined())
    padding_ = torch::ones({batch(), max_length_}, keys_.at(0).options().dtype(torch::kBool));
  padding_.narrow(1, length_, mask.size(1)).copy_(mask.to(torch::kBool));
}

torch::Tensor KVCache::key_mask(int64_t new_tokens) const {
  if (!padding_.defined()) return {};
  check_room(new_tokens);
  return padding_.narrow(1, 0, length_ + new_tokens);
}

namespace {

// The most negative finite value of `type`: masked scores get it rather than -inf so a row
// with every key masked (a padding query) softmaxes to uniform weights instead of NaN.
double lowest(torch::ScalarType type) {
  double value = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(torch::kHalf, torch::kBFloat16, type, "lowest",
                                  [&] { value = static_cast<double>(std::numeric_limits<scalar_t>::lowest()); });
  return value;
}

// (T, S) additive causal mask for T queries ending at key S - 1: 0 where a query may attend,
// the lowest finite value above the diagonal. Built once per size, dtype and device and kept
// (a thread's few sizes, T * S values each), so training steps allocate no mask.
torch::Tensor causal_bias(int64_t T, int64_t S, const torch::TensorOptions& options) {
  thread_local std::map<std::tuple<int64_t, int64_t, int, int, int>, torch::Tensor> cache;
  const auto device = options.device();
  auto key = std::make_tuple(T, S, static_cast<int>(c10::typeMetaToScalarType(options.dtype())),
                             static_cast<int>(device.type()), static_cast<int>(device.index()));
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto bias = torch::zeros({T, S}, options);
    bias.masked_fill_(torch::ones({T, S}, options.dtype(torch::kBool)).triu(S - T + 1),
                      lowest(c10::typeMetaToScalarType(options.dtype())));
    it = cache.emplace(key, bias).first;
  }
  return it->second;
}

}  // namespace

SelfAttentionImpl::SelfAttentionImpl(const SelfAttentionOptions& options) : options(options) {
  const int64_t d = options.d_model(), heads = options.n_head(), kv_heads = options.kv_heads();
  TORCH_CHECK(d % heads == 0, "d_model ", d, " is not divisible by n_head ", heads);
  TORCH_CHECK(heads % kv_heads == 0, "n_head ", heads, " is not divisible by n_kv_head ", kv_heads);
  const int64_t qkv = (heads + 2 * kv_heads) * options.head_dim();
  c_attn = register_module("c_attn", LoRALinear(torch::nn::LinearOptions(d, qkv).bias(options.bias())));
  c_proj = register_module("c_proj", LoRALinear(torch::nn::LinearOptions(d, d).bias(options.bias())));
}

// Sizes are taken from tensors (unflatten with -1, ones_like) rather than baked in as C++
// integers, so a traced export of this code runs at any batch size and length.
torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const AttentionContext& context) {
  const int64_t H = options.n_head(), G = options.kv_heads(), hd = options.head_dim();
  const int64_t group = H / G;  // query heads per K/V head

  auto qkv = c_attn(x).split_with_sizes({H * hd, G * hd, G * hd}, -1);
  auto q = qkv[0].unflatten(-1, {H, hd}).transpose(1, 2);  // (B, H, T, hd)
  auto k = qkv[1].unflatten(-1, {G, hd}).transpose(1, 2);  // (B, G, T, hd)
  auto v = qkv[2].unflatten(-1, {G, hd}).transpose(1, 2);  // (B, G, T, hd)
  if (context.rotation.defined()) {
    q = context.rotation.apply(q);
    k = context.rotation.apply(k);  // cached rotated: a key's rotation depends on its position only
  }
  if (context.cache) std::tie(k, v) = context.cache->append(context.layer, k, v);  // (B, G, S, hd)

  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  if (is_training() && options.causal() && group == 1 && !context.cache && !context.key_mask.defined() &&
      !context.segment_ids.defined())
    return forward_causal_training(q, k, v, scale);

  // Grouped-query attention without copying K/V per query head: the `group` query heads sharing
  // a K/V head are stacked along the time axis and meet that head's keys in one matmul.
  q = q * scale;
  auto grouped = q.unflatten(1, {G, group}).flatten(2, 3);            // (B, G, group*T, hd)
  auto scores = torch::matmul(grouped, k.transpose(-2, -1))           // (B, G, group*T, S)
                    .unflatten(2, {group, -1});                       // (B, G, group, T, S)

  torch::Tensor allowed;  // broadcasts to scores; true = may attend
  if (options.causal()) {
    // Query i (of T new tokens) sits at absolute position S - T + i and sees keys up to it.
    const int64_t offset = k.size(2) - q.size(2);
    auto plane = scores.select(0, 0).select(0, 0).select(0, 0);  // (T, S)
    allowed = torch::ones_like(plane, torch::TensorOptions().dtype(torch::kBool)).tril(offset);
  }
  if (context.key_mask.defined()) {
    TORCH_CHECK(context.key_mask.size(-1) == k.size(2), "attention mask covers ", context.key_mask.size(-1),
                " keys, attention has ", k.size(2));
    auto keys = context.key_mask.to(torch::kBool).unsqueeze(1).unsqueeze(1).unsqueeze(1);  // (B, 1, 1, 1, S)
    allowed = allowed.defined() ? allowed.logical_and(keys) : keys;
  }
  if (context.segment_ids.defined()) {
    TORCH_CHECK(!context.cache && context.segment_ids.size(-1) == k.size(2), "segment ids ",
                context.segment_ids.sizes(), " need a full forward over ", k.size(2), " keys");
    auto same = context.segment_ids.unsqueeze(-1).eq(context.segment_ids.unsqueeze(-2))  // (B, T, S)
                    .unsqueeze(1).unsqueeze(1);                                          // (B, 1, 1, T, S)
    allowed = allowed.defined() ? allowed.logical_and(same) : same;
  }
  if (allowed.defined()) scores = scores.masked_fill(allowed.logical_not(), lowest(scores.scalar_type()));

  auto probs = torch::softmax(scores, -1);                                // (B, G, group, T, S)
  probs = nn::dropout(probs, options.dropout(), is_training());
  auto y = torch::matmul(probs.flatten(2, 3), v)                          // (B, G, group*T, hd)
               .unflatten(2, {group, -1})                                 // (B, G, group, T, hd)
               .flatten(1, 2)                                             // (B, H, T, hd)
               .transpose(1, 2)
               .flatten(2);                                               // (B, T, C)
  return nn::dropout(c_proj(y), options.dropout(), is_training());
}

// The training step's causal attention, with as few passes over the (B, H, T, T) scores as
// there can be without a fused kernel: the scale and the causal mask ride in the one baddbmm
// that computes the scores (no scaled copy of q, no masked copy of the scores, and none of
// their backward passes), then softmax and dropout. Sizes are baked in: the export path, which
// must keep them dynamic, runs in eval mode and takes the general path.
torch::Tensor SelfAttentionImpl::forward_causal_training(const torch::Tensor& q, const torch::Tensor& k,
                                                         const torch::Tensor& v, double scale) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), S = k.size(2), hd = q.size(3);
  auto bias = causal_bias(T, S, q.options()).expand({B * H, T, S});
  auto scores = torch::baddbmm(bias, q.reshape({B * H, T, hd}), k.reshape({B * H, S, hd}).transpose(1, 2),
                               /*beta=*/1.0, /*alpha=*/scale);                  // (B*H, T, S)
  auto probs = nn::dropout(torch::softmax(scores, -1), options.dropout(), true);
  auto y = torch::bmm(probs, v.reshape({B * H, S, hd}))                        // (B*H, T, hd)
               .view({B, H, T, hd})
               .transpose(1, 2)
               .reshape({B, T, H * hd});
  return nn::dropout(c_proj(y), options.dropout(), true);
}

}  // namespace zoo::models::nn
