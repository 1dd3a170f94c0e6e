// The top level of a recipe: run identity, runtime, and one component per stage.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/options.h"

namespace zoo {

// Sampling defaults for `zoo generate` and the sample printed after training.
struct GenerationOptions {
  std::string prompt = "The ";
  int64_t max_new_tokens = 300;
  double temperature = 0.8;
  int64_t top_k = 0;

  template <class V>
  void visit(V& v) {
    v("prompt", prompt, "text the sample after training continues");
    v("max_new_tokens", max_new_tokens, "tokens to generate", non_negative());
    v("temperature", temperature, "softmax temperature; 0 = greedy", non_negative());
    v("top_k", top_k, "sample among the k most likely tokens; 0 = all", non_negative());
  }
};

struct Recipe {
  std::string name;
  int64_t seed = 1337;
  std::string device = "auto";
  int64_t threads = 0;
  Component tokenizer{"char", nullptr};
  Component data;
  Component model;
  Component trainer{"lm", nullptr};
  GenerationOptions generation;

  template <class V>
  void visit(V& v) {
    v("name", name, "run name; the run directory is runs/<name> unless trainer.output_dir is set", required());
    v("seed", seed, "seed for initialisation, dropout and data order", non_negative());
    v("device", device, "auto | cpu | cuda | cuda:N");
    v("threads", threads, "intra-op CPU threads; 0 = OMP_NUM_THREADS if set, else every core", non_negative());
    v.component("tokenizer", tokenizer, "tokenizer", "how text becomes token ids");
    v.component("data", data, "data", "where training and validation data come from");
    v.component("model", model, "model", "the network");
    v.component("trainer", trainer, "trainer", "the objective and the training loop");
    v.section("generation", generation, "sampling defaults");
  }
};

struct LoadedRecipe {
  RecipeDocument document;
  Recipe recipe;
};

// Parses, applies overrides and validates a recipe; every mistake is one UserError line.
// Components must be registered first (register_all()).
LoadedRecipe load_recipe(const std::string& path, const std::vector<std::string>& overrides = {},
                         bool check_files = true);

// One `{type: ...}` component of `kind` from YAML text, read as a recipe section would be
// (for tools and tests that build a component without a whole recipe).
Component parse_component(const std::string& kind, const std::string& yaml);

// The resolved recipe (every default filled in) as YAML text.
std::string resolved_yaml(const Recipe& recipe);

}  // namespace zoo
