// The top level of a recipe: run identity, runtime, and one component per stage.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/options.h"

namespace zoo {

// How `zoo generate` and the sample after training decode. A preset fills every field, then
// keys given beside it override: `generation: {preset: creative, max_new_tokens: 50}`.
struct GenerationOptions {
  std::string preset = "balanced";
  std::string prompt = "The ";
  std::string strategy = "sample";
  int64_t max_new_tokens = 300;
  double temperature = 0.7;
  int64_t top_k = 0;
  double top_p = 0.9;
  double min_p = 0.0;
  double typical_p = 1.0;
  double repetition_penalty = 1.0;
  int64_t no_repeat_ngram_size = 0;
  int64_t num_beams = 4;
  double length_penalty = 0.6;
  bool early_stopping = false;
  int64_t num_return_sequences = 1;
  std::vector<std::string> stop;
  bool stop_at_eos = true;

  // precise: greedy. balanced: nucleus sampling at temperature 0.7. creative: temperature 1,
  // a wider nucleus. Only the decoding fields change; prompt and lengths stay.
  void apply_preset(const std::string& name);
  // The first pair of settings that contradict each other, as {key, what is wrong}, or {"", ""}.
  std::pair<std::string, std::string> contradiction() const;

  template <class V>
  void visit(V& v) {
    v("preset", preset, "decoding defaults the keys below override", one_of({"precise", "balanced", "creative"}));
    // Fields read after the preset override it, so a reader applies the preset first.
    if constexpr (std::is_same_v<V, Reader>) apply_preset(preset);
    v("prompt", prompt, "text the sample after training continues");
    v("strategy", strategy, "greedy | sample | beam", one_of({"greedy", "sample", "beam"}));
    v("max_new_tokens", max_new_tokens, "tokens to generate", non_negative());
    v("temperature", temperature, "softmax temperature when sampling; 0 = greedy", non_negative());
    v("top_k", top_k, "sample among the k most likely tokens; 0 = all", non_negative());
    v("top_p", top_p, "nucleus: sample among the most likely tokens holding this much probability", Check().above(0).at_most(1));
    v("min_p", min_p, "drop tokens less likely than min_p times the most likely one; 0 = off", between(0, 1));
    v("typical_p", typical_p, "locally typical sampling mass; 1 = off", Check().above(0).at_most(1));
    v("repetition_penalty", repetition_penalty, "divide the logits of tokens already present (CTRL); 1 = off", positive());
    v("no_repeat_ngram_size", no_repeat_ngram_size, "never repeat an n-gram of this size; 0 = off", non_negative());
    v("num_beams", num_beams, "beam width (strategy beam)", positive());
    v("length_penalty", length_penalty, "GNMT length normalisation alpha for beam scores; 0 = raw log-probability", non_negative());
    v("early_stopping", early_stopping, "beam: stop once num_beams hypotheses have finished");
    v("num_return_sequences", num_return_sequences, "sequences per prompt (sample: independent draws; beam: the n best)", positive());
    v("stop", stop, "stop strings: generation ends when the text contains one (it is cut off)");
    v("stop_at_eos", stop_at_eos, "end a sequence at the tokenizer's end-of-sequence token");
  }
};

// What the end of training writes besides checkpoints.
struct ExportOptions {
  bool torchscript = false;
  std::string dtype = "float32";

  template <class V>
  void visit(V& v) {
    v("torchscript", torchscript, "export a TorchScript archive (zoo export) when training ends");
    v("dtype", dtype, "parameter type of the exported archive", one_of({"float32", "bfloat16"}));
  }
};

// The recipe's `lora: {rank, alpha, dropout, targets, trainable}`: adapters on any model's
// linear layers (models/nn/lora.h), injected when the model is built.
struct LoRAOptions : zoo::Options<LoRAOptions> {
  int64_t rank = 0;
  double alpha = 16;
  double dropout = 0.05;
  std::vector<std::string> targets;
  std::vector<std::string> trainable;

  template <class V>
  void visit(V& v) {
    v("rank", rank, "adapter rank r; 0 = no LoRA (train every parameter)", non_negative());
    v("alpha", alpha, "the adapter's update is scaled by alpha / rank", positive());
    v("dropout", dropout, "dropout on the adapter's input", between(0, 1));
    v("targets", targets, "linear layers to adapt, as module-path patterns matched against each path's end: "
      "\"attn.c_attn\", \"attn.*\", \"mlp.*\" (* = any characters); each must match at least one layer");
    v("trainable", trainable, "parameters trained besides the adapters (a head, say), as the same patterns "
      "matched against parameter names");
  }
  bool enabled() const { return rank > 0; }
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
  ExportOptions exports;
  LoRAOptions lora;

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
    v.section("export", exports, "what training writes at its end besides checkpoints");
    v.section("lora", lora, "low-rank adapters: train them alone, the model frozen");
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
