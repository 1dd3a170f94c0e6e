// A recipe as YAML plus where every value came from: file:line:col, or a command-line override.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace zoo {

class UserError;

struct Location {
  std::string file;
  int line = 1;    // 1-based
  int column = 1;  // 1-based
  std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }
};

class RecipeDocument {
 public:
  // Parses a recipe file. Syntax errors, an empty file, a top level that is not a mapping and
  // duplicate keys are UserErrors located in the file.
  static RecipeDocument load_file(const std::string& path);
  static RecipeDocument load_string(const std::string& text, const std::string& name);

  // Applies `a.b.c=value` overrides in order; `value` is parsed as YAML (`[0.9, 0.95]`, `true`).
  // Errors and later validation errors for these keys point at `<command line>:1:COL`, the
  // column in the overrides joined by spaces.
  void apply_overrides(const std::vector<std::string>& assignments);

  // Where the value at `key_path` came from: an override if one set or created it, else `node`.
  Location locate(const std::string& key_path, const YAML::Node& node) const;
  // Throws "LOCATION: key_path: what" for a check made after reading (the deepest node of
  // `key_path` that exists gives the location).
  [[noreturn]] void fail(const std::string& key_path, const std::string& what) const;
  // Rethrows `error`; one that begins "key.path: " with a key of this recipe comes out located
  // at that key, like fail()'s (checks made where the document is not at hand: a file a
  // component opens, a run init_from names).
  [[noreturn]] void relocate(const UserError& error) const;

  // Off when reading a finished run's recipe, whose data files need not exist any more.
  bool check_files = true;

  const YAML::Node& root() const { return root_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  YAML::Node root_;
  std::map<std::string, Location> overridden_;  // key path -> where on the command line
};

// The registered component types of each kind ("model", "tokenizer", ...), their help and
// how to make their default options. Typed factories (core/registry.h) fill it.
class OptionsBase;
struct ComponentInfo {
  std::string name;
  std::string help;
  std::shared_ptr<OptionsBase> (*make_options)() = nullptr;
};

class Catalog {
 public:
  static void add(const std::string& kind, ComponentInfo info);
  static const ComponentInfo* find(const std::string& kind, const std::string& name);
  static std::vector<std::string> names(const std::string& kind);
  static std::vector<std::string> kinds();
};

}  // namespace zoo
