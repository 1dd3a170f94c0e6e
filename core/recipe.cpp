#include "core/recipe.h"

#include <regex>

#include "core/error.h"

namespace zoo {

LoadedRecipe load_recipe(const std::string& path, const std::vector<std::string>& overrides, bool check_files) {
  LoadedRecipe loaded{RecipeDocument::load_file(path), Recipe{}};
  loaded.document.check_files = check_files;
  loaded.document.apply_overrides(overrides);
  Reader reader(loaded.document, loaded.document.root(), "");
  loaded.recipe.visit(reader);
  reader.finish();

  static const std::regex device_pattern("auto|cpu|cuda(:[0-9]+)?");
  if (!std::regex_match(loaded.recipe.device, device_pattern))
    reader.fail(loaded.document.root()["device"], "device",
                "'" + loaded.recipe.device + "' is not a device (use auto, cpu, cuda or cuda:N)");
  static const std::regex name_pattern("[A-Za-z0-9._-]+");
  if (!std::regex_match(loaded.recipe.name, name_pattern))
    reader.fail(loaded.document.root()["name"], "name",
                "'" + loaded.recipe.name + "' must be letters, digits, '.', '_' or '-' (it names a directory)");
  if (auto [key, what] = loaded.recipe.generation.contradiction(); !key.empty()) {
    const YAML::Node root = loaded.document.root();
    const YAML::Node generation = root["generation"];
    const YAML::Node value = generation.IsMap() ? generation[key] : YAML::Node();
    reader.fail(value.IsDefined() ? value : generation.IsDefined() ? generation : root, "generation." + key, what);
  }
  return loaded;
}

void GenerationOptions::apply_preset(const std::string& name) {
  top_k = 0;
  min_p = 0.0;
  typical_p = 1.0;
  repetition_penalty = 1.0;
  no_repeat_ngram_size = 0;
  if (name == "precise") {
    strategy = "greedy";
  } else if (name == "creative") {
    strategy = "sample";
    temperature = 1.0;
    top_p = 0.95;
  } else {  // balanced
    strategy = "sample";
    temperature = 0.7;
    top_p = 0.9;
  }
}

std::pair<std::string, std::string> GenerationOptions::contradiction() const {
  if (strategy == "greedy" && num_return_sequences > 1)
    return {"num_return_sequences", "greedy decoding gives one sequence per prompt, not " +
                                        std::to_string(num_return_sequences) + " (use strategy sample or beam)"};
  if (strategy == "beam" && num_return_sequences > num_beams)
    return {"num_return_sequences", "beam search keeps " + std::to_string(num_beams) + " hypotheses and cannot return " +
                                        std::to_string(num_return_sequences) + " (raise num_beams)"};
  return {"", ""};
}

Component parse_component(const std::string& kind, const std::string& yaml) {
  auto doc = RecipeDocument::load_string(kind + ": " + yaml, "<" + kind + ">");
  Component component;
  Reader reader(doc, doc.root(), "");
  reader.component(kind.c_str(), component, kind.c_str(), "");
  reader.finish();
  return component;
}

std::string resolved_yaml(const Recipe& recipe) {
  YAML::Emitter out;
  out << to_yaml(recipe);
  return std::string(out.c_str()) + "\n";
}

}  // namespace zoo
