#include "cli/commands.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/register_all.h"
#include "core/config.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/recipe.h"
#include "core/runtime.h"
#include "trainers/loop.h"

namespace zoo::cli {
namespace {

std::string megabytes(int64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

// CLI11 gives the recipe positional to a lone override when --resume is used.
void split_overrides(std::string& recipe, std::vector<std::string>& overrides) {
  if (recipe.find('=') != std::string::npos) {
    overrides.insert(overrides.begin(), recipe);
    recipe.clear();
  }
}

int list_components(const std::string& only_kind) {
  for (const auto& kind : Catalog::kinds()) {
    if (!only_kind.empty() && kind != only_kind) continue;
    fmt::print("{}:\n", kind);
    for (const auto& name : Catalog::names(kind)) {
      const ComponentInfo* info = Catalog::find(kind, name);
      fmt::print("  {:<10} {}\n", name, info->help);
      Describer describer(6);
      info->make_options()->accept(describer);
      for (const auto& line : describer.lines) fmt::print("{}\n", line);
    }
  }
  if (!only_kind.empty() && Catalog::names(only_kind).empty()) {
    std::string kinds;
    for (const auto& k : Catalog::kinds()) kinds += (kinds.empty() ? "" : ", ") + k;
    throw UserError("zoo list: no component kind '" + only_kind + "'" + did_you_mean(only_kind, Catalog::kinds()) +
                    "; kinds: " + kinds);
  }
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  register_all();
  spdlog::set_pattern("%H:%M:%S %v");

  CLI::App app{"torchzoo: train, evaluate, sample and export models from YAML recipes"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every subcommand");

  trainers::TrainRequest train_request;
  auto* train = app.add_subcommand("train", "train a model from a recipe (or resume a run)");
  train->add_option("recipe", train_request.recipe_path, "recipe YAML file");
  train->add_option("overrides", train_request.overrides, "key.path=value overrides, e.g. trainer.max_steps=100");
  train->add_option("--resume", train_request.resume_dir, "continue the run in RUN_DIR from its latest checkpoint");
  train->add_flag("--overwrite", train_request.overwrite, "replace an existing run directory of the same name");

  std::string validate_path;
  std::vector<std::string> validate_overrides;
  auto* validate = app.add_subcommand("validate", "check a recipe without training; print size and memory");
  validate->add_option("recipe", validate_path, "recipe YAML file")->required();
  validate->add_option("overrides", validate_overrides, "key.path=value overrides");

  std::string run_dir, checkpoint = "latest", device, prompt;
  std::optional<int64_t> max_new_tokens, top_k, seed;
  std::optional<double> temperature;
  auto* generate = app.add_subcommand("generate", "sample text from a trained run");
  generate->add_option("run_dir", run_dir, "run directory (runs/NAME)")->required();
  generate->add_option("--checkpoint", checkpoint, "latest, best or step_N")->capture_default_str();
  generate->add_option("--prompt", prompt, "text to continue (default: the recipe's generation.prompt)");
  generate->add_option("--max-new-tokens", max_new_tokens, "tokens to generate")->check(CLI::NonNegativeNumber);
  generate->add_option("--temperature", temperature, "softmax temperature; 0 = greedy")->check(CLI::NonNegativeNumber);
  generate->add_option("--top-k", top_k, "sample among the k most likely tokens; 0 = all")->check(CLI::NonNegativeNumber);
  generate->add_option("--seed", seed, "sampling seed (default: the recipe's seed)");
  generate->add_option("--device", device, "auto, cpu, cuda or cuda:N (default: the recipe's)");

  std::string list_kind;
  auto* list = app.add_subcommand("list", "registered components, their options and defaults");
  list->add_option("kind", list_kind, "only this kind (model, tokenizer, data, trainer, optimizer, scheduler)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    throw UserError(fmt::format("zoo: {} (see zoo --help)", e.what()));
  }

  if (*train) {
    if (!train_request.resume_dir.empty()) split_overrides(train_request.recipe_path, train_request.overrides);
    if (train_request.recipe_path.empty() && train_request.resume_dir.empty())
      throw UserError("zoo train: give a recipe (zoo train RECIPE.yaml) or a run to resume (zoo train --resume RUN_DIR)");
    if (!train_request.recipe_path.empty() && !train_request.resume_dir.empty())
      throw UserError("zoo train: give a recipe or --resume RUN_DIR, not both (a resumed run uses the recipe saved in its checkpoint)");
    trainers::train(train_request);
    return 0;
  }
  if (*validate) {
    LoadedRecipe loaded = load_recipe(validate_path, validate_overrides);
    auto summary = trainers::summarize(loaded);
    fmt::print("{}: ok ({})\n", validate_path, loaded.recipe.name);
    fmt::print("parameters: {} ({})\n", summary.parameters, format_count(static_cast<double>(summary.parameters)));
    fmt::print("memory (fp32): parameters {}, gradients {}, optimizer state {}, total {} before activations\n",
               megabytes(summary.parameter_bytes), megabytes(summary.gradient_bytes),
               megabytes(summary.optimizer_bytes),
               megabytes(summary.parameter_bytes + summary.gradient_bytes + summary.optimizer_bytes));
    return 0;
  }
  if (*generate) {
    configure_threads(0);
    auto run = trainers::load_run(run_dir, checkpoint, device);
    GenerationOptions options = run.recipe.generation;
    if (generate->count("--prompt")) options.prompt = prompt;
    if (max_new_tokens) options.max_new_tokens = *max_new_tokens;
    if (temperature) options.temperature = *temperature;
    if (top_k) options.top_k = *top_k;
    if (run.tokenizer->encode(options.prompt).empty())
      throw UserError("zoo generate: --prompt is empty after tokenization; give at least one character");
    std::string text = run.objective->sample(options, static_cast<uint64_t>(seed.value_or(run.recipe.seed)));
    fmt::print("{}{}\n", options.prompt, text);
    return 0;
  }
  if (*list) return list_components(list_kind);
  return 0;
}

}  // namespace zoo::cli
