#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/options.h"

namespace zoo {
namespace {

Location at(const std::string& file, const YAML::Mark& mark) {
  // yaml-cpp marks are 0-based; a null node has no mark (-1).
  return {file, std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1};
}

[[noreturn]] void fail_at(const Location& where, const std::string& what) {
  throw UserError(where.str() + ": " + what);
}

std::string join_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// yaml-cpp keeps both entries of a repeated key and silently reads the first.
void reject_duplicate_keys(const YAML::Node& node, const std::string& file, const std::string& path) {
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      Location where = at(file, it->first.Mark());
      auto [seen, inserted] = first_line.emplace(key, where.line);
      if (!inserted)
        fail_at(where, join_path(path, key) + ": duplicate key (first set on line " +
                           std::to_string(seen->second) + "; keep one)");
      reject_duplicate_keys(it->second, file, join_path(path, key));
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      reject_duplicate_keys(node[i], file, path + "[" + std::to_string(i) + "]");
  }
}

YAML::Node parse(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail_at(at(file, e.mark), "YAML syntax error: " + e.msg);
  }
}

}  // namespace

RecipeDocument RecipeDocument::load_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw UserError(path + ": is a directory; give the recipe's YAML file");
  std::ifstream in(path);
  if (!in) throw UserError(path + ": cannot read recipe (no such file, or no permission)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return load_string(buffer.str(), path);
}

RecipeDocument RecipeDocument::load_string(const std::string& text, const std::string& name) {
  RecipeDocument doc;
  doc.file_ = name;
  doc.root_ = parse(text, name);
  if (doc.root_.IsNull() || !doc.root_.IsDefined())
    fail_at({name, 1, 1}, "empty recipe (expected a mapping with name, data, model and trainer)");
  if (!doc.root_.IsMap())
    fail_at(at(name, doc.root_.Mark()), "a recipe must be a mapping of keys (name:, data:, model:, ...)");
  reject_duplicate_keys(doc.root_, name, "");
  return doc;
}

void RecipeDocument::apply_overrides(const std::vector<std::string>& assignments) {
  int column = 1;  // of this assignment within the overrides joined by single spaces
  for (const auto& assignment : assignments) {
    Location key_at{"<command line>", 1, column};
    auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0)
      fail_at(key_at, "'" + assignment + "': an override is key.path=value (e.g. trainer.max_steps=100)");
    std::string path = assignment.substr(0, eq);
    Location value_at{"<command line>", 1, column + static_cast<int>(eq) + 1};
    YAML::Node value;
    try {
      value = YAML::Load(assignment.substr(eq + 1));
    } catch (const YAML::ParserException& e) {
      fail_at(value_at, path + ": cannot parse value '" + assignment.substr(eq + 1) + "': " + e.msg);
    }

    // Walk to the parent mapping, creating sections the recipe leaves out; every path this
    // override creates is remembered so later errors there point at the command line.
    YAML::Node node = root_;
    std::string walked;
    std::stringstream parts(path);
    std::vector<std::string> keys;
    for (std::string key; std::getline(parts, key, '.');) keys.push_back(key);
    for (size_t i = 0; i < keys.size(); ++i) {
      if (keys[i].empty()) fail_at(key_at, "'" + path + "': empty key in the path");
      if (!node.IsMap() && !node.IsNull())
        fail_at(key_at, walked + ": is a value, not a section; cannot set '" + keys[i] + "' in it");
      walked = join_path(walked, keys[i]);
      bool last = i + 1 == keys.size();
      if (last) {
        node[keys[i]] = value;
        overridden_[walked] = key_at;
      } else {
        if (!node[keys[i]]) {
          node[keys[i]] = YAML::Node(YAML::NodeType::Map);
          overridden_[walked] = key_at;
        }
        node.reset(node[keys[i]]);
      }
    }
    column += static_cast<int>(assignment.size()) + 1;
  }
}

void RecipeDocument::fail(const std::string& key_path, const std::string& what) const {
  YAML::Node deepest;
  deepest.reset(root_);
  for (size_t begin = 0; begin <= key_path.size();) {
    const size_t end = std::min(key_path.find('.', begin), key_path.size());
    if (!deepest.IsMap()) break;
    const YAML::Node& parent = deepest;  // the const operator[] does not add a missing key
    YAML::Node child = parent[key_path.substr(begin, end - begin)];
    if (!child.IsDefined()) break;
    deepest.reset(child);
    begin = end + 1;
  }
  fail_at(locate(key_path, deepest), key_path + ": " + what);
}

void RecipeDocument::relocate(const UserError& error) const {
  const std::string what = error.what();
  const size_t colon = what.find(": ");
  const std::string key = what.substr(0, colon);
  const bool names_a_key = colon != std::string::npos && !key.empty() &&
                           key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.") == std::string::npos &&
                           root_.IsMap() && root_[key.substr(0, key.find('.'))].IsDefined();
  if (!names_a_key) throw error;
  fail(key, what.substr(colon + 2));
}

Location RecipeDocument::locate(const std::string& key_path, const YAML::Node& node) const {
  for (auto it = overridden_.begin(); it != overridden_.end(); ++it) {
    const std::string& set = it->first;
    bool inside = key_path == set ||
                  (key_path.size() > set.size() && key_path.compare(0, set.size(), set) == 0 &&
                   key_path[set.size()] == '.');
    if (inside) return it->second;
  }
  return at(file_, node.Mark());
}

// ---- Catalog ----

namespace {
std::map<std::string, std::map<std::string, ComponentInfo>>& catalog() {
  static std::map<std::string, std::map<std::string, ComponentInfo>> kinds;
  return kinds;
}
}  // namespace

void Catalog::add(const std::string& kind, ComponentInfo info) {
  std::string name = info.name;
  catalog()[kind][name] = std::move(info);
}

const ComponentInfo* Catalog::find(const std::string& kind, const std::string& name) {
  auto k = catalog().find(kind);
  if (k == catalog().end()) return nullptr;
  auto c = k->second.find(name);
  return c == k->second.end() ? nullptr : &c->second;
}

std::vector<std::string> Catalog::names(const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& [name, info] : catalog()[kind]) out.push_back(name);
  return out;
}

std::vector<std::string> Catalog::kinds() {
  std::vector<std::string> out;
  for (const auto& [kind, entries] : catalog()) out.push_back(kind);
  return out;
}

// ---- Check ----

std::string Check::describe() const {
  std::vector<std::string> parts;
  auto number = [](double v) {
    std::ostringstream s;
    s << v;
    return s.str();
  };
  if (is_required) parts.push_back("required");
  if (min && max) parts.push_back("in [" + number(*min) + ", " + number(*max) + "]");
  else if (min) parts.push_back((min_exclusive ? "> " : ">= ") + number(*min));
  else if (max) parts.push_back("<= " + number(*max));
  if (!choices.empty()) {
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
    parts.push_back(list);
  }
  if (must_exist) parts.push_back("existing file");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// ---- Reader ----

Reader::Reader(const RecipeDocument& doc, YAML::Node map, std::string path)
    : doc_(&doc), map_(std::move(map)), path_(std::move(path)) {}

void Reader::fail(const YAML::Node& node, const std::string& key_path, const std::string& what) const {
  fail_at(doc_->locate(key_path, node), key_path + ": " + what);
}

YAML::Node Reader::claim(const char* key, const Check& check) {
  known_.push_back(key);
  seen_.insert(key);
  YAML::Node node;
  if (map_.IsMap()) {
    for (auto it = map_.begin(); it != map_.end(); ++it)
      if (it->first.Scalar() == key) node.reset(it->second);
  }
  if (check.is_required && (!node.IsDefined() || node.IsNull()))
    fail(map_, path_.empty() ? key : path_, path_.empty() ? std::string("missing required key") :
                                                "missing required key '" + std::string(key) + "'");
  return node;
}

void Reader::check_number(const YAML::Node& node, const std::string& path, double value, const Check& check) const {
  if (!std::isfinite(value)) fail(node, path, "expected a finite number, got " + node.Scalar());
  bool too_low = check.min && (check.min_exclusive ? value <= *check.min : value < *check.min);
  bool too_high = check.max && value > *check.max;
  if (too_low || too_high) {
    std::ostringstream s;
    s << "value " << node.Scalar() << " is out of range (must be " << check.describe() << ")";
    fail(node, path, s.str());
  }
}

namespace {
std::string describe_node(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

// The error of an existing_file() option whose path is not a file.
std::string file_not_found(const std::string& path) {
  // Corpora live under data/NAME/ and come from the fetch script.
  const std::string hint = path.rfind("data/", 0) == 0 ? " (corpora are fetched with scripts/fetch_data.sh NAME)"
                                                       : " (relative paths start from the current directory)";
  return "file not found: " + path + hint;
}
}  // namespace

void Reader::operator()(const char* key, bool& value, const char*, const Check& check) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
    fail(node, key_path(key), "expected true or false, got " + describe_node(node));
}

void Reader::operator()(const char* key, int64_t& value, const char*, const Check& check) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) return;
  long long parsed = 0;
  if (!node.IsScalar() || !YAML::convert<long long>::decode(node, parsed)) {
    double as_double;
    bool fractional = node.IsScalar() && YAML::convert<double>::decode(node, as_double);
    fail(node, key_path(key), std::string("expected an integer, got ") + describe_node(node) +
                                  (fractional ? " (a whole number, e.g. " + std::to_string(static_cast<long long>(as_double)) + ")" : ""));
  }
  check_number(node, key_path(key), static_cast<double>(parsed), check);
  value = parsed;
}

void Reader::operator()(const char* key, double& value, const char*, const Check& check) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) return;
  double parsed = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, parsed))
    fail(node, key_path(key), "expected a number, got " + describe_node(node));
  check_number(node, key_path(key), parsed, check);
  value = parsed;
}

void Reader::operator()(const char* key, std::string& value, const char*, const Check& check) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) {
    if (doc_->check_files && check.must_exist && !value.empty() && !std::filesystem::exists(value))
      fail(map_, key_path(key), "file not found: " + value);
    return;
  }
  if (!node.IsScalar()) fail(node, key_path(key), "expected a string, got " + describe_node(node));
  std::string parsed = node.Scalar();
  if (!check.choices.empty() &&
      std::find(check.choices.begin(), check.choices.end(), parsed) == check.choices.end())
    fail(node, key_path(key), "'" + parsed + "' is not one of " + check.describe() + did_you_mean(parsed, check.choices));
  // An empty optional path means "none" (the resolved recipe writes it so).
  if (doc_->check_files && check.must_exist && !(parsed.empty() && !check.is_required) &&
      !std::filesystem::is_regular_file(parsed))
    fail(node, key_path(key), file_not_found(parsed));
  value = parsed;
}

void Reader::read_list(const char* key, std::vector<double>& value, const char*, const Check& check,
                       std::optional<size_t> length) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) fail(node, key_path(key), "expected a list of numbers, got " + describe_node(node));
  if (length && node.size() != *length)
    fail(node, key_path(key), "expected a list of " + std::to_string(*length) + " numbers, got " +
                                  std::to_string(node.size()));
  std::vector<double> parsed;
  for (size_t i = 0; i < node.size(); ++i) {
    double v;
    std::string item_path = key_path(key) + "[" + std::to_string(i) + "]";
    if (!node[i].IsScalar() || !YAML::convert<double>::decode(node[i], v))
      fail(node[i], item_path, "expected a number, got " + describe_node(node[i]));
    check_number(node[i], item_path, v, check);
    parsed.push_back(v);
  }
  value = parsed;
}

void Reader::operator()(const char* key, std::vector<double>& value, const char* help, const Check& check) {
  read_list(key, value, help, check, std::nullopt);
}

void Reader::operator()(const char* key, std::vector<std::string>& value, const char*, const Check& check) {
  YAML::Node node = claim(key, check);
  if (!node.IsDefined() || node.IsNull()) return;
  std::vector<std::string> parsed;
  if (node.IsScalar()) {
    // One string is a list of one; an empty path means none, as for a string option.
    if (!(check.must_exist && node.Scalar().empty())) parsed = {node.Scalar()};
  } else {
    if (!node.IsSequence()) fail(node, key_path(key), "expected a list of strings, got " + describe_node(node));
    for (size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar())
        fail(node[i], key_path(key) + "[" + std::to_string(i) + "]",
             "expected a string, got " + describe_node(node[i]));
      parsed.push_back(node[i].Scalar());
    }
  }
  if (check.is_required && parsed.empty()) fail(node, key_path(key), "expected at least one value, got none");
  if (doc_->check_files && check.must_exist) {
    for (size_t i = 0; i < parsed.size(); ++i) {
      if (std::filesystem::is_regular_file(parsed[i])) continue;
      if (node.IsScalar()) fail(node, key_path(key), file_not_found(parsed[i]));
      fail(node[i], key_path(key) + "[" + std::to_string(i) + "]", file_not_found(parsed[i]));
    }
  }
  value = parsed;
}

Reader Reader::enter(const char* key) {
  YAML::Node node = claim(key, {});
  if (node.IsDefined() && !node.IsNull() && !node.IsMap())
    fail(node, key_path(key), "expected a mapping of keys, got " + describe_node(node));
  if (!node.IsDefined() || node.IsNull()) node = YAML::Node(YAML::NodeType::Map);
  return Reader(*doc_, node, key_path(key));
}

void Reader::component(const char* key, Component& component, const char* kind, const char*) {
  Reader sub = enter(key);
  YAML::Node type_node = sub.claim("type", {});
  if (type_node.IsDefined() && !type_node.IsNull()) {
    if (!type_node.IsScalar()) fail(type_node, sub.key_path("type"), "expected a type name, got " + describe_node(type_node));
    component.type = type_node.Scalar();
  }
  if (component.type.empty())
    fail(sub.map_, key_path(key), std::string("missing 'type:' (one of: ") + [&] {
      std::string list;
      for (const auto& n : Catalog::names(kind)) list += (list.empty() ? "" : ", ") + n;
      return list;
    }() + ")");
  const ComponentInfo* info = Catalog::find(kind, component.type);
  if (!info) {
    auto names = Catalog::names(kind);
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    fail(type_node.IsDefined() ? type_node : sub.map_, sub.key_path("type"),
         "unknown " + std::string(kind) + " type '" + component.type + "'" +
             did_you_mean(component.type, names) + "; registered: " + list);
  }
  component.options = info->make_options();
  component.options->accept(sub);
  sub.finish();
}

void Reader::finish() {
  if (!map_.IsMap()) return;
  for (auto it = map_.begin(); it != map_.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (seen_.count(key)) continue;
    fail(it->first, key_path(key.c_str()), "unknown key" + did_you_mean(key, known_) +
                                                (did_you_mean(key, known_).empty() && !known_.empty()
                                                     ? " (known keys: " + [&] {
                                                         std::string list;
                                                         for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
                                                         return list;
                                                       }() + ")"
                                                     : ""));
  }
}

// ---- Writer ----

void Writer::operator()(const char* key, const double& value, const char*, const Check&) {
  node[key] = fmt::format("{}", value);
}

void Writer::operator()(const char* key, const std::vector<double>& value, const char*, const Check&) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (double v : value) list.push_back(fmt::format("{}", v));
  list.SetStyle(YAML::EmitterStyle::Flow);
  node[key] = list;
}

void Writer::operator()(const char* key, const std::vector<std::string>& value, const char*, const Check&) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& v : value) list.push_back(v);
  list.SetStyle(YAML::EmitterStyle::Flow);
  node[key] = list;
}

void Writer::component(const char* key, const Component& component, const char*, const char*) {
  Writer sub;
  sub.node["type"] = component.type;
  if (component.options) component.options->accept(sub);
  node[key] = sub.node;
}

// ---- Describer ----

void Describer::add(const char* key, const std::string& value, const char* help, const Check& check) {
  std::string line = std::string(indent_, ' ') + key + ":" + (value.empty() ? "" : " " + value);
  if (line.size() < 36) line.resize(36, ' ');
  line += "  # " + std::string(help);
  std::string constraint = check.describe();
  if (!constraint.empty()) line += " [" + constraint + "]";
  lines.push_back(line);
}

void Describer::component(const char* key, const Component& component, const char* kind, const char* help) {
  add(key, "{type: " + component.type + "}", help, one_of(Catalog::names(kind)));
  if (!component.options) return;
  Describer sub(indent_ + 2);
  component.options->accept(sub);
  lines.insert(lines.end(), sub.lines.begin(), sub.lines.end());
}

}  // namespace zoo
