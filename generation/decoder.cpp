#include "generation/decoder.h"

namespace zoo::generation {
namespace {

class LanguageModelDecoder : public Decoder {
 public:
  // Decoding runs the model in eval mode (no dropout) and leaves it as it found it.
  explicit LanguageModelDecoder(models::LanguageModelImpl& model)
      : model_(model), device_(model.parameters().front().device()), was_training_(model.is_training()) {
    model_.eval();
  }
  ~LanguageModelDecoder() override { model_.train(was_training_); }

  torch::Tensor start(const torch::Tensor& ids, const torch::Tensor& mask) override {
    cache_ = model_.make_cache(ids.size(0));
    // An unpadded batch needs no key mask; skipping it keeps the common case on the fast path.
    if (!mask.all().item<bool>()) cache_.mark_padding(mask.to(device_));
    return last(model_.forward_cached(ids.to(device_), cache_));
  }

  torch::Tensor step(const torch::Tensor& ids) override {
    return last(model_.forward_cached(ids.to(device_).view({-1, 1}), cache_));
  }

  void reorder(const torch::Tensor& index) override { cache_.reorder(index.to(device_)); }
  int64_t room() const override { return cache_.max_length() - cache_.length(); }
  int64_t context_length() const override { return model_.context_length(); }
  torch::Device device() const override { return device_; }

 private:
  static torch::Tensor last(const torch::Tensor& logits) { return logits.select(1, -1); }  // (B, V)

  models::LanguageModelImpl& model_;
  torch::Device device_;
  bool was_training_;
  models::nn::KVCache cache_;
};

}  // namespace

std::unique_ptr<Decoder> language_model_decoder(models::LanguageModelImpl& model) {
  return std::make_unique<LanguageModelDecoder>(model);
}

}  // namespace zoo::generation
