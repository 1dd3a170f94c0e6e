// The Dataset every data type implements, the language-model interface over it, and the
// factory from a recipe's `data:` section.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/recipe.h"
#include "core/registry.h"
#include "datasets/token_file.h"
#include "tokenizers/tokenizer.h"

namespace zoo::datasets {

// What every data type has: its position, so a resumed run continues mid-epoch, and its sizes.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::string state() const = 0;
  virtual void load_state(const std::string& state) = 0;
  // Sizes for the log, e.g. "train 4.1M tokens, valid 460k tokens".
  virtual std::string describe() const = 0;
};

struct LMBatch {
  torch::Tensor input;   // (B, T) int64
  torch::Tensor target;  // (B, T) int64, input shifted by one
};

// Language-model windows over a token stream (the `text` type).
class LMDataset : public Dataset {
 public:
  // The next training batch: B random windows of block_size+1 tokens from the train split,
  // drawn from the dataset's own seeded generator (so its state is the data position).
  virtual LMBatch next_train_batch(int64_t batch_size) = 0;
  // Validation batch number `index` (0..n): the same windows every call, for comparable losses.
  virtual LMBatch valid_batch(int64_t index, int64_t batch_size) = 0;
  virtual int64_t block_size() const = 0;
  virtual int64_t train_tokens() const = 0;
  virtual int64_t valid_tokens() const = 0;
  // The whole validation split, for metrics that read all of it.
  virtual const TokenStream& valid_stream() const = 0;
};

struct DataContext {
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  uint64_t seed = 0;
  // The model's context in tokens (0: unbounded); longer examples are cut per `truncation`.
  int64_t context_length = 0;
};

// Options every data type has: where its splits are, and the texts in them a tokenizer learns from.
class DataOptionsBase {
 public:
  virtual ~DataOptionsBase() = default;
  // The file of a split ("train", "valid", "test"), or "" when the recipe names none.
  virtual std::string split_file(const std::string& split) const = 0;
  // Every file of a split, for types that take a list of them (sentences); by default
  // split_file's, or none.
  virtual std::vector<std::string> split_files(const std::string& split) const;
  // The texts of `file` (in this type's format) a tokenizer should learn from. Text files are
  // used as they are and need not override it.
  virtual std::vector<std::string> texts(const std::string& file) const;
};

Factory<std::shared_ptr<Dataset>, const DataContext&>& datasets();

// `data` as the interface a trainer needs; a UserError naming both when the type does not fit.
template <class Interface>
std::shared_ptr<Interface> data_as(const std::shared_ptr<Dataset>& data, const std::string& data_type,
                                   const std::string& trainer_type, const std::string& fitting_types) {
  auto fitting = std::dynamic_pointer_cast<Interface>(data);
  if (!fitting)
    throw UserError("trainer " + trainer_type + " cannot train on data of type " + data_type + "; use data.type " +
                    fitting_types);
  return fitting;
}

// A UTF-8 text file with the texts a tokenizer learns from, named by `train_on`: a key path
// into the data section (data.train, data.valid) or a file. For formats other than plain text,
// and for a split of several files, the texts are extracted once into a file in the cache (see
// core/files.h cache_dir()), one file after the other.
std::string tokenizer_training_file(const Component& data, const std::string& train_on);

// The recipe's tokenizer, learnt from the text its train_on names (or taken from the cache).
std::shared_ptr<tokenizers::Tokenizer> build_tokenizer(const Recipe& recipe);

void register_datasets();

}  // namespace zoo::datasets
