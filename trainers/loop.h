// The one training loop every objective runs under: accumulation, clipping, schedule,
// evaluation, logging, checkpoints and exact resume. Objectives supply the loss.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/recipe.h"
#include "core/registry.h"
#include "export/torchscript.h"
#include "generation/decoder.h"
#include "tokenizers/tokenizer.h"
#include "trainers/optim.h"

namespace zoo::trainers {

struct LoopOptions {
  int64_t batch_size = 32;
  int64_t grad_accum_steps = 1;
  int64_t max_steps = 1000;
  double clip_grad_norm = 1.0;
  int64_t log_every = 10;
  int64_t eval_every = 250;
  int64_t eval_batches = 20;
  int64_t checkpoint_every = 500;
  int64_t keep_last = 3;
  std::vector<std::string> eval_metrics;
  std::string best_metric = "loss";
  int64_t patience = 0;
  bool eval_at_start = false;
  int64_t max_bad_steps = 10;
  double grad_spike_factor = 10.0;
  std::string output_dir;
  double distributed_timeout_s = 300;
  Component optimizer{"adamw", nullptr};
  Component scheduler{"cosine", nullptr};

  template <class V>
  void visit(V& v) {
    v("batch_size", batch_size, "sequences per micro-batch", positive());
    v("grad_accum_steps", grad_accum_steps, "micro-batches per optimizer step", positive());
    v("max_steps", max_steps, "optimizer steps", positive());
    v("clip_grad_norm", clip_grad_norm, "clip the global gradient norm to this; 0 = off", non_negative());
    v("log_every", log_every, "steps between progress lines and metrics", positive());
    v("eval_every", eval_every, "steps between validations; 0 = only at the end", non_negative());
    v("eval_batches", eval_batches, "validation batches per evaluation", positive());
    v("checkpoint_every", checkpoint_every, "steps between checkpoints; 0 = only at the end", non_negative());
    v("keep_last", keep_last, "step checkpoints kept; 0 = all", non_negative());
    v("eval_metrics", eval_metrics, "metrics computed with each validation besides the loss (see zoo eval)");
    v("best_metric", best_metric,
      "the validation number that picks best/ and early stopping: loss, or a value of eval_metrics (accuracy, "
      "macro_f1, f1_<label>, ...); losses, perplexities and error rates are minimised, others maximised");
    v("patience", patience, "early stopping: validations without a new best_metric before training stops; 0 = never",
      non_negative());
    v("eval_at_start", eval_at_start, "validate (and compute eval_metrics) once before the first step");
    v("max_bad_steps", max_bad_steps,
      "a step whose loss or gradient norm is NaN or Inf is skipped (no update); more than this many in a row stop "
      "the run; 0 = no check (the check reads two numbers on the host each step)",
      non_negative());
    v("grad_spike_factor", grad_spike_factor,
      "log a gradient norm above this many times its running average; 0 = off", non_negative());
    v("output_dir", output_dir, "run directory; default runs/<name>");
    v("distributed_timeout_s", distributed_timeout_s,
      "data-parallel runs (zoo launch): how long a rank waits for the others in a collective before the run stops",
      positive());
    v.component("optimizer", optimizer, "optimizer", "optimizer");
    v.component("scheduler", scheduler, "scheduler", "learning-rate schedule");
  }
};

// Every trainer type's options carry the loop's options (read flat in the trainer section).
class TrainerOptionsBase {
 public:
  virtual ~TrainerOptionsBase() = default;
  LoopOptions loop;
};

// What `zoo eval` and trainer.eval_metrics ask of an objective.
struct EvalRequest {
  std::vector<std::string> metrics;  // names the objective lists in metric_names()
  std::string data_file;             // evaluate on this file instead of the validation split
  GenerationOptions generation;      // how metrics of generated text generate
  uint64_t seed = 0;
  int64_t samples = 16;              // sequences generated for the diversity metrics
  std::string split = "valid";       // valid, or test where the data has a test split
  int64_t few_shot = -1;             // demonstrations before each prompt of generated metrics; -1 = the recipe's
};

struct MicroStep {
  torch::Tensor loss;  // detached, unscaled; read on the host only when logging
  int64_t tokens = 0;  // tokens (or examples) it trained on
  int64_t sequence_length = 0;  // keys each token attended to (the padded length), for the FLOPs count
  std::map<std::string, torch::Tensor> terms;  // detached numbers logged beside the loss, by name
};

// Backpropagates `loss` (times `scale`) plus the weighted router losses of the model's MoE
// layers from the forward just run, and returns the step: the loss detached, `tokens`, and the
// router losses unweighted as moe_aux_loss, moe_z_loss (and moe_dropped, the share of
// assignments over capacity) for the log.
MicroStep backward(torch::nn::Module& model, const torch::Tensor& loss, int64_t tokens, double scale,
                   int64_t sequence_length = 0);

// The model's trainable parameters split for AdamW by models::select_parameters' rule.
ParameterGroups decay_groups(const torch::nn::Module& model);

// What a trainer type adds to the loop: the model, how a batch becomes a loss, evaluation.
class Objective {
 public:
  virtual ~Objective() = default;
  virtual torch::nn::Module& model() = 0;
  // The checkpoint directory the model's weights started from (trainer.init_from) when this
  // objective was built for training; "" for a fresh model or one rebuilt from its own
  // checkpoint. With lora:, checkpoints then hold only the adapters and name this base.
  virtual std::string base_checkpoint() const { return ""; }
  virtual ParameterGroups parameter_groups() = 0;
  // Forward and backward on the next training batch, gradients scaled by `scale`.
  virtual MicroStep train_micro_step(int64_t batch_size, double scale) = 0;
  // Mean validation loss over `batches` fixed batches (run in eval mode, no grad).
  virtual double evaluate(int64_t batches, int64_t batch_size) = 0;
  virtual std::string data_state() const = 0;
  virtual void load_data_state(const std::string& state) = 0;
  // The metrics evaluate_metrics knows, and those it computes when none are named.
  virtual std::vector<std::string> metric_names() const { return {}; }
  virtual std::vector<std::string> default_metrics() const { return metric_names(); }
  // Named metrics as an ordered JSON object of numbers (and tables where a metric has one).
  virtual nlohmann::ordered_json evaluate_metrics(const EvalRequest& request);
  // The methods a TorchScript export traces, and TorchScript source defining `forward` over
  // them; empty when this objective's model has no export yet.
  virtual std::vector<exporting::TracedMethod> export_methods() { return {}; }
  virtual std::string export_source() const { return ""; }
  // The export_source of an encoder whose traced method `logits` takes (input_ids,
  // attention_mask): `forward` with the mask optional, all ones when left out.
  static constexpr const char* kEncoderForward = R"(
def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None) -> Tensor:
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    return self.logits(input_ids, attention_mask)
)";
  // Incremental decoding of the model, for generation; null for models that do not generate.
  virtual std::unique_ptr<generation::Decoder> decoder() { return nullptr; }
  // Whether evaluate_metrics reports a value named `key` (for trainer.best_metric).
  virtual bool reports_metric(const std::string& key) const;
  // Files (name -> contents) written into every checkpoint besides the weights, such as label
  // names; an objective rebuilt from a checkpoint reads them from ObjectiveContext::checkpoint_dir.
  virtual std::map<std::string, std::string> checkpoint_files() const { return {}; }
  // Keys merged into an export's manifest (label names, the inputs forward takes).
  virtual nlohmann::json export_manifest() const { return nlohmann::json::object(); }
};

// Whether a smaller value of metric `key` is better: losses, perplexities, bits and error rates.
bool lower_is_better(const std::string& key);

// What is wrong with a list of metric names for this objective ("no metric 'x' ..."), or "".
std::string unknown_metric(const Objective& objective, const std::vector<std::string>& metrics);

// "name value | name value" for the numbers of a metrics object (tables are left out).
std::string format_metrics(const nlohmann::ordered_json& values);

struct ObjectiveContext {
  const Recipe* recipe = nullptr;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  torch::Device device = torch::kCPU;
  bool load_data = true;  // off for generation and export, which need only the model
  std::string checkpoint_dir{};  // set when the objective is rebuilt from a checkpoint (see checkpoint_files)
};

Factory<std::unique_ptr<Objective>, const ObjectiveContext&>& objectives();

// Registers trainer type `name`, built as Built(options, context) from its Opts.
template <class Built, class Opts>
void add_objective(const std::string& name, const std::string& help) {
  objectives().add<Opts>(name, help,
                         std::function<std::unique_ptr<Objective>(const Opts&, const ObjectiveContext&)>(
                             [](const Opts& options, const ObjectiveContext& context) {
                               return std::unique_ptr<Objective>(std::make_unique<Built>(options, context));
                             }));
}

struct TrainRequest {
  std::string recipe_path;
  std::vector<std::string> overrides;
  std::string resume_dir;  // empty: a new run
  bool overwrite = false;  // a new run may replace an existing run directory
};

// Builds everything from the recipe, trains, evaluates, checkpoints. Returns the run directory.
std::string train(const TrainRequest& request);

// A run's components rebuilt from a checkpoint, for generation and export.
struct LoadedRun {
  Recipe recipe;
  std::string checkpoint_dir;
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  std::unique_ptr<Objective> objective;
  torch::Device device = torch::kCPU;
};
// which_checkpoint: best, latest, step_N, or `base`: the weights the run started from
// (trainer.init_from) without anything it learnt, for comparing a fine-tuned model with its
// base on the same data. An adapter-only checkpoint loads onto the base its base.json names, or
// onto `base_override` (a run directory or checkpoint); either must be the same base,
// parameter for parameter, or it is a UserError.
LoadedRun load_run(const std::string& run_dir, const std::string& which_checkpoint, const std::string& device,
                   const std::string& base_override = "");

// `zoo lora merge`: the run's checkpoint with its adapters folded into the weights, written as
// a run of the plain model (no lora: in its recipe) at `out_dir`, which generate, eval, export
// and init_from read like any run. Returns the new checkpoint directory.
std::string merge_lora_run(const std::string& run_dir, const std::string& which_checkpoint, const std::string& out_dir,
                           const std::string& base_override, bool overwrite);

// Routing statistics of the objective's MoE layers (models::nn::MoEStatsScope::report, plus
// valid_loss) over the recipe's eval_batches validation batches; null for a model without them.
nlohmann::json evaluate_routing(Objective& objective, const Recipe& recipe);

// Writes the objective's model, the tokenizer saved in `checkpoint_dir` and the resolved
// recipe as one TorchScript archive at `out`, parameters in `dtype` (float32 or bfloat16; the
// model is converted in place).
struct ExportSummary {
  std::string path;
  int64_t parameters = 0;
  int64_t bytes = 0;
};
ExportSummary export_torchscript(Objective& objective, const Recipe& recipe, const std::string& checkpoint_dir,
                               const std::string& out, const std::string& dtype);

// Parameters and the memory training them costs, for `zoo validate`.
struct ModelSummary {
  int64_t parameters = 0;
  int64_t parameter_bytes = 0;
  int64_t gradient_bytes = 0;
  int64_t optimizer_bytes = 0;
};
ModelSummary summarize(const LoadedRecipe& loaded);

void register_trainers();

}  // namespace zoo::trainers
