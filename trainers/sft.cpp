// The `sft` trainer: supervised fine-tuning of a causal language model on the `instructions`
// data type. The data renders each prompt with the recipe's template and labels only the
// response tokens (from the token spans of prompt and response, with </s> after the response);
// the loss is next-token cross-entropy over those labels alone. With `lora:` in the recipe only
// the adapters train; `init_from` names the base run.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/instructions.h"
#include "models/model.h"
#include "trainers/causal_lm.h"
#include "trainers/init_from.h"
#include "trainers/loop.h"

namespace zoo::trainers {
namespace {

struct SFTTrainerOptions : Options<SFTTrainerOptions>, TrainerOptionsBase {
  InitFromOptions init;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    init.visit(v, "the base run (runs/NAME) or checkpoint the model starts from; empty = from scratch");
  }
};

class SFTObjective : public Objective {
 public:
  SFTObjective(const SFTTrainerOptions& options, const ObjectiveContext& context)
      : recipe_(*context.recipe), tokenizer_(context.tokenizer), device_(context.device) {
    model_ = models::language_models().build(recipe_.model, models::ModelContext{tokenizer_->vocab_size()});
    init_whole_model(*model_, *tokenizer_, options.init, context.checkpoint_dir);
    model_->to(device_);
    if (context.load_data) load_data();
  }

  torch::nn::Module& model() override { return *model_; }

  ParameterGroups parameter_groups() override { return decay_groups(*model_); }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = data_->next_train_batch(batch_size);
    auto loss = loss_of(batch);
    return backward(*model_, loss, batch.input.numel(), scale);
  }

  // Mean over the first `batches` validation batches of each batch's mean response-token loss.
  double evaluate(int64_t batches, int64_t batch_size) override {
    if (!data_) load_data();  // a run loaded for zoo eval
    c10::InferenceMode inference;
    model_->eval();
    const int64_t count = std::min(batches, datasets::batch_count(data_->valid_size(), batch_size));
    if (count == 0) throw UserError("data: no validation examples (set data.valid, or data.valid_fraction above 0)");
    auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    for (int64_t i = 0; i < count; ++i) total += loss_of(data_->valid_batch(i, batch_size)).to(torch::kFloat64);
    model_->train();
    return total.item<double>() / static_cast<double>(count);
  }

  std::string data_state() const override { return data_ ? data_->state() : ""; }
  void load_data_state(const std::string& state) override {
    if (data_) data_->load_state(state);
  }

  std::vector<exporting::TracedMethod> export_methods() override { return causal_lm_export_methods(model_, device_); }
  std::string export_source() const override { return kCausalLMForward; }
  std::unique_ptr<generation::Decoder> decoder() override { return generation::language_model_decoder(*model_); }

 private:
  void load_data() {
    data_ = datasets::data_as<datasets::InstructionsDataset>(
        datasets::datasets().build(recipe_.data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe_.seed),
                                                                      model_->context_length()}),
        recipe_.data.type, "sft", "instructions");
  }

  // Right-padded rows: the causal model never lets a real token see the padding after it, and
  // the targets ignore prompt tokens and padding.
  torch::Tensor loss_of(const datasets::InstructionBatch& batch) {
    auto input = batch.input.to(device_, /*non_blocking=*/true);
    auto target = batch.target.to(device_, /*non_blocking=*/true);
    auto logits = model_->forward(input);  // (B, T, V)
    return torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), target.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(datasets::kIgnoreIndex));
  }

  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  torch::Device device_;
  models::LanguageModel model_;
  std::shared_ptr<datasets::InstructionsDataset> data_;
};

}  // namespace

void register_sft_trainer() {
  add_objective<SFTObjective, SFTTrainerOptions>(
      "sft", "supervised fine-tuning: next-token cross-entropy on the responses of instruction data");
}

}  // namespace zoo::trainers
