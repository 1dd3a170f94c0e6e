// `zoo export` and `export: {torchscript: true}`: a run's model traced to TorchScript, with the
// tokenizer, resolved recipe and a manifest inside the archive so one file is enough.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "core/error.h"
#include "core/files.h"
#include "models/nn/lora.h"
#include "trainers/loop.h"

namespace zoo::trainers {

ExportSummary export_torchscript(Objective& objective, const Recipe& recipe, const std::string& checkpoint_dir,
                               const std::string& out, const std::string& dtype) {
  namespace fs = std::filesystem;
  auto methods = objective.export_methods();
  if (methods.empty())
    throw UserError(fmt::format("export: the {} trainer's model ({}) has no TorchScript export yet", recipe.trainer.type,
                                recipe.model.type));
  // Adapters fold into their layers' weights (in place, like the dtype below): the archive runs
  // plain linear layers at the base model's speed.
  models::nn::merge_lora(objective.model());
  if (dtype == "bfloat16") objective.model().to(torch::kBFloat16);  // the archive shares these tensors
  // An archive is for inference: no dropout, and none of the training steps' fast paths, whose
  // sizes a trace would bake in (models/nn/attention.cpp, GPT's position view).
  objective.model().eval();
  auto module = exporting::trace_module(objective.model(), recipe.model.type, methods, objective.export_source());

  exporting::ExtraFiles extra;
  nlohmann::json tokenizer_files = nlohmann::json::array();
  for (const auto& entry : fs::directory_iterator(fs::path(checkpoint_dir) / "tokenizer")) {
    const std::string name = entry.path().filename().string();
    extra[std::string(exporting::kArchiveTokenizerDir) + name] = read_file(entry.path().string());
    tokenizer_files.push_back(name);
  }
  extra[exporting::kArchiveRecipe] = resolved_yaml(recipe);
  // Every piece, escaped, one per line: a reader with only libtorch (examples/) needs no JSON.
  auto tokenizer = tokenizers::load_tokenizer((fs::path(checkpoint_dir) / "tokenizer").string());
  std::string vocab;
  for (int64_t id = 0; id < tokenizer->vocab_size(); ++id) {
    for (char c : tokenizer->id_to_piece(id)) vocab += c == '\n' ? "\\n" : c == '\\' ? "\\\\" : std::string(1, c);
    vocab += '\n';
  }
  extra[exporting::kArchiveVocab] = vocab;
  auto decoder = objective.decoder();
  int64_t parameters = 0;
  for (const auto& p : objective.model().parameters()) parameters += p.numel();
  nlohmann::json manifest{{"format", 1},
                          {"trainer", recipe.trainer.type},
                          {"model", recipe.model.type},
                          {"dtype", dtype},
                          {"parameters", parameters},
                          {"context_length", decoder ? decoder->context_length() : 0},
                          {"tokenizer_files", tokenizer_files},
                          {"methods", {"forward(input_ids, attention_mask=None) -> logits"}}};
  manifest.update(objective.export_manifest());
  extra[exporting::kArchiveManifest] = manifest.dump(2);
  exporting::save_archive(module, extra, out);
  ExportSummary summary{out, parameters, static_cast<int64_t>(fs::file_size(out))};
  spdlog::info("exported {}: {} parameters ({}), {:.1f} MB", out, parameters, dtype, static_cast<double>(summary.bytes) / 1e6);
  return summary;
}

}  // namespace zoo::trainers
