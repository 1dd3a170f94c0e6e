// What decoding needs of a generative model: start a batch of left-padded prompts on a cache,
// append one token per sequence, reorder sequences. Every search in generate.h runs on this, so
// a model (GPT, seq2seq, a policy) supports every strategy by providing one Decoder.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "models/model.h"

namespace zoo::generation {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Starts over with ids (B, T), left-padded; mask (B, T) 1 = real token. Returns the
  // next-token logits after each sequence (B, V).
  virtual torch::Tensor start(const torch::Tensor& ids, const torch::Tensor& mask) = 0;
  // Appends one token to each sequence, ids (B), and returns the next logits (B, V).
  virtual torch::Tensor step(const torch::Tensor& ids) = 0;
  // Keeps sequences `index` (B') in that order (beam search, and dropping finished ones).
  virtual void reorder(const torch::Tensor& index) = 0;
  // Tokens that can still be appended before the context is full.
  virtual int64_t room() const = 0;
  virtual int64_t context_length() const = 0;
  // The most prompt tokens start() reads at first; a longer prompt keeps its last ones. A
  // language model's is its context; an encoder-decoder's, the longest source it trained on.
  virtual int64_t prompt_limit() const { return context_length(); }
  // Whether the output continues the prompt (a language model): then generation may restart on
  // the last half context of each history once room() runs out (a sliding window), and text is
  // shown after its prompt. An encoder-decoder answers its source instead: it cannot re-read its
  // output as a longer source, so generation stops there (finish_reason "length").
  virtual bool continues_prompt() const { return true; }
  virtual torch::Device device() const = 0;
};

// A decoder over a language model's KV cache. The model must outlive it.
std::unique_ptr<Decoder> language_model_decoder(models::LanguageModelImpl& model);

}  // namespace zoo::generation
