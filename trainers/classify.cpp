// The `classify` and `tag` trainers: an encoder (BERT, BiLSTM) with a sequence classifier (data
// type classification) or a token classifier (data type tagging), from scratch or fine-tuned
// from a pretrained run (`init_from`), with frozen layers, a separate head learning rate and
// class weights for imbalanced labels. `tag` is the same objective on tagging data only.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/files.h"
#include "datasets/dataset.h"
#include "datasets/prefetch.h"
#include "datasets/labelled.h"
#include "eval/classification.h"
#include "models/model.h"
#include "trainers/init_from.h"
#include "trainers/loop.h"

namespace zoo::trainers {
namespace {

struct FreezeOptions {
  bool embeddings = false;
  int64_t layers = 0;

  template <class V>
  void visit(V& v) {
    v("embeddings", embeddings, "keep the token, position and segment embeddings fixed");
    v("layers", layers, "keep the first N encoder blocks fixed", non_negative());
  }
};

struct ClassifyTrainerOptions : Options<ClassifyTrainerOptions>, TrainerOptionsBase {
  std::string init_from;
  std::string init_checkpoint = "best";
  FreezeOptions freeze;
  double head_lr_scale = 1.0;
  bool balance_classes = false;
  std::vector<double> class_weights;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    v("init_from", init_from,
      "a pretrained run (runs/NAME) or checkpoint whose encoder the model starts from; empty = from scratch");
    v("init_checkpoint", init_checkpoint, "which checkpoint of init_from: best, latest or step_N");
    v.section("freeze", freeze, "parts of the encoder kept fixed while the head trains");
    v("head_lr_scale", head_lr_scale, "the classifier head trains at optimizer.lr times this (e.g. 10 above a "
      "pretrained encoder)", positive());
    v("balance_classes", balance_classes, "weight each class's loss by n / (classes x its train count)");
    v("class_weights", class_weights, "loss weight of each label, in label order (see the run's labels.json); "
      "empty = equal", Check().above(0));
  }
};

constexpr const char* kLabelsFile = "labels.json";

class ClassifyObjective : public Objective {
 public:
  ClassifyObjective(const ClassifyTrainerOptions& options, const ObjectiveContext& context,
                    const std::string& trainer = "classify")
      : options_(options), recipe_(*context.recipe), tokenizer_(context.tokenizer), device_(context.device) {
    if (!models::is_classifier_model(recipe_.model.type))
      throw UserError("trainer " + trainer + " trains an encoder with a classifier head; model.type " +
                      recipe_.model.type + " is not one (use model.type bert or bilstm)");
    tagging_ = recipe_.data.type == "tagging";
    if (trainer == "tag" && !tagging_)
      throw UserError("trainer tag cannot train on data of type " + recipe_.data.type +
                      "; use data.type tagging (a tag per word), or trainer.type classify for a label per text");
    if (!tagging_ && recipe_.data.type != "classification")
      throw UserError("trainer classify cannot train on data of type " + recipe_.data.type +
                      "; use data.type classification (a label per text) or tagging (a tag per word)");

    if (context.load_data) {
      load_data();
      labels_ = tagging_ ? tagging_data_->tags() : classification_data_->labels();
    } else {
      labels_ = nlohmann::json::parse(read_file((std::filesystem::path(context.checkpoint_dir) / kLabelsFile).string()))
                    .get<std::vector<std::string>>();
    }
    if (labels_.size() < 2)
      throw UserError(fmt::format("data.train: {} has a single {} ('{}'); a classifier needs at least two classes",
                                  split_file("train"), tagging_ ? "tag" : "label", labels_.empty() ? "" : labels_[0]));

    models::ClassifierContext heads{tokenizer_->vocab_size()};
    (tagging_ ? heads.token_labels : heads.sequence_labels) = static_cast<int64_t>(labels_.size());
    model_ = models::classifier_models().build(recipe_.model, heads);
    if (!tagging_ && model_->reads_cls() &&
        !dynamic_cast<const datasets::ClassificationOptions&>(*recipe_.data.options).add_cls)
      throw UserError("data.add_cls: model.pooling cls reads the first token as [CLS], and the data does not add "
                      "one; set data.add_cls: true (or model.pooling: mean)");
    const bool from_checkpoint = !context.checkpoint_dir.empty();
    if (!options_.init_from.empty() && !from_checkpoint) {
      const std::string checkpoint =
          resolve_init_checkpoint(options_.init_from, options_.init_checkpoint, "trainer.init_from");
      require_same_vocabulary(*tokenizer_, checkpoint, options_.init_from, "trainer.init_from");
      load_pretrained(*model_, checkpoint, [this](const std::string& name) {
        // The pooler is part of what pretraining with next-sentence prediction learnt.
        return model_->is_head(name) && name.rfind("pooler.", 0) != 0;
      });
    }
    model_->freeze(options_.freeze.embeddings, options_.freeze.layers);
    model_->to(device_);
    if (context.load_data) class_weights_ = loss_weights();
  }

  torch::nn::Module& model() override { return *model_; }

  ParameterGroups parameter_groups() override {
    ParameterGroups groups;
    groups.lr_scale = options_.head_lr_scale;
    for (bool decay : {true, false}) {
      auto head = models::select_parameters(*model_, decay, [this](const std::string& name) {
        return model_->is_head(name);
      });
      auto encoder = models::select_parameters(*model_, decay, [this](const std::string& name) {
        return !model_->is_head(name);
      });
      (decay ? groups.decay : groups.no_decay) = encoder;
      (decay ? groups.scaled_decay : groups.scaled_no_decay) = head;
    }
    return groups;
  }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto [input, mask, labels] = tagging_ ? unpack(tagging_batches_->next(batch_size))
                                          : unpack(classification_batches_->next(batch_size));
    auto loss = loss_of(logits_of(input, mask), labels);
    return backward(*model_, loss, input.numel(), scale, input.size(-1));
  }

  double evaluate(int64_t batches, int64_t batch_size) override {
    if (!classification_data_ && !tagging_data_) load_data();  // a run loaded for zoo eval
    c10::InferenceMode inference;
    model_->eval();
    const int64_t count = std::min(batches, datasets::batch_count(valid_size(), batch_size));
    auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    for (int64_t i = 0; i < count; ++i) {
      auto [input, mask, labels] = valid_batch(*this, i, batch_size, "valid");
      total += loss_of(logits_of(input, mask), labels).to(torch::kFloat64);
    }
    model_->train();
    return total.item<double>() / static_cast<double>(count);
  }

  std::string data_state() const override {
    return tagging_batches_ ? tagging_batches_->state() : classification_batches_ ? classification_batches_->state() : "";
  }
  void load_data_state(const std::string& state) override {
    if (tagging_batches_) tagging_batches_->load_state(state);
    if (classification_batches_) classification_batches_->load_state(state);
  }

  std::vector<std::string> metric_names() const override { return {"accuracy", "macro_f1", "f1", "confusion"}; }
  std::vector<std::string> default_metrics() const override { return {"accuracy", "macro_f1", "f1"}; }
  bool reports_metric(const std::string& key) const override {
    if (key == "accuracy" || key == "macro_f1") return true;
    return std::any_of(labels_.begin(), labels_.end(), [&](const std::string& label) { return key == "f1_" + label; });
  }

  // Every metric reads the whole split: the validation examples, or the test file's.
  nlohmann::ordered_json evaluate_metrics(const EvalRequest& request) override {
    auto wants = [&](const char* name) {
      return std::find(request.metrics.begin(), request.metrics.end(), name) != request.metrics.end();
    };
    const std::string split = request.split.empty() ? "valid" : request.split;
    if (!request.data_file.empty()) load_data(request.data_file);
    else if (!classification_data_ && !tagging_data_) load_data();
    if (split == "test" && test_size() == 0)
      throw UserError("zoo eval --split test: the recipe's data has no test file (data.test); use --data FILE");

    c10::InferenceMode inference;
    model_->eval();
    eval::ConfusionMatrix confusion(static_cast<int64_t>(labels_.size()));
    constexpr int64_t kBatch = 64;
    const int64_t size = split == "test" ? test_size() : valid_size();
    for (int64_t i = 0; i < datasets::batch_count(size, kBatch); ++i) {
      auto [input, mask, labels] = valid_batch(*this, i, kBatch, split);
      auto predicted = logits_of(input, mask).argmax(-1).reshape({-1}).cpu().contiguous();
      auto truth = labels.reshape({-1}).cpu().contiguous();
      confusion.add(std::vector<int64_t>(truth.data_ptr<int64_t>(), truth.data_ptr<int64_t>() + truth.numel()),
                    std::vector<int64_t>(predicted.data_ptr<int64_t>(), predicted.data_ptr<int64_t>() + predicted.numel()));
    }
    model_->train();

    nlohmann::ordered_json values;
    if (wants("accuracy")) values["accuracy"] = confusion.accuracy();
    if (wants("macro_f1")) values["macro_f1"] = confusion.macro_f1();
    if (wants("f1")) {
      auto f1 = confusion.f1_per_class();
      for (size_t c = 0; c < labels_.size(); ++c) values["f1_" + labels_[c]] = f1[c];
    }
    if (wants("confusion")) values["confusion"] = confusion.format(labels_);
    values[tagging_ ? "eval_tokens" : "eval_examples"] = confusion.total();
    if (!request.data_file.empty()) load_data();  // back to the recipe's splits
    return values;
  }

  std::vector<exporting::TracedMethod> export_methods() override {
    auto ids = torch::ones({2, 8}, torch::kInt64).to(device_);
    auto model = model_;
    return {{"logits", {ids, torch::ones_like(ids)},
             [model](const std::vector<torch::Tensor>& in) { return model->classify(in[0], in[1]); }}};
  }

  std::string export_source() const override { return kEncoderForward; }

  std::map<std::string, std::string> checkpoint_files() const override {
    return {{kLabelsFile, nlohmann::json(labels_).dump()}};
  }

  nlohmann::json export_manifest() const override {
    return {{"labels", labels_},
            {"add_cls", !tagging_ && dynamic_cast<const datasets::ClassificationOptions&>(*recipe_.data.options).add_cls},
            {"methods", {tagging_ ? "forward(input_ids, attention_mask=None) -> tag logits (B, T, labels)"
                                  : "forward(input_ids, attention_mask=None) -> class logits (B, labels)"}}};
  }

 private:
  struct Tensors {
    torch::Tensor input, mask, labels;
  };
  template <class Batch>
  Tensors unpack(const Batch& batch) const {
    return {batch.input.to(device_, true), batch.attention_mask.to(device_, true), batch.labels.to(device_, true)};
  }
  static Tensors valid_batch(const ClassifyObjective& self, int64_t index, int64_t batch_size, const std::string& split) {
    if (self.tagging_)
      return self.unpack(split == "test" ? self.tagging_data_->test_batch(index, batch_size)
                                         : self.tagging_data_->valid_batch(index, batch_size));
    return self.unpack(split == "test" ? self.classification_data_->test_batch(index, batch_size)
                                       : self.classification_data_->valid_batch(index, batch_size));
  }

  // The recipe's splits; with `valid_file`, that file takes the validation split's place
  // (label ids still come from the train file, so they match the model's).
  void load_data(const std::string& valid_file = "") {
    Component data = recipe_.data;
    if (!valid_file.empty()) {
      data.options = tagging_ ? with_valid_file<datasets::TaggingOptions>(valid_file)
                              : with_valid_file<datasets::ClassificationOptions>(valid_file);
    }
    tagging_batches_.reset();
    classification_batches_.reset();
    auto built = datasets::datasets().build(
        data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe_.seed), model_max_length()});
    classification_data_ = std::dynamic_pointer_cast<datasets::ClassificationDataset>(built);
    tagging_data_ = std::dynamic_pointer_cast<datasets::TaggingDataset>(built);
    if (tagging_data_)
      tagging_batches_ = datasets::prefetch_train_batches(*tagging_data_, device_, [](datasets::TaggingBatch& b) {
        datasets::pin_memory(b.input, b.attention_mask, b.labels);
      });
    if (classification_data_)
      classification_batches_ =
          datasets::prefetch_train_batches(*classification_data_, device_, [](datasets::ClassificationBatch& b) {
            datasets::pin_memory(b.input, b.attention_mask, b.labels);
          });
    const auto& labels = tagging_ ? tagging_data_->tags() : classification_data_->labels();
    if (!labels_.empty() && labels != labels_)
      throw UserError(fmt::format("data.train: its labels ({}) are not the ones the model was trained on ({})",
                                  fmt::join(labels, ", "), fmt::join(labels_, ", ")));
  }

  // A copy of the recipe's data options reading `file` as the validation split.
  template <class DataOptions>
  std::shared_ptr<OptionsBase> with_valid_file(const std::string& file) const {
    auto copy = std::make_shared<DataOptions>(dynamic_cast<const DataOptions&>(*recipe_.data.options));
    copy->valid = file;
    return copy;
  }

  std::string split_file(const std::string& split) const {
    return dynamic_cast<const datasets::DataOptionsBase&>(*recipe_.data.options).split_file(split);
  }
  int64_t valid_size() const { return tagging_data_ ? tagging_data_->valid_size() : classification_data_->valid_size(); }
  int64_t test_size() const { return tagging_data_ ? tagging_data_->test_size() : classification_data_->test_size(); }

  // trainer.class_weights, or balanced weights from the train counts, or none (undefined).
  torch::Tensor loss_weights() const {
    const int64_t classes = static_cast<int64_t>(labels_.size());
    if (!options_.class_weights.empty()) {
      if (static_cast<int64_t>(options_.class_weights.size()) != classes)
        throw UserError(fmt::format("trainer.class_weights: {} weights for {} labels ({}); give one per label",
                                    options_.class_weights.size(), classes, fmt::join(labels_, ", ")));
      return torch::tensor(options_.class_weights, torch::kFloat32).to(device_);
    }
    if (!options_.balance_classes) return {};
    std::vector<double> counts(static_cast<size_t>(classes), 0.0);
    double total = 0;
    auto count = [&](int64_t label) {
      if (label < 0) return;
      counts[static_cast<size_t>(label)] += 1;
      total += 1;
    };
    if (tagging_) {
      for (const auto& example : tagging_data_->train_examples())
        for (int64_t label : example.labels) count(label);
    } else {
      for (const auto& example : classification_data_->train_examples()) count(example.label);
    }
    std::vector<double> weights;
    for (double c : counts) weights.push_back(c > 0 ? total / (static_cast<double>(classes) * c) : 0.0);
    spdlog::info("class weights (balanced): {:.3g}", fmt::join(weights, ", "));
    return torch::tensor(weights, torch::kFloat32).to(device_);
  }

  torch::Tensor logits_of(const torch::Tensor& input, const torch::Tensor& mask) { return model_->classify(input, mask); }

  // The model's longest input (0: any), from its options: the data is loaded before the model
  // is built, since the labels it finds size the head.
  int64_t model_max_length() const {
    return dynamic_cast<const models::ClassifierOptionsBase&>(*recipe_.model.options).max_length();
  }

  torch::Tensor loss_of(const torch::Tensor& logits, const torch::Tensor& labels) const {
    auto options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(datasets::kIgnoreIndex);
    if (class_weights_.defined()) options.weight(class_weights_);
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), labels.reshape({-1}), options);
  }

  ClassifyTrainerOptions options_;
  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  torch::Device device_;
  bool tagging_ = false;
  std::vector<std::string> labels_;
  models::Classifier model_;
  torch::Tensor class_weights_;
  std::shared_ptr<datasets::ClassificationDataset> classification_data_;
  std::shared_ptr<datasets::TaggingDataset> tagging_data_;
  // Training batches of whichever of the two is set.
  std::unique_ptr<datasets::Prefetcher<datasets::ClassificationBatch>> classification_batches_;
  std::unique_ptr<datasets::Prefetcher<datasets::TaggingBatch>> tagging_batches_;
};

}  // namespace

// `tag`: the classify objective that accepts only tagging data.
class TagObjective : public ClassifyObjective {
 public:
  TagObjective(const ClassifyTrainerOptions& options, const ObjectiveContext& context)
      : ClassifyObjective(options, context, "tag") {}
};

void register_classify_trainer() {
  add_objective<ClassifyObjective, ClassifyTrainerOptions>(
      "classify", "sequence or token classification with an encoder, from scratch or fine-tuned (init_from)");
  add_objective<TagObjective, ClassifyTrainerOptions>(
      "tag", "token classification (POS tagging, NER) with an encoder: a tag per word, token accuracy and F1");
}

}  // namespace zoo::trainers
