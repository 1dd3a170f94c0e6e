// The `lm` trainer: next-token cross-entropy on windows of a token stream.
#include <fmt/format.h>

#include "core/error.h"
#include "datasets/dataset.h"
#include "models/model.h"
#include "trainers/loop.h"

namespace zoo::trainers {
namespace {

struct LMTrainerOptions : Options<LMTrainerOptions>, TrainerOptionsBase {
  template <class V>
  void visit(V& v) {
    loop.visit(v);
  }
};

class LMObjective : public Objective {
 public:
  explicit LMObjective(const ObjectiveContext& context)
      : tokenizer_(context.tokenizer), device_(context.device) {
    const Recipe& recipe = *context.recipe;
    model_ = models::language_models().build(recipe.model, models::ModelContext{tokenizer_->vocab_size()});
    model_->to(device_);
    if (context.load_data) {
      data_ = datasets::data_as<datasets::LMDataset>(
          datasets::datasets().build(recipe.data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe.seed),
                                                                       model_->context_length()}),
          recipe.data.type, "lm", "text");
      if (data_->block_size() > model_->context_length())
        throw UserError(fmt::format("data.block_size: {} is longer than the model's context of {} tokens (raise "
                                    "model.block_size or lower data.block_size)",
                                    data_->block_size(), model_->context_length()));
    }
  }

  torch::nn::Module& model() override { return *model_; }

  ParameterGroups parameter_groups() override {
    return {model_->decay_parameters(), model_->no_decay_parameters()};
  }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = data_->next_train_batch(batch_size);
    auto input = batch.input.to(device_, /*non_blocking=*/true);    // (B, T)
    auto target = batch.target.to(device_, /*non_blocking=*/true);  // (B, T)
    auto loss = loss_of(input, target);
    (scale == 1.0 ? loss : loss * scale).backward();
    return {loss.detach(), input.numel()};
  }

  double evaluate(int64_t batches, int64_t batch_size) override {
    c10::InferenceMode inference;
    model_->eval();
    torch::Tensor total = torch::zeros({}, torch::TensorOptions().device(device_));
    for (int64_t i = 0; i < batches; ++i) {
      auto batch = data_->valid_batch(i, batch_size);
      total += loss_of(batch.input.to(device_), batch.target.to(device_));
    }
    model_->train();
    return total.item<double>() / static_cast<double>(batches);
  }

  std::string data_state() const override { return data_ ? data_->state() : ""; }
  void load_data_state(const std::string& state) override {
    if (data_) data_->load_state(state);
  }

  std::unique_ptr<generation::Decoder> decoder() override { return generation::language_model_decoder(*model_); }

 private:
  torch::Tensor loss_of(const torch::Tensor& input, const torch::Tensor& target) {
    auto logits = model_->forward(input);  // (B, T, V)
    return torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}), target.reshape({-1}));
  }

  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  torch::Device device_;
  models::LanguageModel model_;
  std::shared_ptr<datasets::LMDataset> data_;
};

}  // namespace

void register_trainers() {
  register_optimizers();
  objectives().add<LMTrainerOptions>(
      "lm", "causal language modelling: next-token cross-entropy",
      std::function<std::unique_ptr<Objective>(const LMTrainerOptions&, const ObjectiveContext&)>(
          [](const LMTrainerOptions&, const ObjectiveContext& context) {
            return std::unique_ptr<Objective>(std::make_unique<LMObjective>(context));
          }));
}

}  // namespace zoo::trainers
