// A Decoder over an encoder-decoder (models/seq2seq): start() encodes the sources and feeds
// <s>, step() feeds one output token, reorder() keeps rows of the encoder outputs, masks and
// recurrent states. Greedy, sampling and beam search (generate.h) all run on it. It can also
// record each step's attention weights per row, for attention maps.
#pragma once

#include <torch/torch.h>

#include <limits>
#include <memory>

#include "generation/decoder.h"
#include "models/seq2seq.h"

namespace zoo::generation {

class Seq2SeqDecoder : public Decoder {
 public:
  // `bos`: the id the decoder starts from; `max_length`: the most outputs a sequence may
  // have, its end token included (generation stops there with finish_reason "length");
  // `max_source_length`: sources longer than this keep their last tokens, as training's left
  // truncation does (0 = any length). The model runs in eval mode while the decoder lives, and
  // must outlive it.
  Seq2SeqDecoder(models::Seq2SeqImpl& model, int64_t bos, int64_t max_length, int64_t max_source_length = 0);
  ~Seq2SeqDecoder() override;

  // ids (B, S) left-padded sources (as generate() passes prompts), mask (B, S) 1 = real token.
  torch::Tensor start(const torch::Tensor& ids, const torch::Tensor& mask) override;
  torch::Tensor step(const torch::Tensor& ids) override;
  void reorder(const torch::Tensor& index) override;
  int64_t room() const override { return max_length_ - 1 - fed_; }
  int64_t context_length() const override { return max_length_; }
  int64_t prompt_limit() const override {
    return max_source_length_ > 0 ? max_source_length_ : std::numeric_limits<int64_t>::max();
  }
  torch::Device device() const override { return device_; }
  // Outputs cannot be re-encoded as a longer source: at its length limit generation stops.
  bool continues_prompt() const override { return false; }

  // Records attention weights from the next start() on.
  void record_attention(bool on) { recording_ = on; }
  // (B, steps, S) for the current rows: row b's weights over its source positions (in order,
  // the source's first token at 0; zero past its length) for each output token so far.
  torch::Tensor attention() const;

 private:
  torch::Tensor advance(const torch::Tensor& prev_token);

  models::Seq2SeqImpl& model_;
  int64_t bos_, max_length_, max_source_length_;
  torch::Device device_;
  bool was_training_;
  bool recording_ = false;
  int64_t fed_ = 0;  // tokens fed after <s>
  models::Seq2SeqState state_;
  std::vector<torch::Tensor> attention_;  // per step (B, S)
};

}  // namespace zoo::generation
