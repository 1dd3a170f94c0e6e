#include "cli/commands.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "cli/evaluate.h"
#include "cli/chat.h"
#include "cli/generate.h"
#include "cli/launch.h"
#include "cli/register_all.h"
#include "core/config.h"
#include "core/error.h"
#include "core/metrics.h"
#include "core/recipe.h"
#include "core/runtime.h"
#include "datasets/dataset.h"
#include "datasets/prepare.h"
#include "datasets/text.h"
#include "datasets/token_file.h"
#include "tokenizers/tokenizer.h"
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
      fmt::print("  {:<14} {}\n", name, info->help);
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

// What `zoo tokenizer train` needs: a recipe (its tokenizer, learnt as `zoo train` would), or
// a text file and the tokenizer's options.
struct TokenizerTrainRequest {
  std::string recipe;
  std::vector<std::string> overrides;
  std::string input;
  std::string type = "bpe";
  int64_t vocab_size = 0;
  std::vector<std::string> settings;  // key=value tokenizer options
  std::string out;
};

std::shared_ptr<tokenizers::Tokenizer> train_tokenizer(TokenizerTrainRequest request) {
  split_overrides(request.recipe, request.overrides);
  if (!request.recipe.empty() && !request.input.empty())
    throw UserError("zoo tokenizer train: give a recipe or --input FILE, not both");
  if (!request.recipe.empty()) {
    if (request.vocab_size || !request.settings.empty())
      throw UserError("zoo tokenizer train: with a recipe, set options as overrides (tokenizer.vocab_size=8000)");
    return datasets::build_tokenizer(load_recipe(request.recipe, request.overrides).recipe);
  }
  if (request.input.empty())
    throw UserError("zoo tokenizer train: give a recipe, or --input FILE --type bpe --vocab-size N --out DIR");
  // --type bpe|unigram are the sentencepiece model types; char and word are types of their own.
  std::string yaml;
  if (request.type == "bpe" || request.type == "unigram")
    yaml = "{type: sentencepiece, model_type: " + request.type;
  else
    yaml = "{type: " + request.type;
  if (request.vocab_size) yaml += ", vocab_size: " + std::to_string(request.vocab_size);
  for (const auto& setting : request.settings) {
    const auto eq = setting.find('=');
    if (eq == std::string::npos || eq == 0)
      throw UserError("zoo tokenizer train: --set " + setting + ": expected KEY=VALUE, e.g. --set byte_fallback=true");
    yaml += ", " + setting.substr(0, eq) + ": " + setting.substr(eq + 1);
  }
  yaml += "}";
  Component component = parse_component("tokenizer", yaml);
  return tokenizers::tokenizers().build(component, request.input);
}

std::string join_ids(const std::vector<int64_t>& ids) {
  std::string line;
  for (int64_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
  return line;
}

// `zoo tokenizer encode DIR TEXT` prints ids and pieces; with --file, one line of ids per line.
void encode_text(const std::string& dir, const std::string& text, const std::string& file) {
  auto tokenizer = tokenizers::load_tokenizer(dir);
  if (file.empty()) {
    const auto ids = tokenizer->encode(text);
    fmt::print("{}\n", join_ids(ids));
    std::string pieces;
    for (int64_t id : ids) pieces += (pieces.empty() ? "" : " ") + tokenizer->id_to_piece(id);
    fmt::print("{}\n", pieces);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(file + ": cannot open file (check the path)");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (const auto& ids : tokenizer->encode_batch(lines)) fmt::print("{}\n", join_ids(ids));
}

// `zoo data tokenize`: the token files of a recipe's text data, or of files under a saved tokenizer.
void tokenize_data(const std::string& recipe_path, std::vector<std::string> args, const std::string& tokenizer_dir) {
  std::shared_ptr<tokenizers::Tokenizer> tokenizer;
  std::vector<std::string> files;
  bool replace_invalid = false;
  if (!tokenizer_dir.empty()) {
    tokenizer = tokenizers::load_tokenizer(tokenizer_dir);
    files = args;
    if (!recipe_path.empty()) files.insert(files.begin(), recipe_path);
  } else {
    if (recipe_path.empty())
      throw UserError("zoo data tokenize: give a recipe (zoo data tokenize RECIPE), or --tokenizer DIR FILE...");
    const Recipe recipe = load_recipe(recipe_path, args).recipe;
    if (recipe.data.type != "text")
      throw UserError("zoo data tokenize: token files are for data.type text; this recipe's data is " + recipe.data.type);
    const auto& text = recipe.data.as<datasets::TextOptions>();
    tokenizer = datasets::build_tokenizer(recipe);
    for (const auto& file : {text.train, text.valid})
      if (!file.empty()) files.push_back(file);
    replace_invalid = text.on_invalid_utf8 == "replace";
  }
  if (files.empty()) throw UserError("zoo data tokenize: no text files to tokenize");
  for (const auto& file : files) {
    const auto start = std::chrono::steady_clock::now();
    const std::string path = datasets::write_token_file(file, *tokenizer, replace_invalid);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto tokens = datasets::TokenStream::map_file(path).size();
    fmt::print("{}: {} tokens ({}) in {:.2f} s -> {}\n", file, tokens, format_count(static_cast<double>(tokens)),
               seconds, path);
  }
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

  GenerateCommand generate_command;
  auto* generate = generate_command.add_to(app);
  EvalCommand eval_command;
  auto* evaluate = eval_command.add_to(app);
  ChatCommand chat_command;
  auto* chat = chat_command.add_to(app);

  std::string export_run_dir, export_checkpoint = "best", export_out, export_dtype = "float32", export_base;
  auto* exporter = app.add_subcommand("export", "write a run's model, tokenizer and recipe as one TorchScript archive");
  exporter->add_option("run_dir", export_run_dir, "run directory (runs/NAME)")->required();
  exporter->add_option("--checkpoint", export_checkpoint, "best, latest or step_N")->capture_default_str();
  exporter->add_option("--out", export_out, "archive to write (default: RUN_DIR/export/model.pt)");
  exporter->add_option("--dtype", export_dtype, "float32 or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}))->capture_default_str();
  exporter->add_option("--base", export_base, "the base run a LoRA run's adapters go on, when it is not where it was");

  std::string merge_run_dir, merge_checkpoint = "best", merge_out, merge_base;
  bool merge_overwrite = false;
  auto* lora = app.add_subcommand("lora", "LoRA adapters: merge them into the weights");
  lora->require_subcommand(1);
  auto* lora_merge = lora->add_subcommand("merge", "write a LoRA run's adapters folded into its base as a plain run");
  lora_merge->add_option("run_dir", merge_run_dir, "the LoRA run (runs/NAME)")->required();
  lora_merge->add_option("--out", merge_out, "the run directory to write (runs/NAME-merged)")->required();
  lora_merge->add_option("--checkpoint", merge_checkpoint, "best, latest or step_N")->capture_default_str();
  lora_merge->add_option("--base", merge_base, "the base run the adapters go on, when it is not where it was");
  lora_merge->add_flag("--overwrite", merge_overwrite, "replace --out if it exists");

  auto* tokenizer = app.add_subcommand("tokenizer", "train a tokenizer, or encode text with a saved one");
  tokenizer->require_subcommand(1);
  TokenizerTrainRequest tokenizer_train_request;
  auto* tokenizer_train = tokenizer->add_subcommand("train", "train a tokenizer from a recipe or a text file");
  tokenizer_train->add_option("recipe", tokenizer_train_request.recipe, "recipe YAML file (its tokenizer section)");
  tokenizer_train->add_option("overrides", tokenizer_train_request.overrides, "key.path=value overrides");
  tokenizer_train->add_option("--input", tokenizer_train_request.input, "UTF-8 text file to learn from");
  tokenizer_train->add_option("--type", tokenizer_train_request.type, "bpe, unigram, word or char")->capture_default_str();
  tokenizer_train->add_option("--vocab-size", tokenizer_train_request.vocab_size, "vocabulary size")->check(CLI::PositiveNumber);
  tokenizer_train->add_option("--set", tokenizer_train_request.settings, "KEY=VALUE tokenizer option, e.g. byte_fallback=true");
  tokenizer_train->add_option("--out", tokenizer_train_request.out, "directory to save the tokenizer in")->required();
  std::string tokenizer_dir, encode_text_arg, encode_file;
  auto* tokenizer_encode = tokenizer->add_subcommand("encode", "print the ids and pieces of a text");
  tokenizer_encode->add_option("dir", tokenizer_dir, "saved tokenizer directory (a run's checkpoint/tokenizer)")->required();
  tokenizer_encode->add_option("text", encode_text_arg, "text to encode");
  tokenizer_encode->add_option("--file", encode_file, "encode every line of FILE: one line of ids each");

  auto* data = app.add_subcommand("data", "prepare corpora and write token files");
  data->require_subcommand(1);
  std::string tokenize_recipe, tokenize_tokenizer;
  std::vector<std::string> tokenize_args;
  auto* data_tokenize = data->add_subcommand("tokenize", "write the memory-mapped token files of a recipe's text data");
  data_tokenize->add_option("recipe", tokenize_recipe, "recipe YAML file (or, with --tokenizer, a text file)");
  data_tokenize->add_option("args", tokenize_args, "overrides (or, with --tokenizer, more text files)");
  data_tokenize->add_option("--tokenizer", tokenize_tokenizer, "tokenize FILE... with this saved tokenizer");
  std::string corpus, data_dir = "data";
  auto* data_prepare = data->add_subcommand("prepare", "turn a fetched corpus into the data formats under DATA_DIR/NAME");
  data_prepare->add_option("name", corpus, "corpus: " + fmt::format("{}", fmt::join(datasets::preparable_corpora(), ", ")))->required();
  data_prepare->add_option("--data-dir", data_dir, "where corpora live")->capture_default_str();

  std::string list_kind;
  LaunchCommand launch_command;
  auto* launch = launch_command.add_to(app);

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
    generate_command.run();
    return 0;
  }
  if (*launch) return launch_command.run("/proc/self/exe");
  if (*exporter) {
    configure_threads(0);
    auto run = trainers::load_run(export_run_dir, export_checkpoint, "cpu", export_base);
    const std::string out = export_out.empty() ? (std::filesystem::path(export_run_dir) / "export/model.pt").string() : export_out;
    auto summary = trainers::export_torchscript(*run.objective, run.recipe, run.checkpoint_dir, out, export_dtype);
    const auto parameters = static_cast<double>(summary.parameters);
    fmt::print("{}: {} parameters, {} bytes ({:.3f} bytes per parameter)\n", summary.path, format_count(parameters),
               summary.bytes, static_cast<double>(summary.bytes) / parameters);
    return 0;
  }
  if (*lora_merge) {
    configure_threads(0);
    const std::string checkpoint =
        trainers::merge_lora_run(merge_run_dir, merge_checkpoint, merge_out, merge_base, merge_overwrite);
    fmt::print("{}: {} merged into a plain model ({})\n", merge_out, merge_run_dir, checkpoint);
    return 0;
  }
  if (*evaluate) {
    eval_command.run();
    return 0;
  }
  if (*chat) {
    chat_command.run();
    return 0;
  }
  if (*list) return list_components(list_kind);
  if (*tokenizer_train) {
    auto trained = train_tokenizer(tokenizer_train_request);
    std::filesystem::create_directories(tokenizer_train_request.out);
    trained->save(tokenizer_train_request.out);
    fmt::print("{}: {} tokenizer, {} tokens in the vocabulary\n", tokenizer_train_request.out, trained->type(),
               trained->vocab_size());
    return 0;
  }
  if (*tokenizer_encode) {
    encode_text(tokenizer_dir, encode_text_arg, encode_file);
    return 0;
  }
  if (*data_tokenize) {
    tokenize_data(tokenize_recipe, tokenize_args, tokenize_tokenizer);
    return 0;
  }
  if (*data_prepare) {
    datasets::prepare_corpus(corpus, data_dir);
    return 0;
  }
  return 0;
}

}  // namespace zoo::cli
