#include "cli/evaluate.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/error.h"
#include "core/runtime.h"
#include "trainers/loop.h"

namespace zoo::cli {

CLI::App* EvalCommand::add_to(CLI::App& app) {
  auto* command = app.add_subcommand("eval", "metrics of a trained run on its validation data or another file");
  command->add_option("run_dir", run_dir, "run directory (runs/NAME)")->required();
  command->add_option("--checkpoint", checkpoint,
                      "best, latest, step_N, or base: the weights the run started from (trainer.init_from)")
      ->capture_default_str();
  command->add_option("--base", base, "the base run a LoRA run's adapters go on, when it is not where it was");
  command->add_option("--few-shot", few_shot, "metrics of generated responses (sft exact_match): put this many "
                      "train examples of the same task before each prompt (default: the recipe's trainer.few_shot)")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--data", data_file, "evaluate on this file (the format of the recipe's data) instead");
  command->add_option("--split", split, "the recipe's split to evaluate: valid, or test (data.test)")
      ->check(CLI::IsMember({"valid", "test"}))
      ->capture_default_str();
  command->add_option("--metrics", metrics, "metrics to compute (default: all the trainer has), e.g. perplexity distinct")
      ->delimiter(',');
  command->add_option("--samples", samples, "sequences generated for the diversity metrics")
      ->check(CLI::PositiveNumber)->capture_default_str();
  command->add_option("--seed", seed, "generation seed (default: the recipe's seed)");
  command->add_option("--beam", beams, "metrics of generated outputs decode with beam search of this width (default: "
                      "the recipe's generation)")->check(CLI::PositiveNumber);
  command->add_option("--length-penalty", length_penalty, "GNMT alpha for beam scores")->check(CLI::NonNegativeNumber);
  command->add_option("--device", device, "auto, cpu, cuda or cuda:N (default: the recipe's)");
  command->add_flag("--moe-stats", moe_stats, "instead of the metrics: how the MoE layers route the validation "
                   "batches (each expert's share of tokens, router entropy)");
  command->add_flag("--json", json, "print the metrics as one JSON object");
  return command;
}

void EvalCommand::print_routing(trainers::LoadedRun& loaded) const {
  if (!data_file.empty() || split != "valid")
    throw UserError("zoo eval --moe-stats: routes the recipe's validation batches; leave out --data and --split");
  auto routing = trainers::evaluate_routing(*loaded.objective, loaded.recipe);
  if (routing.is_null())
    throw UserError("zoo eval --moe-stats: " + run_dir + " has no MoE layers (its model.moe.num_experts is 0)");
  if (json) {
    routing["checkpoint"] = loaded.checkpoint_dir;
    fmt::print("{}\n", routing.dump());
    return;
  }
  fmt::print("{} ({}): routing of the validation batches, valid loss {:.4f}\n", run_dir, loaded.checkpoint_dir,
             routing["valid_loss"].get<double>());
  fmt::print("  {:<16} {:>8} {:>10}  share of tokens per expert (fair = {:.3f})\n", "layer", "entropy", "busiest",
             1.0 / static_cast<double>(routing["layers"].begin()->at("fraction").size()));
  for (const auto& [name, layer] : routing["layers"].items()) {
    std::string shares;
    for (const auto& f : layer["fraction"]) shares += fmt::format(" {:.3f}", f.get<double>());
    fmt::print("  {:<16} {:>8.3f} {:>9.2f}x {}\n", name, layer["entropy"].get<double>(),
               layer["max_share"].get<double>(), shares);
  }
  fmt::print("  router entropy in nats (uniform: {:.3f}); busiest = the largest share x num_experts\n",
             routing["max_entropy"].get<double>());
}

void EvalCommand::run() const {
  if (!data_file.empty() && !std::filesystem::is_regular_file(data_file))
    throw UserError("zoo eval: --data " + data_file + ": no such file");
  if (json) log_to_stderr();
  configure_threads(0);
  auto loaded = trainers::load_run(run_dir, checkpoint, device, base);
  if (auto problem = trainers::unknown_metric(*loaded.objective, metrics); !problem.empty())
    throw UserError("zoo eval --metrics: " + problem);
  if (moe_stats) {
    print_routing(loaded);
    return;
  }
  trainers::EvalRequest request;
  request.metrics = metrics.empty() ? loaded.objective->default_metrics() : metrics;
  request.data_file = data_file;
  request.split = split;
  request.generation = loaded.recipe.generation;
  if (beams) {
    request.generation.strategy = "beam";
    request.generation.num_beams = *beams;
    request.generation.num_return_sequences = 1;
  }
  if (length_penalty) request.generation.length_penalty = *length_penalty;
  request.seed = static_cast<uint64_t>(seed.value_or(loaded.recipe.seed));
  request.samples = samples;
  request.few_shot = few_shot.value_or(-1);
  auto values = loaded.objective->evaluate_metrics(request);
  if (json) {
    values["checkpoint"] = loaded.checkpoint_dir;
    fmt::print("{}\n", values.dump());
    return;
  }
  fmt::print("{} ({})\n", run_dir, loaded.checkpoint_dir);
  for (const auto& [name, value] : values.items()) {
    if (value.is_number_float())
      fmt::print("  {:<22} {:.4f}\n", name, value.get<double>());
    else if (value.is_number())
      fmt::print("  {:<22} {}\n", name, value.get<int64_t>());
    else if (value.is_string())
      fmt::print("  {}:\n{}\n", name, value.get<std::string>());
  }
}

}  // namespace zoo::cli
