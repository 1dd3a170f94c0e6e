// What trainers and generation see of a model: forward, a cached incremental forward, and
// parameters. Models know nothing of trainers.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.h"
#include "models/nn/attention.h"

namespace zoo::models {

// An autoregressive language model: next-token logits for every position.
class LanguageModelImpl : public torch::nn::Module {
 public:
  // ids (B, T) int64 -> logits (B, T, vocab).
  virtual torch::Tensor forward(const torch::Tensor& ids) = 0;
  // Appends ids (B, T) after the cache's current length and returns their logits (B, T, vocab).
  virtual torch::Tensor forward_cached(const torch::Tensor& ids, nn::KVCache& cache) = 0;
  // An empty cache for `batch` sequences of up to context_length() tokens.
  virtual nn::KVCache make_cache(int64_t batch) const = 0;
  virtual int64_t context_length() const = 0;
  virtual int64_t vocab_size() const = 0;

  // Like forward, for padded batches: attention_mask (B, T), 1 = real token, 0 = padding.
  // Padded keys are hidden and positions count real tokens only, so a left- or right-padded
  // sequence gets the logits it would get alone. The default throws: not every model has masks.
  virtual torch::Tensor forward_masked(const torch::Tensor& ids, const torch::Tensor& attention_mask);

  // Like forward, for rows packing several sequences: segment_ids (B, T) numbers each token's
  // sequence (contiguous runs). A token attends only within its sequence and positions restart
  // at each, so every sequence gets the logits it would get alone. The default throws.
  virtual torch::Tensor forward_packed(const torch::Tensor& ids, const torch::Tensor& segment_ids);

  // The trainable parameters, split for AdamW: weight matrices decay; biases, norm weights and
  // embeddings (names containing "emb", "wte" or "wpe") do not. Each tensor appears once, even
  // when shared (tied embeddings).
  virtual std::vector<torch::Tensor> decay_parameters() const;
  virtual std::vector<torch::Tensor> no_decay_parameters() const;

  // Number of distinct parameter elements (a shared tensor counts once).
  int64_t num_parameters() const;
};

using LanguageModel = std::shared_ptr<LanguageModelImpl>;

// The trainable parameters of `module` that decay (decay true) or not, each tensor once, in
// registration order, keeping only names `include` accepts (none given: all). The rule is the
// one LanguageModelImpl::decay_parameters documents.
std::vector<torch::Tensor> select_parameters(const torch::nn::Module& module, bool decay,
                                             const std::function<bool(const std::string&)>& include = {});

// What a model needs from the rest of the recipe when it is built.
struct ModelContext {
  int64_t vocab_size = 0;
};

Factory<LanguageModel, const ModelContext&>& language_models();

// What the classify and tag trainers see of a model: label logits for right-padded inputs.
// BERT and the BiLSTM implement it; each builds only the head its labels ask for.
class ClassifierImpl : public torch::nn::Module {
 public:
  // ids (B, T), attention_mask (B, T) 1 = real token, right-padded -> class logits (B, labels)
  // for a sequence classifier, tag logits (B, T, labels) for a token classifier.
  virtual torch::Tensor classify(const torch::Tensor& ids, const torch::Tensor& attention_mask) = 0;
  // Whether a parameter belongs to a head (trained at trainer.head_lr_scale, fresh when
  // fine-tuning) rather than the encoder.
  virtual bool is_head(const std::string& name) const = 0;
  // Stops gradients into the embeddings and/or the first `layers` encoder layers.
  virtual void freeze(bool embeddings, int64_t layers) = 0;
  // Whether sequence classification reads the first token as <cls> (the data must add one).
  virtual bool reads_cls() const { return false; }
};

using Classifier = std::shared_ptr<ClassifierImpl>;

// The options of every classifier model type: what the data must know before the model is
// built (the model's label count comes from the data).
class ClassifierOptionsBase {
 public:
  virtual ~ClassifierOptionsBase() = default;
  // The longest input in tokens; 0 = any length.
  virtual int64_t max_length() const = 0;
};

// Which head a classifier carries.
struct ClassifierContext {
  int64_t vocab_size = 0;
  int64_t sequence_labels = 0;  // > 0: a classifier over pooled states
  int64_t token_labels = 0;     // > 0: a classifier over every token's state
};

// `model: {type: bert | bilstm}` for the classify and tag trainers.
Factory<Classifier, const ClassifierContext&>& classifier_models();
// Whether `type` names a model of classifier_models().
bool is_classifier_model(const std::string& type);

void register_models();

}  // namespace zoo::models
