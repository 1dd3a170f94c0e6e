// Recipe reading: values, defaults, overrides, error locations, and the resolved round trip.
#include <gtest/gtest.h>

#include "core/config.h"
#include "core/error.h"
#include "core/options.h"
#include "core/registry.h"

namespace zoo {
namespace {

struct ToyOptions : Options<ToyOptions> {
  int64_t width = 8;
  double rate = 0.5;
  bool flag = false;
  std::string mode = "fast";
  std::array<double, 2> pair{0.9, 0.95};

  template <class V>
  void visit(V& v) {
    v("width", width, "width", positive());
    v("rate", rate, "rate", between(0, 1));
    v("flag", flag, "flag");
    v("mode", mode, "mode", one_of({"fast", "slow"}));
    v("pair", pair, "pair");
  }
};

struct Top {
  std::string name;
  Component part;
  template <class V>
  void visit(V& v) {
    v("name", name, "name", required());
    v.component("part", part, "toy", "a part");
  }
};

void register_toy() {
  static Factory<int> factory("toy");
  static bool done = false;
  if (done) return;
  done = true;
  factory.add<ToyOptions>("toy", "a toy", std::function<int(const ToyOptions&)>([](const ToyOptions&) { return 0; }));
  factory.add<ToyOptions>("other", "another", std::function<int(const ToyOptions&)>([](const ToyOptions&) { return 1; }));
}

Top read(const std::string& text, const std::vector<std::string>& overrides = {}) {
  register_toy();
  auto doc = RecipeDocument::load_string(text, "r.yaml");
  doc.apply_overrides(overrides);
  Top top;
  Reader reader(doc, doc.root(), "");
  top.visit(reader);
  reader.finish();
  return top;
}

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    read(text, overrides);
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, ReadsValuesAndKeepsDefaults) {
  Top top = read("name: x\npart: {type: toy, width: 32, pair: [0.8, 0.99]}\n");
  const auto& toy = top.part.as<ToyOptions>();
  EXPECT_EQ(toy.width, 32);
  EXPECT_DOUBLE_EQ(toy.rate, 0.5);
  EXPECT_DOUBLE_EQ(toy.pair[1], 0.99);
  EXPECT_EQ(toy.mode, "fast");
}

TEST(Config, OverridesReplaceAndCreateValues) {
  Top top = read("name: x\npart: {type: toy, width: 32}\n", {"part.width=64", "part.mode=slow", "part.pair=[0.1, 0.2]"});
  const auto& toy = top.part.as<ToyOptions>();
  EXPECT_EQ(toy.width, 64);
  EXPECT_EQ(toy.mode, "slow");
  EXPECT_DOUBLE_EQ(toy.pair[0], 0.1);
  EXPECT_EQ(read("name: x\npart: {type: toy}\n", {"part.type=other"}).part.type, "other");
}

TEST(Config, ErrorsNameFileLineColumnAndKeyPath) {
  EXPECT_EQ(error_of("name: x\npart:\n  type: toy\n  widht: 3\n"),
            "r.yaml:4:3: part.widht: unknown key (did you mean 'width'?)");
  EXPECT_EQ(error_of("name: x\npart: {type: toy, rate: 1.5}\n"),
            "r.yaml:2:25: part.rate: value 1.5 is out of range (must be in [0, 1])");
  EXPECT_EQ(error_of("name: x\npart: {type: toy, mode: fsat}\n"),
            "r.yaml:2:25: part.mode: 'fsat' is not one of fast|slow (did you mean 'fast'?)");
  EXPECT_EQ(error_of("name: x\npart: {type: tyo}\n"),
            "r.yaml:2:14: part.type: unknown toy type 'tyo' (did you mean 'toy'?); registered: other, toy");
  EXPECT_EQ(error_of("part: {type: toy}\n"), "r.yaml:1:1: name: missing required key");
  EXPECT_EQ(error_of("name: x\npart: {type: toy, width: 2.5}\n"),
            "r.yaml:2:26: part.width: expected an integer, got '2.5' (a whole number, e.g. 2)");
  EXPECT_EQ(error_of("name: x\npart: {type: toy, flag: maybe}\n"),
            "r.yaml:2:25: part.flag: expected true or false, got 'maybe'");
}

TEST(Config, OverrideErrorsPointAtTheCommandLine) {
  EXPECT_EQ(error_of("name: x\npart: {type: toy}\n", {"part.width=4", "part.wdth=3"}),
            "<command line>:1:14: part.wdth: unknown key (did you mean 'width'?)");
  EXPECT_EQ(error_of("name: x\npart: {type: toy}\n", {"part.width=-1"}),
            "<command line>:1:1: part.width: value -1 is out of range (must be > 0)");
  EXPECT_EQ(error_of("name: x\npart: {type: toy}\n", {"part.width"}),
            "<command line>:1:1: 'part.width': an override is key.path=value (e.g. trainer.max_steps=100)");
}

TEST(Config, DocumentErrors) {
  EXPECT_EQ(error_of(""), "r.yaml:1:1: empty recipe (expected a mapping with name, data, model and trainer)");
  EXPECT_EQ(error_of("name: x\nname: y\n"), "r.yaml:2:1: name: duplicate key (first set on line 1; keep one)");
  EXPECT_EQ(error_of("- a\n- b\n"), "r.yaml:1:1: a recipe must be a mapping of keys (name:, data:, model:, ...)");
  EXPECT_NE(error_of("name: [x\n").find("YAML syntax error"), std::string::npos);
}

TEST(Config, ResolvedRecipeReadsBackToTheSameValues) {
  Top top = read("name: x\npart: {type: toy, width: 12, rate: 0.25, flag: true, pair: [0.5, 0.75]}\n");
  YAML::Emitter out;
  out << to_yaml(top);
  Top again = read(out.c_str());
  const auto& a = top.part.as<ToyOptions>();
  const auto& b = again.part.as<ToyOptions>();
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.rate, b.rate);
  EXPECT_EQ(a.flag, b.flag);
  EXPECT_EQ(a.mode, b.mode);
  EXPECT_EQ(a.pair, b.pair);
  EXPECT_EQ(again.part.type, "toy");
}

TEST(Config, DidYouMeanOnlySuggestsCloseWords) {
  EXPECT_EQ(did_you_mean("n_layers", {"n_layer", "n_head"}), " (did you mean 'n_layer'?)");
  EXPECT_EQ(did_you_mean("completely_different", {"n_layer", "n_head"}), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
}

}  // namespace
}  // namespace zoo
