// Typed options structs and the visitors that read, write and describe them.
//
// Every options struct lists its fields once, in a template `visit`:
//
//   struct GPTOptions : Options<GPTOptions> {
//     int64_t n_layer = 6;
//     template <class V> void visit(V& v) { v("n_layer", n_layer, "transformer blocks", positive()); }
//   };
//
// The defaults live only in the member initialisers. `Reader` fills the struct from a recipe
// (with file:line:col errors), `Writer` turns it back into YAML for the resolved recipe, and
// `Describer` lists fields with their defaults for `zoo list`.
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace zoo {

class Reader;
class Writer;
class Describer;
class RecipeDocument;

// A constraint on one field, enforced by Reader and shown by `zoo list`.
struct Check {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;
  std::vector<std::string> choices;
  bool is_required = false;
  bool must_exist = false;  // the value is a path to an existing file

  Check& at_least(double v) { min = v; return *this; }
  Check& above(double v) { min = v; min_exclusive = true; return *this; }
  Check& at_most(double v) { max = v; return *this; }
  Check& required() { is_required = true; return *this; }
  Check& existing_file() { must_exist = true; return *this; }
  std::string describe() const;
};

inline Check positive() { return Check().above(0); }
inline Check non_negative() { return Check().at_least(0); }
inline Check between(double lo, double hi) { return Check().at_least(lo).at_most(hi); }
inline Check one_of(std::vector<std::string> choices) { Check c; c.choices = std::move(choices); return c; }
inline Check required() { return Check().required(); }
inline Check existing_file() { return Check().existing_file(); }

// Type-erased options of a registered component (a model, a tokenizer, an optimizer...).
class OptionsBase {
 public:
  virtual ~OptionsBase() = default;
  virtual void accept(Reader& reader) = 0;
  virtual void accept(Writer& writer) const = 0;
  virtual void accept(Describer& describer) const = 0;
};

template <class Derived>
class Options : public OptionsBase {
 public:
  void accept(Reader& reader) override { static_cast<Derived*>(this)->visit(reader); }
  void accept(Writer& writer) const override { self().visit(writer); }
  void accept(Describer& describer) const override { self().visit(describer); }

 private:
  // Writing and describing only read fields, but `visit` is one template for all visitors.
  Derived& self() const { return const_cast<Derived&>(static_cast<const Derived&>(*this)); }
};

// A `{type: NAME, ...options}` recipe section: the registered type and its parsed options.
struct Component {
  std::string type;
  std::shared_ptr<OptionsBase> options;

  template <class T>
  const T& as() const {
    const T* typed = dynamic_cast<const T*>(options.get());
    if (!typed) throw std::logic_error("component '" + type + "' has options of another type");
    return *typed;
  }
};

// Fills options structs from one YAML mapping of a recipe.
class Reader {
 public:
  Reader(const RecipeDocument& doc, YAML::Node map, std::string path);

  void operator()(const char* key, bool& value, const char* help, const Check& check = {});
  void operator()(const char* key, int64_t& value, const char* help, const Check& check = {});
  void operator()(const char* key, double& value, const char* help, const Check& check = {});
  void operator()(const char* key, std::string& value, const char* help, const Check& check = {});
  void operator()(const char* key, std::vector<double>& value, const char* help, const Check& check = {});
  void operator()(const char* key, std::vector<std::string>& value, const char* help, const Check& check = {});
  template <size_t N>
  void operator()(const char* key, std::array<double, N>& value, const char* help, const Check& check = {}) {
    std::vector<double> list(value.begin(), value.end());
    read_list(key, list, help, check, N);
    std::copy(list.begin(), list.end(), value.begin());
  }

  // A nested struct with its own `visit` (no `type:`).
  template <class Section>
  void section(const char* key, Section& section, const char* /*help*/) {
    Reader sub = enter(key);
    section.visit(sub);
    sub.finish();
  }

  // A `{type: ...}` section whose options struct comes from the registry of `kind`.
  void component(const char* key, Component& component, const char* kind, const char* help);

  // Reports keys that no field claimed, with the nearest known key as a suggestion.
  void finish();

  // Throws a UserError located at `node` (or at the override that set it).
  [[noreturn]] void fail(const YAML::Node& node, const std::string& key_path, const std::string& what) const;
  std::string key_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  Reader enter(const char* key);
  YAML::Node claim(const char* key, const Check& check);
  void read_list(const char* key, std::vector<double>& value, const char* help, const Check& check,
                 std::optional<size_t> length);
  void check_number(const YAML::Node& node, const std::string& path, double value, const Check& check) const;

  const RecipeDocument* doc_;
  YAML::Node map_;
  std::string path_;
  std::vector<std::string> known_;
  std::set<std::string> seen_;
};

// Turns options structs back into YAML: the resolved recipe written beside checkpoints.
class Writer {
 public:
  YAML::Node node{YAML::NodeType::Map};

  template <class T>
  void operator()(const char* key, const T& value, const char*, const Check& = {}) {
    node[key] = value;
  }
  // Shortest text that reads back to the same double (0.1, not 0.10000000000000001).
  void operator()(const char* key, const double& value, const char*, const Check& = {});
  template <size_t N>
  void operator()(const char* key, const std::array<double, N>& value, const char*, const Check& = {}) {
    (*this)(key, std::vector<double>(value.begin(), value.end()), "");
  }
  void operator()(const char* key, const std::vector<double>& value, const char*, const Check& = {});
  void operator()(const char* key, const std::vector<std::string>& value, const char*, const Check& = {});

  template <class Section>
  void section(const char* key, Section& section, const char*) {
    Writer sub;
    section.visit(sub);
    node[key] = sub.node;
  }
  void component(const char* key, const Component& component, const char* kind, const char* help);
};

// Lists fields, defaults and constraints for `zoo list` (one line a field, nested by indent).
class Describer {
 public:
  explicit Describer(int indent = 0) : indent_(indent) {}
  std::vector<std::string> lines;

  template <class T>
  void operator()(const char* key, const T& value, const char* help, const Check& check = {}) {
    Writer w;
    w(key, value, help);
    add(key, YAML::Dump(w.node[key]), help, check);
  }
  template <class Section>
  void section(const char* key, Section& section, const char* help) {
    add(key, "", help, {});
    Describer sub(indent_ + 2);
    section.visit(sub);
    lines.insert(lines.end(), sub.lines.begin(), sub.lines.end());
  }
  void component(const char* key, const Component& component, const char* kind, const char* help);

 private:
  void add(const char* key, const std::string& value, const char* help, const Check& check);
  int indent_;
};

// YAML for any options struct with `visit` (a section, or a whole recipe).
template <class Section>
YAML::Node to_yaml(const Section& section) {
  Writer writer;
  const_cast<Section&>(section).visit(writer);
  return writer.node;
}

}  // namespace zoo
