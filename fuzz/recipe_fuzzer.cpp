// libFuzzer target: the recipe parser with overrides. The input's text before its first NUL
// byte is the recipe; each line after it is one `key.path=value` override. Anything but a
// UserError (an escaped YAML exception, a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/recipe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  std::vector<std::string> overrides;
  if (nul != std::string::npos) {
    for (size_t begin = nul + 1; begin <= input.size();) {
      const size_t end = std::min(input.find('\n', begin), input.size());
      if (end > begin) overrides.push_back(input.substr(begin, end - begin));
      begin = end + 1;
    }
  }
  try {
    auto document = zoo::RecipeDocument::load_string(input.substr(0, nul), "fuzz.yaml");
    document.check_files = false;
    document.apply_overrides(overrides);
    zoo::Recipe recipe;
    zoo::Reader reader(document, document.root(), "");
    recipe.visit(reader);
    reader.finish();
    (void)zoo::resolved_yaml(recipe);
  } catch (const zoo::UserError&) {
  }
  return 0;
}
