// The `mlm` trainer: BERT's masked-language-model pretraining, with next-sentence prediction
// when asked. Of the non-special tokens, mask_prob are chosen; of those, 80% become [MASK], 10%
// a random token and 10% stay; the loss reads only the chosen positions. Masks are drawn anew
// for every batch (dynamic masking, RoBERTa): on `sentences` data from the batch's seed, which
// the data takes from (seed, epoch, position), so a resumed run masks as the uninterrupted one;
// on `text` windows from the checkpointed global generator. Validation batches keep the same
// masks at every evaluation.
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/examples.h"
#include "datasets/prefetch.h"
#include "datasets/sentences.h"
#include "datasets/text.h"
#include "models/bert.h"
#include "trainers/loop.h"
#include "trainers/mlm.h"

namespace zoo::trainers {

MaskedTokens mask_tokens(const torch::Tensor& input, const torch::Tensor& special_mask, const MaskingOptions& options,
                         int64_t mask_id, int64_t vocab_size, at::Generator generator) {
  const auto sizes = input.sizes();
  auto chosen = torch::rand(sizes, generator).lt(options.mask_prob).logical_and(special_mask.logical_not());
  auto kind = torch::rand(sizes, generator);  // < mask: [MASK]; < mask + random: a random token; else kept
  auto random_ids = torch::randint(vocab_size, sizes, generator, torch::kLong);
  auto to_mask = chosen.logical_and(kind.lt(options.mask_token_prob));
  auto to_random = chosen.logical_and(kind.ge(options.mask_token_prob))
                       .logical_and(kind.lt(options.mask_token_prob + options.random_token_prob));
  auto masked = input.masked_fill(to_mask, mask_id).where(to_random.logical_not(), random_ids);
  auto labels = input.masked_fill(chosen.logical_not(), datasets::kIgnoreIndex);
  return {masked, labels};
}

namespace {

// What the loss reads of a batch, from either data type.
struct EncoderBatch {
  torch::Tensor input;          // (B, T) [CLS] ...
  torch::Tensor segment_ids;    // (B, T) or undefined (all sentence A)
  torch::Tensor attention_mask; // (B, T) or undefined (no padding)
  torch::Tensor special_mask;   // (B, T) true where no token may be chosen
  torch::Tensor next_sentence;  // (B) or undefined
  std::optional<uint64_t> seed; // masks from this seed, else from the global generator (checkpointed)
};

struct MLMTrainerOptions : Options<MLMTrainerOptions>, TrainerOptionsBase {
  MaskingOptions masking;
  bool next_sentence = false;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    v("mask_prob", masking.mask_prob, "share of the non-special tokens chosen for prediction",
      Check().above(0).at_most(1));
    v("mask_token_prob", masking.mask_token_prob, "share of the chosen tokens replaced by [MASK]", between(0, 1));
    v("random_token_prob", masking.random_token_prob,
      "share of the chosen tokens replaced by a random token (the rest stay as they are)", between(0, 1));
    v("next_sentence", next_sentence,
      "also predict whether sentence B follows sentence A (BERT's NSP): on sentences data the pairs it builds "
      "(data.next_sentence), on text the halves of each window, half of them given another window's");
  }
};

class MLMObjective : public Objective {
 public:
  MLMObjective(const MLMTrainerOptions& options, const ObjectiveContext& context)
      : masking_(options.masking),
        next_sentence_(options.next_sentence),
        recipe_(*context.recipe),
        tokenizer_(context.tokenizer),
        device_(context.device) {
    const Recipe& recipe = recipe_;
    if (!models::is_encoder_model(recipe.model.type))
      throw UserError("trainer mlm pretrains an encoder; model.type " + recipe.model.type +
                      " is not one (use model.type bert)");
    if (masking_.mask_token_prob + masking_.random_token_prob > 1.0)
      throw UserError(fmt::format("trainer.random_token_prob: mask_token_prob {} + random_token_prob {} exceed 1",
                                  masking_.mask_token_prob, masking_.random_token_prob));
    mask_id_ = tokenizer_->require_special(tokenizers::Special::mask, "trainer mlm");
    cls_id_ = tokenizer_->require_special(tokenizers::Special::cls, "trainer mlm");
    if (recipe.data.type != "text" && recipe.data.type != "sentences")
      throw UserError("trainer mlm cannot train on data of type " + recipe.data.type +
                      "; use data.type sentences or text");
    if (const auto* sentences = dynamic_cast<const datasets::SentencesOptions*>(recipe.data.options.get());
        sentences && sentences->next_sentence != next_sentence_) {
      // The data builds the pairs and the trainer adds the head that reads them: both or neither.
      if (next_sentence_)
        throw UserError("trainer.next_sentence: the sentence pairs come from the data; set data.next_sentence: true "
                        "as well");
      throw UserError("data.next_sentence: sentence pairs need the next-sentence head; set trainer.next_sentence: "
                      "true as well, or drop data.next_sentence");
    }
    if (next_sentence_) sep_id_ = tokenizer_->require_special(tokenizers::Special::sep, "trainer.next_sentence");
    models::BertHeads heads;
    heads.masked_lm = true;
    heads.next_sentence = next_sentence_;
    model_ = models::encoder_models().build(recipe.model, models::BertContext{tokenizer_->vocab_size(), heads});
    model_->to(device_);
    if (context.load_data) load_data();
  }

  torch::nn::Module& model() override { return *model_; }

  ParameterGroups parameter_groups() override { return decay_groups(*model_); }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = sentences_ ? from_sentences(sentence_batches_->next(batch_size))
                            : from_windows(window_batches_->next(batch_size), std::nullopt);
    auto losses = losses_of(batch);
    auto loss = losses.total();
    return backward(*model_, loss, batch.input.numel(), scale, batch.input.size(-1));
  }

  double evaluate(int64_t batches, int64_t batch_size) override {
    c10::InferenceMode inference;
    model_->eval();
    auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    if (sentences_) batches = std::min(batches, datasets::batch_count(sentences_->valid_size(), batch_size));
    for (int64_t i = 0; i < batches; ++i) total += losses_of(valid_batch(i, batch_size)).total().to(torch::kFloat64);
    model_->train();
    return total.item<double>() / static_cast<double>(batches);
  }

  std::string data_state() const override {
    return sentence_batches_ ? sentence_batches_->state() : window_batches_ ? window_batches_->state() : "";
  }
  void load_data_state(const std::string& state) override {
    if (sentence_batches_) sentence_batches_->load_state(state);
    if (window_batches_) window_batches_->load_state(state);
  }

  std::vector<std::string> metric_names() const override {
    if (model_->heads().next_sentence) return {"mlm", "nsp"};
    return {"mlm"};
  }
  bool reports_metric(const std::string& key) const override {
    return key == "masked_accuracy" || key == "mlm_loss" || key == "mlm_perplexity" ||
           (key == "nsp_accuracy" && model_->heads().next_sentence);
  }

  // Over every validation batch, each with its fixed masks.
  nlohmann::ordered_json evaluate_metrics(const EvalRequest& request) override {
    if (!request.data_file.empty() || request.split != "valid")
      throw UserError("trainer mlm evaluates its validation split only (data.valid, or the held-out share of "
                      "data.train)");
    if (!data_) load_data();
    auto wants = [&](const char* name) {
      return std::find(request.metrics.begin(), request.metrics.end(), name) != request.metrics.end();
    };
    c10::InferenceMode inference;
    model_->eval();
    constexpr int64_t kBatch = 32;
    auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device_);
    auto nll = torch::zeros({}, options), correct = torch::zeros({}, options), chosen = torch::zeros({}, options);
    auto nsp_correct = torch::zeros({}, options), pairs = torch::zeros({}, options);
    // Every validation example (sentences), or non-overlapping windows covering the validation
    // tokens once (text).
    const int64_t examples = sentences_ ? sentences_->valid_size()
                                        : std::max<int64_t>(1, windows_->valid_tokens() / (windows_->block_size() + 1));
    for (int64_t i = 0; i < datasets::batch_count(examples, kBatch); ++i) {
      auto losses = losses_of(valid_batch(i, kBatch));
      nll += losses.mlm_sum.to(torch::kFloat64);
      correct += losses.mlm_correct.to(torch::kFloat64);
      chosen += losses.mlm_count.to(torch::kFloat64);
      if (losses.nsp_logits.defined()) {
        nsp_correct += losses.nsp_logits.argmax(-1).eq(losses.nsp_labels).sum().to(torch::kFloat64);
        pairs += losses.nsp_labels.numel();
      }
    }
    model_->train();
    nlohmann::ordered_json values;
    if (wants("mlm")) {
      const double count = std::max(chosen.item<double>(), 1.0);
      values["mlm_loss"] = nll.item<double>() / count;
      values["mlm_perplexity"] = std::exp(nll.item<double>() / count);
      values["masked_accuracy"] = correct.item<double>() / count;
      values["masked_tokens"] = chosen.item<int64_t>();
    }
    if (wants("nsp")) values["nsp_accuracy"] = nsp_correct.item<double>() / std::max(pairs.item<double>(), 1.0);
    return values;
  }

  // forward(input_ids, attention_mask=None) -> vocabulary logits (B, T, V) at every position.
  std::vector<exporting::TracedMethod> export_methods() override {
    auto ids = torch::ones({2, 8}, torch::kInt64).to(device_);
    auto model = model_.ptr();
    return {{"logits", {ids, torch::ones_like(ids)}, [model](const std::vector<torch::Tensor>& in) {
               auto hidden = model->encode(in[0], in[1]);  // (B, T, C)
               return model->masked_lm_logits(hidden.flatten(0, 1)).unflatten(0, {hidden.size(0), hidden.size(1)});
             }}};
  }

  std::string export_source() const override { return kEncoderForward; }

  nlohmann::json export_manifest() const override {
    return {{"mask_id", mask_id_},
            {"methods", {"forward(input_ids, attention_mask=None) -> masked-LM logits (B, T, vocab)"}}};
  }

 private:
  void load_data() {
    const auto& bert = dynamic_cast<const models::BertOptions&>(*recipe_.model.options);
    sentence_batches_.reset();
    window_batches_.reset();
    data_ = datasets::datasets().build(
        recipe_.data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe_.seed), bert.max_positions});
    if (recipe_.data.type == "sentences") {
      sentences_ = datasets::data_as<datasets::SentencesDataset>(data_, recipe_.data.type, "mlm", "sentences");
      const int64_t length = sentences_->budget() + (next_sentence_ ? 3 : 2);  // with [CLS] and [SEP]s
      if (length > bert.max_positions)
        throw UserError(fmt::format("data.max_length: {} is longer than model.max_positions {}", length,
                                    bert.max_positions));
      sentence_batches_ = datasets::prefetch_train_batches(*sentences_, device_, [](datasets::SentenceBatch& b) {
        datasets::pin_memory(b.input, b.segment_ids, b.attention_mask, b.special_mask, b.next_sentence);
      });
      return;
    }
    windows_ = datasets::data_as<datasets::LMDataset>(data_, recipe_.data.type, "mlm", "sentences or text");
    if (windows_->block_size() > bert.max_positions)
      throw UserError(fmt::format("data.block_size: {} is longer than model.max_positions {}", windows_->block_size(),
                                  bert.max_positions));
    window_batches_ = datasets::prefetch_train_batches(
        *windows_, device_, [](datasets::LMBatch& b) { datasets::pin_memory(b.input, b.target); });
  }

  // A batch of the sentences type as it is: [CLS] A [SEP] (B [SEP]), padded, with its seed.
  static EncoderBatch from_sentences(const datasets::SentenceBatch& sentences) {
    return {sentences.input,         sentences.segment_ids,   sentences.attention_mask,
            sentences.special_mask,  sentences.next_sentence, sentences.seed};
  }

  // Text windows as encoder inputs: [CLS] and the window's first block_size - 1 tokens (RoBERTa's
  // full-sentence packing: windows cross sentence and document boundaries). With next_sentence,
  // [CLS] A [SEP] B [SEP]: A the first half of the window, B its second half or, for half of
  // the rows, the second half of the next row's window (a random place in the text). A BERT
  // "sentence" is any span of contiguous text (Devlin et al., section 3.1).
  EncoderBatch from_windows(const datasets::LMBatch& windows, std::optional<uint64_t> seed) const {
    const int64_t B = windows.input.size(0), T = windows.input.size(1);
    auto column = [&](int64_t id) { return torch::full({B, 1}, id, torch::kLong); };
    EncoderBatch batch;
    batch.seed = seed;
    batch.special_mask = torch::zeros({B, T}, torch::kBool);
    batch.special_mask.select(1, 0).fill_(true);
    if (!next_sentence_) {
      batch.input = torch::cat({column(cls_id_), windows.input.narrow(1, 0, T - 1)}, 1);
      return batch;
    }
    const int64_t a = (T - 3) / 2, b = T - 3 - a;
    auto first = windows.input.narrow(1, 0, a);
    auto second = windows.input.narrow(1, a, b);
    auto generator =
        seed ? at::detail::createCPUGenerator(datasets::mix_seeds({*seed, 1})) : at::detail::getDefaultCPUGenerator();
    auto random = torch::rand({B}, generator).lt(0.5);  // (B): NotNext
    if (B == 1) random.fill_(false);                    // no other window to borrow from
    second = torch::where(random.unsqueeze(1), second.roll(1, 0), second);
    batch.input = torch::cat({column(cls_id_), first, column(sep_id_), second, column(sep_id_)}, 1);
    batch.segment_ids = torch::cat({torch::zeros({B, a + 2}, torch::kLong), torch::ones({B, b + 1}, torch::kLong)}, 1);
    batch.special_mask.select(1, a + 1).fill_(true);
    batch.special_mask.select(1, T - 1).fill_(true);
    batch.next_sentence = random.to(torch::kLong);
    return batch;
  }

  // Validation batch `index`: the same examples and, from a fixed seed, the same masks every time.
  EncoderBatch valid_batch(int64_t index, int64_t batch_size) {
    if (sentences_) return from_sentences(sentences_->valid_batch(index, batch_size));
    const uint64_t seed = datasets::mix_seeds({static_cast<uint64_t>(recipe_.seed), static_cast<uint64_t>(index)});
    return from_windows(windows_->valid_batch(index, batch_size), seed);
  }

  struct Losses {
    torch::Tensor mlm_sum, mlm_count, mlm_correct;  // over the chosen positions
    torch::Tensor nsp_logits, nsp_labels, nsp_loss;  // undefined without next-sentence pairs
    // Mean cross-entropy over chosen tokens (+ the NSP loss); a batch with none chosen adds 0.
    torch::Tensor total() const {
      auto mlm = mlm_sum / mlm_count.clamp_min(1);
      return nsp_loss.defined() ? mlm + nsp_loss : mlm;
    }
  };

  Losses losses_of(const EncoderBatch& batch) {
    auto generator = batch.seed ? at::detail::createCPUGenerator(*batch.seed) : at::detail::getDefaultCPUGenerator();
    auto [masked, labels] =
        mask_tokens(batch.input, batch.special_mask, masking_, mask_id_, tokenizer_->vocab_size(), generator);
    masked = masked.to(device_, true);
    labels = labels.to(device_, true);
    auto on_device = [&](const torch::Tensor& t) { return t.defined() ? t.to(device_, true) : t; };
    auto hidden = model_->encode(masked, on_device(batch.attention_mask), on_device(batch.segment_ids));
    auto chosen = labels.ne(datasets::kIgnoreIndex);
    auto targets = labels.masked_select(chosen);                            // (N)
    auto logits = model_->masked_lm_logits(hidden.index({chosen}).reshape({-1, hidden.size(-1)}));  // (N, V)
    Losses losses;
    losses.mlm_sum = torch::nn::functional::cross_entropy(
        logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    losses.mlm_count = chosen.sum();
    losses.mlm_correct = logits.argmax(-1).eq(targets).sum();
    if (batch.next_sentence.defined() && model_->heads().next_sentence) {
      losses.nsp_labels = batch.next_sentence.to(device_, true);
      losses.nsp_logits = model_->next_sentence_logits(hidden);
      losses.nsp_loss = torch::nn::functional::cross_entropy(losses.nsp_logits, losses.nsp_labels);
    }
    return losses;
  }

  MaskingOptions masking_;
  bool next_sentence_;
  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  torch::Device device_;
  int64_t mask_id_ = -1, cls_id_ = -1, sep_id_ = -1;
  models::Bert model_{nullptr};
  std::shared_ptr<datasets::Dataset> data_;                   // one of:
  std::shared_ptr<datasets::LMDataset> windows_;              // data.type text
  std::shared_ptr<datasets::SentencesDataset> sentences_;     // data.type sentences
  // Training batches of whichever of the two is set.
  std::unique_ptr<datasets::Prefetcher<datasets::LMBatch>> window_batches_;
  std::unique_ptr<datasets::Prefetcher<datasets::SentenceBatch>> sentence_batches_;
};

}  // namespace

void register_mlm_trainer() {
  add_objective<MLMObjective, MLMTrainerOptions>(
      "mlm", "masked-language-model pretraining of an encoder (BERT), optionally with next-sentence prediction");
}

}  // namespace zoo::trainers
