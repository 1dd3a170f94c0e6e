// Language-model data: batches of (input, target) windows from a token stream.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "core/registry.h"
#include "tokenizers/tokenizer.h"

namespace zoo::datasets {

struct LMBatch {
  torch::Tensor input;   // (B, T) int64
  torch::Tensor target;  // (B, T) int64, input shifted by one
};

class LMDataset {
 public:
  virtual ~LMDataset() = default;
  // The next training batch: B random windows of block_size+1 tokens from the train split,
  // drawn from the dataset's own seeded generator (so its state is the data position).
  virtual LMBatch next_train_batch(int64_t batch_size) = 0;
  // Validation batch number `index` (0..n): the same windows every call, for comparable losses.
  virtual LMBatch valid_batch(int64_t index, int64_t batch_size) = 0;
  virtual int64_t block_size() const = 0;
  virtual int64_t train_tokens() const = 0;
  virtual int64_t valid_tokens() const = 0;
  // The data position, for exact resume.
  virtual std::string state() const = 0;
  virtual void load_state(const std::string& state) = 0;
};

struct DataContext {
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  uint64_t seed = 0;
};

Factory<std::shared_ptr<LMDataset>, const DataContext&>& lm_datasets();

// The training text the tokenizer should learn from (e.g. data.train), for tokenizers that fit.
std::string training_text_path(const Component& data);

void register_datasets();

}  // namespace zoo::datasets
