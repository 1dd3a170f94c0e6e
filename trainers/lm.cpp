// The `lm` trainer: next-token cross-entropy on windows of a token stream.
#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "core/files.h"
#include "datasets/dataset.h"
#include "datasets/prefetch.h"
#include "eval/perplexity.h"
#include "eval/text_metrics.h"
#include "generation/text.h"
#include "models/model.h"
#include "trainers/causal_lm.h"
#include "trainers/init_from.h"
#include "trainers/loop.h"

namespace zoo::trainers {
namespace {

struct LMTrainerOptions : Options<LMTrainerOptions>, TrainerOptionsBase {
  InitFromOptions init;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    init.visit(v, "a run (runs/NAME) or checkpoint whose weights the model starts from, matched by name "
      "and shape (continued pretraining, or a base for lora:); empty = from scratch");
  }
};

class LMObjective : public Objective {
 public:
  LMObjective(const LMTrainerOptions& options, const ObjectiveContext& context)
      : recipe_(*context.recipe), tokenizer_(context.tokenizer), device_(context.device) {
    const Recipe& recipe = *context.recipe;
    model_ = models::language_models().build(recipe.model, models::ModelContext{tokenizer_->vocab_size()});
    base_checkpoint_ = init_whole_model(*model_, *tokenizer_, options.init, context.checkpoint_dir);
    model_->to(device_);
    if (context.load_data) load_data();
  }

  torch::nn::Module& model() override { return *model_; }
  std::string base_checkpoint() const override { return base_checkpoint_; }

  ParameterGroups parameter_groups() override { return decay_groups(*model_); }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = train_batches_->next(batch_size);
    auto input = batch.input.to(device_, /*non_blocking=*/true);    // (B, T)
    auto target = batch.target.to(device_, /*non_blocking=*/true);  // (B, T)
    auto loss = loss_of(input, target);
    return backward(*model_, loss, input.numel(), scale, input.size(-1));
  }

  double evaluate(int64_t batches, int64_t batch_size) override {
    if (!data_) load_data();  // a run loaded for zoo eval
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

  std::string data_state() const override { return train_batches_ ? train_batches_->state() : ""; }
  void load_data_state(const std::string& state) override {
    if (train_batches_) train_batches_->load_state(state);
  }

  std::vector<std::string> metric_names() const override { return {"perplexity", "distinct", "self_bleu"}; }

  nlohmann::ordered_json evaluate_metrics(const EvalRequest& request) override {
    nlohmann::ordered_json values;
    auto wants = [&](const char* name) {
      return std::find(request.metrics.begin(), request.metrics.end(), name) != request.metrics.end();
    };
    if (request.split == "test")
      throw UserError("zoo eval --split test: data type text has no test split; evaluate a file with --data FILE");
    if (wants("perplexity")) {
      auto perplexity = validation_perplexity(request.data_file);
      values["loss"] = perplexity.nll / static_cast<double>(perplexity.tokens);
      values["perplexity"] = perplexity.per_token();
      values["perplexity_per_char"] = perplexity.per_character();
      values["perplexity_per_word"] = perplexity.per_word();
      values["bits_per_char"] = perplexity.bits_per_character();
      values["eval_tokens"] = perplexity.tokens;
    }
    if (wants("distinct") || wants("self_bleu")) {
      std::vector<std::string> texts = sample_texts(request);
      std::vector<std::vector<std::string>> words;
      for (const auto& text : texts) words.push_back(eval::split_words(text));
      if (wants("distinct")) {
        values["distinct_1"] = eval::distinct_n(words, 1);
        values["distinct_2"] = eval::distinct_n(words, 2);
      }
      if (wants("self_bleu")) {
        if (texts.size() < 2)
          throw UserError("metric self_bleu compares several generated texts, and the recipe's generation gives one "
                          "(greedy, or beam with num_beams 1); use strategy sample (e.g. generation.preset=balanced)");
        values["self_bleu"] = eval::self_bleu(texts);
      }
      values["samples"] = texts.size();
    }
    return values;
  }

  std::vector<exporting::TracedMethod> export_methods() override { return causal_lm_export_methods(model_, device_); }
  std::string export_source() const override { return kCausalLMForward; }

  std::unique_ptr<generation::Decoder> decoder() override { return generation::language_model_decoder(*model_); }

 private:
  void load_data() {
    const Recipe& recipe = recipe_;
    train_batches_.reset();
    data_ = datasets::data_as<datasets::LMDataset>(
        datasets::datasets().build(recipe.data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe.seed),
                                                                     model_->context_length()}),
        recipe.data.type, "lm", "text");
    if (data_->block_size() > model_->context_length())
      throw UserError(fmt::format("data.block_size: {} is longer than the model's context of {} tokens (raise "
                                  "model.block_size or lower data.block_size)",
                                  data_->block_size(), model_->context_length()));
    train_batches_ = datasets::prefetch_train_batches(
        *data_, device_, [](datasets::LMBatch& b) { datasets::pin_memory(b.input, b.target); });
  }

  // The text to score: a file given to `zoo eval`, else the recipe's validation file, else the
  // validation tokens held out of the training file (units then come from their decoded text).
  eval::Perplexity validation_perplexity(const std::string& data_file) {
    std::string file = data_file;
    if (file.empty()) {
      const auto* options = dynamic_cast<const datasets::DataOptionsBase*>(recipe_.data.options.get());
      file = options ? options->split_file("valid") : "";
    }
    if (!file.empty()) {
      const std::string text = read_file(file);
      auto ids = datasets::tokenize_text(text, file, *tokenizer_, /*replace_invalid=*/false);
      if (ids.size() < 2) throw UserError(file + ": fewer than 2 tokens; perplexity needs text to predict");
      return perplexity_of(datasets::TokenStream::from_ids(ids, tokenizer_->vocab_size()), eval::count_units(text));
    }
    if (!data_)
      throw UserError("zoo eval: the recipe holds out part of data.train for validation and names no data.valid "
                      "file; give one with --data FILE");
    const auto& stream = data_->valid_stream();
    std::vector<int64_t> ids(static_cast<size_t>(stream.size()));
    const int64_t start = 0;
    stream.gather(&start, 1, stream.size(), ids.data());
    return perplexity_of(stream, eval::count_units(tokenizer_->decode(ids)));
  }

  // Every token but the first is predicted once: windows of context+1 tokens overlap by one, so
  // a token sees between 1 and context tokens before it (the way training saw them).
  eval::Perplexity perplexity_of(const datasets::TokenStream& tokens, const eval::TextUnits& units) {
    c10::InferenceMode inference;
    model_->eval();
    const int64_t context = model_->context_length();
    const int64_t n = tokens.size();
    constexpr int64_t kWindowsPerBatch = 16;
    auto nll = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));  // read once, at the end
    std::vector<int64_t> starts;
    auto flush = [&](int64_t length) {
      if (starts.empty()) return;
      auto window = torch::empty({static_cast<int64_t>(starts.size()), length}, torch::kInt64);
      tokens.gather(starts.data(), static_cast<int64_t>(starts.size()), length, window.data_ptr<int64_t>());
      window = window.to(device_);
      auto logits = model_->forward(window.narrow(1, 0, length - 1));  // (B, L-1, V)
      auto target = window.narrow(1, 1, length - 1);
      nll += torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), target.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      starts.clear();
    };
    int64_t start = 0;
    for (; start + context + 1 <= n; start += context) {
      starts.push_back(start);
      if (static_cast<int64_t>(starts.size()) == kWindowsPerBatch) flush(context + 1);
    }
    flush(context + 1);
    if (n - start >= 2) {
      starts.push_back(start);
      flush(n - start);
    }
    model_->train();
    return {nll.item<double>(), n - 1, units};
  }

  std::vector<std::string> sample_texts(const EvalRequest& request) {
    GenerationOptions options = request.generation;
    options.num_return_sequences = options.strategy == "greedy" ? 1
                                   : options.strategy == "beam" ? std::min(request.samples, options.num_beams)
                                                                : request.samples;
    auto decoder = generation::language_model_decoder(*model_);
    auto sequences = generation::generate_text(*decoder, *tokenizer_, {options.prompt}, options, request.seed);
    std::vector<std::string> texts;
    for (const auto& sequence : sequences[0]) texts.push_back(sequence.text);
    return texts;
  }

  torch::Tensor loss_of(const torch::Tensor& input, const torch::Tensor& target) {
    auto logits = model_->forward(input);  // (B, T, V)
    return torch::nn::functional::cross_entropy(logits.view({-1, logits.size(-1)}), target.reshape({-1}));
  }

  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  std::string base_checkpoint_;  // what init_from loaded
  torch::Device device_;
  models::LanguageModel model_;
  std::shared_ptr<datasets::LMDataset> data_;
  std::unique_ptr<datasets::Prefetcher<datasets::LMBatch>> train_batches_;  // draws from data_
};

}  // namespace

void register_lm_trainer() {
  add_objective<LMObjective, LMTrainerOptions>("lm", "causal language modelling: next-token cross-entropy");
}

}  // namespace zoo::trainers
