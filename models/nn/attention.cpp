// Multi-head self-attention and its KV cache.
#include "models/nn/attention.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <string>

#include "core/error.h"
#include "core/runtime.h"
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

// Causal self-attention of a training step on the CPU, from c_attn's output (B, T, 3C) straight
// to the heads' outputs (B, T, C), one autograd node. Each sequence's per-head products read q, k
// and v where c_attn wrote them (as (H, T, hd) views whose rows are 3C apart, which BLAS takes as
// they are), and write y and the gradients of q, k and v in place the same way: none of the
// (B, T, H, hd) <-> (B, H, T, hd) copies of the general path, forward or backward, which are
// bandwidth-bound and scaled 1.16x from one thread to two (bench/NOTES.md). Sequences are split
// between the threads, each running its own with single-threaded BLAS, so that one sequence's
// (H, T, T) scores stay in its core's cache through softmax, dropout and the product with v. The
// scores, softmax and dropout are those of forward_causal_training (the same mask for the same
// seed); backward keeps the probabilities and the dropout mask and recomputes the dropped
// probabilities.
class CausalAttentionCPU : public torch::autograd::Function<CausalAttentionCPU> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_in, int64_t heads,
                               double scale, double dropout) {
    const auto qkv = qkv_in.contiguous();
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, hd = C / heads;
    const auto parts = qkv.view({B, T, 3, heads, hd});
    const auto bias = causal_bias(T, T, qkv.options()).expand({heads, T, T});
    auto probs = torch::empty({B, heads, T, T}, qkv.options());
    torch::Tensor keep;
    uint64_t seed = 0;
    if (dropout > 0) {
      keep = torch::empty({B, heads, T, T}, qkv.options().dtype(torch::kUInt8));
      seed = draw_dropout_seed();
    }
    auto y = torch::empty({B, T, C}, qkv.options());
    const auto y_heads = y.view({B, T, heads, hd});
    SingleThreadedBlas one_product_a_thread;
    parallel_for_here(0, B, 1, [&](int64_t begin, int64_t end) {
      auto scores = torch::empty({heads, T, T}, qkv.options());
      auto dropped = dropout > 0 ? torch::empty({heads, T, T}, qkv.options()) : torch::Tensor();
      for (int64_t b = begin; b < end; ++b) {
        torch::baddbmm_out(scores, bias, head_view(parts, b, 0), head_view(parts, b, 1).transpose(1, 2),
                           /*beta=*/1.0, /*alpha=*/scale);
        auto probs_b = probs.select(0, b);
        torch::_softmax_out(probs_b, scores, -1, /*half_to_float=*/false);
        if (dropout > 0) {
          auto keep_b = keep.select(0, b);
          dropout_into(probs_b, dropout, seed, b * heads * T * T, dropped, keep_b);
        }
        auto out = y_heads.select(0, b).transpose(0, 1);  // (H, T, hd), rows C apart
        torch::bmm_out(out, dropout > 0 ? dropped : probs_b, head_view(parts, b, 2));
      }
    });
    ctx->save_for_backward({qkv, probs, keep});
    ctx->saved_data["heads"] = heads;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["dropout"] = dropout;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &probs = saved[1], &keep = saved[2];
    const int64_t heads = ctx->saved_data["heads"].toInt();
    const double scale = ctx->saved_data["scale"].toDouble(), dropout = ctx->saved_data["dropout"].toDouble();
    const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, hd = C / heads;
    const auto parts = qkv.view({B, T, 3, heads, hd});
    const auto grad_y = grads[0].contiguous().view({B, T, heads, hd});
    auto grad_qkv = torch::empty_like(qkv);
    const auto grad_parts = grad_qkv.view({B, T, 3, heads, hd});
    SingleThreadedBlas one_product_a_thread;
    parallel_for_here(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const auto probs_b = probs.select(0, b);  // (H, T, T)
        const auto keep_b = keep.defined() ? keep.select(0, b) : torch::Tensor();
        const auto dropped_b = keep_b.defined() ? apply_dropout_mask(probs_b, keep_b, dropout) : probs_b;
        const auto grad_y_b = grad_y.select(0, b).transpose(0, 1);  // (H, T, hd)
        auto grad_v = head_view(grad_parts, b, 2);
        torch::bmm_out(grad_v, dropped_b.transpose(1, 2), grad_y_b);
        auto grad_dropped = torch::bmm(grad_y_b, head_view(parts, b, 2).transpose(1, 2));  // (H, T, T)
        auto grad_probs = keep_b.defined() ? apply_dropout_mask(grad_dropped, keep_b, dropout) : grad_dropped;
        auto grad_scores = torch::_softmax_backward_data(grad_probs, probs_b, -1, probs_b.scalar_type());
        auto grad_q = head_view(grad_parts, b, 0), grad_k = head_view(grad_parts, b, 1);
        torch::bmm_out(grad_q, grad_scores, head_view(parts, b, 1));
        torch::bmm_out(grad_k, grad_scores.transpose(1, 2), head_view(parts, b, 0));
        grad_q.mul_(scale);
        grad_k.mul_(scale);
      }
    });
    return {grad_qkv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }

 private:
  // Sequence b's q (part 0), k (1) or v (2) of parts (B, T, 3, H, hd): (H, T, hd), rows 3C apart.
  static torch::Tensor head_view(const torch::Tensor& parts, int64_t b, int64_t part) {
    return parts.select(0, b).select(1, part).transpose(0, 1);
  }
};

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

  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const bool causal_training = is_training() && options.causal() && group == 1 && !context.cache &&
                               !context.key_mask.defined() && !context.segment_ids.defined();
  auto projected = c_attn(x);  // (B, T, (H + 2G) hd)
  if (causal_training && !context.rotation.defined() && options.dropout() < 1.0 && projected.device().is_cpu() &&
      projected.scalar_type() == torch::kFloat)
    return nn::dropout(c_proj(CausalAttentionCPU::apply(projected, H, scale, options.dropout())), options.dropout(),
                       is_training());
  auto qkv = projected.split_with_sizes({H * hd, G * hd, G * hd}, -1);
  auto q = qkv[0].unflatten(-1, {H, hd}).transpose(1, 2);  // (B, H, T, hd)
  auto k = qkv[1].unflatten(-1, {G, hd}).transpose(1, 2);  // (B, G, T, hd)
  auto v = qkv[2].unflatten(-1, {G, hd}).transpose(1, 2);  // (B, G, T, hd)
  if (context.rotation.defined()) {
    q = context.rotation.apply(q);
    k = context.rotation.apply(k);  // cached rotated: a key's rotation depends on its position only
  }
  if (context.cache) std::tie(k, v) = context.cache->append(context.layer, k, v);  // (B, G, S, hd)

  if (causal_training) return forward_causal_training(q, k, v, scale);  // RoPE, CUDA, other types

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
