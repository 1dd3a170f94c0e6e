// The `sft` trainer: supervised fine-tuning of a causal language model on the `instructions`
// data type. The data renders each prompt with the recipe's template and labels only the
// response tokens (from the token spans of prompt and response, with </s> after the response);
// the loss is next-token cross-entropy over those labels alone. With `lora:` in the recipe only
// the adapters train; `init_from` names the base run. Packed rows (data.packing) run through the
// model's packed forward, so no example sees another.
//
// exact_match generates a response to each validation (or test) prompt, greedily, and counts
// the ones equal to the reference: the generation up to </s> and, when the reference is one
// line, up to its first line break (a base model prompted with demonstrations goes on to the
// next example instead of stopping), both with surrounding whitespace removed.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/prefetch.h"
#include "datasets/instructions.h"
#include "generation/generate.h"
#include "models/model.h"
#include "trainers/causal_lm.h"
#include "trainers/init_from.h"
#include "trainers/loop.h"

namespace zoo::trainers {
namespace {

struct SFTTrainerOptions : Options<SFTTrainerOptions>, TrainerOptionsBase {
  InitFromOptions init;
  int64_t few_shot = 0;
  std::string few_shot_separator = "\n\n";
  int64_t eval_examples = 0;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    init.visit(v, "the base run (runs/NAME) or checkpoint the model starts from; empty = from scratch");
    v("few_shot", few_shot,
      "exact_match: put this many train examples of the same task (instruction), prompt and response, before each "
      "prompt; for prompting a base model", non_negative());
    v("few_shot_separator", few_shot_separator, "text after each demonstration of few_shot");
    v("eval_examples", eval_examples, "exact_match: the first this many examples of the split; 0 = all",
      non_negative());
  }
};

constexpr size_t kPromptsPerBatch = 64;

std::string trimmed(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

class SFTObjective : public Objective {
 public:
  SFTObjective(const SFTTrainerOptions& options, const ObjectiveContext& context)
      : options_(options), recipe_(*context.recipe), tokenizer_(context.tokenizer), device_(context.device) {
    model_ = models::language_models().build(recipe_.model, models::ModelContext{tokenizer_->vocab_size()});
    base_checkpoint_ = init_whole_model(*model_, *tokenizer_, options.init, context.checkpoint_dir);
    model_->to(device_);
    if (context.load_data) {
      load_data();
      spdlog::info("data: {}", data_->describe());
    }
  }

  torch::nn::Module& model() override { return *model_; }
  std::string base_checkpoint() const override { return base_checkpoint_; }

  ParameterGroups parameter_groups() override { return decay_groups(*model_); }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = train_batches_->next(batch_size);
    auto loss = loss_of(batch);
    return backward(*model_, loss, batch.input.numel(), scale, batch.input.size(-1));
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

  std::string data_state() const override { return train_batches_ ? train_batches_->state() : ""; }
  void load_data_state(const std::string& state) override {
    if (train_batches_) train_batches_->load_state(state);
  }

  std::vector<std::string> metric_names() const override { return {"exact_match"}; }

  nlohmann::ordered_json evaluate_metrics(const EvalRequest& request) override {
    if (request.metrics.empty()) return nlohmann::ordered_json::object();
    if (!request.data_file.empty()) load_data(request.data_file);
    else if (!data_) load_data();
    if (request.split == "test" && data_->test_size() == 0)
      throw UserError("zoo eval --split test: the recipe's data has no test file (data.test); use --data FILE");
    const auto& split = request.split == "test" ? data_->test_examples() : data_->valid_examples();
    const size_t count = options_.eval_examples > 0 ? std::min<size_t>(split.size(), options_.eval_examples) : split.size();
    const int64_t shots = request.few_shot >= 0 ? request.few_shot : options_.few_shot;
    const int64_t eos = tokenizer_->special_id(tokenizers::Special::eos);

    // Demonstrations come from the train examples of the same task, drawn per example from the seed.
    std::map<std::string, std::vector<const datasets::InstructionExample*>> demonstrations;
    if (shots > 0)
      for (const auto& example : data_->unpacked_train_examples()) demonstrations[example.task].push_back(&example);
    const generation::Tokens separator = tokenizer_->encode(options_.few_shot_separator);
    const auto without_eos = [eos](generation::Tokens ids) {
      ids.erase(std::remove(ids.begin(), ids.end(), eos), ids.end());
      return ids;
    };

    std::vector<generation::Tokens> prompts;
    std::vector<std::string> references;
    int64_t longest = 0, shots_cut = 0;
    for (size_t i = 0; i < count; ++i) {
      const auto& example = split[i];
      const generation::Tokens response = without_eos({example.ids.begin() + example.prompt_length, example.ids.end()});
      longest = std::max<int64_t>(longest, static_cast<int64_t>(response.size()));
      references.push_back(trimmed(tokenizer_->decode(response)));
    }
    const int64_t room = model_->context_length() - (longest + 1);  // prompt tokens that leave room for the answer
    for (size_t i = 0; i < count; ++i) {
      const auto& example = split[i];
      const generation::Tokens prompt(example.ids.begin(), example.ids.begin() + example.prompt_length);
      std::vector<generation::Tokens> shown;
      if (shots > 0) {
        const auto& pool = demonstrations[example.task];
        std::mt19937_64 draw(datasets::mix_seeds({request.seed, static_cast<uint64_t>(i)}));
        std::vector<size_t> picked;
        while (static_cast<int64_t>(picked.size()) < std::min<int64_t>(shots, static_cast<int64_t>(pool.size()))) {
          const auto k = static_cast<size_t>(datasets::uniform_below(draw, pool.size()));
          if (std::find(picked.begin(), picked.end(), k) == picked.end()) picked.push_back(k);
        }
        for (size_t k : picked) {
          generation::Tokens demo = without_eos(pool[k]->ids);
          demo.insert(demo.end(), separator.begin(), separator.end());
          shown.push_back(std::move(demo));
        }
      }
      // Demonstrations that do not fit the context go, the first first.
      const auto length = [&] {
        int64_t n = static_cast<int64_t>(prompt.size());
        for (const auto& demo : shown) n += static_cast<int64_t>(demo.size());
        return n;
      };
      while (!shown.empty() && length() > room) {
        shown.erase(shown.begin());
        ++shots_cut;
      }
      generation::Tokens full;
      for (const auto& demo : shown) full.insert(full.end(), demo.begin(), demo.end());
      full.insert(full.end(), prompt.begin(), prompt.end());
      // A prompt longer than the room keeps its end, as the data's left truncation would.
      if (static_cast<int64_t>(full.size()) > room) full.erase(full.begin(), full.end() - std::max<int64_t>(room, 1));
      prompts.push_back(std::move(full));
    }

    generation::Request generate;
    generate.options = request.generation;
    if (generate.options.strategy != "beam") generate.options.strategy = "greedy";
    generate.options.num_return_sequences = 1;
    generate.options.max_new_tokens = longest + 1;  // a longer answer cannot match
    generate.seed = request.seed;
    if (eos >= 0) generate.stop_tokens = {eos};
    generate.decode = [this](const generation::Tokens& ids) { return tokenizer_->decode(ids); };
    auto decoder = generation::language_model_decoder(*model_);
    std::map<std::string, std::pair<int64_t, int64_t>> by_task;  // task -> (matches, examples)
    int64_t matches = 0;
    for (size_t from = 0; from < prompts.size(); from += kPromptsPerBatch) {
      const size_t to = std::min(prompts.size(), from + kPromptsPerBatch);
      generate.prompts.assign(prompts.begin() + static_cast<std::ptrdiff_t>(from),
                              prompts.begin() + static_cast<std::ptrdiff_t>(to));
      const auto outputs = generation::generate(*decoder, generate);
      for (size_t i = from; i < to; ++i) {
        std::string text = outputs[i - from].front().text;
        if (references[i].find('\n') == std::string::npos) text = text.substr(0, text.find('\n'));
        const bool match = trimmed(text) == references[i];
        matches += match;
        auto& task = by_task[split[i].task];
        task.first += match;
        ++task.second;
      }
    }
    nlohmann::ordered_json values;
    values["exact_match"] = count == 0 ? 0.0 : static_cast<double>(matches) / static_cast<double>(count);
    values["eval_examples"] = count;
    values["few_shot"] = shots;
    if (shots_cut > 0) values["demonstrations_cut"] = shots_cut;
    std::string table;
    for (const auto& [task, tally] : by_task)
      table += fmt::format("    {:.3f}  {} ({})\n", static_cast<double>(tally.first) / static_cast<double>(tally.second),
                           task, tally.second);
    values["by_task"] = table;
    if (!request.data_file.empty()) load_data();  // back to the recipe's splits
    return values;
  }

  std::vector<exporting::TracedMethod> export_methods() override { return causal_lm_export_methods(model_, device_); }
  std::string export_source() const override { return kCausalLMForward; }
  std::unique_ptr<generation::Decoder> decoder() override { return generation::language_model_decoder(*model_); }

 private:
  // The recipe's data, or with `valid_file` the same data type reading that file as its
  // validation split.
  void load_data(const std::string& valid_file = "") {
    Component data = recipe_.data;
    if (!valid_file.empty()) {
      auto copy = std::make_shared<datasets::InstructionOptions>(data.as<datasets::InstructionOptions>());
      copy->valid = valid_file;
      data.options = copy;
    }
    train_batches_.reset();
    data_ = datasets::data_as<datasets::InstructionsDataset>(
        datasets::datasets().build(data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe_.seed),
                                                              model_->context_length()}),
        recipe_.data.type, "sft", "instructions");
    train_batches_ = datasets::prefetch_train_batches(*data_, device_, [](datasets::InstructionBatch& b) {
      datasets::pin_memory(b.input, b.target, b.attention_mask, b.segment_ids);
    });
  }

  // Right-padded rows: the causal model never lets a real token see the padding after it, and
  // the targets ignore prompt tokens and padding.
  torch::Tensor loss_of(const datasets::InstructionBatch& batch) {
    auto input = batch.input.to(device_, /*non_blocking=*/true);
    auto target = batch.target.to(device_, /*non_blocking=*/true);
    auto logits = batch.segment_ids.defined()
                      ? model_->forward_packed(input, batch.segment_ids.to(device_, /*non_blocking=*/true))
                      : model_->forward(input);  // (B, T, V)
    return torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), target.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(datasets::kIgnoreIndex));
  }

  SFTTrainerOptions options_;
  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  std::string base_checkpoint_;  // what init_from loaded
  torch::Device device_;
  models::LanguageModel model_;
  std::shared_ptr<datasets::InstructionsDataset> data_;
  std::unique_ptr<datasets::Prefetcher<datasets::InstructionBatch>> train_batches_;  // draws from data_
};

}  // namespace

void register_sft_trainer() {
  add_objective<SFTObjective, SFTTrainerOptions>(
      "sft", "supervised fine-tuning: next-token cross-entropy on the responses of instruction data");
}

}  // namespace zoo::trainers
