// The seq2seq Decoder: sources re-aligned to the right, one decode_step per token, rows kept by index.
#include "generation/seq2seq_decoder.h"

namespace zoo::generation {

Seq2SeqDecoder::Seq2SeqDecoder(models::Seq2SeqImpl& model, int64_t bos, int64_t max_length,
                               int64_t max_source_length)
    : model_(model),
      bos_(bos),
      max_length_(max_length),
      max_source_length_(max_source_length),
      device_(model.parameters().front().device()),
      was_training_(model.is_training()) {
  TORCH_CHECK(max_length >= 1, "a seq2seq decoder needs room for at least one output, got max_length ", max_length);
  model_.eval();
}

Seq2SeqDecoder::~Seq2SeqDecoder() { model_.train(was_training_); }

torch::Tensor Seq2SeqDecoder::start(const torch::Tensor& ids, const torch::Tensor& mask) {
  // The encoder reads right-padded sources: each row moves left by its padding.
  auto real = mask.to(device_, torch::kBool);                                            // (B, S)
  auto padding = real.size(1) - real.sum(1, /*keepdim=*/true);                            // (B, 1)
  auto columns = torch::arange(real.size(1), torch::TensorOptions().dtype(torch::kLong).device(device_));
  auto index = (columns.unsqueeze(0) + padding).remainder(real.size(1));                  // (B, S)
  auto source = ids.to(device_).gather(1, index);
  state_ = model_.encode(source, real.gather(1, index));
  fed_ = 0;
  attention_.clear();
  return advance(torch::full({ids.size(0)}, bos_, torch::TensorOptions().dtype(torch::kLong).device(device_)));
}

torch::Tensor Seq2SeqDecoder::step(const torch::Tensor& ids) {
  TORCH_CHECK(room() > 0, "seq2seq decoder: no room left (max_length ", max_length_, ")");
  ++fed_;
  return advance(ids.to(device_).view({-1}));
}

torch::Tensor Seq2SeqDecoder::advance(const torch::Tensor& prev_token) {
  auto step = model_.decode_step(state_, prev_token);
  state_ = std::move(step.state);
  if (recording_) attention_.push_back(step.attention);
  return step.logits;  // (B, V)
}

void Seq2SeqDecoder::reorder(const torch::Tensor& index) {
  auto rows = index.to(device_);
  state_ = state_.index_select(rows);
  for (auto& weights : attention_) weights = weights.index_select(0, rows);
}

torch::Tensor Seq2SeqDecoder::attention() const {
  if (attention_.empty()) return state_.mask.defined() ? torch::zeros({state_.mask.size(0), 0, state_.mask.size(1)}) : torch::Tensor();
  return torch::stack(attention_, 1);  // (B, steps, S)
}

}  // namespace zoo::generation
