// The `seq2seq` trainer: an encoder-decoder (models/seq2seq) on `pairs` data, token
// cross-entropy under teacher forcing (with a scheduled ratio), and metrics of decoded outputs.
//
// Metrics decode every distinct source of the split with the recipe's generation options
// (greedy or beam) and compare the output's whitespace-separated tokens (words, or phonemes
// for G2P) with the source's references: every target the split gives that source (CMUdict
// has several pronunciations for some words; any of them counts as right).
//   exact_match  share of sources whose output equals one of its references
//   wer          1 - exact_match: the G2P "word error rate", a word being right or wrong whole
//   per          token (phoneme) error rate: summed Levenshtein distances to the closest
//                reference over the summed lengths of those references
//   bleu         corpus BLEU (0-100) over those tokens, against all references
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/prefetch.h"
#include "datasets/pairs.h"
#include "eval/text_metrics.h"
#include "generation/generate.h"
#include "generation/seq2seq_decoder.h"
#include "models/model.h"
#include "models/seq2seq.h"
#include "trainers/loop.h"
#include "trainers/seq2seq.h"

namespace zoo::trainers {

OutputScores score_outputs(const std::vector<eval::Words>& hypotheses,
                           const std::vector<std::vector<eval::Words>>& references) {
  int64_t exact = 0, edits = 0, reference_tokens = 0;
  size_t most_references = 0;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const auto& refs = references.at(i);
    if (refs.empty()) throw std::invalid_argument("score_outputs: source " + std::to_string(i) + " has no reference");
    most_references = std::max(most_references, refs.size());
    exact += std::find(refs.begin(), refs.end(), hypotheses[i]) != refs.end();
    int64_t best = -1, best_length = 0;
    for (const auto& ref : refs) {
      const int64_t d = eval::edit_distance(hypotheses[i], ref);
      if (best < 0 || d < best) best = d, best_length = static_cast<int64_t>(ref.size());
    }
    edits += best;
    reference_tokens += best_length;
  }
  OutputScores scores;
  if (hypotheses.empty()) return scores;
  scores.exact_match = static_cast<double>(exact) / static_cast<double>(hypotheses.size());
  scores.wer = 1.0 - scores.exact_match;
  scores.per = reference_tokens > 0 ? static_cast<double>(edits) / static_cast<double>(reference_tokens) : 0.0;
  // corpus_bleu_tokens takes reference streams of equal length: a source with fewer references
  // repeats its first, which changes neither clipping nor the closest reference length.
  std::vector<std::vector<eval::Words>> streams(most_references);
  for (size_t k = 0; k < most_references; ++k)
    for (size_t i = 0; i < hypotheses.size(); ++i) streams[k].push_back(references[i][std::min(k, references[i].size() - 1)]);
  scores.bleu = eval::corpus_bleu_tokens(hypotheses, streams).score;
  return scores;
}

namespace {

// The teacher-forcing ratio falls linearly from start to end over decay_steps optimizer steps.
struct TeacherForcingOptions {
  double start = 1.0;
  double end = 1.0;
  int64_t decay_steps = 0;

  template <class V>
  void visit(V& v) {
    v("start", start, "share of decoder inputs taken from the target at step 0 (the rest: the model's own argmax)",
      between(0, 1));
    v("end", end, "the share after decay_steps", between(0, 1));
    v("decay_steps", decay_steps, "optimizer steps over which the ratio falls linearly from start to end; 0 = start "
      "throughout", non_negative());
  }

  double ratio(int64_t step) const {
    if (decay_steps == 0) return start;
    const double done = std::min(1.0, static_cast<double>(step) / static_cast<double>(decay_steps));
    return start + (end - start) * done;
  }
};

struct Seq2SeqTrainerOptions : Options<Seq2SeqTrainerOptions>, TrainerOptionsBase {
  double label_smoothing = 0.0;
  TeacherForcingOptions teacher_forcing;
  int64_t max_output_length = 0;
  int64_t eval_sources = 0;

  template <class V>
  void visit(V& v) {
    loop.visit(v);
    v("label_smoothing", label_smoothing, "share of each target's probability spread over the vocabulary",
      between(0, 1));
    v.section("teacher_forcing", teacher_forcing, "scheduled sampling: how often the decoder reads the target");
    v("max_output_length", max_output_length, "most tokens generation produces per source, end token included "
      "(it stops there with finish_reason length); 0 = data.target_max_length, else data.max_length, else 128",
      non_negative());
    v("eval_sources", eval_sources, "metrics decode the first N distinct sources of the split; 0 = all",
      non_negative());
  }
};

constexpr int64_t kDefaultOutputLength = 128;
constexpr size_t kPromptsPerBatch = 256;

class Seq2SeqObjective : public Objective {
 public:
  Seq2SeqObjective(const Seq2SeqTrainerOptions& options, const ObjectiveContext& context)
      : options_(options), recipe_(*context.recipe), tokenizer_(context.tokenizer), device_(context.device) {
    if (recipe_.model.type != "seq2seq")
      throw UserError("trainer seq2seq trains an encoder-decoder; model.type " + recipe_.model.type +
                      " is not one (use model.type seq2seq)");
    if (recipe_.data.type != "pairs")
      throw UserError("trainer seq2seq cannot train on data of type " + recipe_.data.type + "; use data.type pairs");
    bos_ = tokenizer_->require_special(tokenizers::Special::bos, "trainer seq2seq");
    eos_ = tokenizer_->require_special(tokenizers::Special::eos, "trainer seq2seq");
    model_ = models::seq2seq_models().build(recipe_.model, models::Seq2SeqContext{tokenizer_->vocab_size()});
    model_->to(device_);
    if (context.load_data) load_data();
  }

  torch::nn::Module& model() override { return *model_; }

  ParameterGroups parameter_groups() override {
    ParameterGroups groups;
    groups.decay = models::select_parameters(*model_, true);
    groups.no_decay = models::select_parameters(*model_, false);
    return groups;
  }

  MicroStep train_micro_step(int64_t batch_size, double scale) override {
    auto batch = train_batches_->next(batch_size);
    // Counted on the host batch, before it moves to the device: no device sync in the step. The
    // lengths stay on the host too: only the CPU's LSTM reads them, to skip each target's padding.
    const auto target_lengths = batch.target_output.ne(datasets::kIgnoreIndex).sum(1);  // (B)
    const int64_t tokens = target_lengths.sum().item<int64_t>();
    const double ratio = options_.teacher_forcing.ratio(micro_steps_ / options_.loop.grad_accum_steps);
    ++micro_steps_;
    auto loss = loss_of(batch, ratio, target_lengths);
    (scale == 1.0 ? loss : loss * scale).backward();
    MicroStep step;
    step.loss = loss.detach();
    step.tokens = tokens;
    return step;
  }

  double evaluate(int64_t batches, int64_t batch_size) override {
    c10::InferenceMode inference;
    model_->eval();
    const int64_t count = std::min(batches, datasets::batch_count(data_->valid_size(), batch_size));
    auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
    for (int64_t i = 0; i < count; ++i) total += loss_of(data_->valid_batch(i, batch_size), 1.0).to(torch::kFloat64);
    model_->train();
    return total.item<double>() / static_cast<double>(count);
  }

  // The data position and the micro-steps taken, which the teacher-forcing schedule reads.
  std::string data_state() const override {
    return train_batches_ ? nlohmann::json{{"data", train_batches_->state()}, {"micro_steps", micro_steps_}}.dump()
                          : "";
  }
  void load_data_state(const std::string& state) override {
    if (!train_batches_) return;
    auto parsed = nlohmann::json::parse(state, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("data") || !parsed.contains("micro_steps"))
      throw UserError("checkpoint: the data state is not a seq2seq trainer's (" + state.substr(0, 80) + ")");
    train_batches_->load_state(parsed["data"].get<std::string>());
    micro_steps_ = parsed["micro_steps"].get<int64_t>();
  }

  std::vector<std::string> metric_names() const override { return {"exact_match", "wer", "per", "bleu"}; }

  nlohmann::ordered_json evaluate_metrics(const EvalRequest& request) override {
    auto wants = [&](const char* name) {
      return std::find(request.metrics.begin(), request.metrics.end(), name) != request.metrics.end();
    };
    if (!request.data_file.empty()) load_data(request.data_file);
    else if (!data_) load_data();
    if (request.split == "test" && data_->test_size() == 0)
      throw UserError("zoo eval --split test: the recipe's data has no test file (data.test); use --data FILE");
    const auto& examples = request.split == "test" ? data_->test_examples() : data_->valid_examples();

    // Distinct sources in order of first appearance, each with all its references.
    std::vector<generation::Tokens> sources;
    std::vector<std::vector<eval::Words>> references;
    std::map<std::vector<int64_t>, size_t> index_of;
    for (const auto& example : examples) {
      auto [it, added] = index_of.emplace(example.source, sources.size());
      if (added) {
        if (options_.eval_sources > 0 && static_cast<int64_t>(sources.size()) == options_.eval_sources) continue;
        sources.push_back(example.source);
        references.emplace_back();
      }
      if (it->second < references.size()) references[it->second].push_back(eval::split_words(tokenizer_->decode(example.target)));
    }
    std::vector<eval::Words> hypotheses = decode_all(sources, request);

    const OutputScores scores = score_outputs(hypotheses, references);
    nlohmann::ordered_json values;
    if (wants("exact_match")) values["exact_match"] = scores.exact_match;
    if (wants("wer")) values["wer"] = scores.wer;
    if (wants("per")) values["per"] = scores.per;
    if (wants("bleu")) values["bleu"] = scores.bleu;
    values["eval_sources"] = sources.size();
    if (!request.data_file.empty()) load_data();  // back to the recipe's splits
    return values;
  }

  std::unique_ptr<generation::Decoder> decoder() override {
    return std::make_unique<generation::Seq2SeqDecoder>(*model_, bos_, max_output_length(), max_source_length());
  }

  // encode(source, source_mask) -> (memory, keys, mask, h, c, feed) and
  // decode_step(prev_token, memory, keys, mask, h, c, feed) -> (logits, attention, h, c, feed):
  // the state travels as tensors. For a GRU, c is zeros and ignored.
  std::vector<exporting::TracedMethod> export_methods() override {
    auto model = model_.ptr();
    const bool gru = model_->options().cell == "gru";
    auto pack = [gru](const models::Seq2SeqState& s) {
      return std::vector<torch::Tensor>{s.memory, s.keys, s.mask, s.h, gru ? torch::zeros_like(s.h) : s.c, s.feed};
    };
    auto unpack = [gru](const std::vector<torch::Tensor>& in, size_t at) {
      models::Seq2SeqState s;
      s.memory = in[at], s.keys = in[at + 1], s.mask = in[at + 2], s.h = in[at + 3], s.feed = in[at + 5];
      if (!gru) s.c = in[at + 4];
      return s;
    };
    auto source = torch::full({2, 5}, bos_, torch::kLong).to(device_);
    auto mask = torch::ones({2, 5}, torch::TensorOptions().dtype(torch::kBool).device(device_));
    mask[1][4] = false;
    torch::NoGradGuard no_grad;
    model_->eval();
    auto example_state = pack(model_->encode(source, mask));
    std::vector<torch::Tensor> step_inputs{torch::full({2}, bos_, torch::kLong).to(device_)};
    step_inputs.insert(step_inputs.end(), example_state.begin(), example_state.end());

    exporting::TracedMethod encode{"encode", {source, mask}, nullptr};
    encode.tuple_fn = [model, pack](const std::vector<torch::Tensor>& in) { return pack(model->encode(in[0], in[1])); };
    exporting::TracedMethod step{"decode_step", step_inputs, nullptr};
    step.tuple_fn = [model, unpack, gru](const std::vector<torch::Tensor>& in) {
      auto out = model->decode_step(unpack(in, 1), in[0]);
      return std::vector<torch::Tensor>{out.logits, out.attention, out.state.h,
                                        gru ? torch::zeros_like(out.state.h) : out.state.c, out.state.feed};
    };
    return {encode, step};
  }

  nlohmann::json export_manifest() const override {
    return {{"bos_id", bos_},
            {"eos_id", eos_},
            {"max_output_length", max_output_length()},
            {"methods",
             {"encode(source, source_mask) -> (memory, keys, mask, h, c, feed); source right-padded (B, S)",
              "decode_step(prev_token, memory, keys, mask, h, c, feed) -> (logits, attention, h, c, feed)"}}};
  }

 private:
  void load_data(const std::string& valid_file = "") {
    Component data = recipe_.data;
    if (!valid_file.empty()) {
      auto copy = std::make_shared<datasets::PairsOptions>(data.as<datasets::PairsOptions>());
      copy->valid = valid_file;
      data.options = copy;
    }
    train_batches_.reset();
    data_ = datasets::data_as<datasets::PairsDataset>(
        datasets::datasets().build(data, datasets::DataContext{tokenizer_, static_cast<uint64_t>(recipe_.seed), 0}),
        data.type, "seq2seq", "pairs");
    train_batches_ = datasets::prefetch_train_batches(*data_, device_, [](datasets::PairBatch& b) {
      datasets::pin_memory(b.source, b.source_mask, b.target_input, b.target_output);
    });
  }

  int64_t max_output_length() const {
    if (options_.max_output_length > 0) return options_.max_output_length;
    const auto& data = recipe_.data.as<datasets::PairsOptions>();
    if (data.target_max_length > 0) return data.target_max_length;
    if (data.max_length > 0) return data.max_length;
    return kDefaultOutputLength;
  }

  // Generation reads sources as training did: at most this many tokens, the last ones (0 = any).
  int64_t max_source_length() const {
    const auto& data = recipe_.data.as<datasets::PairsOptions>();
    return data.source_max_length > 0 ? data.source_max_length : data.max_length;
  }

  // The outputs' tokens, one list per source, decoded kPromptsPerBatch sources at a time.
  std::vector<eval::Words> decode_all(const std::vector<generation::Tokens>& sources, const EvalRequest& request) {
    generation::Request generate;
    generate.options = request.generation;
    generate.options.num_return_sequences = 1;
    generate.seed = request.seed;
    generate.stop_tokens = {eos_};
    generate.decode = [this](const generation::Tokens& ids) { return tokenizer_->decode(ids); };
    generation::Seq2SeqDecoder decoder(*model_, bos_, max_output_length(), max_source_length());
    std::vector<eval::Words> outputs;
    for (size_t from = 0; from < sources.size(); from += kPromptsPerBatch) {
      const size_t to = std::min(sources.size(), from + kPromptsPerBatch);
      generate.prompts.assign(sources.begin() + static_cast<std::ptrdiff_t>(from),
                              sources.begin() + static_cast<std::ptrdiff_t>(to));
      for (const auto& sequences : generation::generate(decoder, generate))
        outputs.push_back(eval::split_words(sequences.front().text));
    }
    return outputs;
  }

  // target_lengths (B), when given, lets the decoder skip the padding the loss ignores.
  torch::Tensor loss_of(const datasets::PairBatch& batch, double teacher_forcing_ratio,
                        const torch::Tensor& target_lengths = {}) {
    auto source = batch.source.to(device_, true), mask = batch.source_mask.to(device_, true);
    auto input = batch.target_input.to(device_, true), target = batch.target_output.to(device_, true);
    auto logits = model_->forward(source, mask, input, teacher_forcing_ratio, target_lengths).logits;  // (B, T, V)
    return torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), target.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions()
            .ignore_index(datasets::kIgnoreIndex)
            .label_smoothing(options_.label_smoothing));
  }

  Seq2SeqTrainerOptions options_;
  Recipe recipe_;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer_;
  torch::Device device_;
  int64_t bos_ = 0, eos_ = 0;
  int64_t micro_steps_ = 0;
  models::Seq2Seq model_{nullptr};
  std::shared_ptr<datasets::PairsDataset> data_;
  std::unique_ptr<datasets::Prefetcher<datasets::PairBatch>> train_batches_;  // draws from data_
};

}  // namespace

void register_seq2seq_trainer() {
  add_objective<Seq2SeqObjective, Seq2SeqTrainerOptions>(
      "seq2seq", "encoder-decoder on source/target pairs: teacher-forced cross-entropy, decoded-output metrics");
}

}  // namespace zoo::trainers
