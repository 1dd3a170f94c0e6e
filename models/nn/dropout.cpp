#include "models/nn/dropout.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <mutex>

#include "core/vectorize.h"

namespace zoo::models::nn {
namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per parallel chunk

// A counter-based generator: murmur3's 32-bit finaliser over a Weyl sequence of the element index.
inline uint32_t keep_hash(uint32_t index, uint32_t seed_low, uint32_t seed_high) {
  uint32_t h = index * 0x9E3779B9u + seed_low;
  h ^= seed_high;
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// Elements [begin, end): keep each whose hash reaches the threshold, scaled; record the mask.
ZOO_VECTOR_CLONES
void dropout_forward(int64_t begin, int64_t end, const float* in, float* out, uint8_t* mask, uint32_t threshold,
                     float scale, uint32_t seed_low, uint32_t seed_high, uint32_t first_index) {
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) {
    const uint8_t k = keep_hash(static_cast<uint32_t>(i) + first_index, seed_low, seed_high) >= threshold;
    mask[i] = k;
    out[i] = k ? in[i] * scale : 0.0f;
  }
}

ZOO_VECTOR_CLONES
void dropout_backward(int64_t begin, int64_t end, const float* in, float* out, const uint8_t* mask, float scale) {
#pragma GCC ivdep
  for (int64_t i = begin; i < end; ++i) out[i] = mask[i] ? in[i] * scale : 0.0f;
}

}  // namespace

uint64_t draw_dropout_seed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

void dropout_into(const torch::Tensor& x, double p, uint64_t seed, int64_t first_index, torch::Tensor& out,
                  torch::Tensor& keep) {
  TORCH_CHECK(x.is_contiguous() && out.is_contiguous() && keep.is_contiguous() && out.numel() == x.numel() &&
                  keep.numel() == x.numel(),
              "dropout_into: contiguous tensors of one size");
  const auto seed_low = static_cast<uint32_t>(seed), seed_high = static_cast<uint32_t>(seed >> 32);
  // Keep an element when its hash reaches p * 2^32.
  const auto threshold = static_cast<uint32_t>(std::min(p * 4294967296.0, 4294967295.0));
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  const float* in = x.data_ptr<float>();
  float* y = out.data_ptr<float>();
  uint8_t* mask = keep.data_ptr<uint8_t>();
  const auto first = static_cast<uint32_t>(first_index);
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
    dropout_forward(begin, end, in, y, mask, threshold, scale, seed_low, seed_high, first);
  });
}

torch::Tensor apply_dropout_mask(const torch::Tensor& x, const torch::Tensor& keep, double p) {
  const auto input = x.contiguous();
  const auto mask = keep.contiguous();
  auto result = torch::empty_like(input);
  const auto scale = static_cast<float>(1.0 / (1.0 - p));
  const float* in = input.data_ptr<float>();
  float* out = result.data_ptr<float>();
  const uint8_t* kept = mask.data_ptr<uint8_t>();
  at::parallel_for(0, input.numel(), kGrain,
                   [&](int64_t begin, int64_t end) { dropout_backward(begin, end, in, out, kept, scale); });
  return result;
}

namespace {

class HashDropout : public torch::autograd::Function<HashDropout> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& input, double p) {
    const auto x = input.contiguous();
    auto keep = torch::empty(x.sizes(), x.options().dtype(torch::kUInt8));
    auto y = torch::empty_like(x);
    dropout_into(x, p, draw_dropout_seed(), 0, y, keep);
    ctx->save_for_backward({keep});
    ctx->saved_data["p"] = p;
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    return {apply_dropout_mask(grads[0], ctx->get_saved_variables()[0], ctx->saved_data["p"].toDouble()),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool train) {
  if (!train || p == 0.0) return x;
  if (p >= 1.0 || !x.device().is_cpu() || x.scalar_type() != torch::kFloat) return torch::dropout(x, p, train);
  return HashDropout::apply(x, p);
}

}  // namespace zoo::models::nn
