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
  return loaded;
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
