// Shared layers: norms against their formulas, grouped-query attention against multi-head
// attention with duplicated K/V heads, bidirectional attention with a padding mask, KV cache
// bookkeeping, rotary relative-position property.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "models/nn/attention.h"
#include "models/nn/embedding.h"
#include "models/nn/feed_forward.h"
#include "models/nn/norm.h"

namespace nn = zoo::models::nn;
using torch::indexing::Slice;

namespace {
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}
}  // namespace

TEST(Norm, RMSNormAndBiaslessLayerNormFollowTheirFormulas) {
  torch::manual_seed(0);
  auto x = torch::randn({3, 5, 8}) * 3 + 1;
  nn::RMSNorm rms(8);
  rms->weight.data().normal_(1.0, 0.3);
  auto expected = x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6) * rms->weight;
  EXPECT_LE(max_abs_diff(rms(x), expected), 1e-5);

  nn::LayerNorm ln(8, /*bias=*/false);
  EXPECT_EQ(ln->parameters().size(), 1u);
  auto mean = x.mean(-1, true);
  auto var = (x - mean).pow(2).mean(-1, true);
  EXPECT_LE(max_abs_diff(ln(x), (x - mean) / torch::sqrt(var + 1e-5)), 1e-5);
}

TEST(FeedForward, SwiGLUHiddenMatchesGeluParameterBudget) {
  EXPECT_EQ(nn::swiglu_hidden(384), 1024);  // 2/3 * 4 * 384 exactly
  EXPECT_EQ(nn::swiglu_hidden(64), 192);    // 170.7 rounded up to a multiple of 64
  auto gelu = nn::make_feed_forward("gelu", 64, false, 0.0);
  auto swiglu = nn::make_feed_forward("swiglu", 64, false, 0.0);
  auto x = torch::randn({2, 3, 64});
  EXPECT_EQ(gelu->forward(x).sizes(), x.sizes());
  EXPECT_EQ(swiglu->forward(x).sizes(), x.sizes());
  EXPECT_THROW(nn::make_feed_forward("relu", 64, false, 0.0), std::invalid_argument);
}

// GQA with K/V heads duplicated into every query head of their group must equal MHA.
TEST(Attention, GroupedQueryEqualsMultiHeadWithRepeatedKV) {
  torch::manual_seed(0);
  const int64_t d = 32, heads = 4, kv_heads = 2, hd = d / heads, group = heads / kv_heads;
  nn::SelfAttention gqa(nn::SelfAttentionOptions(d, heads).n_kv_head(kv_heads));
  nn::SelfAttention mha(nn::SelfAttentionOptions(d, heads));
  {
    torch::NoGradGuard no_grad;
    auto w = gqa->c_attn->weight;  // (q: heads*hd | k: kv*hd | v: kv*hd, d)
    auto b = gqa->c_attn->bias;
    auto expand = [&](const torch::Tensor& t, int64_t from) {  // kv head g -> query heads g*group..
      return t.narrow(0, from, kv_heads * hd).unflatten(0, {kv_heads, hd}).repeat_interleave(group, 0).flatten(0, 1);
    };
    mha->c_attn->weight.copy_(torch::cat({w.narrow(0, 0, d), expand(w, d), expand(w, d + kv_heads * hd)}));
    mha->c_attn->bias.copy_(torch::cat({b.narrow(0, 0, d), expand(b, d), expand(b, d + kv_heads * hd)}));
    mha->c_proj->weight.copy_(gqa->c_proj->weight);
    mha->c_proj->bias.copy_(gqa->c_proj->bias);
  }
  auto x = torch::randn({3, 7, d});
  EXPECT_LE(max_abs_diff(gqa(x), mha(x)), 1e-5);
}

TEST(Attention, BidirectionalWithPaddingMask) {
  torch::manual_seed(0);
  nn::SelfAttention attn(nn::SelfAttentionOptions(16, 2).causal(false));
  auto x = torch::randn({2, 6, 16});
  auto mask = torch::ones({2, 6}, torch::kLong);
  mask.index_put_({Slice(), 5}, 0);
  nn::AttentionContext context;
  context.key_mask = mask;
  auto y = attn(x, context);
  // Position 0 sees the future when bidirectional...
  auto x2 = x.clone();
  x2.index_put_({Slice(), 3}, torch::randn({2, 16}));
  EXPECT_GT(max_abs_diff(attn(x2, context).select(1, 0), y.select(1, 0)), 1e-3);
  // ...but never a masked key.
  auto x3 = x.clone();
  x3.index_put_({Slice(), 5}, torch::randn({2, 16}) * 10);
  EXPECT_LE(max_abs_diff(attn(x3, context).narrow(1, 0, 5), y.narrow(1, 0, 5)), 1e-6);
  // A query whose keys are all masked gets uniform weights, not NaN.
  context.key_mask = torch::zeros({2, 6}, torch::kLong);
  EXPECT_FALSE(attn(x, context).isnan().any().item<bool>());
}

TEST(KVCache, AppendsInPlaceAndChecksRoom) {
  nn::KVCache cache(2, 3, 2, 8, 4, torch::TensorOptions());
  EXPECT_EQ(cache.batch(), 3);
  EXPECT_EQ(cache.n_layer(), 2);
  auto k = torch::randn({3, 2, 5, 4}), v = torch::randn({3, 2, 5, 4});
  auto [keys, values] = cache.append(0, k, v);
  EXPECT_EQ(keys.sizes(), (std::vector<int64_t>{3, 2, 5, 4}));
  EXPECT_EQ(max_abs_diff(keys, k), 0.0);
  cache.append(1, k, v);
  cache.advance(5);
  auto k2 = torch::randn({3, 2, 2, 4});
  auto [keys2, values2] = cache.append(0, k2, k2);
  EXPECT_EQ(max_abs_diff(keys2.narrow(2, 0, 5), k), 0.0);  // the earlier tokens stay in place
  EXPECT_EQ(max_abs_diff(keys2.narrow(2, 5, 2), k2), 0.0);
  EXPECT_THROW(cache.append(0, torch::randn({3, 2, 4, 4}), torch::randn({3, 2, 4, 4})), zoo::UserError);
  EXPECT_THROW(cache.append(0, torch::randn({1, 2, 1, 4}), torch::randn({1, 2, 1, 4})), c10::Error);
}

// Rotary embedding makes q.k depend on the distance between positions only.
TEST(Rotary, ScoresDependOnRelativePosition) {
  torch::manual_seed(0);
  nn::RotaryEmbedding rope(16, 64);
  auto q = torch::randn({1, 1, 1, 16}), k = torch::randn({1, 1, 1, 16});
  auto score = [&](int64_t i, int64_t j) {
    auto qi = rope(torch::tensor({i})).apply(q);
    auto kj = rope(torch::tensor({j})).apply(k);
    return (qi * kj).sum().item<double>();
  };
  EXPECT_NEAR(score(3, 1), score(40, 38), 1e-4);
  EXPECT_NEAR(score(0, 0), (q * k).sum().item<double>(), 1e-5);
  EXPECT_GT(std::abs(score(3, 1) - score(3, 2)), 1e-3);
}
