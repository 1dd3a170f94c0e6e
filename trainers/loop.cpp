#include "trainers/loop.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/checkpoint.h"
#include "core/distributed.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/runtime.h"
#include "datasets/dataset.h"
#include "generation/text.h"
#include "models/model.h"
#include "models/nn/lora.h"
#include "models/nn/moe.h"
#include "trainers/flops.h"
#include "trainers/init_from.h"

namespace fs = std::filesystem;

namespace zoo::trainers {
namespace {

using Clock = std::chrono::steady_clock;

// SIGINT/SIGTERM ask the loop to checkpoint after the current step and stop; a second SIGINT
// falls through to the default action and ends the process at once.
std::atomic<bool> stop_requested{false};
void on_stop_signal(int signal) {
  stop_requested = true;
  std::signal(signal, SIG_DFL);
}

const LoopOptions& loop_options(const Recipe& recipe) {
  return dynamic_cast<const TrainerOptionsBase&>(*recipe.trainer.options).loop;
}

std::string default_run_dir(const Recipe& recipe) {
  const auto& loop = loop_options(recipe);
  return loop.output_dir.empty() ? "runs/" + recipe.name : loop.output_dir;
}

int64_t count_parameters(torch::nn::Module& model, bool trainable_only = false) {
  int64_t n = 0;
  for (const auto& p : model.parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// The recipe's lora: adapters on the objective's model (before its weights load or its
// parameters are split for the optimizer).
void add_adapters(Objective& objective, const Recipe& recipe, bool log) {
  if (!recipe.lora.enabled()) return;
  auto adapted = models::nn::inject_lora(objective.model(), recipe.lora);
  if (log) spdlog::info("lora: rank {} adapters on {} layers: {}", recipe.lora.rank, adapted.size(), fmt::join(adapted, ", "));
}

// ---- Adapter-only checkpoints ----
// A LoRA run started from a base (trainer.init_from) saves only what it trains, as adapter.pt (a
// {name: tensor} dict that Python's torch.load reads too), and base.json naming the base and a
// fingerprint of the frozen weights, so loading onto the wrong base is an error, not nonsense.

bool saves_adapters_only(const Recipe& recipe, const Objective& objective) {
  return recipe.lora.enabled() && !objective.base_checkpoint().empty();
}

// FNV-1a over the names and bytes of the parameters (the frozen ones only, or all).
std::string parameters_fingerprint(torch::nn::Module& model, bool frozen_only) {
  uint64_t hash = 14695981039346656037ull;
  const auto mix = [&hash](const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  };
  for (const auto& item : model.named_parameters()) {
    if (frozen_only && item.value().requires_grad()) continue;
    mix(item.key().data(), item.key().size());
    auto tensor = item.value().detach().to(torch::kCPU).contiguous();
    mix(tensor.data_ptr(), static_cast<size_t>(tensor.numel()) * tensor.element_size());
  }
  return fmt::format("{:016x}", hash);
}

std::string frozen_fingerprint(torch::nn::Module& model) { return parameters_fingerprint(model, true); }
std::string weights_fingerprint(torch::nn::Module& model) { return parameters_fingerprint(model, false); }

void save_adapters(torch::nn::Module& model, const std::string& path) {
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& item : model.named_parameters())
    if (item.value().requires_grad()) tensors.insert(item.key(), item.value().detach().to(torch::kCPU));
  const std::vector<char> bytes = torch::pickle_save(tensors);
  write_file_atomic(path, std::string(bytes.begin(), bytes.end()));
}

// Copies adapter.pt into the model's trainable parameters: each one must be there, with its
// shape, and nothing else.
void load_adapters(torch::nn::Module& model, const std::string& path) {
  std::map<std::string, torch::Tensor> saved;
  try {
    const std::string bytes = read_file(path);
    const auto value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
    for (const auto& entry : value.toGenericDict()) saved[entry.key().toStringRef()] = entry.value().toTensor();
  } catch (const c10::Error& e) {
    throw UserError(path + ": cannot read the adapters (corrupt?): " + std::string(e.what_without_backtrace()).substr(0, 200));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : model.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    auto found = saved.find(item.key());
    if (found == saved.end() || found->second.sizes() != item.value().sizes())
      throw UserError(path + ": " + (found == saved.end() ? "has no " : "has another shape of ") + item.key() +
                      "; these adapters are of another lora: setting or model");
    item.value().copy_(found->second);
    saved.erase(found);
  }
  if (!saved.empty())
    throw UserError(path + ": " + saved.begin()->first + " has no place in this model's adapters (" +
                    std::to_string(saved.size()) + " such tensors); the adapters are of another lora: setting");
}

// Loads the base an adapter checkpoint names (or `base_override`), checks it is the base the
// adapters were trained on, then the adapters.
void load_adapter_checkpoint(torch::nn::Module& model, const std::string& checkpoint_dir,
                             const std::string& base_override) {
  const auto base = nlohmann::json::parse(read_file((fs::path(checkpoint_dir) / "base.json").string()));
  const std::string recorded = base.at("checkpoint").get<std::string>();
  const std::string base_dir =
      base_override.empty() ? recorded : resolve_init_checkpoint(base_override, "best", "--base");
  if (!fs::exists(fs::path(base_dir) / "model.pt"))
    throw UserError(checkpoint_dir + ": its LoRA adapters go on the base model " + base_dir +
                    ", which is not there; pass --base with the run they were trained on");
  load_pretrained(model, base_dir, [](const std::string&) { return false; }, /*log=*/false);
  const std::string fingerprint = frozen_fingerprint(model);
  if (fingerprint != base.at("fingerprint").get<std::string>())
    throw UserError(base_dir + ": not the base model the adapters of " + checkpoint_dir + " were trained on (" +
                    recorded + ", frozen weights " + base.at("fingerprint").get<std::string>() + "; this one's are " +
                    fingerprint + "); pass --base with that run");
  load_adapters(model, (fs::path(checkpoint_dir) / "adapter.pt").string());
}

// Numerical faults: a step whose loss or gradient norm is not finite is skipped, logged and
// counted; a gradient norm far above its running average is logged.
struct FaultWatch {
  FaultWatch(MetricsLog& metrics, double spike_factor) : metrics_(metrics), spike_factor_(spike_factor) {}

  // Whether the update may go ahead. One host read: the norm, which a non-finite loss turns to
  // NaN (0 * inf and 0 * nan are nan); the loss itself is read only on a bad step.
  bool check(const torch::Tensor& loss, const torch::Tensor& grad_norm, int64_t step) {
    const auto loss64 = loss.detach().to(torch::kFloat64).reshape({});
    const double norm = (grad_norm.to(torch::kFloat64).reshape({}) + loss64 * 0.0).item<double>();
    if (!std::isfinite(norm)) {
      const double loss_value = loss64.item<double>(), raw_norm = grad_norm.item<double>();
      ++in_a_row;
      ++total;
      spdlog::warn("step {}: {} is {}; update skipped ({} in a row, {} in all)", step,
                   std::isfinite(loss_value) ? "the gradient norm" : "the loss",
                   std::isfinite(loss_value) ? raw_norm : loss_value, in_a_row, total);
      metrics_.write("bad_step", {{"step", step},
                                  {"loss", std::isfinite(loss_value) ? nlohmann::json(loss_value) : nlohmann::json(nullptr)},
                                  {"grad_norm", std::isfinite(raw_norm) ? nlohmann::json(raw_norm) : nlohmann::json(nullptr)},
                                  {"in_a_row", in_a_row}});
      return false;
    }
    in_a_row = 0;
    // After a short warm-up, against an exponential average over ~50 steps.
    if (spike_factor_ > 0 && seen_ >= 20 && norm > spike_factor_ * average_) {
      spdlog::warn("step {}: gradient norm {:.3g} is {:.1f} times its running average {:.3g}", step, norm,
                   norm / average_, average_);
      metrics_.write("grad_spike", {{"step", step}, {"grad_norm", norm}, {"average", average_}});
    }
    average_ = seen_ == 0 ? norm : 0.98 * average_ + 0.02 * norm;
    ++seen_;
    return true;
  }

  int64_t in_a_row = 0;
  int64_t total = 0;

 private:
  MetricsLog& metrics_;
  double spike_factor_;
  double average_ = 0;
  int64_t seen_ = 0;
};

// Everything the loop restores on resume besides model and optimizer tensors.
struct LoopState {
  int64_t step = 0;
  double best = std::numeric_limits<double>::quiet_NaN();  // of trainer.best_metric; NaN before any validation
  int64_t evals_since_best = 0;                            // for trainer.patience
};

// Serialises in memory, then writes the bytes with write_file_atomic: a failing write (a full
// disk) is then an exception we report, where torch's file writer would throw from its
// destructor and abort.
void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

// The model (whole, or adapters and base.json), tokenizer, objective files and recipe of a
// checkpoint being written: what generation, evaluation and export read.
void write_model_files(CheckpointWriter& writer, Objective& objective, const tokenizers::Tokenizer& tokenizer,
                       const std::string& recipe_yaml, bool adapters_only) {
  if (adapters_only) {
    save_adapters(objective.model(), writer.path("adapter.pt"));
    write_file_atomic(writer.path("base.json"),
                      nlohmann::json{{"checkpoint", objective.base_checkpoint()},
                                     {"fingerprint", frozen_fingerprint(objective.model())}}
                          .dump(2));
  } else {
    torch::serialize::OutputArchive model_archive;
    objective.model().save(model_archive);
    save_archive(model_archive, writer.path("model.pt"));
  }
  fs::create_directories(writer.path("tokenizer"));
  tokenizer.save(writer.path("tokenizer"));
  for (const auto& [name, contents] : objective.checkpoint_files()) write_file_atomic(writer.path(name), contents);
  write_file_atomic(writer.path("recipe.yaml"), recipe_yaml);
}

void save_checkpoint(const std::string& run_dir, const LoopState& state, Objective& objective,
                     torch::optim::Optimizer& optimizer, const tokenizers::Tokenizer& tokenizer,
                     const std::string& recipe_yaml, const torch::Device& device, int64_t keep_last,
                     bool adapters_only) {
  CheckpointWriter writer((fs::path(run_dir) / "checkpoints").string(), checkpoint_name(state.step));
  write_model_files(writer, objective, tokenizer, recipe_yaml, adapters_only);
  torch::serialize::OutputArchive optimizer_archive;
  optimizer.save(optimizer_archive);
  save_archive(optimizer_archive, writer.path("optimizer.pt"));
  std::ostringstream rng;
  torch::save(rng_states(device), rng);
  write_file_atomic(writer.path("rng.pt"), rng.str());
  write_file_atomic(writer.path("data_state.bin"), objective.data_state());
  nlohmann::json json{{"step", state.step}, {"best", state.best}, {"evals_since_best", state.evals_since_best}};
  if (std::isnan(state.best)) json["best"] = nullptr;
  write_file_atomic(writer.path("state.json"), json.dump(2));
  std::string dir = writer.commit();
  set_latest(run_dir, dir);
  prune_checkpoints(run_dir, keep_last);
}

void load_weights(Objective& objective, const std::string& checkpoint_dir, const torch::Device& device,
                  const std::string& base_override = "") {
  if (fs::exists(fs::path(checkpoint_dir) / "adapter.pt"))
    return load_adapter_checkpoint(objective.model(), checkpoint_dir, base_override);
  std::string path = (fs::path(checkpoint_dir) / "model.pt").string();
  // torch's load takes each saved tensor whatever its shape, so the shapes are checked after.
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& item : objective.model().named_parameters()) shapes.emplace_back(item.key(), item.value().sizes().vec());
  for (const auto& item : objective.model().named_buffers()) shapes.emplace_back(item.key(), item.value().sizes().vec());
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, device);
    objective.model().load(archive);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    throw UserError(path + ": cannot load model weights (corrupt, or from a different model config): " +
                    what.substr(0, std::min(what.find('\n'), size_t{200})));
  }
  auto parameters = objective.model().named_parameters();
  auto buffers = objective.model().named_buffers();
  for (const auto& [name, shape] : shapes) {
    const torch::Tensor* loaded = parameters.find(name);
    if (!loaded) loaded = buffers.find(name);
    if (loaded && loaded->sizes().vec() != shape)
      throw UserError(fmt::format("{}: holds the weights of another model configuration: {} is {} there, {} in this "
                                  "run's model; the checkpoint does not belong to this run",
                                  path, name, fmt::join(loaded->sizes(), "x"), fmt::join(shape, "x")));
  }
}

LoopState load_checkpoint(const std::string& checkpoint_dir, Objective& objective, torch::optim::Optimizer& optimizer,
                          const torch::Device& device) {
  load_weights(objective, checkpoint_dir, device);
  fs::path dir(checkpoint_dir);
  try {
    torch::serialize::InputArchive optimizer_archive;
    optimizer_archive.load_from((dir / "optimizer.pt").string(), device);
    optimizer.load(optimizer_archive);
    std::vector<torch::Tensor> rng;
    torch::load(rng, (dir / "rng.pt").string());
    set_rng_states(rng, device);
  } catch (const c10::Error& e) {
    throw UserError(checkpoint_dir + ": cannot load optimizer or RNG state: " +
                    std::string(e.what_without_backtrace()).substr(0, 200));
  }
  try {
    objective.load_data_state(read_file((dir / "data_state.bin").string()));
  } catch (const UserError& e) {
    throw UserError((dir / "data_state.bin").string() + ": " + e.what());
  }
  const std::string state_path = (dir / "state.json").string();
  auto json = nlohmann::json::parse(read_file(state_path), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("step") || !json["step"].is_number_integer())
    throw UserError(state_path + ": not a checkpoint's state (damaged); resume from another checkpoint (remove this "
                                 "one) or start the run again");
  LoopState state;
  state.step = json.at("step").get<int64_t>();
  // Checkpoints before trainer.best_metric kept the best validation loss only.
  const char* best_key = json.contains("best") ? "best" : "best_valid_loss";
  if (json.contains(best_key) && json.at(best_key).is_number()) state.best = json.at(best_key).get<double>();
  state.evals_since_best = json.value("evals_since_best", int64_t{0});
  return state;
}

// trainer.eval_metrics and trainer.best_metric name what the objective reports.
void check_metrics(const Objective& objective, const Recipe& recipe, const RecipeDocument& document) {
  const LoopOptions& loop = loop_options(recipe);
  if (auto problem = unknown_metric(objective, loop.eval_metrics); !problem.empty())
    document.fail("trainer.eval_metrics", problem);
  if (loop.best_metric != "loss" && !objective.reports_metric(loop.best_metric)) {
    std::string known;
    for (const auto& name : objective.metric_names()) known += ", " + name;
    document.fail("trainer.best_metric", "the " + recipe.trainer.type + " trainer reports no metric '" +
                                             loop.best_metric + "'; use loss" + known);
  }
}

// Gradients set to none rather than zeroed (PyTorch's zero_grad(set_to_none=True)): backward then
// writes each gradient instead of adding to zeros, one pass over every gradient fewer per step.
void drop_gradients(const std::vector<torch::Tensor>& parameters) {
  for (const auto& p : parameters) p.mutable_grad().reset();
}

}  // namespace

Factory<std::unique_ptr<Objective>, const ObjectiveContext&>& objectives() {
  static Factory<std::unique_ptr<Objective>, const ObjectiveContext&> factory("trainer");
  return factory;
}

std::string train(const TrainRequest& request) {
  // 1. Everything that can be wrong with the user's input is checked before anything is written.
  distributed::world();  // a malformed RANK/WORLD_SIZE environment is the first mistake to report
  const bool resuming = !request.resume_dir.empty();
  std::optional<std::string> resume_from;
  std::string recipe_path = request.recipe_path;
  if (resuming) {
    resume_from = latest_checkpoint(request.resume_dir);
    if (!resume_from)
      throw UserError(request.resume_dir + ": no checkpoint to resume from (is this a run directory? it has no "
                                           "checkpoints/step_* yet)");
    recipe_path = (fs::path(*resume_from) / "recipe.yaml").string();
  }
  LoadedRecipe loaded = load_recipe(recipe_path, request.overrides);
  const Recipe& recipe = loaded.recipe;
  const LoopOptions& loop = loop_options(recipe);
  const std::string run_dir = resuming ? request.resume_dir : default_run_dir(recipe);
  if (!resuming && !request.overwrite && latest_checkpoint(run_dir))
    throw UserError(run_dir + ": already holds a run with checkpoints; continue it with `zoo train --resume " + run_dir +
                    "`, or start over with --overwrite");

  const int threads = configure_threads(recipe.threads);
  torch::Device device = select_device(recipe.device);
  // Data-parallel ranks on one host take a GPU each unless the recipe names one.
  if (device.is_cuda() && distributed::world().distributed() && (recipe.device == "auto" || recipe.device == "cuda"))
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(distributed::world().local_rank));
  seed_everything(static_cast<uint64_t>(recipe.seed));

  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  std::unique_ptr<Objective> objective;
  try {
    tokenizer = resume_from ? tokenizers::load_tokenizer((fs::path(*resume_from) / "tokenizer").string())
                            : datasets::build_tokenizer(recipe);
    objective = objectives().build(recipe.trainer, ObjectiveContext{&recipe, tokenizer, device});
    add_adapters(*objective, recipe, /*log=*/true);
  } catch (const UserError& e) {
    loaded.document.relocate(e);
  }
  check_metrics(*objective, recipe, loaded.document);
  auto groups = objective->parameter_groups();
  BuiltOptimizer built = optimizers().build(loop.optimizer, groups);
  auto& optimizer = built.optimizer;
  Schedule schedule = schedules().build(loop.scheduler);

  LoopState state;
  if (resume_from) state = load_checkpoint(*resume_from, *objective, *optimizer, device);

  // Data parallelism (zoo launch, docs/distributed.md): every rank builds the same run, starts
  // from rank 0's weights (a resumed run's come from the same checkpoint on every rank), trains
  // on its shard of each batch (datasets/examples.h) and averages gradients every step; rank 0
  // alone writes the run directory, the log and the checkpoints.
  distributed::ProcessGroup* group = distributed::process_group(device, loop.distributed_timeout_s);
  const bool main_rank = !group || group->rank() == 0;
  if (!main_rank) spdlog::set_level(spdlog::level::warn);
  if (group && !resume_from) {
    auto& model = objective->model();
    auto tensors = model.parameters();
    for (const auto& buffer : model.buffers()) tensors.push_back(buffer);
    group->broadcast(tensors);
  }

  // 2. The run directory.
  const std::string recipe_yaml = resolved_yaml(recipe);
  MetricsLog metrics;
  if (main_rank) {
    if (!resuming && request.overwrite && fs::exists(run_dir)) fs::remove_all(run_dir);
    fs::create_directories(fs::path(run_dir) / "checkpoints");
    write_file_atomic((fs::path(run_dir) / "recipe.yaml").string(), recipe_yaml);
    metrics = MetricsLog((fs::path(run_dir) / "metrics.jsonl").string());
  }

  const int64_t parameters = count_parameters(objective->model());
  const int64_t trainable = count_parameters(objective->model(), /*trainable_only=*/true);
  spdlog::info("{} {}: {} parameters{} on {}, {} thread{}{}", resuming ? "resuming" : "training", recipe.name,
               format_count(static_cast<double>(parameters)),
               trainable == parameters ? ""
                                       : fmt::format(" ({} trainable, {:.2f}%)", format_count(static_cast<double>(trainable)),
                                                     100.0 * static_cast<double>(trainable) / static_cast<double>(parameters)),
               device.str(), threads, threads == 1 ? "" : "s",
               group ? fmt::format(" a rank, {} ranks (batch {} a rank, {} in all)", group->size(), loop.batch_size,
                                   loop.batch_size * group->size())
                     : "");
  if (resume_from) spdlog::info("resuming from {} (step {})", *resume_from, state.step);
  // Every progress line reports its model FLOPs utilisation against this run's own measurement
  // of the device's matrix-product peak, taken now, on the threads training will use.
  const TrainingFlops flops = training_flops(objective->model());
  const double peak_flops = matmul_peak_flops(device);
  spdlog::info("training FLOPs per token: {:.2f}M in the weights + {:.1f}k per key attended (6N + 12·L·d·T, "
               "docs/performance.md); matmul peak {:.1f} GFLOP/s",
               flops.weights / 1e6, flops.attention_per_key / 1e3, peak_flops / 1e9);
  metrics.write(resuming ? "resume" : "start", {{"step", state.step},
                                                {"parameters", parameters},
                                                {"trainable_parameters", trainable},
                                                {"vocab_size", tokenizer->vocab_size()},
                                                {"flops_per_token_weights", flops.weights},
                                                {"flops_per_token_per_key", flops.attention_per_key},
                                                {"matmul_peak_flops", peak_flops},
                                                {"device", device.str()},
                                                {"threads", threads},
                                                {"world_size", group ? group->size() : 1},
                                                {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""},
                                                {"checkpoint", resume_from.value_or("")}});

  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // Past a file size limit a write fails (and the checkpoint with it) instead of killing the run.
  std::signal(SIGXFSZ, SIG_IGN);
  stop_requested = false;

  // 3. The loop.
  std::vector<torch::Tensor> all_parameters;
  for (const auto& p : objective->model().parameters())
    if (p.requires_grad()) all_parameters.push_back(p);
  objective->model().train();
  ProgressLine progress;
  const auto started = Clock::now();
  auto last_log = started;
  int64_t tokens_since_log = 0;
  double flops_since_log = 0;
  int64_t bytes_reduced_since_log = 0;
  double seconds_reducing_since_log = 0;
  const int64_t first_step = state.step;
  int64_t last_logged_step = state.step;
  int64_t last_checkpoint = resume_from ? state.step : -1;

  const bool adapters_only = saves_adapters_only(recipe, *objective);
  FaultWatch faults(metrics, loop.grad_spike_factor);
  // A checkpoint that cannot be written (a full disk, a file size limit, a directory gone) stops
  // the run: the writer removes its temporary, so the previous checkpoint is the newest.
  const auto checkpoint_failed = [&](const std::string& what) {
    const auto previous = latest_checkpoint(run_dir);
    return UserError(fmt::format("{}: cannot write the checkpoint of step {} ({}); {}; make room or fix the "
                                 "directory, then continue with zoo train --resume {}",
                                 run_dir, state.step, what.substr(0, what.find('\n')),
                                 previous ? "the previous checkpoint " + *previous + " is intact" : "no checkpoint yet",
                                 run_dir));
  };
  auto checkpoint = [&] {
    if (!main_rank) {
      last_checkpoint = state.step;
      return;
    }
    try {
      save_checkpoint(run_dir, state, *objective, *optimizer, *tokenizer, recipe_yaml, device, loop.keep_last,
                      adapters_only);
    } catch (const c10::Error& e) {
      throw checkpoint_failed(e.what_without_backtrace());
    } catch (const UserError&) {
      throw;
    } catch (const std::exception& e) {
      throw checkpoint_failed(e.what());
    }
    last_checkpoint = state.step;
    metrics.write("checkpoint", {{"step", state.step}});
  };

  // Validation: the loss, the eval_metrics, and whether best_metric improved.
  const bool minimise = lower_is_better(loop.best_metric);
  std::vector<std::string> eval_metrics = loop.eval_metrics;
  if (loop.best_metric != "loss" && eval_metrics.empty()) eval_metrics = objective->default_metrics();
  auto validate = [&]() -> bool {
    double valid_loss = 0;
    nlohmann::json routing;
    {
      models::nn::MoEStatsScope moe_stats(objective->model());
      valid_loss = objective->evaluate(loop.eval_batches, loop.batch_size);
      if (!moe_stats.empty()) routing = moe_stats.report();
    }
    progress.break_line();
    nlohmann::json fields{{"step", state.step}, {"valid_loss", valid_loss}, {"valid_ppl", std::exp(valid_loss)}};
    if (!routing.is_null()) {
      spdlog::info("step {}: experts: busiest {:.2f}x its fair share, router entropy {:.3f} nats (uniform {:.3f})",
                   state.step, routing["max_share"].get<double>(), routing["entropy"].get<double>(),
                   routing["max_entropy"].get<double>());
      fields["moe"] = routing;
    }
    metrics.write("eval", fields);
    double value = valid_loss;
    if (!eval_metrics.empty()) {
      auto values = objective->evaluate_metrics({eval_metrics, "", recipe.generation, static_cast<uint64_t>(recipe.seed)});
      spdlog::info("step {}: {}", state.step, format_metrics(values));
      if (loop.best_metric != "loss") {
        if (!values.contains(loop.best_metric) || !values[loop.best_metric].is_number())
          throw UserError("trainer.best_metric: the evaluation reports no number '" + loop.best_metric +
                          "' (it reports: " + format_metrics(values) + ")");
        value = values[loop.best_metric].get<double>();
      }
      values["step"] = state.step;
      metrics.write("eval_metrics", nlohmann::json::parse(values.dump()));
    }
    const bool improved = std::isnan(state.best) || (minimise ? value < state.best : value > state.best);
    if (improved) {
      state.best = value;
      state.evals_since_best = 0;
    } else {
      ++state.evals_since_best;
    }
    spdlog::info("step {}: valid loss {:.4f} (ppl {:.2f}){}{}", state.step, valid_loss, std::exp(valid_loss),
                 loop.best_metric == "loss" ? "" : fmt::format(", {} {:.4f}", loop.best_metric, value),
                 improved ? ", best so far" : "");
    return improved;
  };
  bool early_stopped = false;
  // Whether to stop on request (Ctrl-C, SIGTERM). Alone, that is the signal flag. Across ranks it is
  // what they agreed on at the end of the last step: reading the flag itself at the top of the loop
  // would let a signal landing between the agreement and that read end one rank a step early,
  // leaving the others waiting in a collective.
  bool stopping = false;
  auto stop_now = [&] { return group ? stopping : stop_requested.load(); };
  if (loop.eval_at_start && state.step == 0) validate();

  while (state.step < loop.max_steps && !stop_now() && !early_stopped) {
    const double lr = schedule(state.step, loop.max_steps, built.base_lr);
    set_learning_rate(*optimizer, lr, built.lr_scales);
    drop_gradients(all_parameters);
    torch::Tensor step_loss;
    std::map<std::string, torch::Tensor> step_terms;
    for (int64_t micro = 0; micro < loop.grad_accum_steps; ++micro) {
      MicroStep result = objective->train_micro_step(loop.batch_size, 1.0 / static_cast<double>(loop.grad_accum_steps));
      step_loss = micro == 0 ? result.loss : step_loss + result.loss;
      for (auto& [name, value] : result.terms)
        step_terms[name] = step_terms.count(name) ? step_terms[name] + value : value;
      tokens_since_log += result.tokens;
      flops_since_log += static_cast<double>(result.tokens) * flops.per_token(result.sequence_length);
    }
    if (group) {
      // The same tensors on every rank, in the same order: a parameter this rank's batch left
      // without a gradient (an idle expert) contributes zeros.
      std::vector<torch::Tensor> gradients;
      for (auto& p : all_parameters) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        gradients.push_back(p.grad());
      }
      const auto reduce_start = Clock::now();
      bytes_reduced_since_log += group->all_reduce_mean(gradients);
      seconds_reducing_since_log += std::chrono::duration<double>(Clock::now() - reduce_start).count();
    }
    torch::Tensor grad_norm;  // read on the host only when logging, or by the fault check
    if (loop.clip_grad_norm > 0) grad_norm = clip_grad_norm(all_parameters, loop.clip_grad_norm);
    else if (loop.max_bad_steps > 0) grad_norm = gradient_norm(all_parameters);
    if (loop.max_bad_steps > 0 && !faults.check(step_loss, grad_norm, state.step + 1)) {
      drop_gradients(all_parameters);  // no update: weights and optimizer state stay as they were
      if (faults.in_a_row > loop.max_bad_steps) {
        const auto good = latest_checkpoint(run_dir);
        throw UserError(fmt::format(
            "training stopped at step {}: {} steps in a row had a non-finite loss or gradient norm (more than "
            "trainer.max_bad_steps: {}); the last good checkpoint is {}; lower trainer.optimizer.lr or check the data, "
            "then continue with zoo train --resume {}",
            state.step + 1, faults.in_a_row, loop.max_bad_steps, good.value_or("none (no checkpoint yet)"), run_dir));
      }
      continue;  // the step is not counted: max_steps good updates are made
    }
    optimizer->step();
    ++state.step;

    const bool last = state.step == loop.max_steps;
    if (state.step % loop.log_every == 0 || last) {
      const auto now = Clock::now();
      const double interval = std::chrono::duration<double>(now - last_log).count();
      const double elapsed = std::chrono::duration<double>(now - started).count();
      double loss = step_loss.item<double>() / static_cast<double>(loop.grad_accum_steps);
      std::map<std::string, double> terms;
      for (const auto& [name, value] : step_terms)
        terms[name] = value.item<double>() / static_cast<double>(loop.grad_accum_steps);
      double tokens = static_cast<double>(tokens_since_log), step_flops = flops_since_log;
      if (group) {  // the log speaks for every rank: mean losses, summed tokens and FLOPs
        std::vector<double> values{loss, tokens, step_flops};
        for (const auto& [name, value] : terms) values.push_back(value);
        values = group->all_reduce_sum(values);
        loss = values[0] / group->size();
        tokens = values[1];
        step_flops = values[2];
        size_t i = 3;
        for (auto& [name, value] : terms) value = values[i++] / group->size();
      }
      const double tokens_per_s = tokens / std::max(interval, 1e-9);
      const double mfu = step_flops / std::max(interval, 1e-9) / (peak_flops * (group ? group->size() : 1));
      const double eta = elapsed / static_cast<double>(state.step - first_step) *
                         static_cast<double>(loop.max_steps - state.step);
      if (main_rank) progress.update(fmt::format("step {}/{} | loss {:.4f} | lr {:.2e} | {} tok/s | MFU {:.1f}% | ETA {}", state.step,
                                  loop.max_steps, loss, lr, format_count(tokens_per_s), 100.0 * mfu,
                                  format_duration(eta)));
      nlohmann::json fields{{"step", state.step}, {"loss", loss}, {"lr", lr}, {"tokens_per_s", tokens_per_s},
                            {"mfu", mfu}, {"elapsed_s", elapsed}};
      if (grad_norm.defined()) fields["grad_norm"] = grad_norm.item<double>();
      for (const auto& [name, value] : terms) fields[name] = value;
      if (group) {
        const auto steps = static_cast<double>(state.step - last_logged_step);
        fields["all_reduce_mb_per_step"] = static_cast<double>(bytes_reduced_since_log) / 1e6 / steps;
        fields["all_reduce_ms_per_step"] = seconds_reducing_since_log * 1e3 / steps;
      }
      metrics.write("train", fields);
      last_log = now;
      last_logged_step = state.step;
      tokens_since_log = 0;
      flops_since_log = 0;
      bytes_reduced_since_log = 0;
      seconds_reducing_since_log = 0;
    }

    bool improved = false;
    if ((loop.eval_every > 0 && state.step % loop.eval_every == 0) || last) {
      improved = validate();
      if (loop.patience > 0 && state.evals_since_best >= loop.patience) {
        early_stopped = true;
        spdlog::info("early stopping at step {}: {} has not improved for {} validations (best {:.4f})", state.step,
                     loop.best_metric, state.evals_since_best, state.best);
      }
    }
    if ((loop.checkpoint_every > 0 && state.step % loop.checkpoint_every == 0) || last || improved || early_stopped) {
      checkpoint();
      if (improved && main_rank) publish_best(run_dir, *latest_checkpoint(run_dir));
    }
    // A stop must end every rank at the same step: the ranks agree on it once a step.
    if (group) stopping = group->all_reduce_sum({stop_requested ? 1.0 : 0.0})[0] > 0;
  }
  progress.break_line();
  const bool stopped = stop_now();
  if (stopped && last_checkpoint != state.step) {
    spdlog::info("stopping at step {} on request; writing a checkpoint", state.step);
    checkpoint();
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  metrics.write("end", {{"step", state.step},
                        {"elapsed_s", elapsed},
                        {"stopped", stopped},
                        {"early_stopped", early_stopped},
                        {"bad_steps", faults.total},
                        {"best_metric", loop.best_metric},
                        {"best", std::isnan(state.best) ? nlohmann::json(nullptr) : nlohmann::json(state.best)}});
  spdlog::info("{} steps in {}; run directory {}", state.step - first_step, format_duration(elapsed), run_dir);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (group) {
    // Each rank's weights, for checking that the ranks stayed one model (tests/cli/test_distributed.cpp).
    spdlog::warn("rank {}: weights fingerprint {}", group->rank(), weights_fingerprint(objective->model()));
    if (!main_rank) return run_dir;  // sampling and export are rank 0's
  }

  auto decoder = objective->decoder();
  const GenerationOptions& generation = recipe.generation;
  if (!stopped && decoder && generation.max_new_tokens > 0 && !tokenizer->encode(generation.prompt).empty()) {
    auto sequences = generation::generate_text(*decoder, *tokenizer, {generation.prompt}, generation,
                                               static_cast<uint64_t>(recipe.seed));
    const std::string& text = sequences[0][0].text;  // the best, or the first draw
    fmt::print("--- sample ---\n{}{}\n--------------\n", decoder->continues_prompt() ? generation.prompt : "", text);
    metrics.write("sample", {{"step", state.step}, {"prompt", generation.prompt}, {"text", text}});
  }
  if (!stopped && recipe.exports.torchscript)
    export_torchscript(*objective, recipe, *latest_checkpoint(run_dir), (fs::path(run_dir) / "export/model.pt").string(),
                       recipe.exports.dtype);
  return run_dir;
}

bool Objective::reports_metric(const std::string& key) const {
  auto names = metric_names();
  return std::find(names.begin(), names.end(), key) != names.end();
}

bool lower_is_better(const std::string& key) {
  if (key == "per") return true;  // phoneme (token) error rate; a substring would catch labels like f1_paper
  for (const char* word : {"loss", "perplexity", "bits_per", "error", "wer", "cer"})
    if (key.find(word) != std::string::npos) return true;
  return false;
}

nlohmann::ordered_json Objective::evaluate_metrics(const EvalRequest& request) {
  if (request.metrics.empty()) return nlohmann::ordered_json::object();
  throw UserError("metric '" + request.metrics.front() + "': this trainer computes no metrics besides its validation loss");
}

std::string unknown_metric(const Objective& objective, const std::vector<std::string>& metrics) {
  const auto known = objective.metric_names();
  for (const auto& name : metrics) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    return fmt::format("no metric '{}' for this trainer{}; it has: {}", name, did_you_mean(name, known),
                       known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")));
  }
  return "";
}

std::string format_metrics(const nlohmann::ordered_json& values) {
  std::string line;
  for (const auto& [name, value] : values.items()) {
    if (!value.is_number()) continue;
    line += fmt::format("{}{} {:.4g}", line.empty() ? "" : " | ", name, value.get<double>());
  }
  return line;
}

MicroStep backward(torch::nn::Module& model, const torch::Tensor& loss, int64_t tokens, double scale,
                   int64_t sequence_length) {
  MicroStep step;
  step.loss = loss.detach();
  step.tokens = tokens;
  step.sequence_length = sequence_length;
  auto total = loss;
  auto router = models::nn::router_losses(model);
  if (router.total.defined()) {
    step.terms["moe_aux_loss"] = router.balance;
    step.terms["moe_z_loss"] = router.z;
    if (router.dropped.defined()) step.terms["moe_dropped"] = router.dropped;
    total = total + router.total;
  }
  (scale == 1.0 ? total : total * scale).backward();
  return step;
}

ParameterGroups decay_groups(const torch::nn::Module& model) {
  ParameterGroups groups;
  groups.decay = models::select_parameters(model, true);
  groups.no_decay = models::select_parameters(model, false);
  return groups;
}

nlohmann::json evaluate_routing(Objective& objective, const Recipe& recipe) {
  const LoopOptions& loop = loop_options(recipe);
  models::nn::MoEStatsScope moe_stats(objective.model());
  if (moe_stats.empty()) return nullptr;
  const double valid_loss = objective.evaluate(loop.eval_batches, loop.batch_size);
  auto report = moe_stats.report();
  report["valid_loss"] = valid_loss;
  return report;
}

LoadedRun load_run(const std::string& run_dir, const std::string& which_checkpoint, const std::string& device_spec,
                   const std::string& base_override) {
  const bool base_only = which_checkpoint == "base";
  auto checkpoint = base_only ? latest_checkpoint(run_dir) : find_checkpoint(run_dir, which_checkpoint);
  if (!checkpoint)
    throw UserError(run_dir + ": no checkpoint '" + which_checkpoint +
                    "' (use latest, best, step_N or base; is this a run directory?)");
  LoadedRecipe loaded = load_recipe((fs::path(*checkpoint) / "recipe.yaml").string(), {}, /*check_files=*/false);
  LoadedRun run;
  run.recipe = loaded.recipe;
  if (!device_spec.empty()) run.recipe.device = device_spec;
  run.checkpoint_dir = *checkpoint;
  run.device = select_device(run.recipe.device);
  run.tokenizer = tokenizers::load_tokenizer((fs::path(*checkpoint) / "tokenizer").string());
  ObjectiveContext context{&run.recipe, run.tokenizer, run.device};
  context.load_data = false;
  if (base_only) {
    // Built as for training, so init_from loads the base; nothing of the run's own is loaded.
    run.objective = objectives().build(run.recipe.trainer, context);
    if (run.objective->base_checkpoint().empty())
      throw UserError(run_dir + ": --checkpoint base: this run did not start from another run's weights "
                                "(its trainer has no init_from)");
    run.checkpoint_dir = run.objective->base_checkpoint();
    run.recipe.lora = {};
    return run;
  }
  context.checkpoint_dir = *checkpoint;
  run.objective = objectives().build(run.recipe.trainer, context);
  add_adapters(*run.objective, run.recipe, /*log=*/false);
  load_weights(*run.objective, *checkpoint, run.device, base_override);
  return run;
}

std::string merge_lora_run(const std::string& run_dir, const std::string& which_checkpoint, const std::string& out_dir,
                           const std::string& base_override, bool overwrite) {
  const bool same = fs::exists(out_dir) && fs::exists(run_dir) && fs::equivalent(run_dir, out_dir);
  if (same) throw UserError(out_dir + ": is the run being merged; name another --out");
  if (!overwrite && fs::exists(out_dir)) throw UserError(out_dir + ": already exists; name another --out, or pass --overwrite");
  LoadedRun run = load_run(run_dir, which_checkpoint, "cpu", base_override);
  if (!run.recipe.lora.enabled())
    throw UserError(run_dir + ": has no LoRA adapters to merge (its recipe has no lora: section)");
  models::nn::merge_lora(run.objective->model());

  // The plain model, built from the recipe without lora:, takes the merged weights by name.
  Recipe plain = run.recipe;
  plain.lora = {};
  plain.name = fs::path(out_dir).filename().string();
  ObjectiveContext context{&plain, run.tokenizer, torch::kCPU};
  context.load_data = false;
  context.checkpoint_dir = run.checkpoint_dir;  // its files (labels), and no init_from
  auto objective = objectives().build(plain.trainer, context);
  {
    torch::NoGradGuard no_grad;
    auto merged = run.objective->model().named_parameters();
    for (auto& item : objective->model().named_parameters()) {
      const torch::Tensor* source = merged.find(item.key());
      if (!source) throw std::logic_error("merged model has no parameter " + item.key());
      item.value().copy_(*source);
    }
  }
  const auto state = nlohmann::json::parse(read_file((fs::path(run.checkpoint_dir) / "state.json").string()));
  if (overwrite && fs::exists(out_dir)) fs::remove_all(out_dir);
  fs::create_directories(fs::path(out_dir) / "checkpoints");
  const std::string recipe_yaml = resolved_yaml(plain);
  CheckpointWriter writer((fs::path(out_dir) / "checkpoints").string(), checkpoint_name(state.at("step").get<int64_t>()));
  write_model_files(writer, *objective, *run.tokenizer, recipe_yaml, /*adapters_only=*/false);
  write_file_atomic(writer.path("state.json"),
                    nlohmann::json{{"step", state.at("step")}, {"merged_from", run.checkpoint_dir}}.dump(2));
  const std::string dir = writer.commit();
  write_file_atomic((fs::path(out_dir) / "recipe.yaml").string(), recipe_yaml);
  set_latest(out_dir, dir);
  publish_best(out_dir, dir);
  return dir;
}

ModelSummary summarize(const LoadedRecipe& loaded) {
  const Recipe& recipe = loaded.recipe;
  std::unique_ptr<Objective> objective;
  try {
    auto tokenizer = datasets::build_tokenizer(recipe);
    objective = objectives().build(recipe.trainer, ObjectiveContext{&recipe, tokenizer, torch::kCPU});
    add_adapters(*objective, recipe, /*log=*/true);
  } catch (const UserError& e) {
    loaded.document.relocate(e);
  }
  check_metrics(*objective, recipe, loaded.document);
  ModelSummary summary;
  summary.parameters = count_parameters(objective->model());
  summary.parameter_bytes = summary.parameters * 4;
  summary.gradient_bytes = summary.parameters * 4;
  const auto& optimizer = loop_options(recipe).optimizer.type;
  // AdamW keeps two moments per parameter; SGD one momentum buffer.
  summary.optimizer_bytes = summary.parameters * (optimizer == "sgd" ? 4 : 8);
  return summary;
}

}  // namespace zoo::trainers
